//! Substring search for the fixed needles of the grammars, short scans,
//! and lookups in their tables of known line prefixes.
//!
//! `memchr::memmem::find` builds a searcher on every call, which costs more
//! than searching one log line; these macros build each needle's searcher
//! once, on first use.

/// `memmem::find(haystack, needle)` for a literal needle.
macro_rules! find_fixed {
    ($haystack:expr, $needle:literal) => {{
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new($needle));
        FINDER.find($haystack)
    }};
}

/// `memmem::rfind(haystack, needle)`, found by searching backwards for the
/// needle's byte at `anchor` (an index into `needle`) and comparing the
/// whole needle there.
///
/// `memmem::FinderRev` is not vectorised: with an anchor byte that is rare
/// in the text (`<`, `(`), `memrchr` finds the few candidates faster.
pub(crate) fn rfind_anchored(haystack: &[u8], needle: &[u8], anchor: usize) -> Option<usize> {
    memchr::memrchr_iter(needle[anchor], haystack).find_map(|at| {
        let start = at.checked_sub(anchor)?;
        haystack[start..].starts_with(needle).then_some(start)
    })
}

/// `memmem::find(haystack, needle)`, found by searching for the needle's
/// byte at `anchor` (an index into `needle`) and comparing the whole needle
/// there.
///
/// A `memmem` search costs a hundred-odd instructions of setup before it
/// looks at the text; with an anchor byte that is rare in the text (`]`,
/// `=`, `q`), `memchr` finds the few candidates for less on texts of a
/// line's length.
pub(crate) fn find_anchored(haystack: &[u8], needle: &[u8], anchor: usize) -> Option<usize> {
    memchr::memchr_iter(needle[anchor], haystack).find_map(|at| {
        let start = at.checked_sub(anchor)?;
        haystack[start..].starts_with(needle).then_some(start)
    })
}

/// A table of known line prefixes and their labels, looked up by the
/// text's first byte.
///
/// Tables hold up to a hundred entries and noise lines match late ones
/// (`CONNECT from [` is the thirtieth): comparing the first byte of every
/// entry cost more than the rest of such a line. A bit set per first byte
/// lists the entries that can match, in table order, so the first
/// matching entry is still the one that wins.
pub(crate) struct PrefixTable {
    entries: &'static [(&'static [u8], &'static str)],
    /// Bit `i` of `by_first[b]`: entry `i` starts with `b` (or is empty).
    by_first: [u128; 256],
}

impl PrefixTable {
    /// Indexes `entries` (at most 128) at compile time.
    pub(crate) const fn new(entries: &'static [(&'static [u8], &'static str)]) -> PrefixTable {
        assert!(
            entries.len() <= 128,
            "a prefix table holds at most 128 entries"
        );
        let mut by_first = [0u128; 256];
        let mut i = 0;
        while i < entries.len() {
            let prefix = entries[i].0;
            if prefix.is_empty() {
                let mut b = 0;
                while b < 256 {
                    by_first[b] |= 1 << i;
                    b += 1;
                }
            } else {
                by_first[prefix[0] as usize] |= 1 << i;
            }
            i += 1;
        }
        PrefixTable { entries, by_first }
    }

    /// The label of the first entry that `text` starts with.
    pub(crate) fn find(&self, text: &[u8]) -> Option<&'static str> {
        let Some(&first) = text.first() else {
            // Only an empty prefix matches an empty text.
            return self
                .entries
                .iter()
                .find(|(prefix, _)| prefix.is_empty())
                .map(|&(_, label)| label);
        };
        let mut candidates = self.by_first[usize::from(first)];
        while candidates != 0 {
            let (prefix, label) = self.entries[candidates.trailing_zeros() as usize];
            if text.starts_with(prefix) {
                return Some(label);
            }
            candidates &= candidates - 1;
        }
        None
    }
}

/// `memmem::find_iter(haystack, needle)` for a literal needle.
macro_rules! find_iter_fixed {
    ($haystack:expr, $needle:literal) => {{
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new($needle));
        FINDER.find_iter($haystack)
    }};
}

/// The index of the first byte of `text` that is one of `set`.
///
/// For the short spans of a log line (a host name, a program tag, a field
/// value) this costs fewer instructions than `memchr`, whose dispatch and
/// vector setup outweigh a span of a few dozen bytes: eight bytes are
/// tested at a time in a `u64` (a zero byte of `word ^ needle` marks a
/// match), without `unsafe`. Use `memchr` for spans that are usually long.
#[inline]
pub(crate) fn find_any<const N: usize>(set: [u8; N], text: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = text.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let mut found = 0;
        for needle in set {
            let x = word ^ (LO * u64::from(needle));
            // High bit set in each byte of `x` that is zero; a borrow can
            // also mark bytes above a zero byte, never below the first one,
            // so the lowest mark is exact.
            found |= x.wrapping_sub(LO) & !x & HI;
        }
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|b| set.contains(b))
        .map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::{PrefixTable, find_any};

    #[test]
    fn prefix_table_keeps_table_order() {
        static ENTRIES: &[(&[u8], &str)] = &[
            (b"connect to ", "first"),
            (b"connect", "second"),
            (b"CONNECT", "third"),
            (b"c", "fourth"),
        ];
        static TABLE: PrefixTable = PrefixTable::new(ENTRIES);
        let plain = |text: &[u8]| {
            ENTRIES
                .iter()
                .find(|(prefix, _)| text.starts_with(prefix))
                .map(|&(_, label)| label)
        };
        for text in [
            &b"connect to x"[..],
            b"connect from x",
            b"CONNECT from",
            b"cache",
            b"",
            b"x",
            b"\xff",
        ] {
            assert_eq!(TABLE.find(text), plain(text), "{text:?}");
        }
        static WITH_EMPTY: PrefixTable = PrefixTable::new(&[(b"ab", "ab"), (b"", "any")]);
        assert_eq!(WITH_EMPTY.find(b"ab"), Some("ab"));
        assert_eq!(WITH_EMPTY.find(b"zz"), Some("any"));
        assert_eq!(WITH_EMPTY.find(b""), Some("any"));
    }

    #[test]
    fn find_any_agrees_with_a_plain_search() {
        // Every length up to three words, a needle at every position, and
        // bytes next to the needles' values (borrows between bytes).
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = [
            0u8, 1, 0x1f, b' ', b'!', b',', b'-', b'[', b'\\', 0x7f, 0x80, 0xa0, 0xff,
        ];
        for len in 0..=24 {
            for _ in 0..200 {
                let text: Vec<u8> = (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect();
                let plain = |set: &[u8]| text.iter().position(|b| set.contains(b));
                assert_eq!(find_any([b' '], &text), plain(b" "), "{text:?}");
                assert_eq!(find_any([b',', b' '], &text), plain(b", "), "{text:?}");
                assert_eq!(
                    find_any([b' ', b'[', 0xff], &text),
                    plain(b" [\xff"),
                    "{text:?}"
                );
                assert_eq!(find_any([0u8], &text), plain(b"\0"), "{text:?}");
            }
        }
    }
}
