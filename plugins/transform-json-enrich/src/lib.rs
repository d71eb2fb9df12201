//! Adds a timestamp and the publisher's client id to JSON object payloads.
//!
//! `{"t": 21.5}` published by `sensor-1` leaves the broker as
//! `{"t": 21.5, "received_at_ms": 1767225600000, "client_id": "sensor-1"}`. Payloads that are not
//! JSON objects pass unchanged. `topics` limits the plugin to matching topics.

use aviary_plugin_sdk::serde::de;
use aviary_plugin_sdk::serde_json::{self, Value};
use aviary_plugin_sdk::topic::matches;
use aviary_plugin_sdk::{plugin, serde::Deserialize, Client, InitError, Message, Plugin, PublishDecision};

fn ts_field() -> String {
    "received_at_ms".into()
}
fn id_field() -> String {
    "client_id".into()
}
fn all() -> Vec<String> {
    vec!["#".into()]
}

/// `[plugin.config]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Field for the receive time (milliseconds since the Unix epoch).
    #[serde(default = "ts_field")]
    pub timestamp_field: String,
    /// Field for the publisher's client id.
    #[serde(default = "id_field")]
    pub client_id_field: String,
    /// Topic filters to enrich (default: all).
    #[serde(default = "all")]
    pub topics: Vec<String>,
}

/// The plugin.
pub struct Enrich {
    config: Config,
    /// The two field names as JSON strings (quoted, escaped), ready to splice in.
    ts_key: String,
    id_key: String,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[plugin]
impl Plugin for Enrich {
    type Config = Config;

    fn init(config: Config) -> Result<Self, InitError> {
        let quoted = |s: &str| serde_json::to_string(s).map_err(|e| InitError(e.to_string()));
        let (ts_key, id_key) = (quoted(&config.timestamp_field)?, quoted(&config.client_id_field)?);
        Ok(Enrich { config, ts_key, id_key })
    }

    fn transform_topics(&self) -> Option<Vec<String>> {
        Some(self.config.topics.clone())
    }

    fn on_publish(&self, sender: &Client, mut msg: Message) -> PublishDecision {
        if !self.config.topics.iter().any(|f| matches(f, &msg.topic)) {
            return PublishDecision::Pass;
        }
        let Some(payload) = self.enriched(&msg.payload, now_ms(), sender.id()) else {
            return PublishDecision::Pass;
        };
        msg.payload = payload;
        if msg.content_type.is_none() {
            msg.content_type = Some("application/json".into());
        }
        PublishDecision::Modify(msg)
    }
}

impl Enrich {
    /// The payload with the two fields, or `None` when it is not a JSON object. The usual case
    /// (neither field there yet) appends them to the original text, keeping its key order and
    /// formatting; a payload that already has one of them is rebuilt with it replaced.
    fn enriched(&self, payload: &[u8], ts: u64, client_id: &str) -> Option<Vec<u8>> {
        let c = &self.config;
        let shape = Shape::of(payload, [&c.timestamp_field, &c.client_id_field])?;
        if shape.has_either {
            let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(payload) else { return None };
            obj.insert(c.timestamp_field.clone(), ts.into());
            obj.insert(c.client_id_field.clone(), client_id.into());
            return Some(Value::Object(obj).to_string().into_bytes());
        }
        let end = payload.iter().rposition(|b| !b.is_ascii_whitespace())?; // the closing `}`
        let id = serde_json::to_string(client_id).ok()?;
        let mut out = Vec::with_capacity(end + self.ts_key.len() + self.id_key.len() + id.len() + 28);
        out.extend_from_slice(&payload[..end]);
        if !shape.empty {
            out.push(b',');
        }
        for part in [self.ts_key.as_str(), ":", &ts.to_string(), ",", &self.id_key, ":", &id, "}"] {
            out.extend_from_slice(part.as_bytes());
        }
        Some(out)
    }
}

/// What [`Enrich::enriched`] needs to know of a payload, learnt in one parse that allocates
/// nothing: it is a JSON object, whether it is empty, whether it has either field already.
struct Shape {
    empty: bool,
    has_either: bool,
}

impl Shape {
    fn of(payload: &[u8], fields: [&str; 2]) -> Option<Shape> {
        let mut de = serde_json::Deserializer::from_slice(payload);
        let shape = de::DeserializeSeed::deserialize(ShapeSeed(fields), &mut de).ok()?;
        de.end().ok()?;
        Some(shape)
    }
}

struct ShapeSeed<'f>([&'f str; 2]);

impl<'de> de::DeserializeSeed<'de> for ShapeSeed<'_> {
    type Value = Shape;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> de::Visitor<'de> for ShapeSeed<'_> {
    type Value = Shape;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut shape = Shape { empty: true, has_either: false };
        while let Some(is_field) = map.next_key_seed(KeyIs(self.0))? {
            map.next_value::<de::IgnoredAny>()?;
            shape.empty = false;
            shape.has_either |= is_field;
        }
        Ok(shape)
    }
}

/// A map key: is it one of the two fields?
struct KeyIs<'f>([&'f str; 2]);

impl<'de> de::DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl de::Visitor<'_> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(self.0.contains(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aviary_plugin_sdk::serde_json::json;
    use aviary_plugin_sdk::testing;

    fn enrich(p: &Enrich, payload: &str, client: &str) -> Option<String> {
        match p.on_publish(&Client::new(client), Message::new("t", payload)) {
            PublishDecision::Modify(m) => Some(String::from_utf8(m.payload).unwrap()),
            _ => None,
        }
    }

    #[test]
    fn fields_are_appended_keeping_the_original_text() {
        let p: Enrich = testing::load(json!({"timestamp_field": "ts"})).unwrap();
        let got = enrich(&p, "{\"z\": 1, \"a\": [1, {\"client_id\": 0}]} \n", "s\"1").unwrap();
        let (head, tail) = got.split_once(",\"ts\":").unwrap();
        assert_eq!(head, "{\"z\": 1, \"a\": [1, {\"client_id\": 0}]}".trim_end_matches('}'));
        let v: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["client_id"], "s\"1", "escaped, and a nested key of the same name is no clash");
        assert!(tail.ends_with(",\"client_id\":\"s\\\"1\"}"), "{tail}");
        let v: Value = serde_json::from_str(&enrich(&p, "{ }", "c").unwrap()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 2, "an empty object gets no stray comma");
    }

    #[test]
    fn fields_already_there_are_replaced() {
        let p: Enrich = testing::load(json!({})).unwrap();
        let got = enrich(&p, r#"{"client_id":"forged","t":1}"#, "real").unwrap();
        let v: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["client_id"], "real");
        assert_eq!(v.as_object().unwrap().len(), 3);
        for not_an_object in ["[1]", "1", "{\"a\":1} x", "{\"a\":", "\"s\""] {
            assert_eq!(enrich(&p, not_an_object, "c"), None, "{not_an_object}");
        }
    }

    #[test]
    fn json_objects_are_enriched_others_pass() {
        let p: Enrich = testing::load(json!({"topics": ["sensors/#"]})).unwrap();
        let c = Client::new("s1");
        let PublishDecision::Modify(m) = p.on_publish(&c, Message::new("sensors/t", r#"{"t":1}"#)) else {
            panic!("not modified")
        };
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["client_id"], "s1");
        assert!(v["received_at_ms"].as_u64().unwrap() > 1_600_000_000_000);
        assert_eq!(p.on_publish(&c, Message::new("sensors/t", "21.5")), PublishDecision::Pass);
        assert_eq!(p.on_publish(&c, Message::new("other", r#"{"t":1}"#)), PublishDecision::Pass);
    }
}
