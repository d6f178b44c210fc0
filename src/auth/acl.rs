//! Mosquitto's `acl_file`: which topics each user may read (subscribe to,
//! receive) and write (publish to), compiled once when the file is loaded.
//!
//! ## Syntax
//!
//! ```text
//! # rules before any `user` line are for anonymous clients
//! topic read public/#
//!
//! user alice
//! topic readwrite alice/#
//! topic deny alice/secret
//! topic $SYS/#                 # no access word: readwrite
//!
//! # patterns are for every client, %u its user name, %c its client id
//! pattern write devices/%c/out
//! pattern read users/%u/#
//! ```
//!
//! - `user <name>` starts the rules of one user (the rest of the line is the
//!   name); `topic [read|write|readwrite|deny] <topic>` adds one to the
//!   current section; `pattern [...] <topic>` adds one for every client,
//!   wherever it stands. The topic is the rest of the line and may hold
//!   spaces. Blank lines and lines starting with `#` are skipped.
//! - `%u` and `%c` must fill a whole level (as Mosquitto requires); a user
//!   name or client id holding `/`, `+` or `#` never matches one, and a client
//!   without a user name never matches `%u`.
//! - A topic starting with `$` is matched only by a rule whose topic starts
//!   with `$` too: `#` does not give `$SYS/#`.
//!
//! ## Decisions
//!
//! A client's rules are its section's (the anonymous one when it has no user
//! name) plus every pattern. Deny takes precedence, as in Mosquitto: a
//! matching `deny` rule refuses whatever any other rule grants. Otherwise
//! some rule must grant the access asked: read to receive a message, write to
//! publish one. With a file configured, no rule means no access.
//!
//! A SUBSCRIBE filter needs a read rule that *covers* it (every topic the
//! filter can match, the rule matches too: `a/#` covers `a/+/b`, `a/+` does
//! not cover `a/#`), and is refused when a deny rule matches the filter's own
//! text (`deny a/#` refuses `a/+`). A filter that overlaps a deny rule
//! without being covered by it (`#` against `deny secret/#`) is granted, and
//! the messages of the denied topics are filtered out at delivery: the read
//! check runs on every message delivered.
//!
//! Checking never allocates: rules are stored as levels, and a topic is
//! compared level by level, with `%u`/`%c` compared against the client's
//! names in place.

use std::fmt;

use crate::topic::{validate_topic_filter, SHARE_PREFIX};

/// What a client asks to do with a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclAccess {
    /// Receive messages of the topic (and subscribe to filters on it).
    Read,
    /// Publish to the topic.
    Write,
}

/// The client an ACL check is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclSubject<'a> {
    /// Its user name; `None` is anonymous.
    pub username: Option<&'a str>,
    /// Its client identifier.
    pub client_id: &'a str,
}

/// Why an ACL file was refused: the 1-based line and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclError {
    /// 1-based line of the file.
    pub line: usize,
    /// What is wrong, for the operator.
    pub reason: String,
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for AclError {}

/// A compiled ACL file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    /// Rules before any `user` line.
    anonymous: Section,
    /// Rules of each `user` section.
    users: ahash::AHashMap<Box<str>, Section>,
    /// `pattern` rules, for everyone.
    patterns: Vec<Rule>,
}

/// The `topic` rules of one section, indexed by their first level: a topic
/// name is compared only with the rules whose first level is its own or a
/// wildcard, so a file of a thousand rules for a thousand subtrees costs a
/// publish a hash lookup and a few comparisons, not a thousand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Section {
    /// Every rule, in file order (a SUBSCRIBE filter is checked against all).
    rules: Vec<Rule>,
    /// Indices into `rules` by a literal first level.
    by_first_level: ahash::AHashMap<Box<str>, Vec<u32>>,
    /// Indices into `rules` whose first level is `+` or `#`.
    wildcard_first: Vec<u32>,
}

impl Section {
    fn push(&mut self, rule: Rule) {
        let index = u32::try_from(self.rules.len()).expect("fewer than 2^32 rules in a section");
        match rule.levels.first() {
            Some(Level::Literal(first)) => self
                .by_first_level
                .entry(first.clone())
                .or_default()
                .push(index),
            _ => self.wildcard_first.push(index),
        }
        self.rules.push(rule);
    }

