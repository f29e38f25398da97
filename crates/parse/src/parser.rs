//! [`LineParser`]: one line of any supported format in, one classified
//! result out.

use bstr::BStr;
use chrono_tz::Tz;

use crate::event::{Body, Event, Mta};
use crate::exim;
use crate::postfix;
use crate::time::{Clock, ClockState, ClockStats};
use crate::wrapper::{self, Envelope};

/// How a [`LineParser`] reads lines.
#[derive(Clone, Debug)]
pub struct ParserOptions {
    /// Zone for timestamps that carry no offset.
    pub zone: Tz,
    /// Host name for lines that do not name their host (Exim main logs).
    pub default_host: Option<String>,
}

impl ParserOptions {
    /// Options reading zoneless times in `zone`, with no default host.
    pub fn new(zone: Tz) -> ParserOptions {
        ParserOptions {
            zone,
            default_host: None,
        }
    }
}

/// The result of parsing one physical line.
// Returned by value once per line: boxing the large variant would allocate
// on every event line.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed<'a> {
    /// A delivery event.
    Event(Event<'a>),
    /// A known line that does not matter for delivery outcomes.
    Irrelevant(&'static str),
    /// A line no grammar recognised; the label says why.
    Unrecognised(&'static str),
}

/// How many lines fell into each class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineCounts {
    /// Lines that produced an event.
    pub events: u64,
    /// Known lines that do not matter.
    pub irrelevant: u64,
    /// Lines no grammar recognised, by reason.
    pub unrecognised: Vec<(&'static str, u64)>,
}

impl LineCounts {
    /// Counts one result.
    pub fn count(&mut self, parsed: &Parsed<'_>) {
        match parsed {
            Parsed::Event(_) => self.events += 1,
            Parsed::Irrelevant(_) => self.irrelevant += 1,
            Parsed::Unrecognised(reason) => self.count_unrecognised(reason, 1),
        }
    }

    fn count_unrecognised(&mut self, reason: &'static str, n: u64) {
        match self.unrecognised.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += n,
            None => self.unrecognised.push((reason, n)),
        }
    }

    /// Total unrecognised lines.
    pub fn unrecognised_total(&self) -> u64 {
        self.unrecognised.iter().map(|(_, n)| n).sum()
    }

    /// Total lines counted.
    pub fn total(&self) -> u64 {
        self.events + self.irrelevant + self.unrecognised_total()
    }

    /// Adds another set of counts.
    pub fn add(&mut self, other: &LineCounts) {
        self.events += other.events;
        self.irrelevant += other.irrelevant;
        for &(reason, n) in &other.unrecognised {
            self.count_unrecognised(reason, n);
        }
    }
}

/// Parts of a record Exim split for syslog, waiting for the rest.
#[derive(Clone, Debug)]
struct PendingSplit {
    pid: Option<u32>,
    next_index: u16,
    text: Vec<u8>,
}

/// Splits of one writer interleave with at most a few others.
const MAX_PENDING_SPLITS: usize = 16;

/// Parses lines of Exim main logs, Exim via syslog and Postfix via any
/// supported wrapper, one at a time, in file order.
///
/// The parser keeps the little state that crosses lines: the clock (year
/// and daylight-saving position), whether the previous line was an Exim
/// entry (for continuation lines), and Exim syslog splits.
#[derive(Clone, Debug)]
pub struct LineParser {
    options: ParserOptions,
    clock: Clock,
    after_exim_entry: bool,
    pending: Vec<PendingSplit>,
    assembled: Vec<u8>,
}

impl LineParser {
    /// A parser with fresh state.
    pub fn new(options: ParserOptions) -> LineParser {
        let clock = Clock::new(options.zone);
        LineParser {
            options,
            clock,
            after_exim_entry: false,
            pending: Vec::new(),
            assembled: Vec::new(),
        }
    }

    /// A parser continuing from a clock state (for a chunk of a file).
    pub fn with_clock_state(options: ParserOptions, state: ClockState) -> LineParser {
        let mut parser = LineParser::new(options);
        parser.clock = Clock::with_state(parser.options.zone, state);
        parser
    }

    /// Sets the year assumed for lines whose timestamps have none.
    pub fn set_year(&mut self, year: i32) {
        self.clock.set_year(year);
    }

    /// The clock's state, to continue from in a later chunk.
    pub fn clock_state(&self) -> ClockState {
        self.clock.state()
    }

    /// The clock's decision counters.
    pub fn clock_stats(&self) -> ClockStats {
        self.clock.stats()
    }

    /// Parses one physical line (without its newline).
    ///
    /// The result may borrow from the parser (a reassembled split record),
    /// so it must be used before the next call.
    pub fn parse<'s>(&'s mut self, line: &'s [u8]) -> Parsed<'s> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Parsed::Irrelevant("blank");
        }
        if line[0].is_ascii_digit()
            && let Some((prefix, text)) = exim::parse_prefix(line)
        {
            // `YYYY-MM-DD HH:MM:SS host prog[pid]: …` (a syslog
            // template with an ISO time) also starts like an Exim line;
            // a line without a message id is checked for that first.
            if prefix.id.is_none()
                && let Some(envelope) = wrapper::unwrap_exim_like_line(line)
            {
                return self.parse_enveloped(envelope);
            }
            self.after_exim_entry = true;
            let host = self.options.default_host.as_deref().map(BStr::new);
            let Some(at) = self.clock.resolve(&prefix.stamp) else {
                return Parsed::Unrecognised("invalid timestamp");
            };
            return event_from_body(
                at,
                Mta::Exim,
                host,
                None,
                prefix.id,
                exim::parse_body(prefix.id, text),
            );
        }
        if let Some(envelope) = wrapper::unwrap_line(line) {
            return self.parse_enveloped(envelope);
        }
        if self.after_exim_entry && is_exim_continuation(line) {
            return Parsed::Irrelevant("continuation");
        }
        self.after_exim_entry = false;
        Parsed::Unrecognised("no known line format")
    }

    fn parse_enveloped<'s>(&'s mut self, envelope: Envelope<'s>) -> Parsed<'s> {
        let program: &[u8] = envelope.program.as_ref();
        // After the last `/` (`postfix/smtp`). A tag is a few bytes long: a
        // loop from the end finds the slash in fewer instructions than the
        // setup of a vectorised search.
        let last_slash = program.iter().rposition(|&b| b == b'/');
        let daemon_name = match last_slash {
            Some(slash) => &program[slash + 1..],
            None => program,
        };
        if daemon_name.starts_with(b"exim") {
            self.after_exim_entry = false;
            return self.parse_exim_syslog(envelope);
        }
        if let Some((instance, daemon)) = postfix::split_program_at(envelope.program, last_slash) {
            self.after_exim_entry = false;
            let Some(stamp) = envelope.stamp else {
                return Parsed::Unrecognised("no timestamp");
            };
            let Some(at) = self.clock.resolve(&stamp) else {
                return Parsed::Unrecognised("invalid timestamp");
            };
            let parsed = postfix::parse_body(daemon, envelope.body);
            return event_from_body(
                at,
                Mta::Postfix,
                envelope.host,
                Some(instance),
                parsed.queue_id,
                parsed.body,
            );
        }
        Parsed::Irrelevant("other program")
    }

    fn parse_exim_syslog<'s>(&'s mut self, envelope: Envelope<'s>) -> Parsed<'s> {
        let mut text: &'s [u8] = envelope.body;
        if let Some(part) = envelope.split {
            let slot = self.pending.iter().position(|p| p.pid == envelope.pid);
            if part.index > 1 {
                // A later part: continue a pending record, or it is the
                // text after an embedded newline.
                let Some(slot) = slot.filter(|&s| self.pending[s].next_index == part.index) else {
                    return Parsed::Irrelevant("continuation");
                };
                self.pending[slot].text.extend_from_slice(text);
                if part.index < part.total && !part.at_newline {
                    self.pending[slot].next_index += 1;
                    return Parsed::Irrelevant("split part");
                }
                let done = self.pending.swap_remove(slot);
                self.assembled = done.text;
                text = &self.assembled;
            } else if part.total > 1 && !part.at_newline {
                if let Some(slot) = slot {
                    self.pending.swap_remove(slot);
                }
                if self.pending.len() >= MAX_PENDING_SPLITS {
                    self.pending.remove(0);
                }
                self.pending.push(PendingSplit {
                    pid: envelope.pid,
                    next_index: 2,
                    text: text.to_vec(),
                });
                return Parsed::Irrelevant("split part");
            }
        }
        let host = envelope
            .host
            .or(self.options.default_host.as_deref().map(BStr::new));
        if let Some((prefix, rest)) = exim::parse_prefix(text) {
            let Some(at) = self.clock.resolve(&prefix.stamp) else {
                return Parsed::Unrecognised("invalid timestamp");
            };
            return event_from_body(
                at,
                Mta::Exim,
                host,
                None,
                prefix.id,
                exim::parse_body(prefix.id, rest),
            );
        }
        // `syslog_timestamp = false`: the envelope's time, then optional
        // `[pid] ` and message id.
        let Some(stamp) = envelope.stamp else {
            return Parsed::Unrecognised("no timestamp");
        };
        let Some(at) = self.clock.resolve(&stamp) else {
            return Parsed::Unrecognised("invalid timestamp");
        };
        if text.first() == Some(&b'[')
            && let Some(close) = memchr::memchr(b']', text)
        {
            text = text[close + 1..]
                .strip_prefix(b" ")
                .unwrap_or(&text[close + 1..]);
        }
        let (first, rest) = match memchr::memchr(b' ', text) {
            Some(space) => (&text[..space], &text[space + 1..]),
            None => (text, &text[text.len()..]),
        };
        let id = crate::id::is_exim_id(first).then(|| BStr::new(first));
        let body = if id.is_some() {
            exim::parse_body(id, rest)
        } else {
            exim::parse_body(None, text)
        };
        event_from_body(at, Mta::Exim, host, None, id, body)
    }
}

