//! The fuzz targets' seed corpus (`fuzz/corpus-seed`, written by `fuzz/examples/seeds.rs`)
//! stays valid: every seed is a connection (selector byte 0, then CONNECT) whose packets all
//! decode, and re-encode to exactly the seed's bytes; together the seeds hold every packet
//! type of every protocol version.

use std::collections::BTreeSet;
use std::path::Path;

use bytes::BytesMut;

use super::{encode, V3_1, V3_1_1, V5};
use crate::protocol::{decode_packet, Packet, Protocol};

/// Decodes one seed: its protocol and its packets, each with the bytes it was read from.
fn decode_seed(name: &str, data: &[u8]) -> (Protocol, Vec<(Packet, Vec<u8>)>) {
    let (&selector, stream) = data.split_first().unwrap_or_else(|| panic!("{name} is empty"));
    assert_eq!(selector, 0, "{name}: a seed starts a connection");
    let mut buf = BytesMut::from(stream);
    let mut protocol = None;
    let mut packets = Vec::new();
    while !buf.is_empty() {
        let before = buf.clone();
        let packet = decode_packet(&mut buf, protocol, u32::MAX)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: ends inside a packet"));
        if let Packet::Connect(c) = &packet {
            protocol = Some(c.protocol);
        }
        let used = before.len() - buf.len();
        packets.push((packet, before[..used].to_vec()));
    }
    (protocol.unwrap_or_else(|| panic!("{name} has no CONNECT")), packets)
}

#[test]
fn seed_corpus_decodes_and_re_encodes_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus-seed");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run fuzz/examples/seeds.rs to write it)", dir.display()));
    let mut seen = BTreeSet::new();
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path.display().to_string();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (protocol, packets) = decode_seed(&name, &data);
        for (packet, bytes) in packets {
            assert_eq!(encode(&packet, protocol), bytes, "{name}: {packet:?}");
            seen.insert((protocol, packet.name()));
        }
    }
    for protocol in [V3_1, V3_1_1, V5] {
        let types = seen.iter().filter(|(p, _)| *p == protocol).count();
        // AUTH exists only in MQTT 5.
        let expected = if protocol == V5 { 15 } else { 14 };
        assert_eq!(types, expected, "packet types seeded for {protocol:?}: {seen:?}");
    }
}
