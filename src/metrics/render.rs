//! The Prometheus text exposition format (version 0.0.4) for [`Metrics`] plus the router's
//! counters, and the plugin host's per-plugin, per-hook counters ([`render_plugins`]).

use std::fmt::Write as _;

use super::{DropReason, Limit, Metrics};
use crate::plugins::{FailureKind, PluginHost};
use crate::router::messages::RouterStats;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.head(name, kind, help);
        let _ = writeln!(self.0, "{name} {value}");
    }
    fn labeled(&mut self, name: &str, label: &str, value_label: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{name}{{{label}=\"{value_label}\"}} {value}");
    }
}

/// Renders every metric.
pub fn render(m: &Metrics, router: &RouterStats) -> String {
    let mut o = Out(String::with_capacity(4096));
    o.one("aviary_uptime_seconds", "gauge", "Seconds since the broker started.", m.uptime_secs());
    o.one(
        "aviary_connections_accepted_total",
        "counter",
        "TCP connections accepted.",
        m.connections_accepted.get(),
    );
    o.one("aviary_clients_connected", "gauge", "Clients connected now.", m.clients_connected.get());
    o.one(
        "aviary_clients_maximum",
        "gauge",
        "Most clients connected at once since start.",
        m.clients_maximum.load(std::sync::atomic::Ordering::Relaxed),
    );
    o.one("aviary_client_connects_total", "counter", "Successful CONNECTs.", m.clients_connects.get());
    o.one(
        "aviary_sessions_offline",
        "gauge",
        "Sessions kept for disconnected clients.",
        router.sessions_offline,
    );
    o.one("aviary_subscriptions", "gauge", "Subscriptions in the topic tree.", router.subscriptions);
    o.one("aviary_retained_messages", "gauge", "Retained messages.", router.retained);
    o.one(
        "aviary_queued_messages",
        "gauge",
        "Messages queued for disconnected persistent sessions.",
        router.queued_messages,
    );
    o.one(
        "aviary_messages_routed_total",
        "counter",
        "Messages routed by the router.",
        router.messages_routed,
    );
    o.head("aviary_messages_received_total", "counter", "PUBLISH packets received from clients, by QoS.");
    for (q, c) in m.messages_received.iter().enumerate() {
        o.labeled("aviary_messages_received_total", "qos", &q.to_string(), c.get());
    }
    o.head("aviary_messages_sent_total", "counter", "PUBLISH packets sent to clients, by QoS.");
    for (q, c) in m.messages_sent.iter().enumerate() {
        o.labeled("aviary_messages_sent_total", "qos", &q.to_string(), c.get());
    }
    o.one("aviary_bytes_received_total", "counter", "Bytes read from clients.", m.bytes_received.get());
    o.one("aviary_bytes_sent_total", "counter", "Bytes written to clients.", m.bytes_sent.get());
    o.head("aviary_messages_dropped_total", "counter", "Deliveries dropped, by reason.");
    for r in DropReason::ALL {
        let router_part = match r {
            DropReason::QueueFull => router.dropped_queue_full,
            DropReason::Expired => router.dropped_expired,
            _ => 0,
        };
        o.labeled("aviary_messages_dropped_total", "reason", r.label(), m.dropped_count(r) + router_part);
    }
    o.head("aviary_limit_hits_total", "counter", "Times a configured limit was hit, by limit.");
    for l in Limit::ALL {
        o.labeled("aviary_limit_hits_total", "limit", l.label(), m.limit_hits(l));
    }
    o.head("aviary_auth_total", "counter", "Authentication decisions, by result.");
    o.labeled("aviary_auth_total", "result", "success", m.auth_success.get());
    o.labeled("aviary_auth_total", "result", "failure", m.auth_failure.get());
    o.one(
        "aviary_backpressure_pauses_total",
        "counter",
        "Times reads paused broker-wide because a session or the router could not keep up.",
        m.read_pauses.get(),
    );
    o.one("aviary_persistence_commits_total", "counter", "Store commits.", m.persist_commits.get());
    o.one(
        "aviary_persistence_failures_total",
        "counter",
        "Store commits that failed.",
        m.persist_failures.get(),
    );
    o.one("aviary_persistence_writes_total", "counter", "Changes written to the store.", m.persist_ops.get());
    o.one(
        "aviary_persistence_healthy",
        "gauge",
        "1 while the store accepts writes, 0 after a failed commit.",
        m.persist_healthy.get(),
    );
    o.one(
        "aviary_persistence_checkpoints_total",
        "counter",
        "Durable mode: checkpoints of the write-ahead log into the store.",
        m.persist_checkpoints.get(),
    );
    o.one(
        "aviary_persistence_log_bytes",
        "gauge",
        "Durable mode: bytes in the write-ahead log.",
        m.persist_log_bytes.get(),
    );
    render_histogram(&mut o, m);
    o.0
}

