//! Runs a scenario: connects subscribers, then publishers, measures, reports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::client::{self, ClientError, Reader, Writer};
use super::stats::{read_header, write_header, Report, Tally, HEADER_LEN};
use super::{proc_stats, BenchArgs, BenchError, Scenario};
use crate::protocol::{Packet, Protocol, PubResponse, QoS};

/// Counters shared by all tasks, for progress lines and the report.
#[derive(Default)]
struct Live {
    sent: AtomicU64,
    received: AtomicU64,
    /// Nanoseconds since start of the latest delivery.
    last_receive_ns: AtomicU64,
}

/// Who publishes where and who listens.
struct Plan {
    publishers: usize,
    /// Topic of publisher i.
    pub_topics: Vec<String>,
    /// Filter of subscriber j.
    sub_filters: Vec<String>,
    /// Publishers whose messages subscriber j expects.
    expected_per_sub: Vec<Vec<usize>>,
    rate: u64,
}

fn plan(args: &BenchArgs, run_id: &str) -> Plan {
    let base = format!("bench/{run_id}");
    let (publishers, rate_default) = match args.scenario {
        Scenario::Many => (args.publishers.unwrap_or(1000), 1),
        Scenario::Latency => (1, 1000),
        Scenario::Fanout => (1, 0),
        _ => (args.publishers.unwrap_or(4), 0),
    };
    let rate = args.rate.unwrap_or(rate_default);
    let all: Vec<usize> = (0..publishers).collect();
    let (pub_topics, sub_filters, expected_per_sub) = match args.scenario {
        Scenario::Fanin => {
            ((0..publishers).map(|i| format!("{base}/{i}")).collect(), vec![format!("{base}/+")], vec![all])
        }
        Scenario::Fanout => (
            vec![format!("{base}/all")],
            vec![format!("{base}/all"); args.subscribers],
            vec![vec![0]; args.subscribers],
        ),
        _ => (
            (0..publishers).map(|i| format!("{base}/{i}")).collect(),
            (0..publishers).map(|i| format!("{base}/{i}")).collect(),
            (0..publishers).map(|i| vec![i]).collect(),
        ),
    };
    Plan { publishers, pub_topics, sub_filters, expected_per_sub, rate }
}

