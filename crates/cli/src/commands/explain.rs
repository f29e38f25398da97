//! `mailtrail explain`: what a reply code means, and what the classifier
//! concludes for a failure text.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use mailtrail_analysis::classify::{
    Category, Classification, Classifier, FailureFacts, FailureStage, RegistryEntry,
    describe_enhanced, describe_enhanced_class, describe_reply,
};
use mailtrail_parse::{SmtpReply, unescape};
use serde::Serialize;

use crate::args::OutputArgs;
use crate::pipeline::open_output;
use crate::report::Format;

/// Options of `mailtrail explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A reply code (`550`), an enhanced code (`5.7.1`), both (`550
    /// 5.7.1`) or a whole failure text; several words are joined with
    /// spaces. `-` reads one text per line from stdin.
    #[arg(value_name = "CODE-OR-TEXT", required_unless_present = "categories")]
    pub text: Vec<String>,
    /// List the failure categories with their meanings.
    #[arg(long, conflicts_with = "text")]
    pub categories: bool,
    /// The host that answered, so that provider rules apply
    /// (e.g. example-com.mail.protection.outlook.com).
    #[arg(long, value_name = "HOST")]
    pub remote_host: Option<String>,
    /// What the MTA did with the failure.
    #[arg(long, value_enum, default_value_t = StageArg::Bounce)]
    pub stage: StageArg,
    /// A rules file whose rules are tried before the built-in ones.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The `--stage` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StageArg {
    /// A temporary failure; the MTA retries.
    Deferral,
    /// A permanent failure (bounce).
    Bounce,
    /// Given up after retrying.
    Expiry,
    /// Refused at SMTP time by the logging host.
    Rejection,
}

impl From<StageArg> for FailureStage {
    fn from(stage: StageArg) -> FailureStage {
        match stage {
            StageArg::Deferral => FailureStage::Deferral,
            StageArg::Bounce => FailureStage::Bounce,
            StageArg::Expiry => FailureStage::Expiry,
            StageArg::Rejection => FailureStage::Rejection,
        }
    }
}

pub const EXAMPLES: &str = "\
Examples:
  mailtrail explain 550 5.7.1
  mailtrail explain 4.7.650
  mailtrail explain --remote-host example-com.mail.protection.outlook.com \\
      '550 5.7.1 Service unavailable, Client host [192.0.2.36] blocked using Spamhaus'
  mailtrail explain --stage deferral --format json '451 4.7.1 Greylisted, try again later'
  cut -d, -f18 lost.csv | mailtrail explain --format json -
  mailtrail explain --categories";

/// One line per category: what it means.
pub fn category_meaning(category: Category) -> &'static str {
    match category {
        Category::Blocklisted => {
            "Our IP, domain or account is on a named list (DNSBL, provider internal list, recipient's block list)."
        }
        Category::Reputation => {
            "Throttled or refused for low reputation, complaints or unusual volume, with no list named."
        }
        Category::RateLimited => {
            "A capacity limit: connections, messages per time, recipients per message, our quota at a relay."
        }
        Category::AuthFailed => "SPF, DKIM, DMARC or ARC failed or was missing.",
        Category::SenderConfig => {
            "Our sending setup: reverse DNS, HELO, dynamic IP space, sender domain unresolvable or refused."
        }
        Category::TlsFailure => {
            "TLS required but unavailable, or a TLS, certificate, MTA-STS or DANE failure."
        }
        Category::ContentRejected => {
            "The message itself: spam, phishing, virus, attachment, malformed, a listed URL."
        }
        Category::MessageTooLarge => "The message exceeds a size limit.",
        Category::PolicyRejected => {
            "The recipient organisation's policy refused it (transport rules, allow/deny lists, restricted groups)."
        }
        Category::RecipientUnknown => "The recipient address does not exist or is invalid.",
        Category::MailboxUnavailable => {
            "The mailbox exists but is disabled, inactive or has moved."
        }
        Category::MailboxFull => "The mailbox is over quota.",
        Category::RelayDenied => "The receiving host does not relay for the recipient domain.",
        Category::Greylisted => "A deliberate temporary deferral (greylisting); retrying works.",
        Category::DnsFailure => {
            "The recipient domain does not resolve, has a null MX, or the lookup failed."
        }
        Category::ConnectionFailure => {
            "Timeouts, refused or reset connections, unreachable networks."
        }
        Category::RemoteError => "A receiver-side system, protocol or loop error.",
        Category::LocalFailure => {
            "Our own MTA: local delivery, local transports, smarthost authentication, our SMTP-time rejections."
        }
        Category::Unknown => "Nothing more specific is known.",
    }
}