fn render_histogram(o: &mut Out, m: &Metrics) {
    let name = "aviary_persistence_commit_seconds";
    o.head(name, "histogram", "Time one store commit takes (write and fsync).");
    let (buckets, count, sum) = m.persist_commit_latency.snapshot();
    for (le, c) in buckets {
        let _ = writeln!(o.0, "{name}_bucket{{le=\"{le}\"}} {c}");
    }
    let _ = writeln!(o.0, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(o.0, "{name}_sum {sum}");
    let _ = writeln!(o.0, "{name}_count {count}");
}

/// A label value with `\`, `"` and line feeds escaped, as the text format wants.
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
}

/// Renders the per-plugin, per-hook counters of `host`: calls, failures by kind, and the time
/// spent in calls (a summary without quantiles: `_sum` seconds and `_count` calls timed); then
/// the values plugins set through `aviary:plugin/metrics` ([`render_plugin_metrics`]).
pub fn render_plugins(host: &PluginHost) -> String {
    let mut o = Out(String::with_capacity(1024));
    let (calls, failures, secs) =
        ("aviary_plugin_calls_total", "aviary_plugin_failures_total", "aviary_plugin_call_seconds");
    o.head(calls, "counter", "Plugin hook calls, by plugin and hook (breaker refusals included).");
    for (plugin, hook, s) in host.hook_stats() {
        let plugin = escape(plugin);
        let _ = writeln!(o.0, "{calls}{{plugin=\"{plugin}\",hook=\"{}\"}} {}", hook.name(), s.calls());
    }
    o.head(failures, "counter", "Failed plugin hook calls, by plugin, hook and kind.");
    for (plugin, hook, s) in host.hook_stats() {
        let plugin = escape(plugin);
        for kind in FailureKind::ALL {
            let (h, k, n) = (hook.name(), kind.label(), s.failures(kind));
            let _ = writeln!(o.0, "{failures}{{plugin=\"{plugin}\",hook=\"{h}\",kind=\"{k}\"}} {n}");
        }
    }
    o.head(secs, "summary", "Time spent in plugin hook calls that reached the plugin.");
    for (plugin, hook, s) in host.hook_stats() {
        let (count, total) = s.latency();
        let labels = format!("plugin=\"{}\",hook=\"{}\"", escape(plugin), hook.name());
        let _ = writeln!(o.0, "{secs}_sum{{{labels}}} {}", total.as_secs_f64());
        let _ = writeln!(o.0, "{secs}_count{{{labels}}} {count}");
    }
    render_plugin_metrics(&mut o, host);
    o.0
}

/// `aviary_plugin_metric{plugin, name}`: every value a plugin set through
/// `aviary:plugin/metrics` (counters and gauges alike; at most 256 names per plugin, names of
/// letters, digits and `_`).
fn render_plugin_metrics(o: &mut Out, host: &PluginHost) {
    let name = "aviary_plugin_metric";
    o.head(name, "gauge", "Values plugins set through aviary:plugin/metrics, by plugin and name.");
    for (plugin, metric, value) in host.metrics() {
        let (plugin, metric) = (escape(plugin), escape(&metric));
        let _ = writeln!(o.0, "{name}{{plugin=\"{plugin}\",name=\"{metric}\"}} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("plain-name_1"), "plain-name_1");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
