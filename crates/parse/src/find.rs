//! Substring search for the fixed needles of the grammars.
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

/// `memmem::rfind(haystack, needle)` for a literal needle.
macro_rules! rfind_fixed {
    ($haystack:expr, $needle:literal) => {{
        static FINDER: std::sync::LazyLock<memchr::memmem::FinderRev<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::FinderRev::new($needle));
        FINDER.rfind($haystack)
    }};
}

/// `memmem::find_iter(haystack, needle)` for a literal needle.
macro_rules! find_iter_fixed {
    ($haystack:expr, $needle:literal) => {{
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new($needle));
        FINDER.find_iter($haystack)
    }};
}
