//! Unit tests of the classifier: the incident text, evidence extraction,
//! permanence, expiry, user rules and rules-file errors.

use std::net::IpAddr;

use mailtrail_parse::EnhancedCode;

use super::*;

fn facts<'a>(stage: FailureStage, reason: &'a str, host: Option<&'a str>) -> FailureFacts<'a> {
    FailureFacts {
        stage,
        smtp_code: None,
        enhanced_code: None,
        reason: reason.as_bytes(),
        remote_host: host.map(str::as_bytes),
        local: host.is_none(),
    }
}

fn bounce(reason: &str, host: &str) -> Classification {
    Classifier::builtin().classify(&facts(FailureStage::Bounce, reason, Some(host)))
}

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

const INCIDENT: &str = "550 5.7.1 Service unavailable, Client host [40.68.36.243] blocked using Spamhaus. To request \
    removal from this list see https://www.spamhaus.org/query/ip/40.68.36.243 AS(1440) \
    [DB5PEPF00014B97.eurprd02.prod.outlook.com 2024-10-20T11:42:20.814Z 08DCF05E631C54C6]";

#[test]
fn incident_text() {
    let classifier = Classifier::builtin();
    let verdict = classifier.classify(&FailureFacts {
        stage: FailureStage::Bounce,
        smtp_code: Some(550),
        enhanced_code: EnhancedCode::parse(b"5.7.1"),
        reason: INCIDENT.as_bytes(),
        remote_host: Some(b"xxx-nl.mail.protection.outlook.com"),
        local: false,
    });
    assert_eq!(verdict.category, Category::Blocklisted);
    assert_eq!(verdict.rule, "blocklist.named");
    assert!(verdict.permanent);
    assert_eq!(verdict.blocklist.as_deref(), Some("Spamhaus"));
    assert_eq!(verdict.listed_ip, ip("40.68.36.243"));
    assert_eq!(
        verdict.delisting_url.as_deref(),
        Some("https://www.spamhaus.org/query/ip/40.68.36.243")
    );
    assert_eq!(verdict.provider.as_deref(), Some("microsoft"));
    assert_eq!(verdict.provider_code.as_deref(), Some("AS1440"));
}

#[test]
fn incident_text_as_exim_logs_it_without_codes() {
    // The reason as the parser hands it over: Exim wrapper kept, codes not
    // passed in, host name with a trailing dot and upper case.
    let reason = format!(
        "SMTP error from remote mail server after RCPT TO:<someone@example.nl>: {INCIDENT}"
    );
    let verdict = Classifier::builtin().classify(&FailureFacts {
        stage: FailureStage::Bounce,
        smtp_code: None,
        enhanced_code: None,
        reason: reason.as_bytes(),
        remote_host: Some(b"XXX-NL.mail.protection.outlook.com."),
        local: false,
    });
    assert_eq!(verdict.category, Category::Blocklisted);
    assert_eq!(verdict.listed_ip, ip("40.68.36.243"));
    assert_eq!(verdict.provider.as_deref(), Some("microsoft"));
}

#[test]
fn microsoft_internal_list_evidence() {
    let v = bounce(
        "550 5.7.1 Unfortunately, messages from [192.0.2.25] weren't sent. Please contact your Internet service \
         provider since part of their network is on our block list (S3150). You can also refer your provider to \
         http://mail.live.com/mail/troubleshooting.aspx#errors. [AM1PEPF0000ABCD.eop-EUR01.prod.protection.outlook.com]",
        "hotmail-com.olc.protection.outlook.com",
    );
    assert_eq!(v.category, Category::Blocklisted);
    assert_eq!(v.rule, "microsoft.internal_block_list");
    assert_eq!(
        v.blocklist.as_deref(),
        Some("Microsoft Outlook.com internal")
    );
    assert_eq!(v.provider_code.as_deref(), Some("S3150"));
    assert_eq!(v.listed_ip, ip("192.0.2.25"));
    assert_eq!(
        v.delisting_url.as_deref(),
        Some("http://mail.live.com/mail/troubleshooting.aspx#errors")
    );
}

