//! Single-message traces: which queue entries a query is about, the
//! entries linked to them (next hops, upstream hops, notifications), and
//! which log lines belong to them.
//!
//! [`find_messages`] matches a query against queue ids, Message-IDs and
//! envelope addresses; [`stories`] follows the links between entries and
//! returns one [`Story`] per connected group; a [`LineMatcher`] then tells,
//! line by line, which story a re-read line belongs to.

use std::collections::{BTreeSet, VecDeque};

use bstr::{BStr, BString, ByteSlice};
use chrono::{DateTime, Utc};
use mailtrail_parse::{EventKind, Parsed};
use memchr::memmem::Finder;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::partial::PartialLog;
use crate::record::{MessageKey, MessageRecord, key_into, same_address, split_key};

/// One queue entry of a story: a key and which of its records (a short
/// Postfix id may be reused).
pub type EntryRef = (MessageKey, usize);

/// Why an entry is part of a story.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Relation {
    /// It matched the query.
    Match,
    /// A hop of a matching message (content filter, relay, alias).
    Hop,
    /// A bounce or DSN about a message of the story.
    Notification,
}

impl Relation {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Relation::Match => "match",
            Relation::Hop => "hop",
            Relation::Notification => "notification",
        }
    }
}

/// A queue entry in a story.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Its key.
    pub key: MessageKey,
    /// Which record of the key.
    pub segment: usize,
    /// Host that wrote it.
    pub host: BString,
    /// Queue id.
    pub queue_id: BString,
    /// Why it is in the story.
    pub relation: Relation,
    /// First line's time.
    pub first_seen: DateTime<Utc>,
    /// Last line's time.
    pub last_seen: DateTime<Utc>,
}

/// Queue entries that belong together, in order of first line.
#[derive(Clone, Debug, PartialEq)]
pub struct Story {
    /// The entries.
    pub members: Vec<Member>,
}

fn strip_brackets(text: &str) -> &str {
    text.trim().trim_start_matches('<').trim_end_matches('>')
}

/// True when the query looks like an address (for rejections, which have
/// no queue id).
pub fn is_address(query: &str) -> bool {
    let q = strip_brackets(query);
    q.contains('@') && !q.contains(char::is_whitespace)
}

fn record_matches(record: &MessageRecord, queue_id: &BStr, query: &str) -> bool {
    let q = strip_brackets(query).as_bytes();
    if queue_id == query.trim().as_bytes() {
        return true;
    }
    if record
        .message_id
        .as_ref()
        .is_some_and(|m| m.eq_ignore_ascii_case(q))
    {
        return true;
    }
    if !q.contains(&b'@') {
        return false;
    }
    let address = |a: &[u8]| same_address(a, q);
    record.sender.as_ref().is_some_and(|s| address(s))
        || record.listed_recipients.iter().any(|a| address(a))
        || record
            .recipients
            .iter()
            .any(|r| address(&r.address) || r.original.as_ref().is_some_and(|o| address(o)))
}

/// Entries whose queue id, Message-ID, sender or a recipient is `query`,
/// plus every record of the (host, queue id) pairs in `also` (found by
/// other means, e.g. a ticket). Sorted. Every record of the log is looked
/// at, in parallel on the current rayon pool.
pub fn find_messages(log: &PartialLog, query: &str, also: &[(BString, BString)]) -> Vec<EntryRef> {
    let entries: Vec<_> = log.messages.iter().collect();
    let found: BTreeSet<EntryRef> = entries
        .par_iter()
        .flat_map_iter(|&(key, records)| {
            let (host, queue_id) = split_key(key);
            let extra = also
                .iter()
                .any(|(h, q)| h.as_bstr() == host && q.as_bstr() == queue_id);
            records
                .iter()
                .enumerate()
                .filter(move |(_, record)| extra || record_matches(record, queue_id, query))
                .map(move |(segment, _)| (key.clone(), segment))
        })
        .collect();
    found.into_iter().collect()
}

