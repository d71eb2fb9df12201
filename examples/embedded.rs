//! Embeds the broker in another program: configuration from a TOML string, a free port, and a
//! client (rumqttc) that publishes to itself through it.
//!
//! Run with `cargo run --example embedded`.

use std::time::Duration;

use aviary::{Broker, Config};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const CONFIG: &str = r#"
[[listener]]
name = "embedded"
bind = "127.0.0.1:0"

[mqtt]
max_queued_messages = 100
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_toml_str(CONFIG, "embedded example")?;
    let broker = Broker::start(config)?;
    println!("broker listening on {}", broker.addr());

    let mut opts = MqttOptions::new("example", "127.0.0.1", broker.addr().port());
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut events) = AsyncClient::new(opts, 10);
    client.subscribe("greetings/#", QoS::AtLeastOnce).await?;
    client.publish("greetings/world", QoS::AtLeastOnce, false, "hello from an embedded broker").await?;

    let received = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Event::Incoming(Packet::Publish(p)) = events.poll().await? {
                return Ok::<_, rumqttc::ConnectionError>(p);
            }
        }
    })
    .await??;
    println!("{}: {}", received.topic, String::from_utf8_lossy(&received.payload));
    broker.stop();
    Ok(())
}
