//! Measures what a plugin hook costs per call on this machine: the broker's side of a call
//! (conversion, epoch deadline, the component-model call) plus the plugin's own work; and, for
//! comparison, the native ACL (`[[auth.acl]]` rules) on the same publish.
//!
//! Build the plugins first (the plugin tests do it too), then run in release mode:
//!
//! ```text
//! for p in plugins/transform-json-enrich plugins/acl tests/plugins/fixtures/hostile; do
//!   cargo build --release --target wasm32-wasip2 --manifest-path $p/Cargo.toml --target-dir target/wasm-plugins
//! done
//! cargo run --release --example plugin_cost [FILTER]
//! ```
//!
//! `FILTER` runs only the cases whose label contains it (for a profiler);
//! `PLUGIN_COST_CALLS` sets the number of timed calls per case (default 200000).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use aviary::auth::{AuthOverrides, Grants, Identity, Policy};
use aviary::config::Config;
use aviary::message::Message;
use aviary::plugins::{PluginHost, PluginMask, PluginSet};
use aviary::protocol::{Protocol, QoS};

fn host(name: &str, file: &str, config: &str) -> anyhow::Result<Arc<PluginHost>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/wasm-plugins/wasm32-wasip2/release");
    let toml = format!("[[plugin]]\nname = \"{name}\"\npath = \"{dir}/{file}.wasm\"\n{config}\n");
    let config = Config::from_toml_str(&toml, "plugin_cost")?;
    Ok(PluginHost::load(&config.plugins, &config.plugin_runtime, &config.base_dir)?)
}

struct Bench {
    filter: Option<String>,
    calls: u32,
}

impl Bench {
    fn run(&self, label: &str, f: impl FnMut()) {
        self.run_per(label, 1, f)
    }

    /// Like [`Bench::run`] for `f` handling `per` messages: prints the time per message.
    fn run_per(&self, label: &str, per: u32, mut f: impl FnMut()) {
        if self.filter.as_deref().is_some_and(|w| !label.contains(w)) {
            return;
        }
        for _ in 0..1000 {
            f(); // warm up: instance creation, caches
        }
        let started = Instant::now();
        for _ in 0..self.calls {
            f();
        }
        let each = started.elapsed() / self.calls / per;
        println!("{label:<52} {:>8.3} µs/call", each.as_secs_f64() * 1e6);
    }

    /// Like [`Bench::run`] on `threads` threads at once, each with its own closure from
    /// `make` (its own instances, as session threads have): the time per call on one thread.
    fn parallel<F: FnMut() + Send>(&self, label: &str, threads: usize, make: impl Fn() -> F) {
        if self.filter.as_deref().is_some_and(|w| !label.contains(w)) {
            return;
        }
        let calls = self.calls;
        let each: Vec<_> = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..threads)
                .map(|_| {
                    let mut f = make();
                    scope.spawn(move || {
                        for _ in 0..1000 {
                            f();
                        }
                        let started = Instant::now();
                        for _ in 0..calls {
                            f();
                        }
                        started.elapsed() / calls
                    })
                })
                .collect();
            runs.into_iter().filter_map(|r| r.join().ok()).collect()
        });
        let mean = each.iter().sum::<std::time::Duration>() / threads.max(1) as u32;
        println!("{label:<52} {:>8.3} µs/call", mean.as_secs_f64() * 1e6);
    }

    fn wants(&self, any_of: &[&str]) -> bool {
        self.filter.as_deref().is_none_or(|w| any_of.iter().any(|l| l.contains(w)))
    }
}

const PASS: &str = "on-publish, returns pass (hostile fixture)";
const PASS2: &str = "on-publish, returns pass, 2 threads at once";
const DELIVER: &str = "on-deliver, returns pass (hostile fixture)";
const AUTHZ: &str = "authorize-publish, returns next (hostile fixture)";
const SUBS: &str = "authorize-subscribe, 1 filter, next (hostile fixture)";
const ENRICH: &str = "on-publish, JSON enrich (modifies the payload)";
const PASS_BATCH: &str = "on-publish, returns pass, batch of 64 (per message)";
const ENRICH_BATCH: &str = "on-publish, JSON enrich, batch of 64 (per message)";
const ACL: &str = "authorize-publish, acl plugin (one rule)";
const ACL_U: &str = "authorize-publish, acl plugin (%u rule: asks the client)";
const NATIVE: &str = "native ACL, 5 static rules, %u/%c, 5th matches";
const SWAP: &str = "one load of the live [auth] policy (ArcSwap)";