/// The record of `records` nearest to `at`.
fn nearest(records: &[MessageRecord], at: DateTime<Utc>) -> usize {
    records
        .iter()
        .enumerate()
        .min_by_key(|(_, r)| {
            if at < r.first_seen {
                r.first_seen - at
            } else if at > r.last_seen {
                at - r.last_seen
            } else {
                chrono::Duration::zero()
            }
        })
        .map_or(0, |(i, _)| i)
}

/// A link from an entry to another by queue id: (queue id, when, whether
/// the target is a notification).
type Target<'a> = (&'a [u8], DateTime<Utc>, bool);

/// A link to a queue id seen from its end: (source, its segment, when,
/// whether the target is a notification).
type LinkFrom<'a> = (&'a MessageKey, usize, DateTime<Utc>, bool);

/// The links an entry's record makes to other entries: its next hops, its
/// notifications, the entry it came from and the message it bounces.
fn targets(record: &MessageRecord) -> impl Iterator<Item = Target<'_>> {
    let next_hops = record.recipients.iter().filter_map(|recipient| {
        let terminal = recipient.terminal.as_ref()?;
        let next = terminal.next_queue_id.as_ref()?;
        Some((next.as_bytes(), terminal.at, false))
    });
    let notifications = record
        .notifications
        .iter()
        .map(|n| (n.queue_id.as_bytes(), n.at, true));
    let upstream = [&record.upstream_queue_id, &record.bounce_of]
        .into_iter()
        .flatten()
        .map(|id| (id.as_bytes(), record.first_seen, false));
    next_hops.chain(notifications).chain(upstream)
}

/// The links between the entries of a log, followed from given entries:
/// only the stories asked for are walked, not every message of the log.
struct Links<'a> {
    log: &'a PartialLog,
    /// The keys of each queue id.
    by_queue_id: FxHashMap<&'a [u8], Vec<&'a MessageKey>>,
    /// The entries that link to each queue id.
    linking_to: FxHashMap<&'a [u8], Vec<LinkFrom<'a>>>,
}

