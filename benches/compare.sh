#!/usr/bin/env bash
# Times mailtrail against the tools people already use on the same logs:
# generated ~1 GB Exim and Postfix logs, each command run several times, the
# median wall time reported, and a markdown table printed at the end for
# benches/README.md. It also checks mailtrail's outcomes against the
# generator's ground truth.
#
# Usage: benches/compare.sh
#
# Environment (all optional):
#   BENCH_DIR       work directory for the generated logs and scratch files
#                   [default: ${TMPDIR:-/tmp}/mailtrail-bench]. Logs already
#                   there are reused; delete them after changing the generator.
#   BENCH_MESSAGES  messages in the generated Exim log [default: 850000,
#                   about 1 GB]; 50000 (about 60 MB) tries the script quickly.
#   BENCH_POSTFIX_MESSAGES  messages in the generated Postfix log [default:
#                   half of BENCH_MESSAGES: Postfix writes about twice the
#                   bytes per message, so about 1 GB too].
#   BENCH_RUNS      timed runs per command [default: 3].
#   CARGO_TARGET_DIR is honoured when locating the release binaries.
#
# The incumbent tools are optional; each one missing is reported as "not
# installed". On Debian or Ubuntu:
#   apt-get install -y exim4-base pflogsumm ripgrep
# (exim4-base has exigrep and eximstats.) GNU time (/usr/bin/time, package
# `time`) gives the peak RSS column.
set -euo pipefail

# The C locale: a decimal point in $EPOCHREALTIME and printf, and the
# byte-wise matching that grep is normally benchmarked with.
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${BENCH_DIR:-${TMPDIR:-/tmp}/mailtrail-bench}
messages=${BENCH_MESSAGES:-850000}
postfix_messages=${BENCH_POSTFIX_MESSAGES:-$(((messages + 1) / 2))}
runs=${BENCH_RUNS:-3}

for value in "$messages" "$postfix_messages" "$runs"; do
  if ! [[ $value =~ ^[1-9][0-9]*$ ]]; then
    echo "compare.sh: BENCH_MESSAGES, BENCH_POSTFIX_MESSAGES and BENCH_RUNS must be positive integers" >&2
    exit 2
  fi
done
if [[ -z ${EPOCHREALTIME:-} ]]; then
  echo "compare.sh: needs bash 5 or later (for \$EPOCHREALTIME)" >&2
  exit 2
fi

# The generator options, shared by both formats: 30 days from 1 October 2024
# with a blocklisting incident on 19-20 October.
gen_opts=(--seed 7 --start 2024-10-01T00:00:00 --hours 720
  --onset 2024-10-19T18:03:00 --recovery 2024-10-20T12:44:00)

# messages_of FORMAT: how many messages its log has.
messages_of() {
  if [[ $1 == postfix ]]; then echo "$postfix_messages"; else echo "$messages"; fi
}

log() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- binaries

