//! `aviary pub` / `aviary sub` options against an in-process broker: payload sources,
//! repeats, retained messages, output formats with MQTT 5 properties, sessions, wills, and
//! the documented exit codes.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::common::TestBroker;
use crate::procs::{aviary, Proc};
use crate::walk::subscriber;

fn url(b: &TestBroker) -> String {
    format!("mqtt://127.0.0.1:{}", b.port())
}

fn publish(b: &TestBroker, args: &[&str]) -> Output {
    let out = aviary().args(["pub", "--url", &url(b)]).args(args).output().expect("aviary pub runs");
    assert!(out.status.success(), "aviary pub {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn sub(b: &TestBroker, name: &str, args: &[&str]) -> Proc {
    subscriber(name, &url(b), &[], args)
}

#[test]
fn payload_sources_and_repeats() {
    let b = TestBroker::start();
    let s = sub(&b, "sub", &["-t", "src/#", "-v", "-q", "1", "-C", "8", "-W", "20"]);
    publish(&b, &["-t", "src/m", "-m", "message"]);
    let file = std::env::temp_dir().join(format!("aviary-pub-{}.txt", std::process::id()));
    std::fs::write(&file, "from a file").expect("write");
    publish(&b, &["-t", "src/f", "-f", file.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&file);
    publish(&b, &["-t", "src/n", "-n"]);
    publish(&b, &["-t", "src/r", "-m", "again", "--repeat", "2", "--interval-ms", "50", "-q", "1"]);
    for (flag, input) in [("-s", "whole\nstdin"), ("-l", "line 1\nline 2\n")] {
        let mut p = Proc::spawn_with_stdin(
            "pub from stdin",
            aviary().args(["pub", "--url", &url(&b), "-t", "src/stdin", "-q", "2", flag]),
            Stdio::piped(),
        );
        let mut stdin = p.stdin().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
        drop(stdin);
        p.finish().success();
    }
    let out = s.finish().success();
    assert_eq!(
        out.stdout,
        "src/m message\nsrc/f from a file\nsrc/n \nsrc/r again\nsrc/r again\nsrc/stdin whole\nstdin\nsrc/stdin line 1\nsrc/stdin line 2\n"
    );
}

#[test]
fn json_output_carries_mqtt5_properties_and_retained_messages() {
    let b = TestBroker::start();
    publish(
        &b,
        &[
            "-t",
            "props/a",
            "-m",
            "{\"t\":21}",
            "-r",
            "-q",
            "1",
            "--user-prop",
            "unit=celsius",
            "--user-prop",
            "room=kitchen",
            "--content-type",
            "application/json",
            "--response-topic",
            "props/reply",
            "--correlation-data",
            "req-1",
            "--message-expiry",
            "3600",
            "--utf8",
        ],
    );
    let s = sub(&b, "json sub", &["-t", "props/#", "-q", "1", "-F", "json", "-C", "1", "-W", "10"]);
    let out = s.finish().success();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    assert_eq!(v["topic"], "props/a");
    assert_eq!(v["retain"], true);
    assert_eq!(v["qos"], 1);
    assert_eq!(v["payload"], "{\"t\":21}");
    let p = &v["properties"];
    assert_eq!(p["content_type"], "application/json");
    assert_eq!(p["response_topic"], "props/reply");
    assert_eq!(p["correlation_data"], "req-1");
    assert_eq!(p["payload_format_indicator"], 1);
    assert!(p["message_expiry_interval"].as_u64().is_some_and(|s| s > 3500 && s <= 3600), "{p}");
    assert_eq!(p["user_properties"], serde_json::json!([["unit", "celsius"], ["room", "kitchen"]]));

    // --retained-only prints the retained message and exits at the first live one.
    let s = sub(&b, "retained only", &["-t", "props/#", "--retained-only", "-v", "-W", "10"]);
    publish(&b, &["-t", "props/live", "-m", "live"]);
    assert_eq!(s.finish().success().stdout, "props/a {\"t\":21}\n");

    // Hex output; retain handling 2 sends no retained message.
    let s = sub(&b, "hex", &["-t", "props/a", "-F", "hex", "-v", "-C", "1", "-W", "10"]);
    assert_eq!(s.finish().success().stdout, "props/a 7b2274223a32317d\n");
    let s = sub(&b, "rh2", &["-t", "props/a", "--retain-handling", "2", "--no-local", "-W", "1"]);
    let out = s.finish().code(7);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("no_local: true, retain_as_published: false, retain_handling: DoNotSend"),
        "-d shows the options"
    );
    assert!(out.stderr.contains("timed out waiting for messages (-W 1)"), "{}", out.stderr);
}

#[test]
fn persistent_sessions_and_wills() {
    let b = TestBroker::start();
    // A persistent session keeps the subscription and queues QoS 1 while offline.
    let first = sub(
        &b,
        "persistent",
        &["-i", "keeper", "--no-clean", "-t", "sess/#", "-q", "1", "-C", "1", "-W", "10", "-v"],
    );
    publish(&b, &["-t", "sess/1", "-m", "online", "-q", "1"]);
    assert_eq!(first.finish().success().stdout, "sess/1 online\n");
    publish(&b, &["-t", "sess/2", "-m", "while away", "-q", "1"]);
    let again = Proc::spawn(
        "resumed",
        aviary().args([
            "sub",
            "--url",
            &url(&b),
            "-i",
            "keeper",
            "--no-clean",
            "-t",
            "sess/#",
            "-q",
            "1",
            "-C",
            "1",
            "-W",
            "10",
            "-v",
        ]),
    );
    assert_eq!(again.finish().success().stdout, "sess/2 while away\n");

    // A client that dies without DISCONNECT has its will published, with -V 3.1.1 too.
    let watcher = sub(&b, "will watcher", &["-t", "wills/#", "-v", "-C", "1", "-W", "10"]);
    let doomed = sub(
        &b,
        "doomed",
        &[
            "-V",
            "mqttv311",
            "-t",
            "nothing",
            "--will-topic",
            "wills/doomed",
            "--will-message",
            "gone",
            "--will-qos",
            "1",
        ],
    );
    drop(doomed); // SIGKILL: no DISCONNECT
    assert_eq!(watcher.finish().success().stdout, "wills/doomed gone\n");
}

#[test]
fn exit_codes_name_the_failure() {
    let b = TestBroker::start();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let run = |args: &[&str]| aviary().args(args).output().expect("aviary runs");
    let check = |out: Output, code: i32, needle: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(needle), "expected `{needle}` in {stderr}");
    };
    check(
        run(&["pub", "-p", &closed.to_string(), "-h", "127.0.0.1", "-t", "a", "-m", "b"]),
        3,
        "Connection refused",
    );
    check(run(&["pub", "--url", &url(&b), "-t", "a/#", "-m", "b"]), 2, "bad topic");
    check(run(&["pub", "--url", &url(&b), "-t", "a", "-m", "b", "-q", "3"]), 2, "not a QoS");
    check(run(&["pub", "--url", &url(&b), "-t", "a"]), 2, "required");
    check(
        run(&["pub", "--url", &url(&b), "-t", "a", "-m", "b", "-V", "3.1.1", "--user-prop", "k=v"]),
        2,
        "MQTT 5",
    );
    check(run(&["pub", "--url", "http://x", "-t", "a", "-m", "b"]), 2, "bad --url");
    check(run(&["sub", "--url", &url(&b), "-t", "a", "-W", "1"]), 7, "timed out");
    let help = run(&["pub", "--help"]);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--retain"));
}
