//! Evidence pulled out of a failure text: which blocklist, which IP, where
//! to request removal, which provider code (reference §6.2 and §6.3).

use std::net::IpAddr;
use std::sync::{LazyLock, OnceLock};

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::classify::Category;

/// What the text says beyond the category.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Evidence {
    pub blocklist: Option<String>,
    pub listed_ip: Option<IpAddr>,
    pub delisting_url: Option<String>,
    pub provider_code: Option<String>,
}

/// An IPv4 or IPv6 candidate (validated by parsing afterwards).
const IP: &str =
    r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:\d{1,3}(?:\.\d{1,3}){3})?)";

fn build(pattern: &str) -> Regex {
    RegexBuilder::new(&pattern.replace("IP", IP))
        .case_insensitive(true)
        .build()
        .expect("evidence pattern")
}

/// A list of patterns that are tried in order, with a set that tells in
/// one pass over the text which of them can match at all: most texts match
/// none or one of them, and running each pattern's capturing search in
/// turn cost half of all classification time.
///
/// Each capturing pattern is compiled when the set first says it can
/// match: most runs meet a few of them, and compiling them all cost as much
/// as classifying a thousand texts.
struct Patterns {
    each: Vec<(String, OnceLock<Regex>)>,
    any: RegexSet,
}

impl Patterns {
    fn new(patterns: &[&str]) -> Patterns {
        let expanded: Vec<String> = patterns.iter().map(|p| p.replace("IP", IP)).collect();
        Patterns {
            any: RegexSetBuilder::new(&expanded)
                .case_insensitive(true)
                .build()
                .expect("evidence pattern set"),
            each: expanded.into_iter().map(|p| (p, OnceLock::new())).collect(),
        }
    }

    /// The patterns that match `text`, in list order.
    fn matching<'p>(&'p self, text: &str) -> impl Iterator<Item = &'p Regex> + 'p {
        self.matching_indexed(text).map(|(_, pattern)| pattern)
    }

    /// Like [`Patterns::matching`], with each pattern's index in the list.
    fn matching_indexed<'p>(&'p self, text: &str) -> impl Iterator<Item = (usize, &'p Regex)> + 'p {
        let hits = self.any.matches(text);
        hits.into_iter().map(|index| {
            let (pattern, compiled) = &self.each[index];
            (index, compiled.get_or_init(|| build(pattern)))
        })
    }
}

/// Compiles the pattern sets [`extract`] uses; the capturing patterns
/// are compiled when first needed.
pub(crate) fn prepare() {
    for patterns in [&LIST_PHRASES, &IP_PHRASES, &PROVIDER_CODE_PATTERNS] {
        LazyLock::force(patterns);
    }
    for pattern in [&ANY_IP, &LIST_NAMES, &URL] {
        LazyLock::force(pattern);
    }
}

/// Phrases that name both the list and (usually) the IP, in order.
static LIST_PHRASES: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns::new(&[
        // E2: Microsoft customer block list (before E1, which would read
        // "blocked by" differently).
        r"client host \[(?P<ip>[^\]]+)\] blocked by (?P<tenant>[^\s]+) using customer block ?list",
        // E1: Postfix default_rbl_reply and friends.
        r"(?:client host|client|sender address|helo command|recipient address|reverse client host|unverified client host)\s*\[(?P<ip>[^\]]+)\]\s*blocked using (?P<list>[a-z0-9][a-z0-9.\-]*[a-z0-9])",
        // E7: Apple.
        r"mail from ip (?P<ip>IP) was rejected due to listing in (?P<list>spamhaus \w+)",
        // E10: generic.
        r"(?:listed (?:at|on|in)|blocked by|found on|is in an rbl on|rbl at|in the rbl at) (?:the )?(?P<list>[a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)*\.[a-z]{2,})",
    ])
});

/// IP-only patterns (E3–E8 and a few more receiver forms), in order.
static IP_PHRASES: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns::new(&[
        r"messages from \[?(?P<ip>IP)\]? weren't sent",
        r"banned sending ip \[(?P<ip>IP)\]",
        r"the mail server \[(?P<ip>IP)\] has",
        r"try again later from \[(?P<ip>IP)\]",
        r"access denied, \[(?P<ip>IP)\] has exceeded",
        r"(?:sending ipv6 address|sent over ipv6) \[(?P<ip>IP)\]",
        r"^\[(?P<ip>IP) +\d+\]",
        r"originating from your ip (?:address )?(?P<ip>IP)",
        r"messages from (?P<ip>IP) (?:temporarily deferred|will be permanently deferred)",
        r"connections (?:will )?not (?:be )?accepted from (?P<ip>IP)",
        r"\[(?P<ip>IP)\](?::\d+)? is in an rbl",
        r"<\s*(?P<ip>IP)\s*>_is_blocked",
        r"client \[(?P<ip>IP)\]",
        r"spamhaus\.org/query/ip/\[?(?P<ip>IP)",
        r"spamcop\.net/bl\.shtml\?(?P<ip>IP)",
        r"sorbs\.net/lookup\.shtml\?(?P<ip>IP)",
        r"[?&](?:ip|ipr|ipaddress|searchterm|v)=(?P<ip>IP)",
        r"\bip=(?P<ip>IP)",
    ])
});

