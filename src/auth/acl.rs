//! ACL rules evaluated natively on every PUBLISH and SUBSCRIBE: the rules a plugin granted at
//! authentication and the static `[[auth.acl]]` rules of the configuration.
//!
//! First match wins. `%u` and `%c` in a filter stand for the user name and the client id; a
//! rule whose placeholder has no value, or a value holding `/`, `+` or `#` (which would widen
//! the filter), is skipped. For PUBLISH a rule applies when its filter matches the topic. For
//! SUBSCRIBE an allow rule applies when its filter covers the whole requested filter, and a deny
//! rule when the two overlap at all, so a subscription is never wider than what is allowed.

use serde::Deserialize;

use crate::protocol::topic::validate_topic_filter;

/// Which packets a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AclAccess {
    /// PUBLISH.
    Publish,
    /// SUBSCRIBE.
    Subscribe,
    /// Both.
    All,
}

/// What happens when no rule and no plugin decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AclDefault {
    /// Allowed (the broker without any ACL).
    #[default]
    Allow,
    /// Denied.
    Deny,
}

/// One `[[auth.acl]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRule {
    /// Allow or deny.
    pub allow: bool,
    /// "publish", "subscribe" or "all".
    pub access: AclAccess,
    /// Topic filter, with `%u` / `%c`.
    pub topic: String,
    /// Only for this user name.
    #[serde(default)]
    pub user: Option<String>,
    /// Only for this client id.
    #[serde(default)]
    pub client: Option<String>,
}

/// A rule ready for evaluation (made with [`AclRule::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// Allow or deny.
    pub allow: bool,
    /// Applies to PUBLISH.
    pub publish: bool,
    /// Applies to SUBSCRIBE.
    pub subscribe: bool,
    /// Topic filter, with `%u` / `%c`.
    pub filter: String,
    /// Only for this user name.
    pub user: Option<String>,
    /// Only for this client id.
    pub client: Option<String>,
    /// `filter` split into levels once, for matching PUBLISH topics.
    levels: Box<[Level]>,
}

/// One level of a rule's filter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    /// `#` (and whatever follows).
    Hash,
    /// `+`.
    Plus,
    /// Literal text.
    Exact(Box<str>),
    /// Text with `%u` / `%c` in it.
    Pattern(Box<str>),
}

impl AclRule {
    /// A rule over `filter` (with `%u` / `%c`).
    pub fn new(
        allow: bool,
        publish: bool,
        subscribe: bool,
        filter: String,
        user: Option<String>,
        client: Option<String>,
    ) -> Self {
        let levels = filter
            .split('/')
            .map(|l| match l {
                "#" => Level::Hash,
                "+" => Level::Plus,
                l if l.contains('%') => Level::Pattern(l.into()),
                l => Level::Exact(l.into()),
            })
            .collect();
        AclRule { allow, publish, subscribe, filter, user, client, levels }
    }
}

impl From<&StaticRule> for AclRule {
    fn from(r: &StaticRule) -> Self {
        let (publish, subscribe) = (r.access != AclAccess::Subscribe, r.access != AclAccess::Publish);
        AclRule::new(r.allow, publish, subscribe, r.topic.clone(), r.user.clone(), r.client.clone())
    }
}

/// What a client asks for.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Publish to a topic name.
    Publish(&'a str),
    /// Subscribe to a topic filter (without any `$share/group/` prefix).
    Subscribe(&'a str),
}

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// User name.
    pub username: Option<&'a str>,
    /// Client id.
    pub client_id: &'a str,
}

/// The first rule that applies decides: `Some(true)` allow, `Some(false)` deny.
///
/// Every PUBLISH comes here, so that case allocates nothing: the topic is split once and
/// compared level by level with each rule's pre-split filter, `%u` / `%c` expanded in place.
pub fn evaluate(rules: &[AclRule], who: Who<'_>, action: Action<'_>) -> Option<bool> {
    if rules.is_empty() {
        return None;
    }
    match action {
        Action::Publish(topic) => {
            let levels = split_levels(topic);
            let dollar = topic.starts_with('$');
            let applies =
                |r: &AclRule| r.publish && is_for(r, who) && publish_matches(r, who, &levels, dollar);
            rules.iter().find_map(|r| applies(r).then_some(r.allow))
        }
        Action::Subscribe(req) => {
            rules.iter().find_map(|r| subscribe_applies(r, who, req).then_some(r.allow))
        }
    }
}