    /// The rules that may match a topic name whose first level is
    /// `first_level`.
    fn candidates<'a>(&'a self, first_level: &str) -> impl Iterator<Item = &'a Rule> + 'a {
        let literal = self
            .by_first_level
            .get(first_level)
            .map_or(&[][..], Vec::as_slice);
        literal
            .iter()
            .chain(&self.wildcard_first)
            .map(|&index| &self.rules[index as usize])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grant {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Grant {
    fn allows(self, access: AclAccess) -> bool {
        matches!(
            (self, access),
            (Grant::ReadWrite, _)
                | (Grant::Read, AclAccess::Read)
                | (Grant::Write, AclAccess::Write)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Level {
    Literal(Box<str>),
    /// `+`
    SingleWildcard,
    /// `#`, always last.
    MultiWildcard,
    /// `%u` (only in patterns).
    Username,
    /// `%c` (only in patterns).
    ClientId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    grant: Grant,
    levels: Box<[Level]>,
}

/// One level of what a rule is compared against, with placeholders resolved
/// against the subject.
fn level_equals(rule_level: &Level, level: &str, subject: &AclSubject<'_>) -> bool {
    let placeholder = |name: Option<&str>| {
        name.is_some_and(|name| {
            name == level && !name.is_empty() && !name.contains(['/', '+', '#'])
        })
    };
    match rule_level {
        Level::Literal(literal) => &**literal == level,
        Level::Username => placeholder(subject.username),
        Level::ClientId => placeholder(Some(subject.client_id)),
        Level::SingleWildcard | Level::MultiWildcard => false,
    }
}

impl Rule {
    /// True when the rule matches the topic name `topic_name` (or a filter's
    /// own text, for deny rules against SUBSCRIBE).
    fn matches(&self, topic_name: &str, subject: &AclSubject<'_>) -> bool {
        if topic_name.starts_with('$') && !self.starts_with_dollar() {
            return false;
        }
        let mut levels = topic_name.split('/');
        for rule_level in self.levels.iter() {
            match (rule_level, levels.next()) {
                (Level::MultiWildcard, _) => return true,
                (Level::SingleWildcard, Some(_)) => {}
                (rule_level, Some(level)) if level_equals(rule_level, level, subject) => {}
                _ => return false,
            }
        }
        levels.next().is_none()
    }

    /// True when every topic `topic_filter` matches, this rule matches too.
    fn covers(&self, topic_filter: &str, subject: &AclSubject<'_>) -> bool {
        if topic_filter.starts_with('$') && !self.starts_with_dollar() {
            return false;
        }
        let mut levels = topic_filter.split('/');
        for rule_level in self.levels.iter() {
            match (rule_level, levels.next()) {
                (Level::MultiWildcard, _) => return true,
                // Only `#` covers `#`, and only a wildcard covers `+`.
                (_, Some("#")) => return false,
                (Level::SingleWildcard, Some(_)) => {}
                (_, Some("+")) => return false,
                (rule_level, Some(level)) if level_equals(rule_level, level, subject) => {}
                _ => return false,
            }
        }
        levels.next().is_none()
    }

    fn starts_with_dollar(&self) -> bool {
        matches!(self.levels.first(), Some(Level::Literal(first)) if first.starts_with('$'))
    }
}

impl Acl {
    /// Compiles an ACL file's text; the first bad line refuses it.
    pub fn parse(text: &str) -> Result<Acl, AclError> {
        let mut acl = Acl::default();
        let mut section: Option<Box<str>> = None;
        for (index, line) in text.lines().enumerate() {
            let error = |reason: String| AclError {
                line: index + 1,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
            let rest = rest.trim();
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(error("`user` without a name".to_owned()));
                    }
                    acl.users.entry(Box::from(rest)).or_default();
                    section = Some(Box::from(rest));
                }
                "topic" | "pattern" => {
                    let is_pattern = keyword == "pattern";
                    let rule = parse_rule(rest, is_pattern).map_err(error)?;
                    match (is_pattern, &section) {
                        (true, _) => acl.patterns.push(rule),
                        (false, None) => acl.anonymous.push(rule),
                        (false, Some(user)) => acl
                            .users
                            .get_mut(user)
                            .expect("a user section has its entry")
                            .push(rule),
                    }
                }
                other => {
                    return Err(error(format!(
                        "unknown keyword `{other}`: expected `user`, `topic` or `pattern`"
                    )))
                }
            }
        }
        Ok(acl)
    }

    /// The section of `subject`'s rules, if it has one.
    fn section(&self, subject: &AclSubject<'_>) -> Option<&Section> {
        match subject.username {
            Some(username) => self.users.get(username),
            None => Some(&self.anonymous),
        }
    }

    /// The rules that apply to `subject`: its section's, then the patterns.
    fn rules<'a>(&'a self, subject: &AclSubject<'_>) -> impl Iterator<Item = &'a Rule> + 'a {
        let section = self
            .section(subject)
            .map_or(&[][..], |section| &section.rules[..]);
        section.iter().chain(&self.patterns)
    }

    /// True when `subject` may `access` the topic name `topic_name`.
    pub fn check(&self, subject: &AclSubject<'_>, access: AclAccess, topic_name: &str) -> bool {
        let first_level = topic_name.split('/').next().unwrap_or("");
        let section = self
            .section(subject)
            .into_iter()
            .flat_map(|section| section.candidates(first_level));
        let mut granted = false;
        for rule in section.chain(&self.patterns) {
            if !rule.matches(topic_name, subject) {
                continue;
            }
            if rule.grant == Grant::Deny {
                return false;
            }
            granted |= rule.grant.allows(access);
        }
        granted
    }

    /// True when `subject` may subscribe to `topic_filter` (a `$share/{group}/`
    /// prefix is set aside: the filter proper is what is read).
    pub fn check_subscribe(&self, subject: &AclSubject<'_>, topic_filter: &str) -> bool {
        let topic_filter = topic_filter
            .strip_prefix(SHARE_PREFIX)
            .and_then(|shared| shared.split_once('/'))
            .map_or(topic_filter, |(_, filter)| filter);
        let mut granted = false;
        for rule in self.rules(subject) {
            if rule.grant == Grant::Deny {
                if rule.matches(topic_filter, subject) {
                    return false;
                }
                continue;
            }
            granted |= rule.grant.allows(AclAccess::Read) && rule.covers(topic_filter, subject);
        }
        granted
    }
}

/// `[read|write|readwrite|deny] <topic>` after `topic` or `pattern`.
fn parse_rule(text: &str, is_pattern: bool) -> Result<Rule, String> {
    let (first, rest) = text.split_once([' ', '\t']).unwrap_or((text, ""));
    let (grant, topic) = match first {
        "read" => (Grant::Read, rest.trim()),
        "write" => (Grant::Write, rest.trim()),
        "readwrite" => (Grant::ReadWrite, rest.trim()),
        "deny" => (Grant::Deny, rest.trim()),
        _ => (Grant::ReadWrite, text),
    };
    if topic.is_empty() {
        return Err("a rule without a topic".to_owned());
    }
    validate_topic_filter(topic).map_err(|error| format!("`{topic}`: {error}"))?;
    if topic.starts_with(SHARE_PREFIX) {
        return Err(format!(
            "`{topic}`: rules name topics, not `$share/` subscriptions"
        ));
    }
    let levels = topic
        .split('/')
        .map(|level| match level {
            "+" => Ok(Level::SingleWildcard),
            "#" => Ok(Level::MultiWildcard),
            "%u" if is_pattern => Ok(Level::Username),
            "%c" if is_pattern => Ok(Level::ClientId),
            _ if is_pattern && (level.contains("%u") || level.contains("%c")) => Err(format!(
                "`{topic}`: %u and %c must fill a whole level, as in `devices/%c/status`"
            )),
            literal => Ok(Level::Literal(Box::from(literal))),
        })
        .collect::<Result<Box<[Level]>, String>>()?;
    Ok(Rule { grant, levels })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const FILE: &str = "\
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic read $SYS/#

user bob
topic write shared/in
topic read #

pattern write devices/%c/out
pattern read users/%u/inbox
";

    fn alice() -> AclSubject<'static> {
        AclSubject {
            username: Some("alice"),
            client_id: "alice-phone",
        }
    }

    fn anonymous() -> AclSubject<'static> {
        AclSubject {
            username: None,
            client_id: "anon-1",
        }
    }

    fn acl() -> Acl {
        Acl::parse(FILE).unwrap()
    }

    #[test]
    fn topic_rules_grant_what_their_access_word_says() {
        let acl = acl();
        let bob = AclSubject {
            username: Some("bob"),
            client_id: "b",
        };
        assert!(acl.check(&bob, AclAccess::Write, "shared/in"));
        assert!(!acl.check(&bob, AclAccess::Write, "shared/in/x"));
        assert!(acl.check(&bob, AclAccess::Read, "anything/at/all"));
        assert!(!acl.check(&bob, AclAccess::Write, "anything"));
        assert!(acl.check(&alice(), AclAccess::Write, "alice/x"));
        assert!(acl.check(&alice(), AclAccess::Read, "alice"));
    }

    #[test]
    fn deny_takes_precedence_over_any_grant() {
        let acl = acl();
        assert!(!acl.check(&alice(), AclAccess::Read, "alice/secret"));
        assert!(!acl.check(&alice(), AclAccess::Write, "alice/secret"));
        assert!(!acl.check_subscribe(&alice(), "alice/secret"));
        assert!(acl.check_subscribe(&alice(), "alice/+"));
        // Order does not matter: deny first, grant after.
        let acl = Acl::parse("topic deny a/b\ntopic a/#\n").unwrap();
        assert!(!acl.check(&anonymous(), AclAccess::Read, "a/b"));
        assert!(acl.check(&anonymous(), AclAccess::Read, "a/c"));
        // A deny rule matching a filter's text refuses it.
        let acl = Acl::parse("topic read a/#\ntopic deny a/#\n").unwrap();
        assert!(!acl.check_subscribe(&anonymous(), "a/+"));
    }

    #[test]
    fn patterns_substitute_user_name_and_client_id_level_by_level() {
        let acl = acl();
        assert!(acl.check(&alice(), AclAccess::Write, "devices/alice-phone/out"));
        assert!(!acl.check(&alice(), AclAccess::Write, "devices/bob-phone/out"));
        assert!(acl.check(&alice(), AclAccess::Read, "users/alice/inbox"));
        assert!(!acl.check(&alice(), AclAccess::Read, "users/bob/inbox"));
        assert!(acl.check_subscribe(&alice(), "users/alice/inbox"));
        assert!(!acl.check_subscribe(&alice(), "users/+/inbox"));
        // No user name: %u matches nothing, %c still applies.
        assert!(!acl.check(&anonymous(), AclAccess::Read, "users//inbox"));
        assert!(acl.check(&anonymous(), AclAccess::Write, "devices/anon-1/out"));
        // A name with a wildcard or a separator never fills a placeholder.
        let sneaky = AclSubject {
            username: Some("+"),
            client_id: "a/b",
        };
        assert!(!acl.check(&sneaky, AclAccess::Read, "users/+/inbox"));
        assert!(!acl.check(&sneaky, AclAccess::Write, "devices/a/b/out"));
    }

    #[test]
    fn dollar_topics_need_rules_that_start_with_dollar() {
        let acl = acl();
        let bob = AclSubject {
            username: Some("bob"),
            client_id: "b",
        };
        assert!(!acl.check(&bob, AclAccess::Read, "$SYS/broker/uptime"));
        assert!(!acl.check_subscribe(&bob, "$SYS/#"));
        assert!(acl.check(&alice(), AclAccess::Read, "$SYS/broker/uptime"));
        assert!(acl.check_subscribe(&alice(), "$SYS/broker/+"));
        let plus = Acl::parse("topic read +/broker/#").unwrap();
        assert!(!plus.check(&anonymous(), AclAccess::Read, "$SYS/broker/x"));
    }

    #[test]
    fn rules_before_any_user_line_are_for_anonymous_clients_only() {
        let acl = acl();
        assert!(acl.check(&anonymous(), AclAccess::Read, "public/news"));
        assert!(!acl.check(&anonymous(), AclAccess::Write, "public/news"));
        assert!(!acl.check(&alice(), AclAccess::Read, "public/news"));
        let carol = AclSubject {
            username: Some("carol"),
            client_id: "c",
        };
        assert!(!acl.check(&carol, AclAccess::Read, "public/news"));
    }

    #[test]
    fn subscribe_needs_a_read_rule_covering_the_whole_filter() {
        let acl = acl();
        assert!(acl.check_subscribe(&anonymous(), "public/#"));
        assert!(acl.check_subscribe(&anonymous(), "public/+/x"));
        assert!(!acl.check_subscribe(&anonymous(), "#"));
        assert!(!acl.check_subscribe(&anonymous(), "+/news"));
        assert!(acl.check_subscribe(&anonymous(), "$share/group/public/a"));
        assert!(!acl.check_subscribe(&anonymous(), "$share/group/private"));
        let acl = Acl::parse("topic read a/+\n").unwrap();
        assert!(acl.check_subscribe(&anonymous(), "a/+"));
        assert!(!acl.check_subscribe(&anonymous(), "a/#"));
        assert!(!acl.check_subscribe(&anonymous(), "a"));
        // A write rule grants no subscription.
        let acl = Acl::parse("topic write a/#\n").unwrap();
        assert!(!acl.check_subscribe(&anonymous(), "a/b"));
    }

    #[test]
    fn rules_indexed_by_first_level_still_meet_wildcard_first_rules_and_denials() {
        let mut text = String::from("user alice\n");
        for index in 0..1_000 {
            text.push_str(&format!("topic readwrite other/{index}/data\n"));
        }
        text.push_str("topic read +/status\ntopic deny +/secret\ntopic write meters/#\n");
        let acl = Acl::parse(&text).unwrap();
        let alice = alice();
        assert!(acl.check(&alice, AclAccess::Write, "other/999/data"));
        assert!(!acl.check(&alice, AclAccess::Write, "other/1000/data"));
        assert!(acl.check(&alice, AclAccess::Read, "meters/status"));
        assert!(acl.check(&alice, AclAccess::Write, "meters/1"));
        assert!(!acl.check(&alice, AclAccess::Write, "meters/secret"));
        assert!(!acl.check(&alice, AclAccess::Read, "other/secret"));
        assert!(acl.check_subscribe(&alice, "other/7/data"));
        assert!(!acl.check_subscribe(&alice, "other/#"));
    }

    #[test]
    fn an_empty_file_denies_everything() {
        let acl = Acl::parse("# nothing\n").unwrap();
        assert!(!acl.check(&alice(), AclAccess::Read, "a"));
        assert!(!acl.check_subscribe(&alice(), "a"));
    }

    #[test]
    fn bad_lines_are_refused_naming_their_line() {
        let cases = [
            ("user", "without a name"),
            ("topic", "without a topic"),
            ("topic read", "without a topic"),
            ("topic read a/#/b", "a/#/b"),
            ("pattern read a/x%u", "whole level"),
            ("topic read $share/g/a", "$share"),
            ("topci read a", "unknown keyword `topci`"),
        ];
        for (line, expected) in cases {
            let text = format!("topic read x\n\n{line}\n");
            let error = Acl::parse(&text).unwrap_err();
            assert_eq!(error.line, 3, "{line}: {error}");
            assert!(error.to_string().contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn topics_may_hold_spaces_and_the_access_word_may_be_left_out() {
        let acl = Acl::parse("topic a b/c\n").unwrap();
        assert!(acl.check(&anonymous(), AclAccess::Write, "a b/c"));
        assert!(acl.check(&anonymous(), AclAccess::Read, "a b/c"));
        // `%u` in a `topic` line is literal, as in Mosquitto.
        let acl = Acl::parse("topic read users/%u\n").unwrap();
        assert!(acl.check(&anonymous(), AclAccess::Read, "users/%u"));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = Acl::parse(&text);
        }

        #[test]
        fn checks_agree_with_topic_matching_for_plain_rules(
            rule in "[ab+]{1}(/[ab+]){0,3}(/#)?",
            topic in "[ab]{1}(/[ab]){0,4}",
        ) {
            let acl = Acl::parse(&format!("topic read {rule}\n")).unwrap();
            prop_assert_eq!(
                acl.check(&anonymous(), AclAccess::Read, &topic),
                crate::topic::matches(&rule, &topic)
            );
        }
    }
}