fn main() -> anyhow::Result<()> {
    let calls = std::env::var("PLUGIN_COST_CALLS").ok().and_then(|c| c.parse().ok()).unwrap_or(200_000);
    let bench = Bench { filter: std::env::args().nth(1), calls };
    let who = Arc::new(Identity {
        client_id: "sensor-1".into(),
        username: Some("ann".into()),
        peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        listener: "default".into(),
        protocol: Protocol::V5,
        tls_subject: None,
        attributes: Vec::new(),
    });
    let msg = Arc::new(Message {
        topic: "sensors/room1/temperature".into(),
        payload: br#"{"t":21.5,"unit":"C","battery":0.93}"#.to_vec().into(),
        qos: QoS::AtMostOnce,
        retain: false,
        publisher: Some("sensor-1".into()),
        properties: Default::default(),
        received_at: Instant::now(),
    });
    let topic = "sensors/room1/temperature";

    // Every plugin, as for a listener without a `plugins` key.
    let all = PluginMask::all();
    let batch: Vec<Arc<Message>> = vec![msg.clone(); aviary::plugins::TRANSFORM_BATCH];
    let per = aviary::plugins::TRANSFORM_BATCH as u32;
    if bench.wants(&[PASS, PASS2, DELIVER, AUTHZ, SUBS, PASS_BATCH]) {
        let noop = host("noop", "hostile", "[plugin.config]\nhook = \"none\"")?;
        bench.parallel(PASS2, 2, || {
            let mut set = PluginSet::new(noop.clone());
            let (who, msg) = (who.clone(), msg.clone());
            move || {
                std::hint::black_box(set.transform(&who, msg.clone(), false, &PluginMask::all()));
            }
        });
        let mut set = PluginSet::new(noop);
        bench.run(PASS, || {
            std::hint::black_box(set.transform(&who, msg.clone(), false, &all));
        });
        bench.run_per(PASS_BATCH, per, || {
            std::hint::black_box(set.transform_batch(&who, batch.clone(), false, &all));
        });
        bench.run(DELIVER, || {
            std::hint::black_box(set.transform(&who, msg.clone(), true, &all));
        });
        bench.run(AUTHZ, || {
            std::hint::black_box(set.authorize_publish(&who, topic, 0, false, &all));
        });
        let subs = [("sensors/+/temperature".to_owned(), 1u8)];
        bench.run(SUBS, || {
            std::hint::black_box(set.authorize_subscribe(&who, &subs, &all));
        });
    }
    if bench.wants(&[ENRICH, ENRICH_BATCH]) {
        let mut set = PluginSet::new(host("enrich", "transform_json_enrich", "")?);
        bench.run(ENRICH, || {
            std::hint::black_box(set.transform(&who, msg.clone(), false, &all));
        });
        bench.run_per(ENRICH_BATCH, per, || {
            std::hint::black_box(set.transform_batch(&who, batch.clone(), false, &all));
        });
    }
    for (label, filter) in [(ACL, "sensors/#"), (ACL_U, "sensors/%u/#")] {
        if bench.wants(&[label]) {
            let rule =
                format!("[[plugin.config.rules]]\nallow = true\naccess = \"all\"\ntopic = \"{filter}\"");
            let mut set = PluginSet::new(host("acl", "acl", &rule)?);
            bench.run(label, || {
                std::hint::black_box(set.authorize_publish(&who, topic, 0, false, &all));
            });
        }
    }
    if bench.wants(&[NATIVE, SWAP]) {
        let config = Config::from_toml_str(
            r#"
            [auth]
            acl_default = "deny"
            [[auth.acl]]
            allow = false
            access = "publish"
            topic = "admin/#"
            [[auth.acl]]
            allow = true
            access = "all"
            topic = "users/%u/#"
            [[auth.acl]]
            allow = true
            access = "all"
            topic = "clients/%c/#"
            [[auth.acl]]
            allow = true
            access = "subscribe"
            topic = "sensors/#"
            [[auth.acl]]
            allow = true
            access = "publish"
            topic = "sensors/+/temperature"
            "#,
            "plugin_cost",
        )?;
        let policy = Policy::new(&config.auth);
        let grants = Grants::default();
        let action = aviary::auth::acl::Action::Publish(topic);
        bench.run(NATIVE, || {
            let none = || None;
            let ok = policy.authorize(&grants, who.who(), action, none, AuthOverrides::default());
            assert!(std::hint::black_box(ok));
        });
        // What a session pays per PUBLISH to see a SIGHUP-reloaded policy (and again for the
        // plugins), next to the rules themselves.
        let live = aviary::reload::LivePolicy::new(policy);
        bench.run(SWAP, || {
            std::hint::black_box(&*live.load());
        });
    }
    Ok(())
}
