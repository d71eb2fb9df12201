"""Round trip through the broker with paho-mqtt 2.x: MQTT 3.1.1 and 5, QoS 0, 1 and 2,
retained messages and MQTT 5 user properties. Usage: paho_roundtrip.py PORT. Exits non-zero
on any failure."""
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PORT = int(sys.argv[1])
TIMEOUT = 5


def run(protocol, tag):
    got = []
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c, _u, msg):
        props = getattr(msg, "properties", None)
        user = getattr(props, "UserProperty", None) if props else None
        got.append((msg.topic, msg.payload, msg.qos, msg.retain, user))
        if len(got) == 4:
            done.set()

    def on_subscribe(*_args):
        subscribed.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"paho-sub-{tag}", protocol=protocol)
    sub.on_message = on_message
    sub.on_subscribe = on_subscribe
    sub.connect("127.0.0.1", PORT)
    sub.loop_start()
    sub.subscribe(f"paho/{tag}/#", qos=2)
    assert subscribed.wait(TIMEOUT), "no SUBACK"

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"paho-pub-{tag}", protocol=protocol)
    pub.connect("127.0.0.1", PORT)
    pub.loop_start()
    props = None
    if protocol == mqtt.MQTTv5:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("k", "v")]
    for qos in (0, 1, 2):
        info = pub.publish(f"paho/{tag}/q{qos}", f"m{qos}", qos=qos, properties=props)
        info.wait_for_publish(TIMEOUT)
    pub.publish(f"paho/{tag}/retained", "r", qos=1, retain=True).wait_for_publish(TIMEOUT)
    assert done.wait(TIMEOUT), f"received only {got}"
    payloads = sorted(p for (_t, p, _q, _r, _u) in got)
    assert payloads == [b"m0", b"m1", b"m2", b"r"], payloads
    qos_by_topic = {t: q for (t, _p, q, _r, _u) in got}
    assert qos_by_topic[f"paho/{tag}/q2"] == 2, qos_by_topic
    if protocol == mqtt.MQTTv5:
        users = [u for (t, _p, _q, _r, u) in got if t.endswith("q1")]
        assert users == [[("k", "v")]], users

    # A late subscriber gets the retained message with the retain flag.
    late_got = threading.Event()
    late_msgs = []

    def on_late(_c, _u, msg):
        late_msgs.append((msg.payload, msg.retain))
        late_got.set()

    late = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"paho-late-{tag}", protocol=protocol)
    late.on_message = on_late
    late.connect("127.0.0.1", PORT)
    late.loop_start()
    late.subscribe(f"paho/{tag}/retained", qos=1)
    assert late_got.wait(TIMEOUT), "no retained message"
    assert late_msgs[0] == (b"r", True), late_msgs
    for c in (sub, pub, late):
        c.disconnect()
        c.loop_stop()


run(mqtt.MQTTv311, "v311")
run(mqtt.MQTTv5, "v5")
print("ok v311 v5")