/// Runs the benchmark on a runtime of its own and returns the report.
pub fn run(args: BenchArgs) -> Result<Report, BenchError> {
    if args.payload < HEADER_LEN {
        return Err(BenchError::Options(format!("--payload must be at least {HEADER_LEN}")));
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if args.threads > 0 {
        builder.worker_threads(args.threads);
    }
    let rt = builder.enable_all().build().map_err(BenchError::Runtime)?;
    rt.block_on(async move {
        match args.scenario {
            Scenario::Conn => conn_scenario(&args).await,
            _ => flow_scenario(&args).await,
        }
    })
}

fn protocol_of(args: &BenchArgs) -> Protocol {
    if args.mqtt_version == "5" {
        Protocol::V5
    } else {
        Protocol::V3_1_1
    }
}

fn qos(v: u8) -> QoS {
    QoS::from_u8(v).unwrap_or(QoS::AtMostOnce)
}

async fn flow_scenario(args: &BenchArgs) -> Result<Report, BenchError> {
    let run_id = format!("{:08x}", fastrand::u32(..));
    let plan = plan(args, &run_id);
    let protocol = protocol_of(args);
    let sub_qos = qos(args.sub_qos.unwrap_or(args.qos));
    let epoch = Instant::now();
    let live = Arc::new(Live::default());
    let (stop_tx, stop_rx) = watch::channel(false);

    let mut subs = JoinSet::new();
    for (j, filter) in plan.sub_filters.iter().enumerate() {
        let id = format!("bench-{run_id}-s{j}");
        let (r, mut w) = client::connect(args.broker, &id, protocol, 60, args.persistent)
            .await
            .map_err(|source| BenchError::Client { what: id.clone(), source })?;
        w.subscribe(filter, sub_qos).map_err(|source| BenchError::Client { what: id.clone(), source })?;
        w.flush().await.map_err(|source| BenchError::Client { what: id.clone(), source })?;
        subs.spawn(subscriber(r, w, live.clone(), epoch, stop_rx.clone()));
    }
    // Let the subscriptions reach the router before the first publish.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut conns = Vec::with_capacity(plan.pub_topics.len());
    for i in 0..plan.pub_topics.len() {
        let id = format!("bench-{run_id}-p{i}");
        let conn = client::connect(args.broker, &id, protocol, 60, false)
            .await
            .map_err(|source| BenchError::Client { what: id.clone(), source })?;
        conns.push(conn);
    }
    // Connection set-up is not part of the measurement.
    let cpu_before = args.pid.and_then(proc_stats::cpu_secs);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.duration);
    let mut pubs = JoinSet::new();
    for (i, ((r, w), topic)) in conns.into_iter().zip(&plan.pub_topics).enumerate() {
        let job = PublishJob {
            id: i as u32,
            topic: topic.clone(),
            qos: qos(args.qos),
            payload: args.payload,
            rate: plan.rate,
            max: args.max_messages.unwrap_or(u64::MAX),
            inflight: usize::from(args.inflight.max(1)),
            deadline,
            epoch,
        };
        pubs.spawn(publisher(r, w, job, live.clone()));
    }
    let progress = (!args.quiet).then(|| tokio::spawn(progress_lines(live.clone(), start)));
    let publish_started_ns = start.duration_since(epoch).as_nanos() as u64;
    let mut sent_by = vec![0u64; plan.publishers];
    while let Some(res) = pubs.join_next().await {
        if let Ok(Ok((i, n))) = res {
            sent_by[i as usize] = n;
        }
    }
    let expected: u64 =
        plan.expected_per_sub.iter().map(|ps| ps.iter().map(|&p| sent_by[p]).sum::<u64>()).sum();
    // Wait for the stragglers: until everything expected arrived, or deliveries stop.
    let mut quiet_since = Instant::now();
    let mut last = live.received.load(Ordering::Relaxed);
    while live.received.load(Ordering::Relaxed) < expected && quiet_since.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = live.received.load(Ordering::Relaxed);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    let _ = stop_tx.send(true);
    let mut tally = Tally::default();
    while let Some(res) = subs.join_next().await {
        if let Ok(t) = res {
            tally.merge(&t);
        }
    }
    if let Some(p) = progress {
        p.abort();
    }
    let last_ns = live.last_receive_ns.load(Ordering::Relaxed).saturating_sub(publish_started_ns);
    let elapsed = Duration::from_nanos(last_ns).as_secs_f64();
    let mut report = Report {
        scenario: format!("{:?}", args.scenario).to_lowercase(),
        protocol: args.mqtt_version.clone(),
        qos: args.qos,
        sub_qos: sub_qos as u8,
        payload_bytes: args.payload,
        publishers: plan.publishers,
        subscribers: plan.sub_filters.len(),
        sent: sent_by.iter().sum(),
        expected,
        received: tally.unique,
        lost: expected.saturating_sub(tally.unique),
        duplicated: tally.duplicated,
        reordered: tally.reordered,
        elapsed_secs: elapsed.max(0.001),
        throughput_msgs_per_s: tally.unique as f64 / elapsed.max(0.001),
        ..Report::default()
    };
    report.set_latency(&tally.latency);
    if let (Some(pid), Some(before)) = (args.pid, cpu_before) {
        if let Some(after) = proc_stats::cpu_secs(pid) {
            report.broker_cpu_secs = Some(after - before);
            report.broker_cpu_us_per_msg = Some((after - before) * 1e6 / (tally.unique.max(1)) as f64);
        }
    }
    Ok(report)
}

struct PublishJob {
    id: u32,
    topic: String,
    qos: QoS,
    payload: usize,
    rate: u64,
    max: u64,
    inflight: usize,
    deadline: Instant,
    /// Time origin shared with the subscribers (send times are relative to it).
    epoch: Instant,
}

