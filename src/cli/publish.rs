//! `aviary pub`: publishes one message (or one per line of stdin, or the same one N times).

use std::path::PathBuf;
use std::time::Duration;

use aviary::protocol::topic::validate_topic_name;
use aviary::protocol::{Packet, PubResponse, Publish, PublishProperties, QoS};
use bytes::Bytes;
use clap::{ArgGroup, Args};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use super::client::{within, Client, Event};
use super::error::{describe_reason, CliError};
use super::{parse_qos, ConnectArgs};

/// `aviary pub` options.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("payload").required(true).args(["message", "file", "stdin_file", "stdin_line", "null_message"])))]
pub struct PubArgs {
    /// Connection options.
    #[command(flatten)]
    pub conn: ConnectArgs,
    /// Topic to publish to.
    #[arg(short = 't', long, value_name = "TOPIC")]
    pub topic: String,
    /// QoS of the messages.
    #[arg(short = 'q', long, value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    pub qos: QoS,
    /// The message.
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Send the contents of a file as the message.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Read stdin to its end and send it as one message.
    #[arg(short = 's', long = "stdin-file")]
    pub stdin_file: bool,
    /// Send each line of stdin as a message (without its newline).
    #[arg(short = 'l', long = "stdin-line")]
    pub stdin_line: bool,
    /// Send an empty message.
    #[arg(short = 'n', long = "null-message")]
    pub null_message: bool,
    /// Retain the message.
    #[arg(short = 'r', long)]
    pub retain: bool,
    /// Publish the message this many times.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// Milliseconds to wait between repeated messages.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub interval_ms: u64,
    /// MQTT 5 user property NAME=VALUE (repeatable).
    #[arg(long = "user-prop", value_name = "NAME=VALUE", value_parser = parse_user_prop)]
    pub user_props: Vec<(String, String)>,
    /// MQTT 5 content type.
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,
    /// MQTT 5 response topic.
    #[arg(long, value_name = "TOPIC")]
    pub response_topic: Option<String>,
    /// MQTT 5 correlation data (sent as the bytes of this text).
    #[arg(long, value_name = "DATA")]
    pub correlation_data: Option<String>,
    /// MQTT 5 message expiry interval in seconds.
    #[arg(long, value_name = "SECS")]
    pub message_expiry: Option<u32>,
    /// MQTT 5 payload format indicator: the payload is UTF-8 text.
    #[arg(long)]
    pub utf8: bool,
    /// Show this help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

fn parse_user_prop(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

/// Runs `aviary pub`.
pub async fn run(args: PubArgs) -> Result<(), CliError> {
    validate_topic_name(&args.topic)
        .map_err(|e| CliError::Usage(format!("bad topic `{}`: {e}", args.topic)))?;
    let properties = properties(&args)?;
    let target = args.conn.target()?;
    let connect = args.conn.connect_packet(&target, "pub")?;
    let single = single_payload(&args).await?;
    let (mut client, _) =
        Client::connect(&target, &args.conn.tls(), connect, args.conn.debug, args.conn.timeout()).await?;
    let message = |payload: Bytes| Publish {
        dup: false,
        qos: args.qos,
        retain: args.retain,
        topic: args.topic.as_str().into(),
        packet_id: None,
        payload,
        properties: properties.clone(),
    };
    match single {
        Some(payload) => {
            for i in 0..args.repeat {
                if i > 0 && args.interval_ms > 0 {
                    idle(&mut client, Duration::from_millis(args.interval_ms)).await?;
                }
                publish(&mut client, message(payload.clone())).await?;
            }
        }
        None => {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            loop {
                tokio::select! {
                    line = lines.next_line() => match line {
                        Ok(Some(line)) => publish(&mut client, message(Bytes::from(line))).await?,
                        Ok(None) => break,
                        Err(e) => return Err(CliError::Usage(format!("cannot read stdin: {e}"))),
                    },
                    event = client.next_event() => on_idle_event(&mut client, event?).await?,
                }
            }
        }
    }
    client.disconnect().await
}

fn properties(args: &PubArgs) -> Result<PublishProperties, CliError> {
    let p = PublishProperties {
        payload_format_indicator: args.utf8.then_some(1),
        message_expiry_interval: args.message_expiry,
        topic_alias: None,
        response_topic: args.response_topic.as_deref().map(Into::into),
        correlation_data: args.correlation_data.clone().map(Bytes::from),
        user_properties: args
            .user_props
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect(),
        subscription_identifiers: Vec::new(),
        content_type: args.content_type.as_deref().map(Into::into),
    };
    if !args.conn.version.is_v5() && p != PublishProperties::default() {
        return Err(CliError::Usage("message properties need MQTT 5 (-V 5)".into()));
    }
    if let Some(t) = &args.response_topic {
        validate_topic_name(t).map_err(|e| CliError::Usage(format!("bad --response-topic `{t}`: {e}")))?;
    }
    Ok(p)
}

/// The payload of -m, -f, -s or -n; `None` for -l (read line by line later).
async fn single_payload(args: &PubArgs) -> Result<Option<Bytes>, CliError> {
    if let Some(m) = &args.message {
        return Ok(Some(Bytes::from(m.clone())));
    }
    if let Some(path) = &args.file {
        let data = std::fs::read(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        return Ok(Some(Bytes::from(data)));
    }
    if args.stdin_file {
        let mut data = Vec::new();
        tokio::io::stdin()
            .read_to_end(&mut data)
            .await
            .map_err(|e| CliError::Usage(format!("cannot read stdin: {e}")))?;
        return Ok(Some(Bytes::from(data)));
    }
    if args.null_message {
        return Ok(Some(Bytes::new()));
    }
    Ok(None)
}

/// Waits `d` while keeping the connection alive.
async fn idle(client: &mut Client, d: Duration) -> Result<(), CliError> {
    let until = tokio::time::Instant::now() + d;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return Ok(()),
            event = client.next_event() => on_idle_event(client, event?).await?,
        }
    }
}

async fn on_idle_event(client: &mut Client, event: Event) -> Result<(), CliError> {
    match event {
        Event::PingDue => client.send(&Packet::PingReq).await,
        Event::Packet(Packet::PingResp) => Ok(()),
        Event::Packet(Packet::Disconnect(d)) => Err(CliError::Connection(format!(
            "the broker disconnected us with {}",
            describe_reason(d.reason)
        ))),
        Event::Packet(p) => Err(CliError::Connection(format!("unexpected {} from the broker", p.name()))),
    }
}

/// Publishes one message and waits for its acknowledgements (QoS 1: PUBACK; QoS 2: PUBREC,
/// PUBREL, PUBCOMP).
async fn publish(client: &mut Client, mut p: Publish) -> Result<(), CliError> {
    let qos = p.qos;
    if qos != QoS::AtMostOnce {
        p.packet_id = Some(client.next_packet_id());
    }
    let id = p.packet_id.unwrap_or(0);
    client.send(&Packet::Publish(p)).await?;
    let limit = client.timeout;
    match qos {
        QoS::AtMostOnce => Ok(()),
        QoS::AtLeastOnce => {
            let ack = within(limit, "waiting for PUBACK", wait_ack(client, id, "PUBACK")).await?;
            check(&ack, "publish")
        }
        QoS::ExactlyOnce => {
            let rec = within(limit, "waiting for PUBREC", wait_ack(client, id, "PUBREC")).await?;
            check(&rec, "publish")?;
            client.send(&Packet::PubRel(PubResponse::success(id))).await?;
            let comp = within(limit, "waiting for PUBCOMP", wait_ack(client, id, "PUBCOMP")).await?;
            check(&comp, "publish")
        }
    }
}

async fn wait_ack(client: &mut Client, id: u16, name: &'static str) -> Result<PubResponse, CliError> {
    loop {
        let p = client.recv().await?;
        let expected = p.name() == name;
        match p {
            Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubComp(r) if expected && r.packet_id == id => {
                return Ok(r)
            }
            _ if expected => continue,
            p => return Err(CliError::Connection(format!("expected {name}, the broker sent {}", p.name()))),
        }
    }
}

fn check(r: &PubResponse, what: &str) -> Result<(), CliError> {
    if r.reason.is_error() {
        let why = r.properties.reason_string.as_ref().map(|s| format!(": {s}")).unwrap_or_default();
        return Err(CliError::Rejected(format!(
            "the broker refused the {what} with {}{why}",
            describe_reason(r.reason)
        )));
    }
    Ok(())
}
