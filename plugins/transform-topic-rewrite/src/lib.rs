//! Rewrites topics: the first rule whose `from` filter matches the topic gives the new topic
//! from its `to` template, where `{1}`, `{2}`... are the levels matched by the `+` wildcards
//! and `{#}` the levels matched by `#`.
//!
//! `from = "legacy/+/temp"`, `to = "sensors/{1}/temperature"` turns `legacy/k1/temp` into
//! `sensors/k1/temperature`.

use aviary_plugin_sdk::{plugin, serde::Deserialize, Client, InitError, MessageRef, Plugin, PublishDecision};

/// One `[[plugin.config.rules]]` table.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Topic filter to match.
    pub from: String,
    /// Template of the new topic.
    pub to: String,
}

/// `[plugin.config]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
}

/// One level of a rule's `from` filter, parsed once at `init`.
enum Level {
    Literal(String),
    Plus,
    Hash,
}

/// A rule with its filter parsed.
struct Compiled {
    from: Vec<Level>,
    to: String,
}

/// The plugin.
pub struct Rewrite(Vec<Compiled>);

fn compile(rule: Rule) -> Compiled {
    let from = rule
        .from
        .split('/')
        .map(|l| match l {
            "+" => Level::Plus,
            "#" => Level::Hash,
            l => Level::Literal(l.to_owned()),
        })
        .collect();
    Compiled { from, to: rule.to }
}

/// The levels captured by `+` and the rest captured by `#`, if the filter `levels` matches
/// `topic`. A literal first level rejects most topics without splitting them.
fn capture<'a>(levels: &[Level], topic: &'a str) -> Option<(Vec<&'a str>, Option<&'a str>)> {
    if let Some(Level::Literal(first)) = levels.first() {
        let after = topic.strip_prefix(first.as_str())?;
        if !(after.is_empty() || after.starts_with('/')) {
            return None;
        }
    }
    let mut plus = Vec::new();
    let mut rest = Some(topic);
    for level in levels {
        if let Level::Hash = level {
            return Some((plus, Some(rest.unwrap_or(""))));
        }
        let r = rest?;
        let (l, tail) = match r.split_once('/') {
            Some((l, t)) => (l, Some(t)),
            None => (r, None),
        };
        match level {
            Level::Plus => plus.push(l),
            Level::Literal(x) if x == l => {}
            _ => return None,
        }
        rest = tail;
    }
    rest.is_none().then_some((plus, None))
}

fn render(template: &str, plus: &[&str], hash: Option<&str>) -> String {
    let mut out = template.replace("{#}", hash.unwrap_or(""));
    for (i, level) in plus.iter().enumerate() {
        out = out.replace(&format!("{{{}}}", i + 1), level);
    }
    out
}

#[plugin]
impl Plugin for Rewrite {
    type Config = Config;

    fn init(config: Config) -> Result<Self, InitError> {
        if let Some(r) =
            config.rules.iter().find(|r| r.to.replace("{#}", "").contains(['+', '#']) || r.to.is_empty())
        {
            return Err(format!(
                "rule `{}` -> `{}`: the new topic cannot be empty or hold wildcards",
                r.from, r.to
            )
            .into());
        }
        Ok(Rewrite(config.rules.into_iter().map(compile).collect()))
    }

    // Most topics match no rule: looking at the borrowed topic copies nothing.
    fn on_publish_ref(&self, _sender: &Client, msg: MessageRef<'_>) -> PublishDecision {
        for rule in &self.0 {
            if let Some((plus, hash)) = capture(&rule.from, msg.topic()) {
                let topic = render(&rule.to, &plus, hash);
                return PublishDecision::Modify(msg.into_message().with_topic(topic));
            }
        }
        PublishDecision::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aviary_plugin_sdk::serde_json::json;
    use aviary_plugin_sdk::testing;
    use aviary_plugin_sdk::Message;

    #[test]
    fn captures_feed_the_template() {
        let p: Rewrite = testing::load(json!({"rules": [
            {"from": "legacy/+/temp", "to": "sensors/{1}/temperature"},
            {"from": "old/#", "to": "new/{#}"},
        ]}))
        .unwrap();
        let c = Client::new("x");
        let topic = |t: &str| match p.on_publish_ref(&c, MessageRef::from(&Message::new(t, ""))) {
            PublishDecision::Modify(m) => Some(m.topic),
            _ => None,
        };
        assert_eq!(topic("legacy/k1/temp").as_deref(), Some("sensors/k1/temperature"));
        assert_eq!(topic("old/a/b").as_deref(), Some("new/a/b"));
        assert_eq!(topic("legacy/k1/humidity"), None);
    }

    #[test]
    fn filters_match_as_mqtt_filters_do() {
        let m = |filter: &str, topic: &str| {
            let levels = compile(Rule { from: filter.into(), to: "x".into() }).from;
            capture(&levels, topic).map(|(p, h)| (p.join(","), h.map(str::to_owned)))
        };
        let some = |p: &str, h: Option<&str>| Some((p.to_owned(), h.map(str::to_owned)));
        assert_eq!(m("legacy/+/temp", "legacy/k1/temp"), some("k1", None));
        assert_eq!(m("legacy/+/temp", "legacy//temp"), some("", None));
        assert_eq!(m("legacy/+/temp", "legacyx/k1/temp"), None);
        assert_eq!(m("legacy/+/temp", "legacy/k1/temp/x"), None);
        assert_eq!(m("legacy/+/temp", "legacy/k1"), None);
        assert_eq!(m("legacy/#", "legacy"), some("", Some("")));
        assert_eq!(m("legacy/#", "legacy/a/b"), some("", Some("a/b")));
        assert_eq!(m("#", "a/b"), some("", Some("a/b")));
        assert_eq!(m("+/+", "a/b"), some("a,b", None));
        assert_eq!(m("+/+", "a"), None);
    }

    #[test]
    fn wildcards_in_the_target_are_refused() {
        assert!(testing::load::<Rewrite>(json!({"rules": [{"from": "a", "to": "b/#"}]})).is_err());
    }
}
