//! Loading: sha256 pins, ungranted imports, missing files and failing `init`s stop the
//! broker's startup with a message naming the plugin.

use std::time::{Duration, Instant};

use aviary::config::Config;
use aviary::Broker;
use sha2::{Digest, Sha256};

use crate::support::*;

fn start(toml: &str) -> Result<(), String> {
    let mut config = Config::from_toml_str(toml, "test").map_err(|e| e.to_string())?;
    config.listeners[0].bind = "127.0.0.1:0".parse().unwrap();
    Broker::start(config).map(drop).map_err(|e| e.to_string())
}

fn sha256(path: &std::path::Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn sha256_pin_is_enforced() {
    let good = sha256(&wasm("acl"));
    assert_eq!(start(&plugin_toml("acl", "acl", &format!("sha256 = \"{good}\""))), Ok(()));
    let bad = "0".repeat(64);
    let err = start(&plugin_toml("acl", "acl", &format!("sha256 = \"{bad}\""))).unwrap_err();
    assert!(err.contains("plugin `acl`") && err.contains("sha256 mismatch"), "{err}");
}

#[test]
fn ungranted_imports_are_refused() {
    // auth-password verifies hashes through aviary:plugin/crypto.
    let err = start(&plugin_toml("pw", "auth_password", "grants = [\"kv\"]")).unwrap_err();
    assert!(err.contains("plugin `pw` imports `aviary:plugin/crypto@0.3.0`"), "{err}");
}

#[test]
fn missing_files_and_bad_configs_are_named() {
    let err = start("[[plugin]]\nname = \"ghost\"\npath = \"/nonexistent/x.wasm\"\n").unwrap_err();
    assert!(err.contains("plugin `ghost`") && err.contains("/nonexistent/x.wasm"), "{err}");
    // auth-jwt refuses to start without its key set.
    let err = start(&plugin_toml("jwt", "auth_jwt", "")).unwrap_err();
    assert!(err.contains("plugin `jwt` failed to initialise") && err.contains("key set"), "{err}");
}

#[test]
fn hostile_init_stops_startup_in_time() {
    for bad in ["loop", "memory", "trap", "panic", "recurse"] {
        let started = Instant::now();
        let extra = format!("limits = {{ init_ms = 300 }}\n[plugin.config]\ninit = \"{bad}\"");
        let err = start(&plugin_toml("hostile", "hostile", &extra)).unwrap_err();
        assert!(err.contains("plugin `hostile` failed to initialise"), "{bad}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{bad} took {:?}", started.elapsed());
        if bad == "loop" {
            assert!(err.contains("deadline"), "{err}");
        }
    }
}

#[test]
fn invalid_transform_topics_are_refused() {
    // transform-json-enrich declares its `topics` as the filters its transforms are for.
    let toml = plugin_toml("enrich", "transform_json_enrich", "[plugin.config]\ntopics = [\"a/#/b\"]");
    let err = start(&toml).unwrap_err();
    assert!(err.contains("plugin `enrich`") && err.contains("`a/#/b`"), "{err}");
}
