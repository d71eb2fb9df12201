//! ACL rules evaluated natively on every PUBLISH and SUBSCRIBE: the rules a plugin granted at
//! authentication and the static `[[auth.acl]]` rules of the configuration.
//!
//! First match wins. `%u` and `%c` in a filter stand for the user name and the client id; a
//! rule whose placeholder has no value, or a value holding `/`, `+` or `#` (which would widen
//! the filter), is skipped. For PUBLISH a rule applies when its filter matches the topic. For
//! SUBSCRIBE an allow rule applies when its filter covers the whole requested filter, and a deny
//! rule when the two overlap at all, so a subscription is never wider than what is allowed.

use serde::Deserialize;

use crate::protocol::topic::{matches, validate_topic_filter};

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

/// A rule ready for evaluation.
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
}

impl From<&StaticRule> for AclRule {
    fn from(r: &StaticRule) -> Self {
        AclRule {
            allow: r.allow,
            publish: r.access != AclAccess::Subscribe,
            subscribe: r.access != AclAccess::Publish,
            filter: r.topic.clone(),
            user: r.user.clone(),
            client: r.client.clone(),
        }
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
pub fn evaluate(rules: &[AclRule], who: Who<'_>, action: Action<'_>) -> Option<bool> {
    rules.iter().find_map(|r| applies(r, who, action).then_some(r.allow))
}

fn applies(r: &AclRule, who: Who<'_>, action: Action<'_>) -> bool {
    if r.user.as_deref().is_some_and(|u| Some(u) != who.username)
        || r.client.as_deref().is_some_and(|c| c != who.client_id)
    {
        return false;
    }
    let Some(filter) = substitute(&r.filter, who) else { return false };
    match action {
        Action::Publish(topic) => r.publish && matches(&filter, topic),
        Action::Subscribe(req) if r.allow => r.subscribe && covers(&filter, req),
        Action::Subscribe(req) => r.subscribe && overlaps(&filter, req),
    }
}

/// Expands `%u` and `%c`; `None` when a needed value is missing or unsafe.
fn substitute<'a>(filter: &'a str, who: Who<'_>) -> Option<std::borrow::Cow<'a, str>> {
    if !filter.contains('%') {
        return Some(filter.into());
    }
    let safe = |v: &str| !v.is_empty() && !v.contains(['/', '+', '#']);
    let mut out = filter.to_owned();
    if out.contains("%u") {
        out = out.replace("%u", who.username.filter(|u| safe(u))?);
    }
    if out.contains("%c") {
        out = out.replace("%c", Some(who.client_id).filter(|c| safe(c))?);
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

    fn rule(allow: bool, filter: &str) -> AclRule {
        AclRule { allow, publish: true, subscribe: true, filter: filter.into(), user: None, client: None }
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
    fn subscriptions_must_be_covered_and_denies_overlap() {
        let rules = [rule(false, "d/ann/secret"), rule(true, "d/ann/#")];
        assert_eq!(evaluate(&rules, ANN, Action::Subscribe("d/ann/+")), Some(false));
        assert_eq!(evaluate(&rules, ANN, Action::Subscribe("d/ann/open")), Some(true));
        assert_eq!(evaluate(&rules, ANN, Action::Subscribe("d/#")), Some(false), "overlaps the deny");
        assert_eq!(evaluate(&rules, ANN, Action::Subscribe("x/#")), None);
        assert!(covers("a/+", "a/b") && !covers("a/+", "a/#") && !covers("#", "$SYS/x"));
    }
}