log "== building release binaries"
(cd "$root" && cargo build --release -p mailtrail -p mailtrail-loggen)
# cargo knows where the target directory is (CARGO_TARGET_DIR, a config
# file, or the workspace's target/).
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
if [[ -z $target_dir ]]; then
  target_dir=${CARGO_TARGET_DIR:-$root/target}
  [[ $target_dir == /* ]] || target_dir=$root/$target_dir
fi
mailtrail=$target_dir/release/mailtrail
loggen=$target_dir/release/mailtrail-loggen
for bin in "$mailtrail" "$loggen"; do
  [[ -x $bin ]] || {
    log "compare.sh: $bin not found after the build"
    exit 1
  }
done

# Tools are looked up in PATH and in the sbin directories, where Debian puts
# exigrep and eximstats but where a non-root PATH does not look.
find_tool() {
  local dir
  if command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
    return
  fi
  for dir in /usr/sbin /usr/local/sbin /sbin; do
    if [[ -x $dir/$1 ]]; then
      echo "$dir/$1"
      return
    fi
  done
  return 1
}

gnu_time=
if [[ -x /usr/bin/time ]] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
  gnu_time=/usr/bin/time
else
  log "GNU time not found at /usr/bin/time: no peak RSS column"
fi

mkdir -p "$work"

# ---------------------------------------------------------------- data

# generate FORMAT: writes $work/FORMAT-MESSAGES.log and its truth CSV unless
# both are there already. Files are written under temporary names and moved
# into place, so an interrupted run never leaves a truncated log to reuse.
generate() {
  local format=$1
  local count
  count=$(messages_of "$format")
  local base=$work/$format-$count
  if [[ -s $base.log && -s $base.truth.csv ]]; then
    log "== reusing $base.log"
    return
  fi
  log "== generating $base.log ($count messages)"
  "$loggen" "$format" "${gen_opts[@]}" --messages "$count" --out-log "$base.log.tmp" --out-truth "$base.tmp.truth.csv"
  if [[ -f $base.tmp.truth.summary.json ]]; then
    mv "$base.tmp.truth.summary.json" "$base.truth.summary.json"
  fi
  mv "$base.tmp.truth.csv" "$base.truth.csv"
  mv "$base.log.tmp" "$base.log"
}

formats=(exim)
generate exim
# The Postfix generator may not exist in this build yet: its help then lacks
# the options the Exim one has.
postfix_help=$("$loggen" postfix --help 2>/dev/null) || postfix_help=
if [[ $postfix_help == *--out-truth* ]]; then
  formats+=(postfix)
  generate postfix
else
  log "== skipping Postfix: this mailtrail-loggen cannot generate Postfix logs yet"
  log "   ('mailtrail-loggen postfix --help' does not offer --out-truth)"
fi

# ---------------------------------------------------------------- timing

# Results, one entry per table row.
row_format=() row_command=() row_threads=() row_seconds=() row_rss=() row_note=()
declare -A reference # format -> median seconds of mailtrail on all threads
status=0

# measure FORMAT DISPLAY THREADS MAX_OK_EXIT COMMAND...
# Runs COMMAND $runs times and records the median wall time and the largest
# peak RSS. Exit codes up to MAX_OK_EXIT count as success (grep and rg exit 1
# when nothing matches). Output goes to a scratch file, not /dev/null: GNU
# grep notices an output of /dev/null and stops at the first match, even
# with -c.
measure() {
  local format=$1 display=$2 threads=$3 max_ok=$4
  shift 4
  local -a times=()
  local rss=0 run rc start end kb
  for ((run = 1; run <= runs; run++)); do
    rc=0
    start=$EPOCHREALTIME
    if [[ -n $gnu_time ]]; then
      "$gnu_time" -f %M -o "$work/rss" "$@" >"$work/stdout" 2>"$work/stderr" || rc=$?
    else
      "$@" >"$work/stdout" 2>"$work/stderr" || rc=$?
    fi
    end=$EPOCHREALTIME
    if ((rc > max_ok)); then
      log "   $display: exit $rc"
      tail -n 5 "$work/stderr" >&2
      add_row "$format" "$display" "$threads" "" "" "failed (exit $rc)"
      status=1
      return
    fi
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", b - a }')")
    if [[ -n $gnu_time ]]; then
      kb=$(tail -n 1 "$work/rss")
      if [[ $kb =~ ^[0-9]+$ ]] && ((kb > rss)); then
        rss=$kb
      fi
    fi
    log "   $display: run $run/$runs ${times[-1]} s"
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -g |
    awk '{ t[NR] = $1 } END { print (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }')
  add_row "$format" "$display" "$threads" "$median" "$rss" ""
}

add_row() {
  row_format+=("$1") row_command+=("$2") row_threads+=("$3")
  row_seconds+=("$4") row_rss+=("$5") row_note+=("$6")
}

# tool FORMAT NAME DISPLAY MAX_OK_EXIT ARGS...: measures NAME ARGS... on one
# thread, or records it as not installed.
tool() {
  local format=$1 name=$2 display=$3 max_ok=$4 path
  shift 4
  if path=$(find_tool "$name"); then
    measure "$format" "$display" 1 "$max_ok" "$path" "$@"
  else
    log "   $name: not installed"
    add_row "$format" "$display" 1 "" "" "not installed"
  fi
}

# check FORMAT LOG TRUTH YEAR_OPTS...: compares the (queue_id, recipient,
# outcome) rows of mailtrail's full report with the generator's truth, as
# multisets (refusals without a queue id can repeat).
checks=()
check() {
  local format=$1 file=$2 truth=$3 result
  shift 3
  local report
  report=$work/$format-$(messages_of "$format").mailtrail.csv
  if ! "$mailtrail" undelivered --log-tz UTC "$@" --outcome all --include-notifications \
    --format csv -q "$file" >"$report" 2>"$work/stderr"; then
    tail -n 5 "$work/stderr" >&2
    checks+=("$format: not checked (mailtrail failed)")
    status=1
    return
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    checks+=("$format: not checked (python3 not installed)")
    return
  fi
  result=$(python3 - "$truth" "$report" <<'EOF'
import csv, sys
from collections import Counter

def rows(path):
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        return Counter((r["queue_id"], r["recipient"], r["outcome"]) for r in csv.DictReader(f))

truth, found = rows(sys.argv[1]), rows(sys.argv[2])
missing, extra = truth - found, found - truth
t, f = sum(truth.values()), sum(found.values())
if not missing and not extra:
    print(f"MATCH: {t} rows")
else:
    print(f"MISMATCH: truth {t} rows, mailtrail {f} rows, "
          f"{sum(missing.values())} only in truth, {sum(extra.values())} only in mailtrail")
    for label, side in (("only in truth", missing), ("only in mailtrail", extra)):
        for row in sorted(side)[:5]:
            print(f"  {label}: {','.join(row)}", file=sys.stderr)
EOF
  )
  log "   correctness: $result"
  [[ $result == MATCH* ]] || status=1
  checks+=("$format: $result")
}

declare -A sizes lines
for format in "${formats[@]}"; do
  file=$work/$format-$(messages_of "$format").log
  truth=$work/$format-$(messages_of "$format").truth.csv
  name=${file##*/}
  sizes[$format]=$(wc -c <"$file")
  lines[$format]=$(wc -l <"$file")
  # Time with the file in the page cache, as after a first read.
  cat "$file" >/dev/null
  year=()
  [[ $format == postfix ]] && year=(--year 2024)
  log "== $name: ${sizes[$format]} bytes, ${lines[$format]} lines"
  measure "$format" "mailtrail undelivered --log-tz UTC ${year[*]:+${year[*]} }--threads 1 --format csv -q $name" \
    1 0 "$mailtrail" undelivered --log-tz UTC "${year[@]}" --threads 1 --format csv -q "$file"
  measure "$format" "mailtrail undelivered --log-tz UTC ${year[*]:+${year[*]} }--format csv -q $name" \
    "$(nproc)" 0 "$mailtrail" undelivered --log-tz UTC "${year[@]}" --format csv -q "$file"
  reference[$format]=${row_seconds[-1]}
  # The same log gzipped (fastest level, made once): throughput is counted
  # in bytes of log, as for the plain file.
  if [[ ! -s $file.gz ]]; then
    log "== compressing $name"
    gzip -1 -c "$file" >"$file.gz.tmp"
    mv "$file.gz.tmp" "$file.gz"
  fi
  measure "$format" "mailtrail undelivered --log-tz UTC ${year[*]:+${year[*]} }--format csv -q $name.gz" \
    "$(nproc)" 0 "$mailtrail" undelivered --log-tz UTC "${year[@]}" --format csv -q "$file.gz"
  measure "$format" "gzip -d -c $name.gz" 1 0 gzip -d -c "$file.gz"
  if [[ $format == exim ]]; then
    pattern=' ** '
  else
    pattern='status=bounced'
  fi
  tool "$format" grep "grep -c -F '$pattern' $name" 1 -c -F "$pattern" "$file"
  tool "$format" rg "rg -c -F '$pattern' $name" 1 -c -F "$pattern" "$file"
  if [[ $format == exim ]]; then
    tool "$format" exigrep "exigrep Spamhaus $name" 1 Spamhaus "$file"
    tool "$format" eximstats "eximstats $name" 0 "$file"
  else
    tool "$format" pflogsumm "pflogsumm $name" 0 "$file"
  fi
  check "$format" "$file" "$truth" "${year[@]}"
done

rm -f "$work/stdout" "$work/stderr" "$work/rss"

# ---------------------------------------------------------------- report

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
memory=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
rss_text() {
  if [[ -z $1 || $1 == 0 ]]; then
    echo "—"
  else
    awk -v k="$1" 'BEGIN { if (k >= 1048576) printf "%.2f GiB", k / 1048576; else printf "%.0f MiB", k / 1024 }'
  fi
}

{
  echo
  echo "Measured on $(date +%Y-%m-%d) with \`benches/compare.sh\` (BENCH_MESSAGES=$messages," \
    "BENCH_POSTFIX_MESSAGES=$postfix_messages," \
    "BENCH_RUNS=$runs; median of $runs runs). Machine: $(nproc) CPUs (\`nproc\`)," \
    "${cpu:-unknown CPU}, ${memory:-unknown} RAM; page cache warm; release build" \
    "($("$mailtrail" --version))."
  echo
  echo "Data: \`mailtrail-loggen FORMAT ${gen_opts[*]} --messages N\`:"
  echo
  for format in "${formats[@]}"; do
    echo "- \`$format-$(messages_of "$format").log\`: $(mb "${sizes[$format]}"), ${lines[$format]} lines"
  done
  [[ " ${formats[*]} " == *" postfix "* ]] || echo "- Postfix: not measured (no Postfix generator in this build)"
  echo
  echo "| log | command | threads | wall (median) | throughput | time vs mailtrail, all threads | peak RSS |"
  echo "|---|---|---|---|---|---|---|"
  for i in "${!row_command[@]}"; do
    format=${row_format[i]}
    if [[ -n ${row_note[i]} ]]; then
      echo "| $format | \`${row_command[i]}\` | — | ${row_note[i]} | — | — | — |"
      continue
    fi
    awk -v f="$format" -v c="${row_command[i]}" -v t="${row_threads[i]}" \
      -v s="${row_seconds[i]}" -v b="${sizes[$format]}" -v r="${reference[$format]:-}" \
      -v m="$(rss_text "${row_rss[i]}")" 'BEGIN {
        ratio = (r != "" && r > 0) ? sprintf("%.2f×", s / r) : "—"
        wall = (s < 10) ? sprintf("%.3f s", s) : sprintf("%.1f s", s)
        printf "| %s | `%s` | %s | %s | %.0f MB/s | %s | %s |\n", f, c, t, wall, b / 1e6 / s, ratio, m
      }'
  done
  echo
  echo "Correctness, (queue_id, recipient, outcome) of" \
    "\`mailtrail undelivered --outcome all --include-notifications\` against the generator's truth:"
  echo
  for line in "${checks[@]}"; do
    echo "- $line"
  done
}

exit "$status"