/// Publishes until the deadline; returns (publisher id, messages published and, for QoS 1/2,
/// acknowledged).
async fn publisher(
    mut r: Reader,
    mut w: Writer,
    job: PublishJob,
    live: Arc<Live>,
) -> Result<(u32, u64), ClientError> {
    let mut state = PubState { seq: 0, acked: 0, inflight: 0, next_id: 0 };
    if job.rate > 0 {
        paced(&mut r, &mut w, &job, &live, &mut state).await?;
    } else {
        flat_out(&mut r, &mut w, &job, &live, &mut state).await?;
    }
    // Collect the remaining acknowledgements.
    while state.inflight > 0 {
        read_acks(&mut r, &mut w, &mut state).await?;
    }
    Ok((job.id, if job.qos == QoS::AtMostOnce { state.seq } else { state.acked }))
}

struct PubState {
    seq: u64,
    acked: u64,
    inflight: usize,
    next_id: u16,
}

impl PubState {
    /// Encodes the next message into the write buffer.
    fn push(&mut self, w: &mut Writer, job: &PublishJob) -> Result<(), ClientError> {
        let mut payload = BytesMut::zeroed(job.payload);
        write_header(&mut payload, job.id, self.seq, job.epoch.elapsed().as_nanos() as u64);
        let id = (job.qos != QoS::AtMostOnce).then(|| {
            self.next_id = self.next_id.wrapping_add(1).max(1);
            self.inflight += 1;
            self.next_id
        });
        w.publish(&job.topic, job.qos, id, payload.freeze())?;
        self.seq += 1;
        Ok(())
    }
}

/// As fast as the broker takes them: batches of 64 per write, bounded by the QoS window.
async fn flat_out(
    r: &mut Reader,
    w: &mut Writer,
    job: &PublishJob,
    live: &Live,
    st: &mut PubState,
) -> Result<(), ClientError> {
    while Instant::now() < job.deadline && st.seq < job.max {
        let mut n = 0;
        while n < 64 && st.seq < job.max && (job.qos == QoS::AtMostOnce || st.inflight < job.inflight) {
            st.push(w, job)?;
            n += 1;
        }
        w.flush().await?;
        live.sent.fetch_add(n, Ordering::Relaxed);
        if job.qos != QoS::AtMostOnce && st.inflight >= job.inflight {
            read_acks(r, w, st).await?;
        }
    }
    Ok(())
}

