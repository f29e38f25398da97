//! Why a delivery failed: a rule-driven classifier for failure texts.
//!
//! [`Classifier::classify`] takes the facts about one failed or deferred
//! recipient ([`FailureFacts`]: what the log structure says, the reply
//! codes, the raw reason text and the remote host) and answers with a
//! [`Classification`]: a [`Category`], the id of the rule that decided it,
//! whether the failure is permanent, and evidence pulled out of the text
//! (which blocklist, which of our IPs it names, where to ask for removal,
//! which receiver and which of its internal codes).
//!
//! ```
//! use mailtrail_analysis::classify::{Category, Classifier, FailureFacts, FailureStage};
//! use mailtrail_parse::EnhancedCode;
//!
//! let classifier = Classifier::builtin();
//! let reason = b"550 5.7.1 Service unavailable, Client host [192.0.2.36] blocked using \
//!     Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.36 AS(1440)";
//! let facts = FailureFacts {
//!     stage: FailureStage::Bounce,
//!     smtp_code: Some(550),
//!     enhanced_code: EnhancedCode::parse(b"5.7.1"),
//!     reason,
//!     remote_host: Some(b"example-com.mail.protection.outlook.com"),
//!     local: false,
//! };
//! let verdict = classifier.classify(&facts);
//! assert_eq!(verdict.category, Category::Blocklisted);
//! assert_eq!(verdict.blocklist.as_deref(), Some("Spamhaus"));
//! assert_eq!(verdict.listed_ip, Some("192.0.2.36".parse().unwrap()));
//! assert_eq!(verdict.provider.as_deref(), Some("microsoft"));
//! assert_eq!(verdict.provider_code.as_deref(), Some("AS1440"));
//! assert!(verdict.permanent);
//! ```
//!
//! # Pipeline
//!
//! 1. **Normalise** the reason: undo Exim escapes (`\n`, `\\`, octal),
//!    decode invalid UTF-8 lossily, collapse whitespace; strip the MTA
//!    wrappers (`delivery temporarily suspended:`, `host H[ip] said:`,
//!    `host H[ip] refused to talk to me:`, `SMTP error from remote mail
//!    server after …:`, a trailing `(in reply to … command)`); remove the
//!    repeated continuation prefixes of multi-line replies (`550-5.7.1 `,
//!    `554-`), and lower-case the result for matching. The unstripped text
//!    (escapes undone) is kept for evidence extraction. When the facts carry
//!    no reply code or enhanced code, the first ones in the text are used.
//! 2. **Detect the receiver** (`provider`): by remote host name suffix,
//!    else by marker strings in the text (`- gsmtp`, `prod.outlook.com`…).
//! 3. **Match rules** in order; the first rule whose conditions all hold
//!    decides the category. User rules come before the built-in ones.
//! 4. **Extract evidence** ([`Classification::blocklist`],
//!    [`listed_ip`](Classification::listed_ip),
//!    [`delisting_url`](Classification::delisting_url),
//!    [`provider_code`](Classification::provider_code)) with a fixed table
//!    of patterns, independent of the rule that matched (see below).
//! 5. **Permanence**: a rule's `permanent` override if it has one; else
//!    the MTA verdict ([`FailureStage::Bounce`] and
//!    [`FailureStage::Expiry`] are permanent, [`FailureStage::Deferral`]
//!    is not); for [`FailureStage::Rejection`] the reply code class, then
//!    the enhanced code class.
//!
//! # Built-in rule order
//!
//! The built-in rules (`builtin_rules.toml`, compiled into the crate)
//! follow the rule order of the project's bounce-classification reference
//! (§8.3): structure beats text, provider-specific meanings beat generic
//! ones, and the most generic words come last. Rule ids are prefixed by
//! their family.
//!
//! | # | Family (id prefix) | Decides |
//! |---|---|---|
//! | 0 | `structure.`, `local.`, `mta.` | our own SMTP-time rejections (`local_failure`); local transports (mailbox full, unknown user, command/file/pipe failures); texts the MTA writes itself (connect/lost connection/timeouts, DNS lookups, loops, local data errors, smarthost authentication) |
//! | 1 | `microsoft.`, `google.`, `yahoo.`, `apple.`, `united_internet.`, `orange.`, `comcast.`, `cox.`, `spectrum.`, `godaddy.`, `mimecast.`, `barracuda.`, `cisco.` | provider codes and wordings (S3140/S3150, 5.7.606-649, Gmail's re-used 4.7.2x numbers, `[TSS09]`, `[CS01]`, `c=hi`, `OFR_417`, `#BL000001` …) |
//! | 2 | `greylist.` | greylisting (4xx with greylist wording) |
//! | 3 | `content.url_listed`, `blocklist.` | URL/link listings (content, §6.4), RATS-NoPtr (a PTR problem), then named blocklists |
//! | 4 | `auth.` | SPF, DKIM, DMARC, ARC; X.7.20-24, X.7.26, X.7.29 |
//! | 5 | `tls.` | STARTTLS/TLS/certificates/MTA-STS/DANE; X.7.10, X.7.11, X.7.30 |
//! | 6 | `sender.` | PTR/rDNS, HELO, dynamic IPs, sender domain; X.7.25, X.7.27, X.1.7, X.1.8 |
//! | 7 | `reputation.` | reputation, complaints, unusual volume |
//! | 8 | `rate.` | connection/message/recipient limits; X.5.3, X.7.28 |
//! | 9 | `content.` | spam, virus, phishing, malformed messages |
//! | 10 | `size.` | size limits; X.3.4, X.2.3 |
//! | 11 | `mailbox_full.` | quota; X.2.2 (`…and inactive` is mailbox_unavailable) |
//! | 12 | `mailbox_unavailable.` | disabled/inactive/moved; X.2.1, X.1.6 |
//! | 13 | `relay.` | relaying denied |
//! | 14 | `recipient.` | unknown recipient; X.1.1, X.1.3, X.1.0 |
//! | 15 | `policy.` | recipient-side policy; leftover 5.7.0 and 5.7.1 |
//! | 16 | `dns.` | resolver and routing failures; X.1.2, X.1.10, X.4.3, X.4.4, 556 |
//! | 17 | `connection.` | connection-level failures; X.4.1, X.4.2 |
//! | 18 | `remote.` | receiver-side temporary and protocol errors; X.3.x, X.4.5, X.4.6, X.5.x |
//! | 18b | `expiry.` | bare give-up texts (see *Expiry* below) |
//! | 19 | `fallback.` | IANA default category of the enhanced code, then the basic reply code, then `local_failure` for local failures, then `unknown` |
//!
//! Deviation from the reference: a bare `552` (no enhanced code, no
//! wording) is only used in the fallback stage (as `message_too_large`),
//! because receivers also send 552 for "mailbox not found" and quota.
//!
//! # Expiry
//!
//! An expired recipient keeps the category of its underlying failure:
//! callers pass the facts of the last real deferral with
//! [`FailureStage::Expiry`]. When only a give-up text is available, the
//! classifier does not invent a cause: `retry timeout exceeded` alone (and
//! remote `Message expired` / `delivery time expired` / 4.4.7 texts)
//! classify as [`Category::Unknown`] under rule `expiry.no_cause`. Exim's
//! `retry time not reached for any host` and `all hosts … have been
//! failing for a long time` are host-level retry states, which Exim only
//! keeps for connection-level failures, so they classify as
//! [`Category::ConnectionFailure`] (`expiry.hosts_failing`).
//!
//! # Evidence extraction
//!
//! Evidence comes from a fixed pattern table (the reference's §6.2), not
//! from rules, so every rule gets it:
//!
//! * `blocklist`: from explicit phrases (`client host [IP] blocked using
//!   LIST`, `blocked by D using Customer Block list`, `listing in Spamhaus
//!   SBL`, `listed in/at/on ZONE`, `is in an RBL on ZONE`); else the
//!   matching rule's `blocklist` value (provider-internal lists such as
//!   "Microsoft Outlook.com internal"); else a known list name anywhere in
//!   the text; else, for `blocklisted` and `reputation` verdicts only, the
//!   host of a known lookup/delisting URL. Zone names are canonicalised
//!   (`zen.spamhaus.org` → "Spamhaus ZEN", `b.barracudacentral.org` →
//!   "Barracuda BRBL", `dnsbl-2.uceprotect.net` → "UCEPROTECT L2" …).
//! * `listed_ip`: from the specific patterns (blocklist phrases, Microsoft
//!   `[IP]` forms, Gmail `[IP n]` and `originating from your IP address
//!   IP`, Yahoo/Apple forms, lookup URL parameters); for `blocklisted` and
//!   `reputation` verdicts also the first other IP in the text. A
//!   candidate must parse as an IP address and must not be unspecified,
//!   loopback, multicast, broadcast or in 127.0.0.0/8 (DNSBL answer
//!   codes).
//! * `delisting_url`: the first URL whose host is a known blocklist
//!   operator or provider delisting page; provider pages (Microsoft,
//!   Comcast, United Internet, Talos) only for `blocklisted` and
//!   `reputation` verdicts.
//! * `provider_code`: Microsoft `(S3150)`/`AS(1440)`/`SC-001`, Yahoo
//!   `[TSS04]`, Apple `[CS01]`, Comcast `#BL000001`, Cox/Spectrum
//!   `AUP#CXBL`, Orange `OFR006_102`, GoDaddy `IB104`, United Internet
//!   `c=bip`, Gmail `?p=NoSuchUser`. Codes whose shape is not distinctive
//!   on its own (Microsoft, GoDaddy, United Internet, Gmail) are only
//!   taken when that provider was detected.
//!
//! # Rules file format
//!
//! Rules are TOML. A file has an optional `disable` list (ids of built-in
//! rules to drop), optional `[[provider]]` tables and `[[rule]]` tables:
//!
//! ```toml
//! # Drop a built-in rule entirely.
//! disable = ["policy.generic_5_7_1"]
//!
//! # Teach the classifier a receiver: matched by remote host suffix
//! # (".example.net" or "example.net" both match "mx1.example.net"), or
//! # by a lower-case marker string in the reason when no host matched.
//! [[provider]]
//! name = "acme"
//! host_suffixes = ["mx.acme.example"]
//! markers = ["acme-mail-gateway"]
//!
//! [[rule]]
//! id = "acme.quarantine"            # unique; shown in reports
//! category = "content_rejected"     # a Category name (snake_case)
//! provider = "acme"                 # detected receiver is one of these
//! smtp_code = "55"                  # reply code prefix: "5", "55", "550"
//! enhanced = ["5.7.1", "X.7.606-649"] # class/subject/detail prefix; X = any class
//! text = ['quarantined by acme', 'held for review']  # any regex matches
//! text_not = ['spamhaus']           # and none of these does
//! stage = ["bounce", "expiry"]      # deferral | bounce | expiry | rejection
//! local = false                     # only remote (false) or local (true)
//! permanent = true                  # override the MTA verdict
//! blocklist = "Acme internal"       # evidence default when none extracted
//! note = "Acme's gateway quarantines and bounces."
//! ```
//!
//! Every condition is optional; a rule matches when all the conditions it
//! has hold. A condition given as a list holds when any element does.
//! `smtp_code` and `enhanced` never match when the code is unknown.
//! `enhanced` patterns compare whole components: `"5.7"` matches 5.7.1
//! and 5.7.606 but `"5.7.1"` does not match 5.7.10; `"X.7.1"` matches
//! 4.7.1 and 5.7.1; a detail may be a range (`"5.7.606-649"`). `text`
//! regexes (Rust `regex` syntax) run case-insensitively on the normalised,
//! lower-cased reason. Unknown keys are errors, so are unknown categories,
//! providers and stages, malformed codes, invalid regexes and duplicate
//! ids.
//!
//! User rules ([`Classifier::with_user_rules`]) are evaluated before all
//! built-in rules, in file order. A user rule with the same id as a
//! built-in rule replaces it. User providers are checked before the
//! built-in ones.

