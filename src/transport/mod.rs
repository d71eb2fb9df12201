//! Transports: accept connections and hand byte streams plus peer information to sessions.
//! Nothing here knows MQTT.

pub mod tcp;
