//! Substring search for the fixed needles of the grammars, and lookups in
//! their tables of known line prefixes.
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

/// The label of the first prefix in `known` that `text` starts with.
///
/// The first bytes are compared before the whole prefix: most entries
/// differ there, and comparing each whole prefix is a `memcmp` call apiece,
/// which for tables of dozens of entries cost more than the rest of a line.
pub(crate) fn known_prefix(text: &[u8], known: &[(&[u8], &'static str)]) -> Option<&'static str> {
    known
        .iter()
        .find(|(prefix, _)| {
            prefix.first().is_none_or(|b| text.first() == Some(b)) && text.starts_with(prefix)
        })
        .map(|&(_, label)| label)
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
    use super::find_any;

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
