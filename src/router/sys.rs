//! The `$SYS/broker/...` topics, with the names Mosquitto uses. A plain struct: the router
//! calls [`SysTopics::tick`] every `sys_interval_secs` and publishes the values that changed as
//! retained QoS 0 messages.

use std::time::Instant;

use rustc_hash::FxHashMap;

use super::messages::RouterStats;
use crate::metrics::Metrics;

/// Windows of the load averages, in minutes, with their topic suffix.
const WINDOWS: [(f64, &str); 3] = [(1.0, "1min"), (5.0, "5min"), (15.0, "15min")];

/// An exponentially weighted moving average of a rate per minute, like `uptime`'s load.
#[derive(Debug, Default, Clone, Copy)]
struct Load {
    last_total: u64,
    avg: [f64; 3],
}

impl Load {
    /// Folds in the counter's new total after `secs` seconds.
    fn update(&mut self, total: u64, secs: f64) {
        let per_min = total.saturating_sub(self.last_total) as f64 * 60.0 / secs.max(0.001);
        self.last_total = total;
        for (avg, (minutes, _)) in self.avg.iter_mut().zip(WINDOWS) {
            let decay = (-secs / (minutes * 60.0)).exp();
            *avg = per_min + decay * (*avg - per_min);
        }
    }
}

/// The load series, in topic order.
const LOADS: [&str; 6] =
    ["messages/received", "messages/sent", "bytes/received", "bytes/sent", "connections", "publish/dropped"];

/// State kept between two `$SYS` updates.
pub struct SysTopics {
    last_tick: Instant,
    loads: [Load; LOADS.len()],
    /// Last value published per topic, to publish only changes.
    published: FxHashMap<String, String>,
}

impl Default for SysTopics {
    fn default() -> Self {
        SysTopics { last_tick: Instant::now(), loads: Default::default(), published: FxHashMap::default() }
    }
}

impl SysTopics {
    /// Computes every topic's value; returns the (topic, value) pairs that changed since the
    /// last call.
    pub fn tick(&mut self, now: Instant, m: &Metrics, s: &RouterStats) -> Vec<(String, String)> {
        let secs = now.saturating_duration_since(self.last_tick).as_secs_f64();
        self.last_tick = now;
        let dropped = s.dropped_queue_full
            + s.dropped_expired
            + crate::metrics::DropReason::ALL.iter().map(|r| m.dropped_count(*r)).sum::<u64>();
        let totals = [
            m.messages_received_total(),
            m.messages_sent_total(),
            m.bytes_received.get(),
            m.bytes_sent.get(),
            m.clients_connects.get(),
            dropped,
        ];
        let mut values: Vec<(String, String)> = vec![
            ("version".into(), format!("aviary {}", env!("CARGO_PKG_VERSION"))),
            ("uptime".into(), format!("{} seconds", m.uptime_secs())),
            ("clients/connected".into(), s.clients_connected.to_string()),
            ("clients/disconnected".into(), s.sessions_offline.to_string()),
            ("clients/total".into(), (s.clients_connected + s.sessions_offline).to_string()),
            (
                "clients/maximum".into(),
                m.clients_maximum.load(std::sync::atomic::Ordering::Relaxed).to_string(),
            ),
            ("messages/received".into(), totals[0].to_string()),
            ("messages/sent".into(), totals[1].to_string()),
            ("publish/messages/received".into(), totals[0].to_string()),
            ("publish/messages/sent".into(), totals[1].to_string()),
            ("publish/messages/dropped".into(), dropped.to_string()),
            ("bytes/received".into(), totals[2].to_string()),
            ("bytes/sent".into(), totals[3].to_string()),
            ("subscriptions/count".into(), s.subscriptions.to_string()),
            ("retained messages/count".into(), s.retained.to_string()),
            ("store/messages/count".into(), s.queued_messages.to_string()),
        ];
        for ((load, name), total) in self.loads.iter_mut().zip(LOADS).zip(totals) {
            load.update(total, secs);
            for (avg, (_, suffix)) in load.avg.iter().zip(WINDOWS) {
                values.push((format!("load/{name}/{suffix}"), format!("{avg:.2}")));
            }
        }
        let mut changed = Vec::new();
        for (t, v) in values {
            let topic = format!("$SYS/broker/{t}");
            if self.published.get(&topic) != Some(&v) {
                self.published.insert(topic.clone(), v.clone());
                changed.push((topic, v));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn load_average_converges_to_the_rate() {
        let mut l = Load::default();
        let mut total = 0;
        for _ in 0..200 {
            total += 100; // 100 per 10 s = 600 per minute
            l.update(total, 10.0);
        }
        assert!((l.avg[0] - 600.0).abs() < 1.0, "{:?}", l.avg);
        assert!(l.avg[2] > 500.0 && l.avg[2] <= 600.0, "{:?}", l.avg);
    }

    #[test]
    fn only_changes_are_published() {
        let m = Metrics::default();
        let s = RouterStats::default();
        let mut sys = SysTopics::default();
        let now = Instant::now();
        let first = sys.tick(now, &m, &s);
        assert!(first.iter().any(|(t, v)| t == "$SYS/broker/clients/connected" && v == "0"));
        assert!(first.iter().any(|(t, _)| t == "$SYS/broker/load/messages/received/15min"));
        m.bytes_received.add(10);
        let second = sys.tick(now + Duration::from_millis(1), &m, &s);
        assert!(second.iter().any(|(t, v)| t == "$SYS/broker/bytes/received" && v == "10"));
        assert!(!second.iter().any(|(t, _)| t == "$SYS/broker/clients/connected"));
    }
}
