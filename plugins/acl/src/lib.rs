//! Topic access rules per user, client id or attribute, from configuration.
//!
//! Rules are tried in order; the first whose conditions (user, client, attributes) hold and
//! whose topic filter applies decides. `%u` and `%c` in a filter stand for the user name and the
//! client id. For SUBSCRIBE, an allow rule applies when its filter covers the whole requested
//! filter, a deny rule when the two overlap at all. When no rule applies, `default` decides:
//! "next" (the broker's own policy), "allow" or "deny".

use std::borrow::Cow;
use std::collections::HashMap;

use aviary_plugin_sdk::topic::{covers, matches, overlaps};
use aviary_plugin_sdk::{
    plugin, serde::Deserialize, AuthzDecision, Client, InitError, Plugin, SubDecision, Subscription,
};

/// What a rule is about.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// PUBLISH only.
    Publish,
    /// SUBSCRIBE only.
    Subscribe,
    /// Both.
    All,
}

/// What to answer when no rule applies.
#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Default_ {
    /// Let the broker's policy decide.
    #[default]
    Next,
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// One `[[plugin.config.rules]]` table.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `true` allows, `false` denies.
    pub allow: bool,
    /// "publish", "subscribe" or "all".
    pub access: Access,
    /// Topic filter, with `%u` / `%c`.
    pub topic: String,
    /// Only for this user name.
    #[serde(default)]
    pub user: Option<String>,
    /// Only for this client id (a trailing `*` matches any suffix).
    #[serde(default)]
    pub client: Option<String>,
    /// Only for clients with all these attributes (set by the authenticating plugin).
    #[serde(default)]
    pub attributes: HashMap<String, String>,
}

/// `[plugin.config]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// When no rule applies.
    #[serde(default)]
    pub default: Default_,
}

/// The plugin.
pub struct Acl(Config);

/// A placeholder's value, if it may stand in a filter: present, not empty, and without `/`, `+`
/// or `#` (which would widen the filter).
fn safe(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty() && !v.contains(['/', '+', '#']))
}

impl Rule {
    fn is_for(&self, c: &Client) -> bool {
        let user_ok = self.user.as_ref().is_none_or(|u| c.username() == Some(u.as_str()));
        let client_ok = self.client.as_ref().is_none_or(|p| match p.strip_suffix('*') {
            Some(prefix) => c.id().starts_with(prefix),
            None => c.id() == *p,
        });
        let attrs_ok = self.attributes.iter().all(|(k, v)| c.attribute(k) == Some(v.as_str()));
        user_ok && client_ok && attrs_ok
    }

    /// The filter with `%u` / `%c` replaced; `None` when a value is missing or would widen it.
    /// Only a filter with a placeholder looks at the client (which the broker then hands over).
    fn filter_for(&self, c: &Client) -> Option<Cow<'_, str>> {
        if !self.topic.contains('%') {
            return Some(Cow::Borrowed(&self.topic));
        }
        let mut f = self.topic.clone();
        if f.contains("%u") {
            f = f.replace("%u", safe(c.username())?);
        }
        if f.contains("%c") {
            f = f.replace("%c", safe(Some(c.id()))?);
        }
        Some(Cow::Owned(f))
    }
}

impl Acl {
    fn decide(&self, c: &Client, wanted: Access, applies: impl Fn(&Rule, &str) -> bool) -> Option<bool> {
        self.0
            .rules
            .iter()
            .filter(|r| r.access == wanted || r.access == Access::All)
            .filter(|r| r.is_for(c))
            .find_map(|r| r.filter_for(c).filter(|f| applies(r, f)).map(|_| r.allow))
    }

    fn fallback<T>(&self, allow: T, deny: T, next: T) -> T {
        match self.0.default {
            Default_::Allow => allow,
            Default_::Deny => deny,
            Default_::Next => next,
        }
    }
}

#[plugin]
impl Plugin for Acl {
    type Config = Config;

    fn init(config: Config) -> Result<Self, InitError> {
        Ok(Acl(config))
    }

    fn authorize_publish(&self, c: &Client, topic: &str, _qos: u8, _retain: bool) -> AuthzDecision {
        match self.decide(c, Access::Publish, |_, f| matches(f, topic)) {
            Some(true) => AuthzDecision::Allow,
            Some(false) => AuthzDecision::Deny,
            None => self.fallback(AuthzDecision::Allow, AuthzDecision::Deny, AuthzDecision::Next),
        }
    }

    fn authorize_subscribe(&self, c: &Client, subs: &[Subscription]) -> Vec<SubDecision> {
        subs.iter()
            .map(|s| {
                let req = s.topic_filter.as_str();
                let applies = |r: &Rule, f: &str| if r.allow { covers(f, req) } else { overlaps(f, req) };
                match self.decide(c, Access::Subscribe, applies) {
                    Some(true) => SubDecision::Allow,
                    Some(false) => SubDecision::Deny,
                    None => self.fallback(SubDecision::Allow, SubDecision::Deny, SubDecision::Next),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aviary_plugin_sdk::serde_json::json;
    use aviary_plugin_sdk::testing;

    fn acl() -> Acl {
        testing::load(json!({
            "default": "deny",
            "rules": [
                {"allow": true, "access": "all", "topic": "devices/%u/#"},
                {"allow": false, "access": "subscribe", "topic": "admin/#"},
                {"allow": true, "access": "all", "topic": "admin/#", "attributes": {"role": "admin"}},
                {"allow": true, "access": "subscribe", "topic": "public/#", "client": "viewer-*"},
            ]
        }))
        .unwrap()
    }

    #[test]
    fn per_user_topics() {
        let ann = Client::new("c1").with_username("ann");
        assert_eq!(acl().authorize_publish(&ann, "devices/ann/t", 0, false), AuthzDecision::Allow);
        assert_eq!(acl().authorize_publish(&ann, "devices/bob/t", 0, false), AuthzDecision::Deny);
        let anon = Client::new("c2");
        assert_eq!(acl().authorize_publish(&anon, "devices//t", 0, false), AuthzDecision::Deny);
    }

    #[test]
    fn subscriptions_by_client_and_attribute() {
        let sub = |f: &str| vec![Subscription { topic_filter: f.into(), qos: 1 }];
        let viewer = Client::new("viewer-7");
        assert_eq!(acl().authorize_subscribe(&viewer, &sub("public/+/x")), vec![SubDecision::Allow]);
        assert_eq!(acl().authorize_subscribe(&viewer, &sub("#")), vec![SubDecision::Deny]);
        let admin = Client::new("a").with_attribute("role", "admin");
        // The deny rule comes first and overlaps.
        assert_eq!(acl().authorize_subscribe(&admin, &sub("admin/x")), vec![SubDecision::Deny]);
        assert_eq!(acl().authorize_publish(&admin, "admin/x", 0, false), AuthzDecision::Allow);
    }
}
