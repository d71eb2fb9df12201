// MQTT.js under Node, over WebSocket, for tests/transport/web.rs.
// Usage: node node_client.mjs ws://host:port/mqtt
// Subscribes to web/# (QoS 1), prints "subscribed", publishes web/node with a user property,
// prints each message received as one JSON line, and exits 0 after two messages (its own and
// one from someone else); exits 1 on error or after 10 s.
import mqtt from "mqtt";

const url = process.argv[2];
const client = mqtt.connect(url, { protocolVersion: 5, clientId: `node-${process.pid}`, reconnectPeriod: 0 });
const fail = (why) => {
  console.error(`node client: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 10000);
let received = 0;
let ending = false;
// Once both messages are in, a socket error while closing (the broker may close first) is moot.
client.on("error", (e) => ending || fail(e.message));
client.on("connect", () => {
  client.subscribe("web/#", { qos: 1 }, (err) => {
    if (err) return fail(`subscribe: ${err.message}`);
    console.log("subscribed");
    client.publish("web/node", "from node", { qos: 1, properties: { userProperties: { via: "mqtt.js" } } });
  });
});
client.on("message", (topic, payload, packet) => {
  const props = packet.properties || {};
  console.log(JSON.stringify({ topic, payload: payload.toString(), user: props.userProperties || {} }));
  received += 1;
  if (received === 2) {
    ending = true;
    client.end(false, {}, () => process.exit(0));
  }
});