#[test]
fn customer_block_list_and_banned_ip() {
    let v = bounce(
        "550 5.7.513 Service unavailable, Client host [192.0.2.25] blocked by example.com using Customer Block list \
         (AS16012607)",
        "example-com.mail.protection.outlook.com",
    );
    assert_eq!(v.category, Category::Blocklisted);
    assert_eq!(
        v.blocklist.as_deref(),
        Some("Customer block list (example.com)")
    );
    assert_eq!(v.listed_ip, ip("192.0.2.25"));
    assert_eq!(v.provider_code.as_deref(), Some("AS16012607"));

    let v = bounce(
        "550 5.7.606 Access denied, banned sending IP [192.0.2.25]. To request removal from this list please visit \
         https://sender.office.com/ and follow the directions. AS(1430)",
        "example-com.mail.protection.outlook.com",
    );
    assert_eq!(
        (v.category, v.blocklist.as_deref()),
        (Category::Blocklisted, Some("Microsoft EOP"))
    );
    assert_eq!(
        v.delisting_url.as_deref(),
        Some("https://sender.office.com/")
    );
    assert_eq!(v.listed_ip, ip("192.0.2.25"));
}

#[test]
fn gmail_ip_token_and_provider_code() {
    let v = bounce(
        "550-5.7.1 [192.0.2.9 12] Our system has detected that this message is\\n550-5.7.1 likely unsolicited \
         mail. To reduce the amount of spam sent to Gmail, this message has been blocked. Please visit\\n550 5.7.1 \
         https://support.google.com/mail/?p=UnsolicitedMessageError d2-20020a05 - gsmtp",
        "gmail-smtp-in.l.google.com",
    );
    assert_eq!(v.category, Category::ContentRejected);
    assert_eq!(v.listed_ip, ip("192.0.2.9"));
    assert_eq!(v.provider_code.as_deref(), Some("UnsolicitedMessageError"));
    assert_eq!(v.blocklist, None);
    assert_eq!(v.delisting_url, None);
}

#[test]
fn gmail_reuses_iana_numbers() {
    // 5.7.27 is "sender null MX" in the registry but SPF at Gmail.
    let gmail = bounce(
        "550 5.7.27 … SPF authentication didn't pass …",
        "aspmx.l.google.com",
    );
    assert_eq!(gmail.category, Category::AuthFailed);
    let other = bounce("550 5.7.27 sender address has null MX", "mx.example.net");
    assert_eq!(other.category, Category::SenderConfig);
    // Without a text that decides, Gmail's 4.7.23 would be SPF by the
    // registry; with PTR wording it is sender configuration.
    let v = Classifier::builtin().classify(&FailureFacts {
        stage: FailureStage::Deferral,
        smtp_code: Some(451),
        enhanced_code: EnhancedCode::parse(b"4.7.23"),
        reason: b"451 4.7.23 The IP address sending this message doesn't have a PTR record",
        remote_host: Some(b"gmail-smtp-in.l.google.com"),
        local: false,
    });
    assert_eq!(v.category, Category::SenderConfig);
    assert!(!v.permanent);
}

#[test]
fn yahoo_and_comcast_codes() {
    let v = Classifier::builtin().classify(&facts(
        FailureStage::Deferral,
        "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - \
         4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        Some("mta6.am0.yahoodns.net"),
    ));
    assert_eq!(v.category, Category::Reputation);
    assert_eq!(v.provider_code.as_deref(), Some("TSS04"));
    assert_eq!(v.listed_ip, ip("192.0.2.25"));
    assert_eq!(v.provider.as_deref(), Some("yahoo"));
    assert!(!v.permanent);

    let v = bounce(
        "554 resimta-ch2-01v.sys.comcast.net comcast 192.0.2.25 found on one or more DNSBLs, see \
         https://postmaster.comcast.net/smtp-error-codes.php#BL000001",
        "mx1.comcast.net",
    );
    assert_eq!(v.category, Category::Blocklisted);
    assert_eq!(v.blocklist.as_deref(), Some("Spamhaus ZEN"));
    assert_eq!(v.provider_code.as_deref(), Some("BL000001"));
    assert_eq!(v.listed_ip, ip("192.0.2.25"));
}

