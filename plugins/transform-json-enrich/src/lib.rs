//! Adds a timestamp and the publisher's client id to JSON object payloads.
//!
//! `{"t": 21.5}` published by `sensor-1` leaves the broker as
//! `{"t": 21.5, "received_at_ms": 1767225600000, "client_id": "sensor-1"}`. Payloads that are not
//! JSON objects pass unchanged. `topics` limits the plugin to matching topics.

use aviary_plugin_sdk::serde_json::{Map, Value};
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
pub struct Enrich(Config);

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[plugin]
impl Plugin for Enrich {
    type Config = Config;

    fn init(config: Config) -> Result<Self, InitError> {
        Ok(Enrich(config))
    }

    fn on_publish(&self, sender: &Client, mut msg: Message) -> PublishDecision {
        if !self.0.topics.iter().any(|f| matches(f, &msg.topic)) {
            return PublishDecision::Pass;
        }
        let Ok(Value::Object(mut obj)) = aviary_plugin_sdk::serde_json::from_slice::<Value>(&msg.payload)
        else {
            return PublishDecision::Pass;
        };
        enrich(&mut obj, &self.0, now_ms(), &sender.client_id);
        msg.payload = Value::Object(obj).to_string().into_bytes();
        if msg.content_type.is_none() {
            msg.content_type = Some("application/json".into());
        }
        PublishDecision::Modify(msg)
    }
}

fn enrich(obj: &mut Map<String, Value>, c: &Config, ts: u64, client_id: &str) {
    obj.insert(c.timestamp_field.clone(), ts.into());
    obj.insert(c.client_id_field.clone(), client_id.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use aviary_plugin_sdk::serde_json::{self, json};
    use aviary_plugin_sdk::testing;

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