/// E12: any IP, bracketed or bare.
static ANY_IP: LazyLock<Regex> =
    LazyLock::new(|| build(r"(?:^|[^0-9a-z.:])(?P<ip>IP)(?:$|[^0-9a-z:])"));

/// Known list names anywhere in the text.
static LIST_NAMES: LazyLock<Regex> = LazyLock::new(|| {
    build(
        r"(?P<name>spamhaus(?:'s)?(?: (?:sbl|xbl|pbl|dbl|zen|css))?|[a-z0-9.\-]*spamhaus\.(?:org|net)|spamcop|barracuda(?:central)?(?: reputation)?|sorbs|uceprotect(?:-level\d)?|dnsbl-\d\.uceprotect\.net|psbl|ivmsip|invaluement|mailspike|[a-z]*\.?spamrats|abusix|cloudmark|senderscore|rpbl|junkemailfilter|multi-blacklist|manitu)",
    )
});

/// URLs (with or without a scheme) that have a path.
static URL: LazyLock<Regex> = LazyLock::new(|| {
    build(r#"\b(?:https?://)?(?:[a-z0-9\-]+\.)+[a-z]{2,}(?::\d+)?/[^\s<>"'\]\)]*"#)
});

/// Lookup or delisting hosts: (host fragment, list name, always reported).
/// Provider pages (`false`) are reported only for blocklisted and
/// reputation verdicts.
const URL_HOSTS: &[(&str, &str, bool)] = &[
    ("spamhaus.org", "Spamhaus", true),
    ("spamcop.net", "SpamCop", true),
    ("barracudacentral.org", "Barracuda BRBL", true),
    ("barracudanetworks.com", "Barracuda BRBL", true),
    ("sorbs.net", "SORBS", true),
    ("uceprotect.net", "UCEPROTECT", true),
    ("psbl.org", "PSBL", true),
    ("surriel.com", "PSBL", true),
    ("spamrats.com", "SpamRATS", true),
    ("mailspike", "Mailspike", true),
    ("abusix", "Abusix", true),
    ("cloudmark.com", "Cloudmark CSI", true),
    ("proofpoint.com", "Proofpoint", true),
    ("senderscore", "Validity RPBL", true),
    ("returnpath", "Validity RPBL", true),
    ("invaluement.com", "Invaluement", true),
    ("junkemailfilter.com", "JunkEmailFilter", true),
    ("sender.office.com", "Microsoft EOP", false),
    (
        "olcsupport.office.com",
        "Microsoft Outlook.com internal",
        false,
    ),
    ("mail.live.com", "Microsoft Outlook.com internal", false),
    ("postmaster.comcast.net", "Comcast", false),
    ("talosintelligence.com", "Cisco Talos", false),
    ("postmaster.gmx", "United Internet", false),
    ("postmaster.web.de", "United Internet", false),
    ("postmaster.1und1", "United Internet", false),
    ("postmaster.ionos", "United Internet", false),
    ("postmaster.yahooinc.com", "Yahoo internal", false),
];

/// How a matched provider code is written out.
#[derive(Clone, Copy)]
enum CodeFormat {
    /// Upper-cased, after a fixed prefix.
    Upper(&'static str),
    /// Lower-cased, after a fixed prefix.
    Lower(&'static str),
    /// As found.
    Keep,
}

/// Provider codes (E11): required provider, pattern with group `code`,
/// output format. The first match wins.
const PROVIDER_CODES: &[(Option<&str>, &str, CodeFormat)] = {
    use CodeFormat::{Keep, Lower, Upper};
    &[
        (Some("microsoft"), r"\((?P<code>a?s\d{3,8})\)", Upper("")),
        (Some("microsoft"), r"\bas\((?P<code>\d+)\)", Upper("AS")),
        (
            Some("microsoft"),
            r"\b(?P<code>(?:sc|rp|dy|ou)-\d{3})\b",
            Upper(""),
        ),
        (None, r"\[(?P<code>(?:tss|ts|ph|bl)\d+)\]", Upper("")),
        (None, r"\[(?P<code>(?:cs|hme|hm)\d+)\]", Upper("")),
        (None, r"#(?P<code>(?:bl|rl|es)\d{6})\b", Upper("")),
        (
            None,
            r"aup#(?P<code>cx\w+|ipbl\d+|urlbl\d+|[a-z]*-?\d{3,4})",
            Upper(""),
        ),
        (
            None,
            r"\b(?P<code>(?:ofr|lpnaaa|lpn|ouk)\d*_\d{3})\b",
            Upper(""),
        ),
        (Some("godaddy"), r"\b(?P<code>ib\d{3})\b", Upper("")),
        (
            Some("united_internet"),
            r"[?&]c=(?P<code>[a-z0-9]+)",
            Lower("c="),
        ),
        (Some("google"), r"[?&]p=(?P<code>[a-z]+)", Keep),
    ]
};

static PROVIDER_CODE_PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let patterns: Vec<&str> = PROVIDER_CODES
        .iter()
        .map(|&(_, pattern, _)| pattern)
        .collect();
    Patterns::new(&patterns)
});

/// Extracts the evidence. `original` keeps case (URLs, codes); `lower` is
/// the normalised text without wrappers (so the MX's own IP in `host
/// H[ip] said:` is not taken for the listed IP).
pub(crate) fn extract(
    original: &str,
    lower: &str,
    category: Category,
    provider: Option<&str>,
    rule_blocklist: Option<&str>,
) -> Evidence {
    let listing = matches!(category, Category::Blocklisted | Category::Reputation);
    let mut evidence = Evidence::default();

    for phrase in LIST_PHRASES.matching(lower) {
        for caps in phrase.captures_iter(lower) {
            if evidence.listed_ip.is_none() {
                evidence.listed_ip = caps.name("ip").and_then(|m| valid_ip(m.as_str()));
            }
            if evidence.blocklist.is_none() {
                if let Some(tenant) = caps.name("tenant") {
                    evidence.blocklist = Some(format!("Customer block list ({})", tenant.as_str()));
                } else if let Some(list) = caps.name("list") {
                    evidence.blocklist = Some(canonical_list(list.as_str()));
                }
            }
        }
    }
    if evidence.blocklist.is_none() {
        evidence.blocklist = rule_blocklist.map(str::to_owned);
    }
    if evidence.blocklist.is_none() {
        evidence.blocklist = LIST_NAMES
            .captures(lower)
            .map(|c| canonical_list(&c["name"]));
    }

    let urls: Vec<&str> = URL
        .find_iter(original)
        .map(|m| m.as_str().trim_end_matches(['.', ',', ';', ':']))
        .collect();
    for url in &urls {
        let host = url_host(url);
        let known = URL_HOSTS
            .iter()
            .find(|(fragment, _, _)| host.contains(fragment));
        if let Some(&(_, list, always)) = known
            && (always || listing)
        {
            if evidence.delisting_url.is_none() {
                evidence.delisting_url = Some((*url).to_owned());
            }
            if evidence.blocklist.is_none() && listing {
                evidence.blocklist = Some(list.to_owned());
            }
        }
    }

    if evidence.listed_ip.is_none() {
        evidence.listed_ip = IP_PHRASES
            .matching(lower)
            .flat_map(|p| p.captures_iter(lower))
            .find_map(|c| valid_ip(&c["ip"]));
    }
    if evidence.listed_ip.is_none() && listing {
        evidence.listed_ip = ANY_IP.captures_iter(lower).find_map(|c| valid_ip(&c["ip"]));
    }

    evidence.provider_code = PROVIDER_CODE_PATTERNS
        .matching_indexed(original)
        .filter(|&(index, _)| PROVIDER_CODES[index].0.is_none_or(|r| provider == Some(r)))
        .find_map(|(index, pattern)| {
            let format = &PROVIDER_CODES[index].2;
            let caps = pattern.captures(original)?;
            let code = &caps["code"];
            Some(match format {
                CodeFormat::Upper(prefix) => format!("{prefix}{}", code.to_ascii_uppercase()),
                CodeFormat::Lower(prefix) => format!("{prefix}{}", code.to_ascii_lowercase()),
                CodeFormat::Keep => code.to_owned(),
            })
        });
    evidence
}

/// The host part of a URL (lower case, no scheme, no port).
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    host.split(':').next().unwrap_or("").to_ascii_lowercase()
}