#[test]
fn united_internet_greeting_deferred_by_postfix() {
    let v = Classifier::builtin().classify(&FailureFacts {
        stage: FailureStage::Deferral,
        smtp_code: None,
        enhanced_code: EnhancedCode::parse(b"4.0.0"),
        reason: b"host mx01.emig.gmx.net[192.0.2.80] refused to talk to me: 554-gmx.net (mxgmx117) Nemesis ESMTP \
            Service not available 554-No SMTP service 554-IP address is block listed. 554 For explanation visit \
            https://postmaster.gmx.net/en/case?c=r0201&i=ip&v=192.0.2.25&r=1ABCDE",
        remote_host: Some(b"mx01.emig.gmx.net"),
        local: false,
    });
    assert_eq!(v.category, Category::Blocklisted);
    assert!(!v.permanent, "Postfix will retry a 5xx greeting");
    assert_eq!(v.provider_code.as_deref(), Some("c=r0201"));
    assert_eq!(
        v.listed_ip,
        ip("192.0.2.25"),
        "not the MX address from the wrapper"
    );
    assert_eq!(v.blocklist.as_deref(), Some("United Internet internal"));
    assert!(
        v.delisting_url
            .unwrap()
            .starts_with("https://postmaster.gmx.net/en/case?c=r0201")
    );
}

#[test]
fn dnsbl_zones_are_canonicalised() {
    let v = bounce(
        "554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using b.barracudacentral.org; \
         http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.25",
        "mx.example.net",
    );
    assert_eq!(v.blocklist.as_deref(), Some("Barracuda BRBL"));
    assert_eq!(
        v.delisting_url.as_deref(),
        Some("http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.25")
    );
    let v = bounce(
        "554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using dnsbl-3.uceprotect.net",
        "mx",
    );
    assert_eq!(v.blocklist.as_deref(), Some("UCEPROTECT L3"));
    let v = bounce(
        "554 Refused. Your IP address is listed in the RBL at b.barracudacentral.org",
        "mx",
    );
    assert_eq!(
        (v.category, v.blocklist.as_deref()),
        (Category::Blocklisted, Some("Barracuda BRBL"))
    );
    let v = bounce(
        "550 5.7.1 [BL23] Connections not accepted from IP addresses on Spamhaus XBL",
        "mta7.am0.yahoodns.net",
    );
    assert_eq!(v.blocklist.as_deref(), Some("Spamhaus XBL"));
    assert_eq!(v.listed_ip, None);
}

#[test]
fn listed_ip_validation_and_fallback_scope() {
    // A DNSBL answer code is not an address of ours.
    let v = bounce(
        "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.spamhaus.org",
        "mx",
    );
    assert_eq!(v.listed_ip, None);
    // The loose "any IP in the text" fallback is only used for listings.
    let v = bounce(
        "550 5.1.1 <bob@example.net> user unknown, checked by 192.0.2.7",
        "mx.example.net",
    );
    assert_eq!(
        (v.category, v.listed_ip),
        (Category::RecipientUnknown, None)
    );
    let v = bounce(
        "550 5.7.1 Mail from 192.0.2.7 refused, see http://www.spamcop.net/bl.shtml",
        "mx",
    );
    assert_eq!(
        (v.category, v.listed_ip),
        (Category::Blocklisted, ip("192.0.2.7"))
    );
}

#[test]
fn url_listing_is_content_not_our_ip() {
    let v = bounce(
        "552 5.2.0 Remote MTA 192.0.2.25: An URL contained in this message is blacklisted by Abusix Domain Blacklist",
        "mx.example.net",
    );
    assert_eq!(
        (v.category, v.rule.as_str()),
        (Category::ContentRejected, "content.url_listed")
    );
}

