//! Rules files: parsing, validation, compilation and first-match
//! evaluation.

use std::collections::HashSet;

use mailtrail_parse::EnhancedCode;
use regex::{RegexSet, RegexSetBuilder};
use serde::Deserialize;

use crate::classify::{Category, FailureStage, RulesError};

/// A rules file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    provider: Vec<ProviderSpec>,
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderSpec {
    name: String,
    #[serde(default)]
    host_suffixes: Vec<String>,
    #[serde(default)]
    markers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    category: String,
    #[serde(default)]
    permanent: Option<bool>,
    #[serde(default)]
    provider: OneOrMany<String>,
    #[serde(default)]
    host_suffix: OneOrMany<String>,
    #[serde(default)]
    smtp_code: OneOrMany<CodeValue>,
    #[serde(default)]
    enhanced: OneOrMany<String>,
    #[serde(default)]
    text: OneOrMany<String>,
    #[serde(default)]
    text_not: OneOrMany<String>,
    #[serde(default)]
    stage: OneOrMany<String>,
    #[serde(default)]
    local: Option<bool>,
    #[serde(default)]
    blocklist: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for people reading the rules file")]
    note: Option<String>,
}

/// A value or a list of values.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(value) => vec![value],
            OneOrMany::Many(values) => values,
        }
    }
}

/// A reply code written as a number or a string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CodeValue {
    Number(i64),
    Text(String),
}

/// A receiver the classifier can recognise.
#[derive(Clone, Debug)]
pub(crate) struct Provider {
    pub name: String,
    host_suffixes: Vec<String>,
    markers: Vec<String>,
}

/// An enhanced-code condition: class (None = any), then optional subject,
/// then an optional inclusive detail range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EnhancedPattern {
    class: Option<u8>,
    subject: Option<u16>,
    detail: Option<(u16, u16)>,
}

impl EnhancedPattern {
    fn parse(text: &str) -> Option<EnhancedPattern> {
        let mut parts = text.trim().split('.');
        let class = match parts.next()? {
            "X" | "x" => None,
            c @ ("2" | "4" | "5") => Some(c.parse().ok()?),
            _ => return None,
        };
        let number = |s: &str| -> Option<u16> {
            (!s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())?
        };
        let subject = parts.next().map(number);
        let subject = match subject {
            None => None,
            Some(Some(s)) => Some(s),
            Some(None) => return None,
        };
        let detail = match parts.next() {
            None => None,
            Some(d) => {
                let (low, high) = d.split_once('-').unwrap_or((d, d));
                let (low, high) = (number(low)?, number(high)?);
                if low > high {
                    return None;
                }
                Some((low, high))
            }
        };
        if parts.next().is_some() || (class.is_none() && subject.is_none()) {
            return None;
        }
        Some(EnhancedPattern {
            class,
            subject,
            detail,
        })
    }

    fn matches(&self, code: EnhancedCode) -> bool {
        self.class.is_none_or(|c| c == code.class)
            && self.subject.is_none_or(|s| s == code.subject)
            && self
                .detail
                .is_none_or(|(low, high)| (low..=high).contains(&code.detail))
    }
}

/// One compiled rule.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub id: String,
    pub category: Category,
    pub permanent: Option<bool>,
    pub blocklist: Option<String>,
    providers: Vec<String>,
    host_suffixes: Vec<String>,
    /// Digit prefixes of the reply code.
    smtp_codes: Vec<String>,
    enhanced: Vec<EnhancedPattern>,
    /// Indices into the rule set's `RegexSet`.
    text: Vec<usize>,
    text_not: Vec<usize>,
    stages: Vec<FailureStage>,
    local: Option<bool>,
}

/// What one classification knows, for matching.
pub(crate) struct Context<'a> {
    pub stage: FailureStage,
    pub smtp_code: Option<u16>,
    pub enhanced: Option<EnhancedCode>,
    /// Lower-case remote host name.
    pub host: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub local: bool,
    /// The normalised, lower-cased reason.
    pub text: &'a str,
}

/// Every rule of a classifier, in evaluation order, with their text
/// patterns in one `RegexSet`.
#[derive(Debug)]
pub(crate) struct RuleSet {
    rules: Vec<Rule>,
    patterns: RegexSet,
    providers: Vec<Provider>,
}

/// Collects the text patterns of all rules for one `RegexSet`.
#[derive(Default)]
struct PatternPool {
    patterns: Vec<String>,
}