mod evidence;
mod normalise;
mod registry;
#[rustfmt::skip]
mod registry_table;
mod rules;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use mailtrail_parse::EnhancedCode;
use serde::{Deserialize, Serialize};

pub use crate::classify::registry::{
    RegistryEntry, RegistryLevel, describe_enhanced, describe_enhanced_class, describe_reply,
};

use crate::classify::rules::{Context, RuleSet};

/// The built-in rules file, compiled into the crate.
pub const BUILTIN_RULES: &str = include_str!("builtin_rules.toml");

/// Why a delivery failed: the classifier's categories.
///
/// Displayed, parsed and serialised as snake_case names
/// (`"blocklisted"`, `"rate_limited"`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Our IP, domain or account is on a named list (DNSBL, provider
    /// internal list, recipient organisation's block list).
    Blocklisted,
    /// Throttled, deferred or refused for low reputation, complaints or
    /// unusual volume, with no list named.
    Reputation,
    /// Capacity limits: connections, messages per time, recipients per
    /// message, a recipient receiving too fast, our quota at a relay.
    RateLimited,
    /// SPF, DKIM, DMARC or ARC failure or missing authentication.
    AuthFailed,
    /// Our sending configuration: PTR/reverse DNS, HELO, dynamic IP
    /// space, sender domain unresolvable or rejected.
    SenderConfig,
    /// TLS required but unavailable, or TLS/certificate/MTA-STS/DANE
    /// failure.
    TlsFailure,
    /// Spam, phishing, virus, attachment, malformed message, listed URL.
    ContentRejected,
    /// The message exceeds a size limit.
    MessageTooLarge,
    /// The recipient organisation's policy refused it (transport rules,
    /// allow/deny lists, anti-spoofing, restricted groups).
    PolicyRejected,
    /// The recipient address does not exist or is invalid.
    RecipientUnknown,
    /// The mailbox exists but is disabled, inactive or has moved.
    MailboxUnavailable,
    /// The mailbox is over quota.
    MailboxFull,
    /// The receiving host does not relay for the recipient domain.
    RelayDenied,
    /// Deliberate temporary deferral (greylisting).
    Greylisted,
    /// The recipient domain does not resolve, has a null MX, or the
    /// lookup failed.
    DnsFailure,
    /// Timeouts, refused or reset connections, unreachable networks.
    ConnectionFailure,
    /// Receiver-side system, protocol or loop errors.
    RemoteError,
    /// Our own MTA: local delivery, local transports, smarthost
    /// authentication, our SMTP-time rejections.
    LocalFailure,
    /// Nothing more specific is known.
    Unknown,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 19] = [
        Category::Blocklisted,
        Category::Reputation,
        Category::RateLimited,
        Category::AuthFailed,
        Category::SenderConfig,
        Category::TlsFailure,
        Category::ContentRejected,
        Category::MessageTooLarge,
        Category::PolicyRejected,
        Category::RecipientUnknown,
        Category::MailboxUnavailable,
        Category::MailboxFull,
        Category::RelayDenied,
        Category::Greylisted,
        Category::DnsFailure,
        Category::ConnectionFailure,
        Category::RemoteError,
        Category::LocalFailure,
        Category::Unknown,
    ];

    /// The snake_case name (`"rate_limited"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Blocklisted => "blocklisted",
            Category::Reputation => "reputation",
            Category::RateLimited => "rate_limited",
            Category::AuthFailed => "auth_failed",
            Category::SenderConfig => "sender_config",
            Category::TlsFailure => "tls_failure",
            Category::ContentRejected => "content_rejected",
            Category::MessageTooLarge => "message_too_large",
            Category::PolicyRejected => "policy_rejected",
            Category::RecipientUnknown => "recipient_unknown",
            Category::MailboxUnavailable => "mailbox_unavailable",
            Category::MailboxFull => "mailbox_full",
            Category::RelayDenied => "relay_denied",
            Category::Greylisted => "greylisted",
            Category::DnsFailure => "dns_failure",
            Category::ConnectionFailure => "connection_failure",
            Category::RemoteError => "remote_error",
            Category::LocalFailure => "local_failure",
            Category::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`Category`] or [`FailureStage`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

impl FromStr for Category {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Category, UnknownName> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// What the log structure says about the failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureStage {
    /// A temporary failure; the MTA will retry (Postfix
    /// `status=deferred`, Exim `==`).
    Deferral,
    /// A permanent failure (Postfix `status=bounced`, Exim `**`).
    Bounce,
    /// The MTA gave up after retrying; the facts are those of the last
    /// real deferral (or the give-up text when there was none).
    Expiry,
    /// The logging host itself refused the message at SMTP time (Postfix
    /// `NOQUEUE: reject`, Exim `rejected RCPT`).
    Rejection,
}

impl FailureStage {
    /// The snake_case name (`"deferral"`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureStage::Deferral => "deferral",
            FailureStage::Bounce => "bounce",
            FailureStage::Expiry => "expiry",
            FailureStage::Rejection => "rejection",
        }
    }
}