#[test]
fn permanence_follows_the_mta_verdict() {
    let c = Classifier::builtin();
    let text = "550 5.1.1 User unknown";
    assert!(
        c.classify(&facts(FailureStage::Bounce, text, Some("mx")))
            .permanent
    );
    assert!(
        !c.classify(&facts(FailureStage::Deferral, text, Some("mx")))
            .permanent
    );
    assert!(
        c.classify(&facts(
            FailureStage::Expiry,
            "451 4.7.1 Greylisted",
            Some("mx")
        ))
        .permanent
    );
    let rejection = |code: u16| {
        c.classify(&FailureFacts {
            smtp_code: Some(code),
            ..facts(FailureStage::Rejection, "rejected", None)
        })
    };
    assert!(rejection(554).permanent);
    assert!(!rejection(450).permanent);
    assert_eq!(rejection(554).category, Category::LocalFailure);
    assert_eq!(rejection(554).rule, "structure.submission_rejected");
}

#[test]
fn expiry_keeps_the_cause_and_bare_give_up_is_unknown() {
    let c = Classifier::builtin();
    // The caller passes the last real deferral with stage Expiry.
    let v = c.classify(&facts(
        FailureStage::Expiry,
        "450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted, see \
         http://postgrey.schweikert.ch/help/example.net.html",
        Some("mx.example.net"),
    ));
    assert_eq!((v.category, v.permanent), (Category::Greylisted, true));
    let v = c.classify(&facts(
        FailureStage::Expiry,
        "connect to mx.example.net[192.0.2.80]:25: Connection timed out",
        None,
    ));
    assert_eq!(v.category, Category::ConnectionFailure);
    // No cause known: do not invent one.
    let v = c.classify(&facts(FailureStage::Expiry, "retry timeout exceeded", None));
    assert_eq!(
        (v.category, v.rule.as_str(), v.permanent),
        (Category::Unknown, "expiry.no_cause", true)
    );
    // "retry timeout" must not read as a connection timeout.
    let v = c.classify(&facts(
        FailureStage::Expiry,
        "bob@example.net: retry timeout exceeded",
        Some("mx"),
    ));
    assert_eq!(v.category, Category::Unknown);
    // Exim's host-level retry state only exists for host (connection) errors.
    let v = c.classify(&facts(
        FailureStage::Expiry,
        "all hosts for 'example.net' have been failing for a long time (and retry time not reached)",
        None,
    ));
    assert_eq!(
        (v.category, v.rule.as_str()),
        (Category::ConnectionFailure, "expiry.hosts_failing")
    );
}

#[test]
fn postfix_suspended_prefix_and_local_fallback() {
    let c = Classifier::builtin();
    let v = c.classify(&facts(
        FailureStage::Deferral,
        "delivery temporarily suspended: lost connection with mx.example.net[192.0.2.80] while performing the \
         EHLO/HELO/LHLO handshake",
        None,
    ));
    assert_eq!(
        (v.category, v.rule.as_str()),
        (Category::ConnectionFailure, "mta.connection")
    );
    let v = c.classify(&facts(
        FailureStage::Bounce,
        "some local transport said no",
        None,
    ));
    assert_eq!(
        (v.category, v.rule.as_str()),
        (Category::LocalFailure, "fallback.local")
    );
    let v = c.classify(&facts(
        FailureStage::Bounce,
        "550 something we have never seen",
        Some("mx.example.net"),
    ));
    assert_eq!(
        (v.category, v.rule.as_str()),
        (Category::Unknown, "fallback.unknown")
    );
    let v = c.classify(&facts(
        FailureStage::Deferral,
        "451 something we have never seen",
        Some("mx.example.net"),
    ));
    assert_eq!(
        (v.category, v.rule.as_str()),
        (Category::RemoteError, "fallback.reply_transient")
    );
}

