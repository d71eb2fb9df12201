//! A real WebSocket MQTT client: MQTT.js (npm `mqtt`, installed into tests/transport/web by
//! scripts/test) under Node, and its browser build in a page served to headless Chromium,
//! which connects, subscribes, shows a retained message in the DOM and answers it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

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

/// A tiny HTTP server for the page: `page.html`, `mqtt.min.js`, and `gate.png`, which is
/// answered (404) only once the gate opens, so the page's load event waits for the test.
struct PageServer {
    port: u16,
    gate: Arc<(Mutex<bool>, Condvar)>,
    stop: Arc<AtomicBool>,
}

impl PageServer {
    fn start(web: PathBuf) -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, st) = (gate.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (web, g) = (web.clone(), g.clone());
                        std::thread::spawn(move || serve(conn, &web, &g));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        PageServer { port, gate, stop }
    }

    fn open_gate(&self) {
        let (lock, cv) = &*self.gate;
        if let Ok(mut open) = lock.lock() {
            *open = true;
        }
        cv.notify_all();
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.open_gate();
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut conn: TcpStream, web: &Path, gate: &(Mutex<bool>, Condvar)) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(n) if n > 0 => request.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&request).lines().next().unwrap_or_default().to_owned();
    let path = line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_owned();
    let file = match path.as_str() {
        "/page.html" => Some((web.join("page.html"), "text/html; charset=utf-8")),
        "/mqtt.min.js" => Some((web.join("node_modules/mqtt/dist/mqtt.min.js"), "application/javascript")),
        "/gate.png" => {
            let (lock, cv) = gate;
            if let Ok(open) = lock.lock() {
                let _ = cv.wait_timeout_while(open, Duration::from_secs(20), |open| !*open);
            }
            None
        }
        _ => None,
    };
    let response = match file.and_then(|(f, kind)| std::fs::read(f).ok().map(|body| (body, kind))) {
        Some((body, kind)) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        }
        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let _ = conn.write_all(&response);
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
    let server = PageServer::start(web);
    let page = format!("http://127.0.0.1:{}/page.html?broker={ws}", server.port);
    let profile = temp_dir("chromium-profile");
    let chromium = Proc::spawn(
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
            .args(["--dump-dom", &page]),
    );
    // The page publishes its answer only after it showed the message.
    assert_eq!(answer.finish().success().stdout, "hello from the browser\n", "the page published its answer");
    server.open_gate();
    let dom = chromium.finish().success();
    assert!(
        dom.stdout.contains(r#"<li class="message">web/browser hello, browser</li>"#),
        "the page shows the message:\n{}",
        dom.stdout
    );
}