/// `topic.split('/')`, collected, in one plain pass over the bytes (`/` never occurs inside a
/// multi-byte UTF-8 sequence, so every cut is a character boundary).
fn split_levels(topic: &str) -> smallvec::SmallVec<[&str; 8]> {
    let mut levels = smallvec::SmallVec::new();
    let mut start = 0;
    for (i, b) in topic.bytes().enumerate() {
        if b == b'/' {
            levels.push(&topic[start..i]);
            start = i + 1;
        }
    }
    levels.push(&topic[start..]);
    levels
}

/// Do the rule's user and client conditions hold for `who`?
fn is_for(r: &AclRule, who: Who<'_>) -> bool {
    r.user.as_deref().is_none_or(|u| Some(u) == who.username)
        && r.client.as_deref().is_none_or(|c| c == who.client_id)
}

/// Does rule `r` apply to `who` subscribing to `req`?
fn subscribe_applies(r: &AclRule, who: Who<'_>, req: &str) -> bool {
    if !r.subscribe || !is_for(r, who) {
        return false;
    }
    let Some(filter) = substitute(&r.filter, who) else { return false };
    match r.allow {
        true => covers(&filter, req),
        false => overlaps(&filter, req),
    }
}

/// A placeholder's value, if it may stand in a filter: present, not empty, and without `/`,
/// `+` or `#` (which would widen the filter).
fn safe(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty() && !v.contains(['/', '+', '#']))
}

/// `matches(substitute(filter), topic)` over the rule's pre-split filter and the topic's
/// `levels` (`dollar`: the topic starts with `$`), without allocating.
fn publish_matches(r: &AclRule, who: Who<'_>, levels: &[&str], dollar: bool) -> bool {
    if dollar && (r.filter.starts_with('+') || r.filter.starts_with('#')) {
        return false; // [MQTT-4.7.2-1]
    }
    let mut topic = levels.iter();
    for level in r.levels.iter() {
        match (level, topic.next()) {
            (Level::Hash, _) => return true,
            (Level::Plus, Some(_)) => {}
            (Level::Exact(e), Some(t)) if **e == **t => {}
            (Level::Pattern(p), Some(t)) if level_matches(p, who, t) => {}
            _ => return false,
        }
    }
    topic.next().is_none()
}

/// Is `level` the filter level `pattern` with `%u` / `%c` expanded (false when a value it
/// needs is missing or unsafe)?
fn level_matches(pattern: &str, who: Who<'_>, level: &str) -> bool {
    let (mut p, mut rest) = (pattern, level);
    while let Some(i) = p.find('%') {
        let Some(r) = rest.strip_prefix(&p[..i]) else { return false };
        let tail = &p[i..];
        let (value, after) = match tail.get(..2) {
            Some("%u") => (safe(who.username), &tail[2..]),
            Some("%c") => (safe(Some(who.client_id)), &tail[2..]),
            _ => (Some("%"), &tail[1..]), // a `%` standing for itself
        };
        let Some(r) = value.and_then(|v| r.strip_prefix(v)) else { return false };
        (p, rest) = (after, r);
    }
    rest == p
}

/// Expands `%u` and `%c`; `None` when a needed value is missing or unsafe.
fn substitute<'a>(filter: &'a str, who: Who<'_>) -> Option<std::borrow::Cow<'a, str>> {
    if !filter.contains('%') {
        return Some(filter.into());
    }
    let mut out = filter.to_owned();
    if out.contains("%u") {
        out = out.replace("%u", safe(who.username)?);
    }
    if out.contains("%c") {
        out = out.replace("%c", safe(Some(who.client_id))?);
    }
    Some(out.into())
}

/// Does `rule` cover every topic the filter `req` can match?
pub fn covers(rule: &str, req: &str) -> bool {
    if req.starts_with('$') && (rule.starts_with('+') || rule.starts_with('#')) {
        return false;
    }
    let mut q = req.split('/');
    for r in rule.split('/') {
        match (r, q.next()) {
            ("#", _) => return true,
            ("+", Some(l)) if l != "#" => {}
            (r, Some(l)) if r == l && r != "+" => {}
            _ => return false,
        }
    }
    q.next().is_none()
}

/// Could some topic match both filters?
pub fn overlaps(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (a.split('/'), b.split('/'));
    loop {
        match (x.next(), y.next()) {
            (Some("#"), _) | (_, Some("#")) | (None, None) => return true,
            (Some(p), Some(q)) if p == "+" || q == "+" || p == q => {}
            _ => return false,
        }
    }
}