impl PatternPool {
    /// Validates one pattern and returns its index.
    fn add(&mut self, id: &str, field: &'static str, pattern: String) -> Result<usize, RulesError> {
        // Parsing finds the mistakes made in a pattern, naming its rule, at
        // a fraction of the cost of compiling it: compiling each built-in
        // pattern alone took longer than compiling the set of them.
        regex_syntax::ParserBuilder::new()
            .case_insensitive(true)
            .build()
            .parse(&pattern)
            .map_err(|e| RulesError::InvalidField {
                id: id.to_owned(),
                field,
                message: e.to_string(),
            })?;
        if let Some(at) = self.patterns.iter().position(|p| *p == pattern) {
            return Ok(at);
        }
        self.patterns.push(pattern);
        Ok(self.patterns.len() - 1)
    }
}

impl RuleSet {
    /// Compiles the user rules (if any) followed by the built-in rules.
    pub(crate) fn compile(user: Option<&str>, builtin: &str) -> Result<RuleSet, RulesError> {
        let builtin: RulesFile = toml::from_str(builtin)?;
        let user: RulesFile = match user {
            Some(text) => toml::from_str(text)?,
            None => RulesFile::default(),
        };
        let builtin_ids: HashSet<&str> = builtin.rule.iter().map(|r| r.id.as_str()).collect();
        let mut dropped: HashSet<String> = HashSet::new();
        for id in &user.disable {
            if !builtin_ids.contains(id.as_str()) {
                return Err(RulesError::UnknownRule(id.clone()));
            }
            dropped.insert(id.clone());
        }
        let mut user_ids = HashSet::new();
        for rule in &user.rule {
            if !user_ids.insert(rule.id.clone()) {
                return Err(RulesError::DuplicateId(rule.id.clone()));
            }
            // A user rule with a built-in id replaces the built-in rule.
            dropped.insert(rule.id.clone());
        }

        let mut providers: Vec<Provider> = Vec::new();
        for spec in user.provider.into_iter().chain(builtin.provider) {
            if spec.name.trim().is_empty() {
                return Err(RulesError::InvalidField {
                    id: String::new(),
                    field: "provider.name",
                    message: "empty".into(),
                });
            }
            let provider = Provider {
                name: spec.name,
                host_suffixes: spec
                    .host_suffixes
                    .into_iter()
                    .map(|s| {
                        s.trim()
                            .trim_start_matches('.')
                            .trim_end_matches('.')
                            .to_ascii_lowercase()
                    })
                    .filter(|s| !s.is_empty())
                    .collect(),
                markers: spec
                    .markers
                    .into_iter()
                    .map(|m| m.to_lowercase())
                    .filter(|m| !m.is_empty())
                    .collect(),
            };
            providers.push(provider);
        }

        let mut pool = PatternPool::default();
        let mut rules = Vec::new();
        let mut builtin_seen = HashSet::new();
        for spec in user.rule {
            rules.push(compile_rule(spec, &providers, &mut pool)?);
        }
        for spec in builtin.rule {
            if !builtin_seen.insert(spec.id.clone()) {
                return Err(RulesError::DuplicateId(spec.id));
            }
            if dropped.contains(&spec.id) {
                continue;
            }
            rules.push(compile_rule(spec, &providers, &mut pool)?);
        }
        let patterns = RegexSetBuilder::new(&pool.patterns)
            .case_insensitive(true)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()?;
        Ok(RuleSet {
            rules,
            patterns,
            providers,
        })
    }

    /// Rule ids in evaluation order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }

    /// True when some rule decides `category`.
    #[cfg(test)]
    pub(crate) fn has_category(&self, category: Category) -> bool {
        self.rules.iter().any(|r| r.category == category)
    }

    /// The receiver: the first provider with a matching host suffix, else
    /// the first with a marker in the text.
    pub(crate) fn detect_provider(&self, host: Option<&str>, text: &str) -> Option<&str> {
        if let Some(host) = host
            && let Some(p) = self
                .providers
                .iter()
                .find(|p| p.host_suffixes.iter().any(|s| host_has_suffix(host, s)))
        {
            return Some(&p.name);
        }
        self.providers
            .iter()
            .find(|p| p.markers.iter().any(|m| text.contains(m.as_str())))
            .map(|p| p.name.as_str())
    }

    /// The first rule whose conditions all hold.
    pub(crate) fn first_match(&self, context: &Context<'_>) -> Option<&Rule> {
        let matched = self.patterns.matches(context.text);
        self.rules
            .iter()
            .find(|rule| rule_matches(rule, context, &matched))
    }
}

/// True when `host` is `suffix` or ends with `.suffix`.
fn host_has_suffix(host: &str, suffix: &str) -> bool {
    host == suffix
        || host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.'))
}