impl fmt::Display for FailureStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureStage {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<FailureStage, UnknownName> {
        [
            FailureStage::Deferral,
            FailureStage::Bounce,
            FailureStage::Expiry,
            FailureStage::Rejection,
        ]
        .into_iter()
        .find(|stage| stage.as_str() == s)
        .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// What is known about one failed or deferred recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FailureFacts<'a> {
    /// What the log structure says.
    pub stage: FailureStage,
    /// Basic reply code; when `None`, the first one in `reason` is used.
    pub smtp_code: Option<u16>,
    /// Enhanced status code; when `None`, the first one in `reason` is
    /// used.
    pub enhanced_code: Option<EnhancedCode>,
    /// The reason text as logged: may be invalid UTF-8 and may contain
    /// Exim escapes such as `\n`.
    pub reason: &'a [u8],
    /// Name of the host the answer came from (MX or relay); used to
    /// detect the receiving provider by suffix.
    pub remote_host: Option<&'a [u8]>,
    /// True when no remote host was involved (local delivery or routing
    /// failure).
    pub local: bool,
}

/// The classifier's verdict on one failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// Why it failed.
    pub category: Category,
    /// Id of the rule that decided the category (`"blocklist.named"`).
    pub rule: String,
    /// True when the failure is final or will not go away by retrying as
    /// is (see the module docs for the order of evidence).
    pub permanent: bool,
    /// The blocklist named, canonicalised (`"Spamhaus"`,
    /// `"Spamhaus ZEN"`, `"Microsoft Outlook.com internal"`).
    pub blocklist: Option<String>,
    /// The IP address the receiver says it refused or listed (normally
    /// one of ours).
    pub listed_ip: Option<IpAddr>,
    /// Where to look up or request removal of the listing.
    pub delisting_url: Option<String>,
    /// The receiving provider (`"microsoft"`, `"google"`, …), detected from
    /// the remote host name or text markers.
    pub provider: Option<String>,
    /// The provider's own code for the failure (`"S3150"`, `"AS1440"`,
    /// `"TSS04"`, `"BL000001"`).
    pub provider_code: Option<String>,
}

