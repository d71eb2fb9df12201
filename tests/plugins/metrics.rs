//! `/metrics` exports the plugin host's per-plugin, per-hook counters and the values plugins
//! set through `aviary:plugin/metrics`, parsed by a Prometheus text-format parser.

use aviary::passwd::{hash_password, PasswordFile};
use aviary::protocol::{Protocol, QoS, ReasonCode};
use prometheus_parse::{Scrape, Value};

use crate::common::{within, TestBroker};
use crate::support::*;

/// GET `url`: the status and the body.
pub(crate) async fn get(url: String) -> (u16, String) {
    let call = move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut resp = agent.get(&url).call().expect("http request");
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default())
    };
    within("an http answer", async { tokio::task::spawn_blocking(call).await.unwrap() }).await
}

/// The value of the sample `name` whose labels include every pair of `labels`.
pub(crate) fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = s
        .samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_calls_latency_and_failures_per_plugin_and_hook() {
    let acl = plugin_toml(
        "acl",
        "acl",
        "grants = []\n[[plugin.config.rules]]\nallow = true\naccess = \"all\"\ntopic = \"#\"",
    );
    let b = TestBroker::with_toml(&format!("[http]\nenabled = true\nbind = \"127.0.0.1:0\"\n{acl}"));
    let url = format!("http://{}/metrics", b.handle.http_addr().expect("http listener"));
    let mut c = connected(&b, Protocol::V5, "m").await;
    assert_eq!(subscribe(&mut c, &[("m/#", QoS::AtLeastOnce)]).await, vec![ReasonCode::GrantedQoS1]);
    for i in 0..3u8 {
        assert_eq!(publish(&mut c, "m/t", &[i], QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    }
    let (status, body) = get(url).await;
    assert_eq!(status, 200);
    let s = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text");
    let publish = [("plugin", "acl"), ("hook", "authorize-publish")];
    let calls = value(&s, "aviary_plugin_calls_total", &publish);
    assert!(calls >= 3.0, "one authorize-publish call per PUBLISH, got {calls}");
    assert!(
        value(&s, "aviary_plugin_calls_total", &[("plugin", "acl"), ("hook", "authorize-subscribe")]) >= 1.0
    );
    // No breaker refusals, so every call was timed.
    assert_eq!(value(&s, "aviary_plugin_call_seconds_count", &publish), calls);
    assert!(value(&s, "aviary_plugin_call_seconds_sum", &publish) > 0.0);
    for kind in ["timeout", "error", "invalid_answer", "breaker_open"] {
        let labels = [("plugin", "acl"), ("hook", "authorize-publish"), ("kind", kind)];
        assert_eq!(value(&s, "aviary_plugin_failures_total", &labels), 0.0, "{kind}");
    }
    // The acl plugin implements no transform hook: no series for it.
    assert!(!s.samples.iter().any(|x| x.labels.get("hook") == Some("on-publish")));
    // The host's own counters agree with what was exported.
    let host = b.handle.plugins().expect("plugins loaded");
    let stats = host.stats_of("acl").expect("acl stats");
    assert!(stats.hook(aviary::plugins::Hook::AuthorizePublish).calls() as f64 >= calls);
}

#[tokio::test(flavor = "multi_thread")]
async fn values_plugins_set_are_exported_and_carry_over_a_reload() {
    let dir = crate::ops_util::temp_dir();
    let path = dir.path().join("passwords.txt");
    let mut file = PasswordFile::default();
    file.set("ann", hash_password(b"right").unwrap()).unwrap();
    file.save(&path).unwrap();
    let toml = format!(
        "[http]\nenabled = true\nbind = \"127.0.0.1:0\"\n[auth]\nallow_anonymous = false\n{}",
        plugin_toml("passwords", "auth_password", &format!("files = {{ passwords = {path:?} }}"))
    );
    let b = TestBroker::with_toml(&toml);
    let url = format!("http://{}/metrics", b.handle.http_addr().expect("http listener"));
    let attempt = |id: &'static str, password: &'static [u8]| {
        let b = &b;
        async move { connect_as(b, Protocol::V5, id, Some("ann"), Some(password)).await.1 }
    };
    assert_eq!(attempt("w1", b"wrong").await, ReasonCode::BadUserNameOrPassword);
    assert_eq!(attempt("w2", b"wrong").await, ReasonCode::BadUserNameOrPassword);
    assert_eq!(attempt("ok", b"right").await, ReasonCode::Success);
    let scrape = |body: String| Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("valid text");
    let metric = |name| [("plugin", "passwords"), ("name", name)];
    let (status, body) = get(url.clone()).await;
    assert_eq!(status, 200);
    let s = scrape(body);
    assert_eq!(value(&s, "aviary_plugin_metric", &metric("auth_failed")), 2.0);
    assert_eq!(value(&s, "aviary_plugin_metric", &metric("auth_ok")), 1.0);
    let typed = s.docs.get("aviary_plugin_metric").expect("a HELP line");
    assert!(typed.contains("aviary:plugin/metrics"), "{typed}");

    // A reload builds a new host; the plugin keeps its name, so its values carry on.
    let report = b.reload(&toml);
    assert_eq!(report.applied, vec!["plugins"], "{report:?}");
    assert_eq!(attempt("w3", b"wrong").await, ReasonCode::BadUserNameOrPassword);
    let s = scrape(get(url).await.1);
    assert_eq!(value(&s, "aviary_plugin_metric", &metric("auth_failed")), 3.0);
    let authn = [("plugin", "passwords"), ("hook", "authenticate")];
    assert!(value(&s, "aviary_plugin_calls_total", &authn) >= 4.0, "calls counted across the reload");
}
