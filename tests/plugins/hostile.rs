//! Hostile plugins (`tests/plugins/fixtures/hostile`): an infinite loop, a memory bomb, a trap,
//! a panic, a stack overflow and oversized answers in each hook. Each is denied or handled within its deadline,
//! counted, and the instance rebuilt, while well-behaved clients keep publishing and receiving.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aviary::protocol::{Protocol, QoS, ReasonCode};

use crate::common::{Raw, TestBroker};
use crate::support::*;

const BAD: [&str; 5] = ["loop", "memory", "trap", "panic", "recurse"];

fn hostile(hook: &str, runtime: &str) -> TestBroker {
    let extra = format!("[plugin.config]\nhook = \"{hook}\"");
    TestBroker::with_toml(&format!(
        "[plugin_runtime]\n{runtime}\n{}",
        plugin_toml("hostile", "hostile", &extra)
    ))
}

/// A publisher and a subscriber (on `alive/#`) that behave.
async fn bystanders(b: &TestBroker) -> (Raw, Raw) {
    let publ = connected(b, Protocol::V5, "good-pub").await;
    let mut sub = connected(b, Protocol::V3_1_1, "good-sub").await;
    assert_eq!(subscribe(&mut sub, &[("alive/#", QoS::AtLeastOnce)]).await, vec![ReasonCode::GrantedQoS1]);
    (publ, sub)
}

/// Runs `evil` while the bystanders exchange messages; returns how long `evil` took.
async fn alongside<F: std::future::Future<Output = ()>>(by: &mut (Raw, Raw), evil: F) -> Duration {
    let started = Instant::now();
    let timed = async {
        evil.await;
        started.elapsed()
    };
    let traffic = async {
        for _ in 0..3 {
            still_serving(&mut by.0, &mut by.1, "alive/t").await;
        }
    };
    let (took, ()) = tokio::join!(timed, traffic);
    took
}

fn failures(b: &TestBroker) -> (u64, u64) {
    let host = b.handle.plugins().unwrap();
    let s = host.stats_of("hostile").unwrap();
    (s.failures.load(Ordering::Relaxed), s.timeouts.load(Ordering::Relaxed))
}