/// The explanation of one input.
#[derive(Serialize)]
struct Explanation {
    input: String,
    stage: &'static str,
    remote_host: Option<String>,
    category: Category,
    category_meaning: &'static str,
    permanent: bool,
    rule: String,
    smtp_code: Option<u16>,
    smtp_code_meaning: Option<&'static str>,
    enhanced_code: Option<String>,
    /// The IANA registry entry of the enhanced code (or of its subject).
    enhanced_code_meaning: Option<RegistryEntry>,
    /// The IANA registry entry of the enhanced code's class.
    enhanced_class_meaning: Option<RegistryEntry>,
    blocklist: Option<String>,
    listed_ip: Option<String>,
    delisting_url: Option<String>,
    provider: Option<String>,
    provider_code: Option<String>,
}

fn explain(text: &str, args: &ExplainArgs, classifier: &Classifier) -> Explanation {
    let reason = unescape(text.as_bytes());
    let reply = SmtpReply::find(&reason);
    let stage = FailureStage::from(args.stage);
    let facts = FailureFacts {
        stage,
        smtp_code: reply.code,
        enhanced_code: reply.enhanced,
        reason: text.as_bytes(),
        remote_host: args.remote_host.as_deref().map(str::as_bytes),
        local: false,
    };
    let Classification {
        category,
        rule,
        permanent,
        blocklist,
        listed_ip,
        delisting_url,
        provider,
        provider_code,
    } = classifier.classify(&facts);
    Explanation {
        input: text.to_string(),
        stage: stage.as_str(),
        remote_host: args.remote_host.clone(),
        category,
        category_meaning: category_meaning(category),
        permanent,
        rule,
        smtp_code: reply.code,
        smtp_code_meaning: reply.code.and_then(describe_reply),
        enhanced_code: reply.enhanced.map(|e| e.to_string()),
        enhanced_code_meaning: reply.enhanced.and_then(describe_enhanced),
        enhanced_class_meaning: reply
            .enhanced
            .and_then(|e| describe_enhanced_class(e.class)),
        blocklist,
        listed_ip: listed_ip.map(|ip| ip.to_string()),
        delisting_url,
        provider,
        provider_code,
    }
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let classifier = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Classifier::with_user_rules(&text).with_context(|| format!("{}", path.display()))?
        }
        None => Classifier::builtin(),
    };
    let (mut out, _) = open_output(&args.output)?;
    // A person asking wants prose, whether or not stdout is a terminal.
    let format = args.output.format.unwrap_or(Format::Table);
    if args.categories {
        write_categories(&mut out, format)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut writer = Writer::new(format);
    if args.text.len() == 1 && args.text[0] == "-" {
        for line in io::stdin().lock().lines() {
            let line = line.context("cannot read stdin")?;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            writer.write(&mut out, &explain(line, &args, &classifier))?;
        }
    } else {
        let text = args.text.join(" ");
        if text.trim().is_empty() {
            anyhow::bail!("nothing to explain: give a code or a failure text, or - for stdin");
        }
        writer.write(&mut out, &explain(text.trim(), &args, &classifier))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_categories(out: &mut dyn Write, format: Format) -> io::Result<()> {
    #[derive(Serialize)]
    struct Row {
        category: Category,
        meaning: &'static str,
    }
    let rows = Category::ALL.map(|category| Row {
        category,
        meaning: category_meaning(category),
    });
    match format {
        Format::Table => {
            let width = Category::ALL
                .iter()
                .map(|c| c.as_str().len())
                .max()
                .unwrap_or(0);
            for row in &rows {
                writeln!(out, "{:<width$}  {}", row.category.as_str(), row.meaning)?;
            }
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            for row in &rows {
                writer.serialize(row).map_err(io::Error::other)?;
            }
            writer.flush()?;
        }
        Format::Json | Format::Ndjson => {
            for row in &rows {
                serde_json::to_writer(&mut *out, row)?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

/// Writes explanations one after the other: prose blocks, CSV rows or
/// one JSON object per line.
struct Writer {
    format: Format,
    written: usize,
}

#[derive(Serialize)]
struct CsvRow<'a> {
    input: &'a str,
    stage: &'static str,
    category: Category,
    permanent: bool,
    rule: &'a str,
    smtp_code: Option<u16>,
    enhanced_code: Option<&'a str>,
    blocklist: Option<&'a str>,
    listed_ip: Option<&'a str>,
    delisting_url: Option<&'a str>,
    provider: Option<&'a str>,
    provider_code: Option<&'a str>,
}

impl Writer {
    fn new(format: Format) -> Writer {
        Writer { format, written: 0 }
    }

    fn write(&mut self, out: &mut dyn Write, e: &Explanation) -> io::Result<()> {
        let first = self.written == 0;
        self.written += 1;
        match self.format {
            Format::Json | Format::Ndjson => {
                serde_json::to_writer(&mut *out, e)?;
                writeln!(out)
            }
            Format::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(first)
                    .from_writer(&mut *out);
                writer
                    .serialize(CsvRow {
                        input: &e.input,
                        stage: e.stage,
                        category: e.category,
                        permanent: e.permanent,
                        rule: &e.rule,
                        smtp_code: e.smtp_code,
                        enhanced_code: e.enhanced_code.as_deref(),
                        blocklist: e.blocklist.as_deref(),
                        listed_ip: e.listed_ip.as_deref(),
                        delisting_url: e.delisting_url.as_deref(),
                        provider: e.provider.as_deref(),
                        provider_code: e.provider_code.as_deref(),
                    })
                    .map_err(io::Error::other)?;
                writer.flush()
            }
            Format::Table => {
                if !first {
                    writeln!(out)?;
                }
                write_prose(out, e)
            }
        }
    }
}

fn write_prose(out: &mut dyn Write, e: &Explanation) -> io::Result<()> {
    let field = |out: &mut dyn Write, name: &str, value: &str| -> io::Result<()> {
        let label = if name.is_empty() {
            String::new()
        } else {
            format!("{name}:")
        };
        writeln!(out, "{label:<15}{value}")
    };
    field(out, "input", &e.input)?;
    if let Some(code) = e.smtp_code {
        let meaning = e
            .smtp_code_meaning
            .unwrap_or("not defined by any SMTP standard");
        field(out, "reply code", &format!("{code}  {meaning}"))?;
    }
    if let Some(code) = &e.enhanced_code {
        match &e.enhanced_code_meaning {
            Some(entry) => {
                let registered = if entry.code.ends_with("XXX") {
                    format!(
                        " (the exact code is not registered; subject {})",
                        entry.code
                    )
                } else {
                    String::new()
                };
                field(
                    out,
                    "enhanced code",
                    &format!("{code}  {}{registered}", entry.title),
                )?;
                field(out, "", entry.description)?;
            }
            None => field(
                out,
                "enhanced code",
                &format!("{code}  not in the IANA registry"),
            )?,
        }
        if let Some(class) = &e.enhanced_class_meaning {
            field(out, "class", &format!("{}  {}", class.code, class.title))?;
        }
    }
    field(
        out,
        "category",
        &format!("{}  {}", e.category, e.category_meaning),
    )?;
    field(out, "rule", &e.rule)?;
    let transient = e.smtp_code.is_some_and(|c| (400..500).contains(&c))
        || e.enhanced_code
            .as_deref()
            .is_some_and(|c| c.starts_with('4'));
    let hint = if transient && e.stage == "bounce" {
        "; a 4xx reply is normally retried: see --stage deferral"
    } else {
        ""
    };
    field(
        out,
        "permanent",
        &format!(
            "{} (as a {}{hint})",
            if e.permanent { "yes" } else { "no" },
            e.stage
        ),
    )?;
    if let Some(provider) = &e.provider {
        field(out, "receiver", provider)?;
    }
    if let Some(code) = &e.provider_code {
        field(out, "receiver code", code)?;
    }
    if let Some(list) = &e.blocklist {
        field(out, "blocklist", list)?;
    }
    if let Some(ip) = &e.listed_ip {
        field(out, "listed ip", ip)?;
    }
    if let Some(url) = &e.delisting_url {
        field(out, "delisting", url)?;
    }
    Ok(())
}
