//! `aviary pub`: publishes one message (or one per line of stdin, or the same one N times).
//! QoS 1/2 messages are pipelined: up to `--max-inflight` (default 20, as mosquitto_pub) are
//! sent before their acknowledgements arrive, in order, and `pub` exits once all are
//! acknowledged.

use std::path::PathBuf;
use std::time::Duration;

use aviary::protocol::topic::validate_topic_name;
use aviary::protocol::{Packet, PubResponse, Publish, PublishProperties, QoS};
use bytes::Bytes;
use clap::{ArgGroup, Args};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use tokio::time::Instant;

use super::client::{Client, Event};
use super::error::{describe_reason, CliError};
use super::window::{Awaiting, Step, Window};
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
    /// QoS 1/2 messages sent before their acknowledgements arrive (at most the broker's
    /// Receive Maximum); 1 waits for each message's acknowledgement before sending the next.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_inflight: u16,
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
    let (client, connack) =
        Client::connect(&target, &args.conn.tls(), connect, args.conn.debug, args.conn.timeout()).await?;
    // MQTT 5: never more unacknowledged QoS 1/2 publishes than the broker's Receive Maximum
    // (absent: 65535) [MQTT-3.3.4-7]. MQTT 3.x has no such limit.
    let receive_maximum = match args.conn.version.is_v5() {
        true => connack.properties.receive_maximum.unwrap_or(u16::MAX),
        false => u16::MAX,
    };
    let window = Window::new(usize::from(args.max_inflight.min(receive_maximum)));
    let mut publisher = Publisher { client, window };
    let message = |payload: Bytes| Publish {
        dup: false,
        qos: args.qos,
        retain: args.retain,
        topic: args.topic.as_str().into(),
        packet_id: None,
        payload,
        properties: properties.clone().into(),
    };
    match single {
        Some(payload) => {
            for i in 0..args.repeat {
                if i > 0 && args.interval_ms > 0 {
                    publisher.idle(Duration::from_millis(args.interval_ms)).await?;
                }
                publisher.publish(message(payload.clone())).await?;
            }
        }
        None => {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            loop {
                let room = publisher.window.has_room();
                tokio::select! {
                    // `next_line` is cancel-safe; a line is read only when it can be sent.
                    line = lines.next_line(), if room => match line {
                        Ok(Some(line)) => publisher.publish(message(Bytes::from(line))).await?,
                        Ok(None) => break,
                        Err(e) => return Err(CliError::Usage(format!("cannot read stdin: {e}"))),
                    },
                    incoming = publisher.incoming() => publisher.handle(incoming?).await?,
                }
            }
        }
    }
    publisher.drain().await?;
    publisher.client.disconnect().await
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

/// What woke the publisher up (short-lived, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
enum Incoming {
    /// A packet or the keep alive.
    Event(Event),
    /// The oldest message in flight was not acknowledged in time.
    Timeout(Awaiting),
}

/// The connection and the QoS 1/2 messages in flight on it.
struct Publisher {
    client: Client,
    window: Window,
}

impl Publisher {
    /// Sends one message, first waiting for room in the window (QoS 1 and 2).
    async fn publish(&mut self, mut p: Publish) -> Result<(), CliError> {
        if p.qos != QoS::AtMostOnce {
            while !self.window.has_room() {
                let incoming = self.incoming().await?;
                self.handle(incoming).await?;
            }
            p.packet_id = Some(self.window.open(p.qos, Instant::now()));
        }
        self.client.send(&Packet::Publish(p)).await
    }

    /// Waits until every message in flight is acknowledged.
    async fn drain(&mut self) -> Result<(), CliError> {
        while !self.window.is_empty() {
            let incoming = self.incoming().await?;
            self.handle(incoming).await?;
        }
        Ok(())
    }

    /// Waits `d`, handling acknowledgements and keeping the connection alive.
    async fn idle(&mut self, d: Duration) -> Result<(), CliError> {
        let until = Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return Ok(()),
                incoming = self.incoming() => self.handle(incoming?).await?,
            }
        }
    }

    /// The next event, or the deadline of the oldest message in flight (each acknowledgement
    /// has `--timeout` to arrive). Cancel-safe: it only reads and sleeps.
    async fn incoming(&mut self) -> Result<Incoming, CliError> {
        let oldest = self.window.oldest();
        let deadline = oldest.map(|(since, _)| since + self.client.timeout);
        tokio::select! {
            event = self.client.next_event() => event.map(Incoming::Event),
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                Ok(Incoming::Timeout(oldest.map_or(Awaiting::Ack, |(_, a)| a)))
            }
        }
    }

    async fn handle(&mut self, incoming: Incoming) -> Result<(), CliError> {
        let (awaiting, r) = match incoming {
            Incoming::Timeout(awaiting) => {
                let limit = self.client.timeout.as_secs_f32();
                return Err(CliError::Timeout(format!("waiting for {} (after {limit}s)", awaiting.name())));
            }
            Incoming::Event(Event::PingDue) => return self.client.send(&Packet::PingReq).await,
            Incoming::Event(Event::Packet(p)) => match p {
                Packet::PingResp => return Ok(()),
                Packet::PubAck(r) => (Awaiting::Ack, r),
                Packet::PubRec(r) => (Awaiting::Rec, r),
                Packet::PubComp(r) => (Awaiting::Comp, r),
                Packet::Disconnect(d) => {
                    let why =
                        d.properties.reason_string.as_ref().map(|s| format!(": {s}")).unwrap_or_default();
                    return Err(CliError::Connection(format!(
                        "the broker disconnected us with {}{why}",
                        describe_reason(d.reason)
                    )));
                }
                p => return Err(CliError::Connection(format!("unexpected {} from the broker", p.name()))),
            },
        };
        match self.window.acknowledge(awaiting, r, Instant::now()) {
            Step::Done => Ok(()),
            Step::Release(id) => self.client.send(&Packet::PubRel(PubResponse::success(id))).await,
            Step::Refused(r) => check(&r, "publish"),
            Step::Unexpected(what) => Err(CliError::Connection(format!("unexpected {what} from the broker"))),
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
