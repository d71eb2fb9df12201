//! Measures what a plugin hook costs per call on this machine: the broker's side of a call
//! (conversion, epoch deadline, the component-model call) plus the plugin's own work.
//!
//! Build the plugins first (the plugin tests do it too), then run in release mode:
//!
//! ```text
//! for p in plugins/transform-json-enrich plugins/acl tests/plugins/fixtures/hostile; do
//!   cargo build --release --target wasm32-wasip2 --manifest-path $p/Cargo.toml --target-dir target/wasm-plugins
//! done
//! cargo run --release --example plugin_cost
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use aviary::auth::Identity;
use aviary::config::Config;
use aviary::message::{Message, MessageProperties};
use aviary::plugins::{PluginHost, PluginMask, PluginSet};
use aviary::protocol::{Protocol, QoS};

const CALLS: u32 = 100_000;

fn host(name: &str, file: &str, config: &str) -> anyhow::Result<Arc<PluginHost>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/wasm-plugins/wasm32-wasip2/release");
    let toml = format!("[[plugin]]\nname = \"{name}\"\npath = \"{dir}/{file}.wasm\"\n{config}\n");
    let config = Config::from_toml_str(&toml, "plugin_cost")?;
    Ok(PluginHost::load(&config.plugins, &config.plugin_runtime, &config.base_dir)?)
}

fn per_call(label: &str, mut f: impl FnMut()) {
    for _ in 0..1000 {
        f(); // warm up: instance creation, caches
    }
    let started = Instant::now();
    for _ in 0..CALLS {
        f();
    }
    let each = started.elapsed() / CALLS;
    println!("{label:<48} {:>8.2} µs/call", each.as_secs_f64() * 1e6);
}

fn main() -> anyhow::Result<()> {
    let who = Identity {
        client_id: "sensor-1".into(),
        username: Some("ann".into()),
        peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        listener: "default".into(),
        protocol: Protocol::V5,
        tls_subject: None,
        attributes: Vec::new(),
    };
    let msg = Arc::new(Message {
        topic: "sensors/room1/temperature".into(),
        payload: br#"{"t":21.5,"unit":"C","battery":0.93}"#.to_vec().into(),
        qos: QoS::AtMostOnce,
        retain: false,
        publisher: Some("sensor-1".into()),
        properties: MessageProperties::default(),
        received_at: Instant::now(),
    });

    // Every plugin, as for a listener without a `plugins` key.
    let all = PluginMask::all();
    let noop = host("noop", "hostile", "[plugin.config]\nhook = \"none\"")?;
    let mut set = PluginSet::new(noop);
    per_call("on-publish, returns pass (hostile fixture)", || {
        std::hint::black_box(set.transform(&who, msg.clone(), false, &all));
    });
    per_call("authorize-publish, returns next (hostile fixture)", || {
        std::hint::black_box(set.authorize_publish(&who, "sensors/room1/temperature", 0, false, &all));
    });

    let enrich = host("enrich", "transform_json_enrich", "")?;
    let mut set = PluginSet::new(enrich);
    per_call("on-publish, JSON enrich (modifies the payload)", || {
        std::hint::black_box(set.transform(&who, msg.clone(), false, &all));
    });

    let acl =
        host("acl", "acl", "[[plugin.config.rules]]\nallow = true\naccess = \"all\"\ntopic = \"sensors/#\"")?;
    let mut set = PluginSet::new(acl);
    per_call("authorize-publish, acl plugin (one rule)", || {
        std::hint::black_box(set.authorize_publish(&who, "sensors/room1/temperature", 0, false, &all));
    });
    Ok(())
}
