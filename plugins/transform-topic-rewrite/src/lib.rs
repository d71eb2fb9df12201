//! Rewrites topics: the first rule whose `from` filter matches the topic gives the new topic
//! from its `to` template, where `{1}`, `{2}`... are the levels matched by the `+` wildcards
//! and `{#}` the levels matched by `#`.
//!
//! `from = "legacy/+/temp"`, `to = "sensors/{1}/temperature"` turns `legacy/k1/temp` into
//! `sensors/k1/temperature`.

use aviary_plugin_sdk::{plugin, serde::Deserialize, Client, InitError, Message, Plugin, PublishDecision};

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

/// The plugin.
pub struct Rewrite(Vec<Rule>);

/// The levels captured by `+` and the rest captured by `#`, if `filter` matches `topic`.
fn capture<'a>(filter: &str, topic: &'a str) -> Option<(Vec<&'a str>, Option<&'a str>)> {
    let mut plus = Vec::new();
    let mut rest = topic;
    let mut levels = filter.split('/').peekable();
    while let Some(f) = levels.next() {
        if f == "#" {
            return Some((plus, Some(rest)));
        }
        let (level, tail) = match rest.split_once('/') {
            Some((l, t)) => (l, Some(t)),
            None => (rest, None),
        };
        match f {
            "+" => plus.push(level),
            f if f == level => {}
            _ => return None,
        }
        match (tail, levels.peek()) {
            (Some(t), Some(_)) => rest = t,
            (None, None) => return Some((plus, None)),
            (None, Some(&"#")) => return Some((plus, Some(""))),
            _ => return None,
        }
    }
    None
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
        Ok(Rewrite(config.rules))
    }

    fn on_publish(&self, _sender: &Client, msg: Message) -> PublishDecision {
        for rule in &self.0 {
            if let Some((plus, hash)) = capture(&rule.from, &msg.topic) {
                let topic = render(&rule.to, &plus, hash);
                return PublishDecision::Modify(msg.with_topic(topic));
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

    #[test]
    fn captures_feed_the_template() {
        let p: Rewrite = testing::load(json!({"rules": [
            {"from": "legacy/+/temp", "to": "sensors/{1}/temperature"},
            {"from": "old/#", "to": "new/{#}"},
        ]}))
        .unwrap();
        let c = Client::new("x");
        let topic = |t: &str| match p.on_publish(&c, Message::new(t, "")) {
            PublishDecision::Modify(m) => Some(m.topic),
            _ => None,
        };
        assert_eq!(topic("legacy/k1/temp").as_deref(), Some("sensors/k1/temperature"));
        assert_eq!(topic("old/a/b").as_deref(), Some("new/a/b"));
        assert_eq!(topic("legacy/k1/humidity"), None);
    }

    #[test]
    fn wildcards_in_the_target_are_refused() {
        assert!(testing::load::<Rewrite>(json!({"rules": [{"from": "a", "to": "b/#"}]})).is_err());
    }
}