/// Checks the static rules' filters (with placeholders filled in).
pub(crate) fn validate_static(rules: &[StaticRule]) -> Result<(), (String, String)> {
    for r in rules {
        let sample = r.topic.replace("%u", "u").replace("%c", "c");
        if validate_topic_filter(&sample).is_err() {
            return Err(("auth.acl.topic".into(), format!("`{}` is not a valid topic filter", r.topic)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topic::matches;

    fn rule(allow: bool, filter: &str) -> AclRule {
        AclRule::new(allow, true, true, filter.into(), None, None)
    }

    fn publish_matches(filter: &str, who: Who<'_>, topic: &str) -> bool {
        let levels = split_levels(topic);
        assert_eq!(levels.to_vec(), topic.split('/').collect::<Vec<_>>());
        super::publish_matches(&rule(true, filter), who, &levels, topic.starts_with('$'))
    }

    const ANN: Who<'static> = Who { username: Some("ann"), client_id: "c1" };

    #[test]
    fn first_match_wins_with_placeholders() {
        let rules = [rule(false, "devices/%u/secret"), rule(true, "devices/%u/#"), rule(true, "c/%c")];
        assert_eq!(evaluate(&rules, ANN, Action::Publish("devices/ann/x")), Some(true));
        assert_eq!(evaluate(&rules, ANN, Action::Publish("devices/ann/secret")), Some(false));
        assert_eq!(evaluate(&rules, ANN, Action::Publish("devices/bob/x")), None);
        assert_eq!(evaluate(&rules, ANN, Action::Publish("c/c1")), Some(true));
    }

    #[test]
    fn unsafe_or_missing_values_skip_the_rule() {
        let rules = [rule(true, "d/%u/#")];
        let anon = Who { username: None, client_id: "c" };
        assert_eq!(evaluate(&rules, anon, Action::Publish("d//x")), None);
        let sneaky = Who { username: Some("+"), client_id: "c" };
        assert_eq!(evaluate(&rules, sneaky, Action::Publish("d/bob/x")), None);
    }

    #[test]
    fn publish_matching_expands_placeholders_like_substitution() {
        let who = Who { username: Some("ann"), client_id: "c-1" };
        let odd = Who { username: Some("a%cb"), client_id: "c" };
        let filters = [
            "d/%u/#",
            "d/%u",
            "d/+/%c",
            "%u/x",
            "d/pre-%u-%c/post",
            "d/%u%c",
            "100%/%u",
            "d/%x/%u",
            "#",
            "+/%c",
        ];
        let topics = [
            "d/ann/x",
            "d/ann",
            "d/bob",
            "d/q/c-1",
            "ann/x",
            "d/pre-ann-c-1/post",
            "d/pre-ann-c-1/pos",
            "d/annc-1",
            "100%/ann",
            "d/%x/ann",
            "$SYS/c-1",
            "d/ann/x/y",
            "d/an",
            "",
        ];
        for f in filters {
            for t in topics {
                for w in [who, ANN, odd, Who { username: None, client_id: "c-1" }] {
                    let expected = substitute(f, w).is_some_and(|e| matches(&e, t));
                    // A user name holding `%c` is taken literally, not expanded again.
                    let literal = w.username.is_some_and(|u| u.contains('%')) && f.contains("%u");
                    if !literal {
                        assert_eq!(publish_matches(f, w, t), expected, "{f} {t} {w:?}");
                    }
                }
            }
        }
        assert!(publish_matches("u/%u", odd, "u/a%cb"), "user names are not expanded twice");
        assert!(!publish_matches("u/%u", odd, "u/acb"));
    }

    #[test]
    fn subscriptions_must_be_covered_and_denies_overlap() {
        let rules = [rule(false, "d/ann/secret"), rule(true, "d/ann/#")];
        assert_eq!(evaluate(&rules, ANN, Action::Subscribe("d/ann/+")), Some(false));
        assert_eq!(evaluate(&rules, ANN, Action::Subscribe("d/ann/open")), Some(true));
        assert_eq!(evaluate(&rules, ANN, Action::Subscribe("d/#")), Some(false), "overlaps the deny");
        assert_eq!(evaluate(&rules, ANN, Action::Subscribe("x/#")), None);
        assert!(covers("a/+", "a/b") && !covers("a/+", "a/#") && !covers("#", "$SYS/x"));
    }
}