impl<'a> Links<'a> {
    fn new(log: &'a PartialLog) -> Links<'a> {
        let mut by_queue_id: FxHashMap<&[u8], Vec<&MessageKey>> = FxHashMap::default();
        let mut linking_to: FxHashMap<&[u8], Vec<_>> = FxHashMap::default();
        for (key, records) in &log.messages {
            by_queue_id
                .entry(split_key(key).1.as_bytes())
                .or_default()
                .push(key);
            for (segment, record) in records.iter().enumerate() {
                for (queue_id, at, is_notification) in targets(record) {
                    linking_to.entry(queue_id).or_default().push((
                        key,
                        segment,
                        at,
                        is_notification,
                    ));
                }
            }
        }
        Links {
            log,
            by_queue_id,
            linking_to,
        }
    }

    /// The entry a link from the entry under `from` to `queue_id` at `at`
    /// leads to: on the same host and instance when there is one, else the
    /// only one; of a reused id, the record nearest to `at`.
    fn resolve(&self, from: &MessageKey, queue_id: &[u8], at: DateTime<Utc>) -> Option<EntryRef> {
        let prefix = &from[..from.len() - split_key(from).1.len()];
        let candidates = self.by_queue_id.get(queue_id)?;
        let key = candidates
            .iter()
            .copied()
            .find(|k| k.starts_with(prefix))
            .or(match candidates.as_slice() {
                [only] => Some(*only),
                _ => None,
            })?;
        Some((key.clone(), nearest(&self.log.messages[key], at)))
    }

    /// The entries linked to `entry`, both ways, and whether a link marks
    /// `entry` as a notification about another one.
    fn around(&self, entry: &EntryRef) -> (Vec<EntryRef>, bool) {
        let (key, segment) = entry;
        let record = &self.log.messages[key][*segment];
        let mut linked = Vec::new();
        let mut is_notification = record.is_notification();
        for (queue_id, at, _) in targets(record) {
            if let Some(other) = self.resolve(key, queue_id, at)
                && other != *entry
            {
                linked.push(other);
            }
        }
        let queue_id = split_key(key).1.as_bytes();
        for &(from, from_segment, at, notification) in
            self.linking_to.get(queue_id).map_or(&[][..], Vec::as_slice)
        {
            let source = (from.clone(), from_segment);
            if source != *entry && self.resolve(from, queue_id, at).as_ref() == Some(entry) {
                is_notification |= notification;
                linked.push(source);
            }
        }
        (linked, is_notification)
    }
}

/// The stories of `seeds`: each seed with every entry linked to it,
/// directly or not. Stories are ordered by their first line.
pub fn stories(log: &PartialLog, seeds: &[EntryRef]) -> Vec<Story> {
    let links = Links::new(log);
    let seed_set: BTreeSet<&EntryRef> = seeds.iter().collect();
    let mut seen: BTreeSet<EntryRef> = BTreeSet::new();
    let mut stories = Vec::new();
    for seed in seeds {
        if seen.contains(seed) || !log.messages.contains_key(&seed.0) {
            continue;
        }
        let mut members = Vec::new();
        let mut queue = VecDeque::from([seed.clone()]);
        seen.insert(seed.clone());
        while let Some(entry) = queue.pop_front() {
            let record = &log.messages[&entry.0][entry.1];
            let (host, queue_id) = split_key(&entry.0);
            let (linked, is_notification) = links.around(&entry);
            let relation = if seed_set.contains(&entry) {
                Relation::Match
            } else if is_notification {
                Relation::Notification
            } else {
                Relation::Hop
            };
            members.push(Member {
                key: entry.0.clone(),
                segment: entry.1,
                host: host.to_owned(),
                queue_id: queue_id.to_owned(),
                relation,
                first_seen: record.first_seen,
                last_seen: record.last_seen,
            });
            for next in linked {
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
        // The host and segment settle ties, which the order the links
        // were walked in must not.
        members.sort_by(|a, b| {
            (a.first_seen, &a.queue_id, &a.host, a.segment).cmp(&(
                b.first_seen,
                &b.queue_id,
                &b.host,
                b.segment,
            ))
        });
        stories.push(Story { members });
    }
    stories.sort_by_key(|s| s.members.first().map(|m| m.first_seen));
    stories
}

/// Where a re-read line belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineMatch {
    /// To the story with this index.
    Story(usize),
    /// A rejection without queue id whose address is the query.
    Rejection,
}

/// (story index, first line's time, last line's time) of one entry.
type StorySpan = (usize, DateTime<Utc>, DateTime<Utc>);

/// Tells which story a line belongs to: by the queue entry of its event
/// (and, for a reused queue id, by its time), or for a line that is not a
/// queue event by a story's queue id appearing in it as a word; a
/// rejection without queue id matches when its sender or recipient is the
/// query address.
#[derive(Clone, Debug)]
pub struct LineMatcher {
    by_key: FxHashMap<MessageKey, Vec<StorySpan>>,
    reused: BTreeSet<MessageKey>,
    /// Searchers for the story queue ids, built once: a line that is not a
    /// queue event is searched for each of them, and a search built per
    /// line costs more than the search.
    queue_ids: Vec<(Finder<'static>, usize)>,
    /// With many story queue ids (a busy address), the same search as
    /// `queue_ids` by the line's words instead: each id made only of word
    /// bytes, with its place in `queue_ids`. A line is then read once, not
    /// once per id.
    words: Option<WordSearch>,
    address: Option<String>,
    scratch: Vec<u8>,
}

impl LineMatcher {
    /// A matcher for `stories` of `log`; `query` is used for rejections
    /// when it is an address.
    pub fn new(log: &PartialLog, stories: &[Story], query: &str) -> LineMatcher {
        let mut by_key: FxHashMap<MessageKey, Vec<_>> = FxHashMap::default();
        let mut queue_ids = Vec::new();
        let mut seen_ids: FxHashSet<&[u8]> = FxHashSet::default();
        let mut reused = BTreeSet::new();
        for (index, story) in stories.iter().enumerate() {
            for member in &story.members {
                by_key.entry(member.key.clone()).or_default().push((
                    index,
                    member.first_seen,
                    member.last_seen,
                ));
                if log.messages.get(&member.key).is_some_and(|r| r.len() > 1) {
                    reused.insert(member.key.clone());
                }
                if seen_ids.insert(member.queue_id.as_slice()) {
                    queue_ids.push((Finder::new(&member.queue_id).into_owned(), index));
                }
            }
        }
        LineMatcher {
            by_key,
            reused,
            words: (queue_ids.len() > WORD_SEARCH_FROM).then(|| word_ids(&queue_ids)),
            queue_ids,
            address: is_address(query).then(|| strip_brackets(query).to_lowercase()),
            scratch: Vec::new(),
        }
    }

    /// Where `line`, parsed as `parsed`, belongs, if anywhere.
    pub fn matches(&mut self, parsed: &Parsed<'_>, line: &[u8]) -> Option<LineMatch> {
        if let Parsed::Event(event) = parsed {
            if key_into(event, &mut self.scratch) {
                let entries = self.by_key.get(self.scratch.as_slice())?;
                if !self.reused.contains(self.scratch.as_slice()) {
                    return entries.first().map(|e| LineMatch::Story(e.0));
                }
                return entries
                    .iter()
                    .find(|(_, first, last)| event.at >= *first && event.at <= *last)
                    .map(|e| LineMatch::Story(e.0));
            }
            if let EventKind::Rejected(rejection) = &event.kind {
                let wanted = self.address.as_deref()?;
                let hit = [rejection.recipient, rejection.sender]
                    .into_iter()
                    .flatten()
                    .any(|a| {
                        same_address(
                            strip_brackets(&a.to_str_lossy()).as_bytes(),
                            wanted.as_bytes(),
                        )
                    });
                return hit.then_some(LineMatch::Rejection);
            }
            return None;
        }
        let first = match &self.words {
            Some(words) => first_id_by_words(line, &self.queue_ids, words),
            None => (self.queue_ids.iter()).position(|(queue_id, _)| contains_word(line, queue_id)),
        };
        first.map(|at| LineMatch::Story(self.queue_ids[at].1))
    }
}

/// The needle of `finder` occurs in `haystack` with no letter, digit, `-`
/// or `_` on either side.
/// From how many story queue ids a line is searched by its words (see
/// `LineMatcher::words`): below it, a few fast substring searches cost less
/// than cutting the line into words.
const WORD_SEARCH_FROM: usize = 16;

/// A byte of a word, as [`contains_word`] draws its bounds.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The story queue ids of a [`LineMatcher`] by their places in its list:
/// those made only of word bytes by the id, the others (none, with the ids
/// MTAs write) to be searched for.
#[derive(Clone, Debug, Default)]
struct WordSearch {
    words: FxHashMap<Vec<u8>, usize>,
    others: Vec<usize>,
}

/// The word search of `queue_ids`.
fn word_ids(queue_ids: &[(Finder<'static>, usize)]) -> WordSearch {
    let mut search = WordSearch::default();
    for (at, (finder, _)) in queue_ids.iter().enumerate() {
        let id = finder.needle();
        if !id.is_empty() && id.iter().all(|&b| is_word_byte(b)) {
            search.words.entry(id.to_vec()).or_insert(at);
        } else {
            search.others.push(at);
        }
    }
    search
}

/// The first place in `queue_ids` of an id that `line` contains as a word,
/// as searching each id with [`contains_word`] in turn finds it: an id made
/// of word bytes is a word of the line exactly when it is one of the
/// line's maximal runs of word bytes, which `words` looks up; the other ids
/// are searched for.
fn first_id_by_words(
    line: &[u8],
    queue_ids: &[(Finder<'static>, usize)],
    search: &WordSearch,
) -> Option<usize> {
    let by_word = line
        .split(|&b| !is_word_byte(b))
        .filter_map(|word| search.words.get(word).copied())
        .min();
    let others = (search.others.iter().copied()).find(|&at| contains_word(line, &queue_ids[at].0));
    by_word.into_iter().chain(others).min()
}

fn contains_word(haystack: &[u8], finder: &Finder<'_>) -> bool {
    let needle = finder.needle();
    if needle.is_empty() {
        return false;
    }
    finder.find_iter(haystack).any(|start| {
        let end = start + needle.len();
        (start == 0 || !is_word_byte(haystack[start - 1]))
            && (end == haystack.len() || !is_word_byte(haystack[end]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{ScanOptions, scan_bytes};
    use mailtrail_parse::{LineParser, ParserOptions, Tz};

    /// Searching by words finds the same first id as searching each id in
    /// turn, at word bounds, inside other words, at either end of a line,
    /// and with an id that is not made of word bytes.
    #[test]
    fn a_line_searched_by_words_finds_what_each_id_searched_in_turn_finds() {
        let ids = [
            "1t2Few-00000006BBB-3VkV",
            "3C4D5E6F7A",
            "ABC",
            "A_B",
            "odd.id",
        ];
        let queue_ids: Vec<(Finder<'static>, usize)> = ids
            .iter()
            .enumerate()
            .map(|(story, id)| (Finder::new(id.as_bytes()).into_owned(), story))
            .collect();
        let search = word_ids(&queue_ids);
        assert_eq!(search.others, [4], "only odd.id is searched for");
        let lines = [
            "",
            "ABC",
            "xABC ABCx -ABC ABC- _ABC",
            "warning: ABC: and 3C4D5E6F7A, then 1t2Few-00000006BBB-3VkV",
            "1t2Few-00000006BBB-3VkV-x 3C4D5E6F7AB A_B.",
            "a A_Bc odd.idx xodd.id odd.id;",
            "x-odd.id",
            "3C4D5E6F7A]",
        ];
        for line in lines {
            let in_turn = (queue_ids.iter()).position(|(id, _)| contains_word(line.as_bytes(), id));
            let by_words = first_id_by_words(line.as_bytes(), &queue_ids, &search);
            assert_eq!(by_words, in_turn, "{line:?}");
        }
        // The lines above do find ids: the test is not vacuous.
        let found: Vec<Option<usize>> = lines
            .iter()
            .map(|l| first_id_by_words(l.as_bytes(), &queue_ids, &search))
            .collect();
        assert_eq!(
            found,
            [
                None,
                Some(2),
                None,
                Some(0),
                Some(3),
                Some(4),
                None,
                Some(1)
            ]
        );
    }

    const LOG: &[u8] = b"\
2024-10-19 20:02:46 1t2Few-00000006BBB-3VkV <= helpdesk@example.com U=www-data P=local S=35857 id=ticket-2410-0092.1729368166@helpdesk.example.com T=\"[#2410-0092] Ticket received\" for john.smith@example-contoso.test
2024-10-19 20:02:47 1t2Few-00000006BBB-3VkV ** john.smith@example-contoso.test R=dnslookup T=remote_smtp H=mx.example-contoso.test [198.51.100.37]: SMTP error from remote mail server after RCPT TO:<john.smith@example-contoso.test>: 550 5.7.1 blocked using Spamhaus
2024-10-19 20:02:48 1t2Fey-00000006BC1-05Wx <= <> R=1t2Few-00000006BBB-3VkV U=Debian-exim P=local S=14579 id=E1t2Fey-00000006BC1-05Wx@smtp1.example.com T=\"Mail delivery failed: returning message to sender\" for helpdesk@example.com
2024-10-19 20:02:48 1t2Few-00000006BBB-3VkV Completed
2024-10-19 20:02:48 1t2Fey-00000006BC1-05Wx => helpdesk <helpdesk@example.com> R=local_user T=maildir_home
2024-10-19 20:02:48 1t2Fey-00000006BC1-05Wx Completed
2024-10-19 20:05:00 1t2Ffz-00000006BC9-1aaa <= alice@example.com H=app.example.com [192.0.2.10] P=esmtps S=2048 id=other@example.com for bob@example.net
2024-10-19 20:05:01 1t2Ffz-00000006BC9-1aaa => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.7] C=\"250 OK\"
2024-10-19 20:05:01 1t2Ffz-00000006BC9-1aaa Completed
2024-10-19 20:06:00 H=(spam.example.org) [203.0.113.99] F=<x@example.org> rejected RCPT <john.smith@example-contoso.test>: relay not permitted
2024-10-19 20:06:01 1t2Few-00000006BBB-3VkV appears in a line no grammar knows
";

    fn log() -> PartialLog {
        scan_bytes(LOG, &ScanOptions::new(ParserOptions::new(Tz::UTC)))
    }

    fn queue_ids(log: &PartialLog, entries: &[EntryRef]) -> Vec<String> {
        let _ = log;
        entries
            .iter()
            .map(|(k, _)| split_key(k).1.to_string())
            .collect()
    }

    #[test]
    fn queries_by_queue_id_message_id_and_address() {
        let log = log();
        assert_eq!(
            queue_ids(&log, &find_messages(&log, "1t2Few-00000006BBB-3VkV", &[])),
            ["1t2Few-00000006BBB-3VkV"]
        );
        assert_eq!(
            queue_ids(
                &log,
                &find_messages(
                    &log,
                    "<ticket-2410-0092.1729368166@helpdesk.example.com>",
                    &[]
                )
            ),
            ["1t2Few-00000006BBB-3VkV"]
        );
        assert_eq!(
            queue_ids(
                &log,
                &find_messages(&log, "John.Smith@example-contoso.test", &[])
            ),
            ["1t2Few-00000006BBB-3VkV"]
        );
        let mut helpdesk = queue_ids(&log, &find_messages(&log, "helpdesk@example.com", &[]));
        helpdesk.sort();
        assert_eq!(
            helpdesk,
            ["1t2Few-00000006BBB-3VkV", "1t2Fey-00000006BC1-05Wx"]
        );
        assert!(find_messages(&log, "nobody@example.com", &[]).is_empty());
        let also = [(BString::from(""), BString::from("1t2Ffz-00000006BC9-1aaa"))];
        assert_eq!(
            queue_ids(&log, &find_messages(&log, "T-1", &also)),
            ["1t2Ffz-00000006BC9-1aaa"]
        );
    }

    #[test]
    fn stories_follow_notifications_and_lines_are_matched() {
        let log = log();
        let seeds = find_messages(&log, "john.smith@example-contoso.test", &[]);
        let stories = stories(&log, &seeds);
        assert_eq!(stories.len(), 1);
        let members: Vec<(String, &str)> = stories[0]
            .members
            .iter()
            .map(|m| (m.queue_id.to_string(), m.relation.name()))
            .collect();
        assert_eq!(
            members,
            [
                ("1t2Few-00000006BBB-3VkV".to_string(), "match"),
                ("1t2Fey-00000006BC1-05Wx".to_string(), "notification"),
            ]
        );
        let mut matcher = LineMatcher::new(&log, &stories, "john.smith@example-contoso.test");
        let mut parser = LineParser::new(ParserOptions::new(Tz::UTC));
        let matched: Vec<(usize, LineMatch)> = LOG
            .lines()
            .enumerate()
            .filter_map(|(n, line)| {
                let parsed = parser.parse(line);
                matcher.matches(&parsed, line).map(|m| (n + 1, m))
            })
            .collect();
        assert_eq!(
            matched,
            [
                (1, LineMatch::Story(0)),
                (2, LineMatch::Story(0)),
                (3, LineMatch::Story(0)),
                (4, LineMatch::Story(0)),
                (5, LineMatch::Story(0)),
                (6, LineMatch::Story(0)),
                (10, LineMatch::Rejection),
                (11, LineMatch::Story(0)),
            ]
        );
    }

    #[test]
    fn words() {
        assert!(contains_word(b"x 1A2B3C: y", &Finder::new(b"1A2B3C")));
        assert!(!contains_word(b"x 11A2B3C: y", &Finder::new(b"1A2B3C")));
        assert!(contains_word(b"1A2B3C", &Finder::new(b"1A2B3C")));
        assert!(!contains_word(b"1A2B3C-x", &Finder::new(b"1A2B3C")));
    }
}