/// A rules file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The text is not valid TOML or does not have the rules-file shape.
    #[error("rules file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A rule field has a value that cannot be used.
    #[error("rule {id:?}: {field}: {message}")]
    InvalidField {
        /// The rule's id (empty when the id itself is the problem).
        id: String,
        /// The field name.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Two rules in one file have the same id.
    #[error("duplicate rule id {0:?}")]
    DuplicateId(String),
    /// `disable` names a rule that does not exist.
    #[error("disable: no built-in rule has the id {0:?}")]
    UnknownRule(String),
    /// The combined text patterns could not be compiled.
    #[error("compiling text patterns: {0}")]
    Regex(#[from] regex::Error),
}

/// The built-in rules, compiled on first use and shared by every classifier
/// that has no user rules.
static BUILTIN: LazyLock<RuleSet> =
    LazyLock::new(|| RuleSet::compile(None, BUILTIN_RULES).expect("the built-in rules compile"));

/// The failure classifier: rules compiled once, cheap to clone, usable from
/// many threads.
#[derive(Clone, Debug)]
pub struct Classifier {
    /// `None` for the built-in rules alone ([`BUILTIN`]).
    user_rules: Option<Arc<RuleSet>>,
}

impl Classifier {
    /// The classifier with the built-in rules only.
    ///
    /// The built-in rules are compiled on first use (see
    /// [`Classifier::prepare`]) and shared by every classifier made this way.
    pub fn builtin() -> Classifier {
        Classifier { user_rules: None }
    }

    /// The built-in rules preceded by the rules in `toml_text` (format in
    /// the module docs). They are compiled now, so that a mistake in them is
    /// reported before any work is done.
    pub fn with_user_rules(toml_text: &str) -> Result<Classifier, RulesError> {
        Ok(Classifier {
            user_rules: Some(Arc::new(RuleSet::compile(Some(toml_text), BUILTIN_RULES)?)),
        })
    }

    /// Compiles now whatever the first classification would otherwise
    /// compile: the built-in rules and the patterns that read evidence and
    /// normalise texts (tens of milliseconds). A caller can run this on
    /// another thread while it reads the logs, so that classifying does
    /// not wait for it.
    pub fn prepare(&self) {
        let _ = self.rules();
        normalise::prepare();
        evidence::prepare();
    }

    fn rules(&self) -> &RuleSet {
        self.user_rules.as_deref().unwrap_or(&BUILTIN)
    }

    /// Ids of the rules in evaluation order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules().ids()
    }

    /// The receiving provider (`"microsoft"`, `"google"`, …) a remote host
    /// name belongs to, by the same host suffixes the rules use.
    pub fn provider_of_host(&self, host: &str) -> Option<&str> {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        self.rules().detect_provider(Some(&host), "")
    }

    /// Classifies one failure.
    pub fn classify(&self, facts: &FailureFacts<'_>) -> Classification {
        let text = normalise::normalise(facts.reason);
        let smtp_code = facts.smtp_code.or(text.reply.code);
        let enhanced = facts.enhanced_code.or(text.reply.enhanced);
        let host = facts.remote_host.map(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase()
        });
        let provider = self.rules().detect_provider(host.as_deref(), &text.lower);
        let context = Context {
            stage: facts.stage,
            smtp_code,
            enhanced,
            host: host.as_deref(),
            provider,
            local: facts.local,
            text: &text.lower,
        };
        let matched = self.rules().first_match(&context);
        let (category, rule, override_permanent, rule_blocklist) = match matched {
            Some(rule) => (
                rule.category,
                rule.id.clone(),
                rule.permanent,
                rule.blocklist.as_deref(),
            ),
            None => (Category::Unknown, String::from("none"), None, None),
        };
        let permanent = override_permanent
            .unwrap_or_else(|| verdict_permanence(facts.stage, smtp_code, enhanced));
        let evidence = evidence::extract(
            &text.original,
            &text.lower,
            category,
            provider,
            rule_blocklist,
        );
        Classification {
            category,
            rule,
            permanent,
            blocklist: evidence.blocklist,
            listed_ip: evidence.listed_ip,
            delisting_url: evidence.delisting_url,
            provider: provider.map(str::to_owned),
            provider_code: evidence.provider_code,
        }
    }
}

/// Permanence from the MTA verdict, then the reply code, then the
/// enhanced code.
fn verdict_permanence(
    stage: FailureStage,
    smtp_code: Option<u16>,
    enhanced: Option<EnhancedCode>,
) -> bool {
    match stage {
        FailureStage::Bounce | FailureStage::Expiry => true,
        FailureStage::Deferral => false,
        FailureStage::Rejection => match (smtp_code, enhanced) {
            (Some(code), _) => code >= 500,
            (None, Some(code)) => code.class == 5,
            (None, None) => true,
        },
    }
}

#[cfg(test)]
mod tests;