fn rule_matches(rule: &Rule, context: &Context<'_>, matched: &regex::SetMatches) -> bool {
    if rule.local.is_some_and(|local| local != context.local) {
        return false;
    }
    if !rule.stages.is_empty() && !rule.stages.contains(&context.stage) {
        return false;
    }
    if !rule.providers.is_empty()
        && !context
            .provider
            .is_some_and(|p| rule.providers.iter().any(|r| r == p))
    {
        return false;
    }
    if !rule.host_suffixes.is_empty()
        && !context
            .host
            .is_some_and(|h| rule.host_suffixes.iter().any(|s| host_has_suffix(h, s)))
    {
        return false;
    }
    if !rule.smtp_codes.is_empty() {
        let Some(code) = context.smtp_code else {
            return false;
        };
        let code = code.to_string();
        if !rule
            .smtp_codes
            .iter()
            .any(|prefix| code.starts_with(prefix.as_str()))
        {
            return false;
        }
    }
    if !rule.enhanced.is_empty() {
        let Some(code) = context.enhanced else {
            return false;
        };
        if !rule.enhanced.iter().any(|p| p.matches(code)) {
            return false;
        }
    }
    if !rule.text.is_empty() && !rule.text.iter().any(|&i| matched.matched(i)) {
        return false;
    }
    !rule.text_not.iter().any(|&i| matched.matched(i))
}

fn compile_rule(
    spec: RuleSpec,
    providers: &[Provider],
    pool: &mut PatternPool,
) -> Result<Rule, RulesError> {
    let id = spec.id.trim().to_owned();
    let invalid = |field: &'static str, message: String| RulesError::InvalidField {
        id: id.clone(),
        field,
        message,
    };
    if id.is_empty() {
        return Err(invalid("id", "empty".into()));
    }
    let category = spec.category.parse::<Category>().map_err(|e| {
        invalid(
            "category",
            format!("{e}; expected one of the snake_case category names"),
        )
    })?;
    let provider_names = spec.provider.into_vec();
    for name in &provider_names {
        if !providers.iter().any(|p| p.name == *name) {
            return Err(invalid(
                "provider",
                format!("no provider is named {name:?}"),
            ));
        }
    }
    let host_suffixes = spec
        .host_suffix
        .into_vec()
        .into_iter()
        .map(|s| {
            s.trim()
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase()
        })
        .collect();
    let mut smtp_codes = Vec::new();
    for value in spec.smtp_code.into_vec() {
        let text = match value {
            CodeValue::Number(n) => n.to_string(),
            CodeValue::Text(t) => t.trim().trim_end_matches(['x', 'X']).to_owned(),
        };
        if text.is_empty()
            || text.len() > 3
            || !text.bytes().all(|b| b.is_ascii_digit())
            || text.starts_with('0')
        {
            return Err(invalid(
                "smtp_code",
                format!("{text:?} is not a reply code or code prefix"),
            ));
        }
        smtp_codes.push(text);
    }
    let mut enhanced = Vec::new();
    for text in spec.enhanced.into_vec() {
        enhanced.push(EnhancedPattern::parse(&text).ok_or_else(|| {
            invalid(
                "enhanced",
                format!("{text:?} is not an enhanced code pattern"),
            )
        })?);
    }
    let mut text = Vec::new();
    for pattern in spec.text.into_vec() {
        text.push(pool.add(&id, "text", pattern)?);
    }
    let mut text_not = Vec::new();
    for pattern in spec.text_not.into_vec() {
        text_not.push(pool.add(&id, "text_not", pattern)?);
    }
    let mut stages = Vec::new();
    for name in spec.stage.into_vec() {
        stages.push(
            name.parse::<FailureStage>()
                .map_err(|e| invalid("stage", e.to_string()))?,
        );
    }
    Ok(Rule {
        id,
        category,
        permanent: spec.permanent,
        blocklist: spec.blocklist,
        providers: provider_names,
        host_suffixes,
        smtp_codes,
        enhanced,
        text,
        text_not,
        stages,
        local: spec.local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> EnhancedCode {
        EnhancedCode::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn enhanced_patterns_compare_components() {
        let p = |s: &str| EnhancedPattern::parse(s).unwrap();
        assert!(p("5").matches(code("5.1.1")));
        assert!(p("5.7").matches(code("5.7.606")));
        assert!(p("5.7.1").matches(code("5.7.1")));
        assert!(!p("5.7.1").matches(code("5.7.10")));
        assert!(p("X.7.1").matches(code("4.7.1")));
        assert!(p("5.7.606-649").matches(code("5.7.649")));
        assert!(!p("5.7.606-649").matches(code("5.7.650")));
        for bad in [
            "", "6.1.1", "5.", "5.x", "X", "5.7.1.2", "5.7.9-3", "5.1000",
        ] {
            assert!(EnhancedPattern::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn host_suffixes_match_labels() {
        assert!(host_has_suffix(
            "a.mail.protection.outlook.com",
            "protection.outlook.com"
        ));
        assert!(host_has_suffix("outlook.com", "outlook.com"));
        assert!(!host_has_suffix("notoutlook.com", "outlook.com"));
    }
}