#[test]
fn invalid_utf8_and_odd_bytes_do_not_panic() {
    let c = Classifier::builtin();
    for reason in [
        &b"550 5.1.1 \xff\xfe user unknown"[..],
        b"",
        b"\\",
        b"\\n\\n",
        b"550",
        b"5.7.1",
        b"\x00\x01 [::1]",
    ] {
        let v = c.classify(&FailureFacts {
            stage: FailureStage::Bounce,
            smtp_code: None,
            enhanced_code: None,
            reason,
            remote_host: Some(b"\xff.example"),
            local: false,
        });
        assert!(!v.rule.is_empty());
    }
    assert_eq!(
        c.classify(&FailureFacts {
            reason: b"550 5.1.1 \xff user unknown",
            ..facts(FailureStage::Bounce, "", Some("mx"))
        })
        .category,
        Category::RecipientUnknown
    );
}

const USER_RULES: &str = r#"
[[provider]]
name = "acme"
host_suffixes = [".mx.acme.example"]

# Our receiving partner's Spamhaus checks are known to be broken
# (public resolver): treat them as their policy, not our listing.
[[rule]]
id = "acme.broken_spamhaus"
category = "policy_rejected"
provider = "acme"
text = ['blocked using spamhaus']
permanent = false
"#;

#[test]
fn user_rule_overrides_builtin() {
    let c = Classifier::with_user_rules(USER_RULES).unwrap();
    let text = "550 5.7.1 Service unavailable, Client host [192.0.2.25] blocked using Spamhaus.";
    let v = c.classify(&facts(
        FailureStage::Bounce,
        text,
        Some("in1.mx.acme.example"),
    ));
    assert_eq!(
        (v.category, v.rule.as_str(), v.permanent),
        (Category::PolicyRejected, "acme.broken_spamhaus", false)
    );
    assert_eq!(v.provider.as_deref(), Some("acme"));
    // Evidence does not depend on the rule.
    assert_eq!(
        (v.blocklist.as_deref(), v.listed_ip),
        (Some("Spamhaus"), ip("192.0.2.25"))
    );
    // Other receivers still get the built-in verdict.
    let v = c.classify(&facts(FailureStage::Bounce, text, Some("mx.example.net")));
    assert_eq!(
        (v.category, v.rule.as_str()),
        (Category::Blocklisted, "blocklist.named")
    );
    assert_eq!(c.rule_ids().next(), Some("acme.broken_spamhaus"));
}

#[test]
fn user_rule_with_builtin_id_replaces_it_and_disable_drops() {
    let c = Classifier::with_user_rules(
        r#"
disable = ["greylist.plesk"]

[[rule]]
id = "recipient.wording"
category = "mailbox_unavailable"
text = ['user unknown']
smtp_code = 550
enhanced = "X.1"
stage = ["bounce", "expiry"]
local = false
"#,
    )
    .unwrap();
    assert_eq!(
        c.rule_ids().filter(|id| *id == "recipient.wording").count(),
        1
    );
    assert!(!c.rule_ids().any(|id| id == "greylist.plesk"));
    let v = c.classify(&facts(
        FailureStage::Bounce,
        "550 5.1.1 User unknown",
        Some("mx"),
    ));
    assert_eq!(
        (v.category, v.rule.as_str()),
        (Category::MailboxUnavailable, "recipient.wording")
    );
    // Conditions not met (stage): falls through to the built-in code rule.
    let v = c.classify(&facts(
        FailureStage::Deferral,
        "550 5.1.1 User unknown",
        Some("mx"),
    ));
    assert_eq!(
        (v.category, v.rule.as_str()),
        (Category::RecipientUnknown, "recipient.code")
    );
    let v = c.classify(&facts(
        FailureStage::Deferral,
        "451 Service unavailable - try again later",
        Some("mx"),
    ));
    assert_eq!(v.category, Category::RemoteError);
}