const SLACK: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread")]
async fn authenticate_fails_closed_within_its_deadline() {
    let b = hostile("authenticate", "breaker_failures = 1000");
    let mut by = bystanders(&b).await;
    for (n, bad) in BAD.iter().enumerate() {
        let took = alongside(&mut by, async {
            let (_c, reason) = connect_as(&b, Protocol::V5, &format!("evil-{bad}-{n}"), None, None).await;
            assert_eq!(reason, ReasonCode::NotAuthorized, "{bad}");
        })
        .await;
        assert!(took < Duration::from_millis(250) + SLACK, "{bad} took {took:?}");
    }
    assert_eq!(failures(&b), (5, 1), "five failures, one of them the deadline");
    // The instances were rebuilt: the plugin serves the next client normally.
    connected(&b, Protocol::V5, "good-late").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_publish_fails_closed() {
    let b = hostile("authorize_publish", "breaker_failures = 1000");
    let mut by = bystanders(&b).await;
    for (n, bad) in BAD.iter().enumerate() {
        let mut evil = connected(&b, Protocol::V5, &format!("evil-{bad}-{n}")).await;
        let took = alongside(&mut by, async {
            let r = publish(&mut evil, "alive/evil", b"x", QoS::AtLeastOnce).await;
            assert_eq!(r, Some(ReasonCode::NotAuthorized), "{bad}");
            publish(&mut evil, "alive/evil", b"x", QoS::AtMostOnce).await;
        })
        .await;
        assert!(took < SLACK, "{bad} took {took:?}");
    }
    no_publish(&mut by.1, 200).await;
    assert_eq!(failures(&b).0, 10, "two per behaviour");
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_subscribe_fails_closed() {
    let b = hostile("authorize_subscribe", "breaker_failures = 1000");
    let mut by = bystanders(&b).await;
    for (n, bad) in BAD.iter().chain(&["huge"]).enumerate() {
        let mut evil = connected(&b, Protocol::V5, &format!("evil-{bad}-{n}")).await;
        let took = alongside(&mut by, async {
            let codes = subscribe(&mut evil, &[("alive/#", QoS::AtMostOnce)]).await;
            assert_eq!(codes, vec![ReasonCode::NotAuthorized], "{bad}");
        })
        .await;
        assert!(took < SLACK, "{bad} took {took:?}");
    }
    assert_eq!(failures(&b).0, 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_publish_failures_drop_the_message() {
    let b = hostile("on_publish", "breaker_failures = 1000");
    let mut by = bystanders(&b).await;
    for (n, bad) in BAD.iter().chain(&["huge"]).enumerate() {
        let mut evil = connected(&b, Protocol::V5, &format!("evil-{bad}-{n}")).await;
        let took = alongside(&mut by, async {
            let r = publish(&mut evil, "alive/evil", b"x", QoS::AtLeastOnce).await;
            assert_eq!(r, Some(ReasonCode::ImplementationSpecificError), "{bad}");
        })
        .await;
        assert!(took < SLACK, "{bad} took {took:?}");
    }
    no_publish(&mut by.1, 200).await;
    assert_eq!(failures(&b).0, 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_deliver_failures_drop_only_that_delivery() {
    let b = hostile("on_deliver", "breaker_failures = 1000");
    let mut by = bystanders(&b).await;
    let mut evils = Vec::new();
    for (n, bad) in BAD.iter().chain(&["huge"]).enumerate() {
        let mut evil = connected(&b, Protocol::V5, &format!("evil-{bad}-{n}")).await;
        subscribe(&mut evil, &[("alive/#", QoS::AtLeastOnce)]).await;
        evils.push(evil);
    }
    let started = Instant::now();
    still_serving(&mut by.0, &mut by.1, "alive/t").await;
    assert!(started.elapsed() < SLACK * 2, "took {:?}", started.elapsed());
    for evil in &mut evils {
        no_publish(evil, 100).await;
    }
    assert_eq!(failures(&b).0, 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failures_open_the_circuit_breaker() {
    let b = hostile("authorize_publish", "breaker_failures = 3\nbreaker_open_ms = 400");
    let mut good = connected(&b, Protocol::V5, "good").await;
    let mut evil = connected(&b, Protocol::V5, "evil-trap-1").await;
    for _ in 0..3 {
        assert_eq!(publish(&mut evil, "t", b"x", QoS::AtLeastOnce).await, Some(ReasonCode::NotAuthorized));
    }
    // Open: the plugin is not called, and it fails closed for everyone.
    assert_eq!(publish(&mut good, "t", b"x", QoS::AtLeastOnce).await, Some(ReasonCode::NotAuthorized));
    let host = b.handle.plugins().unwrap();
    let s = host.stats_of("hostile").unwrap();
    assert_eq!(s.breaker_opened.load(Ordering::Relaxed), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        publish(&mut good, "t", b"x", QoS::AtLeastOnce).await,
        Some(ReasonCode::Success),
        "closed again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_open_plugins_pass_on() {
    // on_failure = "pass": a failing transform lets the message through unchanged.
    let extra = "on_failure = \"pass\"\n[plugin.config]\nhook = \"on_publish\"";
    let b = TestBroker::with_toml(&plugin_toml("hostile", "hostile", extra));
    let mut by = bystanders(&b).await;
    let mut evil = connected(&b, Protocol::V5, "evil-panic-1").await;
    assert_eq!(publish(&mut evil, "alive/e", b"still", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    assert_eq!(next_publish(&mut by.1).await.payload, &b"still"[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn log_and_print_floods_are_rate_limited() {
    // `evil-huge` prints and logs 10,000 lines of 5 KB in authenticate: it answers (or misses
    // its deadline) in time, the broker's log takes at most `log_lines_per_sec` of them, and the
    // bystanders carry on.
    let b = hostile("authenticate", "log_lines_per_sec = 20");
    let mut by = bystanders(&b).await;
    let took = alongside(&mut by, async {
        let (_c, reason) = connect_as(&b, Protocol::V5, "evil-huge-1", None, None).await;
        assert!(matches!(reason, ReasonCode::Success | ReasonCode::NotAuthorized), "{reason:?}");
    })
    .await;
    assert!(took < Duration::from_millis(250) + SLACK, "took {took:?}");
    let dropped = b.handle.plugins().unwrap().log_lines_dropped("hostile").unwrap();
    assert!(dropped > 100, "only {dropped} lines dropped");
}