/// At a fixed rate, one message per tick, reading acknowledgements in between.
async fn paced(
    r: &mut Reader,
    w: &mut Writer,
    job: &PublishJob,
    live: &Live,
    st: &mut PubState,
) -> Result<(), ClientError> {
    let period = Duration::from_secs_f64(1.0 / job.rate as f64);
    // Spread the first publishes of many publishers over one period.
    tokio::time::sleep(Duration::from_nanos(fastrand::u64(..period.as_nanos() as u64))).await;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while Instant::now() < job.deadline && st.seq < job.max {
        tokio::select! {
            _ = ticker.tick() => {
                if job.qos == QoS::AtMostOnce || st.inflight < job.inflight {
                    st.push(w, job)?;
                    w.flush().await?;
                    live.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            p = r.next(), if st.inflight > 0 => take_acks(p?, r, w, st).await?,
        }
    }
    Ok(())
}

fn on_ack(p: Packet, w: &mut Writer, st: &mut PubState) -> Result<(), ClientError> {
    match p {
        Packet::PubAck(_) | Packet::PubComp(_) => {
            st.inflight = st.inflight.saturating_sub(1);
            st.acked += 1;
        }
        Packet::PubRec(rec) => w.push(&Packet::PubRel(PubResponse::success(rec.packet_id)))?,
        _ => {}
    }
    Ok(())
}

/// Waits for at least one acknowledgement, then takes what is buffered.
async fn read_acks(r: &mut Reader, w: &mut Writer, st: &mut PubState) -> Result<(), ClientError> {
    let first = r.next().await?;
    take_acks(first, r, w, st).await
}

/// Handles `first` and every acknowledgement already buffered, then sends the PUBRELs.
async fn take_acks(
    first: Packet,
    r: &mut Reader,
    w: &mut Writer,
    st: &mut PubState,
) -> Result<(), ClientError> {
    on_ack(first, w, st)?;
    while let Some(p) = r.buffered()? {
        on_ack(p, w, st)?;
    }
    w.flush().await
}

/// Receives until told to stop; returns what it saw.
async fn subscriber(
    mut r: Reader,
    mut w: Writer,
    live: Arc<Live>,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) -> Tally {
    let mut tally = Tally::default();
    loop {
        let packet = tokio::select! {
            p = r.next() => match p { Ok(p) => p, Err(_) => return tally },
            _ = stop.changed() => return tally,
        };
        let mut batch = Some(packet);
        while let Some(p) = batch.take() {
            on_packet(p, &mut w, &mut tally, &live, start);
            batch = r.buffered().ok().flatten();
        }
        if w.flush().await.is_err() {
            return tally;
        }
    }
}

fn on_packet(p: Packet, w: &mut Writer, tally: &mut Tally, live: &Live, start: Instant) {
    match p {
        Packet::Publish(p) => {
            if let Some(id) = p.packet_id {
                let ack = match p.qos {
                    QoS::ExactlyOnce => Packet::PubRec(PubResponse::success(id)),
                    _ => Packet::PubAck(PubResponse::success(id)),
                };
                let _ = w.push(&ack);
            }
            if let Some((publisher, seq, sent_ns)) = read_header(&p.payload) {
                let now = start.elapsed().as_nanos() as u64;
                tally.record(publisher, seq, now.saturating_sub(sent_ns) / 1000);
                live.received.fetch_add(1, Ordering::Relaxed);
                live.last_receive_ns.store(now, Ordering::Relaxed);
            }
        }
        Packet::PubRel(rel) => {
            let _ = w.push(&Packet::PubComp(PubResponse::success(rel.packet_id)));
        }
        _ => {}
    }
}

async fn progress_lines(live: Arc<Live>, start: Instant) {
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let received = live.received.load(Ordering::Relaxed);
        eprintln!(
            "t={:>4.1}s sent={} received={} rate={}/s",
            start.elapsed().as_secs_f64(),
            live.sent.load(Ordering::Relaxed),
            received,
            received - last
        );
        last = received;
    }
}

/// Opens C idle connections and measures the broker's RSS growth per connection.
async fn conn_scenario(args: &BenchArgs) -> Result<Report, BenchError> {
    let pid = args.pid.ok_or_else(|| BenchError::Options("conn needs --pid of the broker".into()))?;
    let before =
        proc_stats::rss_bytes(pid).ok_or_else(|| BenchError::Options(format!("no process {pid}")))?;
    let protocol = protocol_of(args);
    let run_id = format!("{:08x}", fastrand::u32(..));
    let mut held = Vec::with_capacity(args.connections);
    let mut tasks = JoinSet::new();
    let mut next = 0usize;
    while held.len() < args.connections {
        while tasks.len() < 200 && next < args.connections {
            let id = format!("bench-{run_id}-c{next}");
            let addr = args.broker;
            tasks.spawn(async move {
                client::connect(addr, &id, protocol, 120, false).await.map_err(|e| (id, e))
            });
            next += 1;
        }
        match tasks.join_next().await {
            Some(Ok(Ok(conn))) => held.push(conn),
            Some(Ok(Err((what, source)))) => return Err(BenchError::Client { what, source }),
            _ => {}
        }
        if !args.quiet && held.len() % 10_000 == 0 {
            eprintln!("connections={}", held.len());
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = proc_stats::rss_bytes(pid).unwrap_or(before);
    let per = after.saturating_sub(before) / args.connections.max(1) as u64;
    // Hold them for the rest of the duration, answering nothing: idle clients.
    tokio::time::sleep(Duration::from_secs_f64(args.duration.min(10.0))).await;
    drop(held);
    Ok(Report {
        scenario: "conn".into(),
        protocol: args.mqtt_version.clone(),
        connections: args.connections,
        rss_per_connection_bytes: Some(per),
        ..Report::default()
    })
}
