//! `aviary sub`: subscribes to one or more filters and prints the messages that arrive.

use std::io::Write;
use std::time::Duration;

use aviary::protocol::topic::validate_topic_filter;
use aviary::protocol::{Packet, PubResponse, Publish, QoS, RetainHandling, Subscribe, SubscriptionOptions};
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};

use super::client::{within, Client};
use super::error::{describe_reason, CliError};
use super::{parse_qos, ConnectArgs};

/// How each message is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The payload as it is (with -v: the topic, a space, the payload).
    Payload,
    /// One JSON object per line: topic, qos, retain, payload, properties.
    Json,
    /// The payload in hexadecimal (with -v: after the topic).
    Hex,
}

/// `aviary sub` options.
#[derive(Args, Debug, Clone)]
pub struct SubArgs {
    /// Connection options.
    #[command(flatten)]
    pub conn: ConnectArgs,
    /// Topic filter to subscribe to (repeatable).
    #[arg(short = 't', long = "topic", value_name = "FILTER", required = true)]
    pub topics: Vec<String>,
    /// Maximum QoS of the subscriptions.
    #[arg(short = 'q', long, value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    pub qos: QoS,
    /// Print the topic before each payload.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Exit after this many messages.
    #[arg(short = 'C', long, value_name = "COUNT")]
    pub count: Option<u64>,
    /// Give up after this many seconds (exit code 7) unless -C was reached first.
    #[arg(short = 'W', long, value_name = "SECS")]
    pub wait: Option<u64>,
    /// Print only retained messages; exit at the first message that is not retained.
    #[arg(long)]
    pub retained_only: bool,
    /// Output format.
    #[arg(short = 'F', long, value_enum, default_value = "payload")]
    pub format: Format,
    /// MQTT 5: do not receive our own publications.
    #[arg(long)]
    pub no_local: bool,
    /// MQTT 5 retain handling: 0 send retained messages, 1 only for new subscriptions, 2 never.
    #[arg(long, value_name = "0|1|2", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub retain_handling: u8,
    /// MQTT 5: keep the retain flag as published (not only for retained messages sent at subscribe).
    #[arg(long)]
    pub retain_as_published: bool,
    /// Show this help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// Runs `aviary sub`.
pub async fn run(args: SubArgs) -> Result<(), CliError> {
    for t in &args.topics {
        validate_topic_filter(t).map_err(|e| CliError::Usage(format!("bad topic filter `{t}`: {e}")))?;
    }
    let v5 = args.conn.version.is_v5();
    if !v5 && (args.no_local || args.retain_handling != 0 || args.retain_as_published) {
        return Err(CliError::Usage(
            "--no-local, --retain-handling and --retain-as-published need MQTT 5 (-V 5)".into(),
        ));
    }
    let target = args.conn.target()?;
    let connect = args.conn.connect_packet(&target, "sub")?;
    let (mut client, _) =
        Client::connect(&target, &args.conn.tls(), connect, args.conn.debug, args.conn.timeout()).await?;
    let early = subscribe(&mut client, &args).await?;
    let result = match args.wait {
        Some(secs) => {
            let limit = Duration::from_secs(secs);
            let what = format!("waiting for messages (-W {secs})");
            within(limit, &what, receive(&mut client, &args, early)).await
        }
        None => receive(&mut client, &args, early).await,
    };
    result?;
    client.disconnect().await
}

/// Subscribes and waits for SUBACK. Messages of a resumed session may arrive before it: they
/// are acknowledged and returned, to be printed first.
async fn subscribe(client: &mut Client, args: &SubArgs) -> Result<Vec<Publish>, CliError> {
    let options = SubscriptionOptions {
        qos: args.qos,
        no_local: args.no_local,
        retain_as_published: args.retain_as_published,
        retain_handling: match args.retain_handling {
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => RetainHandling::SendAtSubscribe,
        },
    };
    let packet_id = client.next_packet_id();
    let filters = args.topics.iter().map(|t| (t.as_str().into(), options)).collect();
    let sub = Subscribe { packet_id, subscription_identifier: None, user_properties: Vec::new(), filters };
    client.send(&Packet::Subscribe(sub)).await?;
    let limit = client.timeout;
    let mut early = Vec::new();
    let suback = within(limit, "waiting for SUBACK", async {
        loop {
            match client.recv().await? {
                Packet::SubAck(s) if s.packet_id == packet_id => return Ok(s),
                Packet::Publish(p) => {
                    acknowledge(client, &p).await?;
                    early.push(p);
                }
                Packet::PubRel(r) => client.send(&Packet::PubComp(PubResponse::success(r.packet_id))).await?,
                other => {
                    return Err(CliError::Connection(format!(
                        "expected SUBACK, the broker sent {}",
                        other.name()
                    )));
                }
            }
        }
    })
    .await?;
    for (topic, reason) in args.topics.iter().zip(&suback.reason_codes) {
        if reason.is_error() {
            return Err(CliError::Rejected(format!(
                "the broker refused the subscription to `{topic}` with {}",
                describe_reason(*reason)
            )));
        }
    }
    Ok(early)
}

/// Receives and prints until -C messages were printed (forever without -C).
async fn receive(client: &mut Client, args: &SubArgs, early: Vec<Publish>) -> Result<(), CliError> {
    let mut printed = 0u64;
    let mut early = early.into_iter();
    loop {
        if args.count.is_some_and(|c| printed >= c) {
            return Ok(());
        }
        let packet = match early.next() {
            Some(p) => Packet::Publish(p),
            None => {
                let packet = client.recv().await?;
                if let Packet::Publish(p) = &packet {
                    acknowledge(client, p).await?;
                }
                packet
            }
        };
        match packet {
            Packet::Publish(p) => {
                if args.retained_only && !p.retain {
                    return Ok(());
                }
                let mut out = std::io::stdout().lock();
                print(&mut out, &p, args)
                    .and_then(|()| out.flush())
                    .map_err(|e| CliError::Connection(format!("cannot write to stdout: {e}")))?;
                printed += 1;
            }
            Packet::PubRel(r) => client.send(&Packet::PubComp(PubResponse::success(r.packet_id))).await?,
            other => {
                return Err(CliError::Connection(format!("unexpected {} from the broker", other.name())));
            }
        }
    }
}

async fn acknowledge(client: &mut Client, p: &Publish) -> Result<(), CliError> {
    match (p.qos, p.packet_id) {
        (QoS::AtLeastOnce, Some(id)) => client.send(&Packet::PubAck(PubResponse::success(id))).await,
        (QoS::ExactlyOnce, Some(id)) => client.send(&Packet::PubRec(PubResponse::success(id))).await,
        _ => Ok(()),
    }
}

fn print(out: &mut impl Write, p: &Publish, args: &SubArgs) -> std::io::Result<()> {
    match args.format {
        Format::Json => writeln!(out, "{}", to_json(p)),
        Format::Payload | Format::Hex => {
            if args.verbose {
                write!(out, "{} ", p.topic)?;
            }
            if args.format == Format::Hex {
                out.write_all(hex(&p.payload).as_bytes())?;
            } else {
                out.write_all(&p.payload)?;
            }
            writeln!(out)
        }
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// A message as one JSON object. A payload that is not UTF-8 is given as `payload_hex`.
pub fn to_json(p: &Publish) -> Value {
    let mut obj = Map::new();
    obj.insert("topic".into(), json!(p.topic.to_string()));
    obj.insert("qos".into(), json!(p.qos as u8));
    obj.insert("retain".into(), json!(p.retain));
    match std::str::from_utf8(&p.payload) {
        Ok(text) => obj.insert("payload".into(), json!(text)),
        Err(_) => obj.insert("payload_hex".into(), json!(hex(&p.payload))),
    };
    let props = &p.properties;
    let mut pj = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            pj.insert(k.into(), v);
        }
    };
    put("payload_format_indicator", props.payload_format_indicator.map(|v| json!(v)));
    put("message_expiry_interval", props.message_expiry_interval.map(|v| json!(v)));
    put("content_type", props.content_type.as_ref().map(|v| json!(v.to_string())));
    put("response_topic", props.response_topic.as_ref().map(|v| json!(v.to_string())));
    put(
        "correlation_data",
        props.correlation_data.as_ref().map(|v| json!(String::from_utf8_lossy(v).into_owned())),
    );
    let users: Vec<Value> =
        props.user_properties.iter().map(|(k, v)| json!([k.to_string(), v.to_string()])).collect();
    put("user_properties", (!users.is_empty()).then(|| json!(users)));
    let ids = &props.subscription_identifiers;
    put("subscription_identifiers", (!ids.is_empty()).then(|| json!(ids)));
    obj.insert("properties".into(), Value::Object(pj));
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aviary::protocol::PublishProperties;

    #[test]
    fn json_carries_topic_flags_payload_and_properties() {
        let p = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: "a/b".into(),
            packet_id: Some(1),
            payload: bytes::Bytes::from_static(b"hi"),
            properties: PublishProperties {
                content_type: Some("text/plain".into()),
                user_properties: vec![("k".into(), "v".into())],
                ..Default::default()
            }
            .into(),
        };
        let j = to_json(&p);
        assert_eq!(j["topic"], "a/b");
        assert_eq!(j["qos"], 1);
        assert_eq!(j["retain"], true);
        assert_eq!(j["payload"], "hi");
        assert_eq!(j["properties"]["content_type"], "text/plain");
        assert_eq!(j["properties"]["user_properties"][0][1], "v");
    }

    #[test]
    fn binary_payloads_are_hex() {
        assert_eq!(hex(&[0, 0xff, 0x10]), "00ff10");
    }
}
