//! A real WebSocket MQTT client: MQTT.js (npm `mqtt`, installed into tests/transport/web by
//! scripts/test) under Node, and its browser build in a page loaded by headless Chromium,
//! which connects, subscribes, shows a retained message and answers it.

use std::path::{Path, PathBuf};

use crate::certs::temp_dir;
use crate::procs::{aviary, tool, BrokerProc, Proc};
use crate::walk::subscriber;

fn web_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transport/web");
    assert!(
        dir.join("node_modules/mqtt/dist/mqtt.min.js").exists(),
        "MQTT.js is not installed: npm install --prefix tests/transport/web (scripts/test does it)"
    );
    dir
}

fn ws_broker(name: &str) -> (BrokerProc, String) {
    let config = temp_dir(name).join("ws.toml");
    std::fs::write(
        &config,
        "[log]\nformat = \"json\"\n[[listener]]\nname = \"plain\"\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"ws\"\nkind = \"ws\"\nbind = \"127.0.0.1:0\"\n",
    )
    .expect("config");
    let broker = BrokerProc::start(&config, 2);
    let url = format!("ws://127.0.0.1:{}/mqtt", broker.port("ws"));
    (broker, url)
}

#[test]
fn mqtt_js_under_node_talks_to_aviary_clients() {
    let web = web_dir();
    let (broker, ws) = ws_broker("node");
    let plain = format!("mqtt://127.0.0.1:{}", broker.port("plain"));
    let cli_sub =
        subscriber("aviary sub", &plain, &[], &["-t", "web/node", "-F", "json", "-C", "1", "-W", "15"]);
    let mut node =
        Proc::spawn("node client", tool("node", "nodejs").arg(web.join("node_client.mjs")).arg(&ws));
    node.wait_for(|p| p.stdout().contains("subscribed"), "the node client's SUBACK");
    let out = aviary()
        .args(["pub", "--url", &ws, "-t", "web/cli", "-m", "from aviary", "-q", "1"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let node = node.finish().success();
    assert!(
        node.stdout.contains(r#"{"topic":"web/cli","payload":"from aviary","user":{}}"#),
        "{}",
        node.stdout
    );
    assert!(
        node.stdout.contains(r#""topic":"web/node","payload":"from node","user":{"via":"mqtt.js"}"#),
        "{}",
        node.stdout
    );
    let got: serde_json::Value =
        serde_json::from_str(cli_sub.finish().success().stdout.trim()).expect("json");
    assert_eq!(got["payload"], "from node");
    assert_eq!(got["properties"]["user_properties"], serde_json::json!([["via", "mqtt.js"]]));
}

#[test]
fn a_page_in_headless_chromium_subscribes_and_shows_a_message() {
    let web = web_dir();
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {c}"))
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!("chromium is not installed: apt-get install -y chromium (scripts/test does it)")
        });
    let (broker, ws) = ws_broker("chromium");
    let plain = format!("mqtt://127.0.0.1:{}", broker.port("plain"));
    let out = aviary()
        .args(["pub", "--url", &plain, "-t", "web/browser", "-m", "hello, browser", "-r", "-q", "1"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let answer = subscriber("aviary sub", &plain, &[], &["-t", "web/from-browser", "-C", "1", "-W", "30"]);
    let page = format!("file://{}?broker={ws}", web.join("page.html").display());
    let profile = temp_dir("chromium-profile");
    let dom = Proc::spawn(
        "chromium",
        tool(chromium, "chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--virtual-time-budget=8000", "--dump-dom", &page]),
    )
    .finish()
    .success();
    assert!(
        dom.stdout.contains(r#"<li class="message">web/browser hello, browser</li>"#),
        "the page shows the message:\n{}",
        dom.stdout
    );
    assert_eq!(answer.finish().success().stdout, "hello from the browser\n", "the page published its answer");
}