/// Parses and validates a listed-IP candidate (§6.3): a real address, not
/// unspecified, loopback, multicast, broadcast or a DNSBL answer
/// (127.0.0.0/8).
pub(crate) fn valid_ip(candidate: &str) -> Option<IpAddr> {
    let ip: IpAddr = candidate.trim().parse().ok()?;
    let usable = match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.octets()[0] == 0)
        }
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_loopback() || v6.is_multicast()),
    };
    usable.then_some(ip)
}

/// Maps a list zone or name to its canonical family name.
pub(crate) fn canonical_list(raw: &str) -> String {
    let name = raw
        .trim()
        .trim_end_matches(['.', ',', ';', ':'])
        .to_ascii_lowercase();
    let has = |s: &str| name.contains(s);
    if has("spamhaus") {
        let zone = [
            ("sbl-xbl", "SBL-XBL"),
            ("zen", "ZEN"),
            ("sbl", "SBL"),
            ("xbl", "XBL"),
            ("pbl", "PBL"),
            ("dbl", "DBL"),
            ("zrd", "ZRD"),
            ("css", "CSS"),
        ]
        .iter()
        .find(|(z, _)| name.split(['.', ' ']).any(|part| part == *z));
        return match zone {
            Some((_, z)) => format!("Spamhaus {z}"),
            None => "Spamhaus".to_owned(),
        };
    }
    if has("barracuda") {
        return "Barracuda BRBL".to_owned();
    }
    if has("uceprotect") {
        let level = name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find_map(|part| {
                part.strip_prefix("dnsbl")
                    .or_else(|| part.strip_prefix("level"))
            })
            .filter(|d| d.len() == 1 && d.as_bytes()[0].is_ascii_digit())
            .or_else(|| name.find("dnsbl-").and_then(|at| name.get(at + 6..at + 7)));
        return match level {
            Some(level) => format!("UCEPROTECT L{level}"),
            None => "UCEPROTECT".to_owned(),
        };
    }
    if has("spamrats") {
        for (zone, label) in [
            ("noptr", "NoPtr"),
            ("dyna", "Dyna"),
            ("spam.spamrats", "Spam"),
        ] {
            if has(zone) {
                return format!("SpamRATS {label}");
            }
        }
        return "SpamRATS".to_owned();
    }
    let families = [
        ("spamcop", "SpamCop"),
        ("sorbs", "SORBS"),
        ("psbl", "PSBL"),
        ("surriel", "PSBL"),
        ("ivmsip", "Invaluement ivmSIP"),
        ("invaluement", "Invaluement"),
        ("mailspike", "Mailspike"),
        ("abusix", "Abusix"),
        ("cloudmark", "Cloudmark CSI"),
        ("proofpoint", "Proofpoint"),
        ("senderscore", "Validity RPBL"),
        ("returnpath", "Validity RPBL"),
        ("rpbl", "Validity RPBL"),
        ("junkemailfilter", "JunkEmailFilter"),
        ("hostkarma", "JunkEmailFilter"),
        ("multi-blacklist", "JunkEmailFilter"),
        ("manitu", "NiX Spam"),
        ("gbudb", "GBUdb"),
        ("interserver", "InterServer RBL"),
    ];
    families
        .iter()
        .find(|(key, _)| has(key))
        .map_or(name.clone(), |(_, family)| (*family).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_list("Spamhaus."), "Spamhaus");
        assert_eq!(canonical_list("zen.spamhaus.org"), "Spamhaus ZEN");
        assert_eq!(canonical_list("abcdef.zen.dq.spamhaus.net"), "Spamhaus ZEN");
        assert_eq!(canonical_list("spamhaus sbl"), "Spamhaus SBL");
        assert_eq!(canonical_list("sbl-xbl.spamhaus.org"), "Spamhaus SBL-XBL");
        assert_eq!(canonical_list("b.barracudacentral.org"), "Barracuda BRBL");
        assert_eq!(canonical_list("dnsbl-2.uceprotect.net"), "UCEPROTECT L2");
        assert_eq!(canonical_list("uceprotect-level1"), "UCEPROTECT L1");
        assert_eq!(canonical_list("noptr.spamrats.com"), "SpamRATS NoPtr");
        assert_eq!(canonical_list("bl.example.org"), "bl.example.org");
    }

    #[test]
    fn ip_validation() {
        assert_eq!(valid_ip("192.0.2.1"), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(
            valid_ip("2001:db8::25"),
            Some("2001:db8::25".parse().unwrap())
        );
        for bad in [
            "127.0.0.2",
            "0.0.0.0",
            "255.255.255.255",
            "999.1.1.1",
            "::1",
            "dead:",
            "224.0.0.1",
            "ab:cd",
        ] {
            assert_eq!(valid_ip(bad), None, "{bad}");
        }
    }

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("https://www.spamhaus.org/query/ip/192.0.2.1"),
            "www.spamhaus.org"
        );
        assert_eq!(
            url_host("csi.cloudmark.com/reset-request/?ip=192.0.2.1"),
            "csi.cloudmark.com"
        );
    }
}