#[test]
fn rules_file_errors() {
    let bad = |text: &str| Classifier::with_user_rules(text).unwrap_err().to_string();
    assert!(bad("[[rule]]\nid = 'x'\ncategory = 'nope'").contains("category"));
    assert!(bad("[[rule]]\nid = 'x'\ncategory = 'unknown'\ntext = '('").contains("text"));
    // Not a syntax error but an unknown class: still found per pattern.
    let unknown_class = bad("[[rule]]\nid = 'x'\ncategory = 'unknown'\ntext_not = '\\p{Nope}'");
    assert!(
        unknown_class.starts_with("rule \"x\": text_not:"),
        "{unknown_class}"
    );
    assert!(bad("[[rule]]\nid = 'x'\ncategory = 'unknown'\ncolour = 'red'").contains("colour"));
    assert!(
        bad("[[rule]]\nid = 'x'\ncategory = 'unknown'\n[[rule]]\nid = 'x'\ncategory = 'unknown'")
            .contains("duplicate")
    );
    assert!(
        bad("[[rule]]\nid = 'x'\ncategory = 'unknown'\nprovider = 'nobody'").contains("nobody")
    );
    assert!(bad("disable = ['no.such.rule']").contains("no.such.rule"));
    assert!(
        bad("[[rule]]\nid = 'x'\ncategory = 'unknown'\nenhanced = '5.7.x'").contains("enhanced")
    );
    assert!(
        bad("[[rule]]\nid = 'x'\ncategory = 'unknown'\nsmtp_code = '5a'").contains("smtp_code")
    );
    assert!(bad("[[rule]]\nid = 'x'\ncategory = 'unknown'\nstage = 'later'").contains("stage"));
    assert!(bad("[[rule]]\nid = ' '\ncategory = 'unknown'").contains("id"));
    assert!(bad("this is not toml").contains("rules file"));
    assert!(Classifier::with_user_rules("").is_ok());
}

#[test]
fn builtin_rules_are_well_formed() {
    let c = Classifier::builtin();
    let ids: Vec<&str> = c.rule_ids().collect();
    assert!(ids.len() > 100);
    assert_eq!(ids.first(), Some(&"structure.submission_rejected"));
    assert_eq!(ids.last(), Some(&"fallback.unknown"));
    // Every category except the fallback ones has at least one rule.
    let rules = c.rules();
    for category in Category::ALL {
        assert!(rules.has_category(category), "no rule for {category}");
    }
}

#[test]
fn names_round_trip() {
    for category in Category::ALL {
        assert_eq!(category.to_string().parse::<Category>().unwrap(), category);
        #[derive(Serialize)]
        struct Wrapper {
            c: Category,
        }
        assert_eq!(
            toml::to_string(&Wrapper { c: category }).unwrap(),
            format!("c = \"{category}\"\n")
        );
    }
    assert_eq!(Category::RateLimited.to_string(), "rate_limited");
    assert!("RateLimited".parse::<Category>().is_err());
    for stage in ["deferral", "bounce", "expiry", "rejection"] {
        assert_eq!(stage.parse::<FailureStage>().unwrap().to_string(), stage);
    }
}

#[test]
fn classifier_is_shareable() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Classifier>();
    let c = Classifier::builtin();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let c = c.clone();
            s.spawn(move || {
                assert_eq!(bounce_with(&c, INCIDENT).category, Category::Blocklisted);
            });
        }
    });
}

fn bounce_with(c: &Classifier, reason: &str) -> Classification {
    c.classify(&facts(
        FailureStage::Bounce,
        reason,
        Some("x.mail.protection.outlook.com"),
    ))
}

#[test]
fn describes_codes() {
    assert_eq!(
        describe_reply(550).map(|d| d.starts_with("Requested action not taken")),
        Some(true)
    );
    let entry = describe_enhanced(EnhancedCode::parse(b"4.7.28").unwrap()).unwrap();
    assert_eq!(
        (entry.title, entry.level),
        ("Mail flood detected", RegistryLevel::Code)
    );
}