/// Lines Exim writes after an entry without a timestamp of their own:
/// indented continuations (`  Suggested action: …`) and the reject log's
/// header block (`Envelope-from: <…>`, `P Received: …`, `I Message-Id: …`).
/// Anything else without a timestamp stays unrecognised, so junk is shown.
fn is_exim_continuation(line: &[u8]) -> bool {
    if matches!(line[0], b' ' | b'\t') || line.starts_with(b"Envelope-") {
        return true;
    }
    // `F From: …`: a one-character spool flag, a space, a header name, `:`.
    if line.len() > 3 && (line[0].is_ascii_uppercase() || line[0] == b'*') && line[1] == b' ' {
        let name_len = line[2..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count();
        return name_len > 0 && line.get(2 + name_len) == Some(&b':');
    }
    false
}

fn event_from_body<'a>(
    at: chrono::DateTime<chrono::Utc>,
    mta: Mta,
    host: Option<&'a BStr>,
    instance: Option<&'a BStr>,
    queue_id: Option<&'a BStr>,
    body: Body<'a>,
) -> Parsed<'a> {
    match body {
        Body::Event(kind) => Parsed::Event(Event {
            at,
            mta,
            host,
            instance,
            queue_id,
            kind,
        }),
        Body::Irrelevant(label) => Parsed::Irrelevant(label),
        Body::Unrecognised(label) => Parsed::Unrecognised(label),
    }
}
