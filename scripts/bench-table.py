"""Turns the key=value lines of scripts/bench-compare into a markdown table: the median of the
rounds for each broker, and Aviary's ratio against each peer."""
import statistics
import sys
from collections import defaultdict

rows = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
    if "error" in kv:
        continue
    s = kv["scenario"]
    key = f"{s} qos{kv['qos']}"
    if s == "many":
        key = f"many 1000x1/s qos{kv['qos']}"
    if s == "conn":
        rows["conn (RSS per idle connection, bytes; lower is better)"][kv["broker"]].append(float(kv["rss_per_connection_bytes"]))
        continue
    if s in ("latency", "many"):
        rows[f"{key} p99 latency (us; lower is better)"][kv["broker"]].append(float(kv["p99_us"]))
        rows[f"{key} p50 latency (us; lower is better)"][kv["broker"]].append(float(kv["p50_us"]))
        rows[f"{key} broker CPU per message (us; lower is better)"][kv["broker"]].append(float(kv.get("broker_cpu_us_per_msg", "nan")))
        continue
    rows[f"{key} throughput (msg/s)"][kv["broker"]].append(float(kv["throughput_msgs_per_s"]))
    rows[f"{key} lost (%)"][kv["broker"]].append(100.0 * float(kv["lost"]) / max(1.0, float(kv["expected"])))
    rows[f"{key} broker CPU per message (us)"][kv["broker"]].append(float(kv.get("broker_cpu_us_per_msg", "nan")))

def med(v):
    return statistics.median(v) if v else float("nan")

def ratio(x, y):
    return f"{x / y:.2f}" if y and y == y and x == x else "n/a"

print("| scenario | Aviary | Mosquitto | rumqttd | Aviary / Mosquitto | Aviary / rumqttd |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, by in rows.items():
    a, m, r = med(by["aviary"]), med(by["mosquitto"]), med(by["rumqttd"])
    if a != a and m != m and r != r:
        continue
    print(f"| {name} | {a:,.1f} | {m:,.1f} | {r:,.1f} | {ratio(a, m)} | {ratio(a, r)} |")

# Aviary with a feature on against plain Aviary measured next to it ("aviary+plain"; older
# result files without it fall back to the round's first run), medians over the same rounds.
plain = "aviary+plain" if rows["fanin qos0 throughput (msg/s)"]["aviary+plain"] else "aviary"
variants = [("aviary+plugin", plain, "one on-publish plugin", "fanin qos0"),
            ("aviary+acl", plain, "native ACL rules", "fanin qos0"),
            ("aviary+durable", "aviary+memory", "durable persistence (persistent subscriber)", "fanin qos1")]
if any(rows[f"{k} throughput (msg/s)"][v] for v, _, _, k in variants):
    print()
    print("| Aviary with | scenario | throughput (msg/s) | without it (msg/s) | kept |")
    print("| --- | --- | ---: | ---: | ---: |")
    for v, base_name, label, key in variants:
        by = rows[f"{key} throughput (msg/s)"]
        x, base = med(by[v]), med(by[base_name])
        print(f"| {label} | {key} | {x:,.1f} | {base:,.1f} | {ratio(x, base)} |")
