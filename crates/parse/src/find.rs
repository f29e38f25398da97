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
