//! The QoS 1 and 2 publishes `aviary pub` has in flight: a window of at most `max` (its
//! `--max-inflight`, capped by the broker's Receive Maximum), with the packet identifiers in
//! use and what each one waits for. Pure state; `publish` drives it.
//!
//! A QoS 1 message leaves the window with its PUBACK, a QoS 2 one with its PUBCOMP (or a
//! PUBREC with an error code): "The Client MUST NOT send more than Receive Maximum QoS 1 and
//! QoS 2 PUBLISH packets for which it has not received PUBACK, PUBCOMP, or PUBREC with a
//! Reason Code of 128 or greater from the Server" [MQTT-3.3.4-7].

use std::collections::{HashMap, VecDeque};

use aviary::protocol::{PubResponse, QoS};
use tokio::time::Instant;

/// What an in-flight message waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaiting {
    /// QoS 1: PUBACK.
    Ack,
    /// QoS 2: PUBREC.
    Rec,
    /// QoS 2 after PUBREL: PUBCOMP.
    Comp,
}

impl Awaiting {
    /// The packet's name.
    pub fn name(self) -> &'static str {
        match self {
            Awaiting::Ack => "PUBACK",
            Awaiting::Rec => "PUBREC",
            Awaiting::Comp => "PUBCOMP",
        }
    }
}

/// An acknowledgement's effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The message is done (PUBACK or PUBCOMP): a slot is free.
    Done,
    /// PUBREC arrived: send PUBREL for this id.
    Release(u16),
    /// The broker refused the message (reason code 0x80 or above): the response.
    Refused(PubResponse),
    /// Not an acknowledgement this window expects (unknown id, or the wrong packet).
    Unexpected(String),
}

#[derive(Debug)]
struct Pending {
    awaiting: Awaiting,
    /// When the message was sent, or its PUBREL.
    since: Instant,
}

/// The in-flight window.
#[derive(Debug)]
pub struct Window {
    max: usize,
    pending: HashMap<u16, Pending>,
    /// Packet ids in the order they were sent (completed ones are dropped lazily).
    order: VecDeque<u16>,
    last_id: u16,
}

impl Window {
    /// A window of `max` messages (at least one).
    pub fn new(max: usize) -> Window {
        Window { max: max.max(1), pending: HashMap::new(), order: VecDeque::new(), last_id: 0 }
    }

    /// Nothing in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// May one more message be sent?
    pub fn has_room(&self) -> bool {
        self.pending.len() < self.max
    }

    /// Takes a free packet identifier for a QoS 1 or 2 message sent `now`. Call only with
    /// room (so a free identifier exists: the window is at most 65535).
    pub fn open(&mut self, qos: QoS, now: Instant) -> u16 {
        let awaiting = if qos == QoS::ExactlyOnce { Awaiting::Rec } else { Awaiting::Ack };
        let mut id = self.last_id;
        loop {
            id = id.checked_add(1).unwrap_or(1);
            if !self.pending.contains_key(&id) {
                break;
            }
        }
        self.last_id = id;
        self.pending.insert(id, Pending { awaiting, since: now });
        self.order.push_back(id);
        id
    }

    /// Applies a PUBACK, PUBREC or PUBCOMP (`got`) received at `now`.
    pub fn acknowledge(&mut self, got: Awaiting, r: PubResponse, now: Instant) -> Step {
        let Some(p) = self.pending.get_mut(&r.packet_id) else {
            return Step::Unexpected(format!(
                "{} for packet id {}, which is not in flight",
                got.name(),
                r.packet_id
            ));
        };
        if p.awaiting != got {
            let expected = p.awaiting.name();
            return Step::Unexpected(format!(
                "{} for packet id {} (expected {expected})",
                got.name(),
                r.packet_id
            ));
        }
        if r.reason.is_error() {
            self.close(r.packet_id);
            return Step::Refused(r);
        }
        match got {
            Awaiting::Rec => {
                p.awaiting = Awaiting::Comp;
                p.since = now;
                Step::Release(r.packet_id)
            }
            Awaiting::Ack | Awaiting::Comp => {
                self.close(r.packet_id);
                Step::Done
            }
        }
    }

    fn close(&mut self, id: u16) {
        self.pending.remove(&id);
        while self.order.front().is_some_and(|id| !self.pending.contains_key(id)) {
            self.order.pop_front();
        }
    }

    /// The oldest message still in flight: since when and what it waits for.
    pub fn oldest(&self) -> Option<(Instant, Awaiting)> {
        let p = self.order.iter().find_map(|id| self.pending.get(id))?;
        Some((p.since, p.awaiting))
    }
}

#[cfg(test)]
mod tests {
    use aviary::protocol::ReasonCode;

    use super::*;

    fn ack(id: u16) -> PubResponse {
        PubResponse::success(id)
    }

    #[test]
    fn the_window_fills_and_acknowledgements_free_it() {
        let now = Instant::now();
        let mut w = Window::new(3);
        let ids: Vec<u16> = (0..3).map(|_| w.open(QoS::AtLeastOnce, now)).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert!(!w.has_room());
        assert_eq!(w.acknowledge(Awaiting::Ack, ack(2), now), Step::Done);
        assert!(w.has_room());
        assert_eq!(w.oldest().map(|o| o.1), Some(Awaiting::Ack));
        assert_eq!(w.acknowledge(Awaiting::Ack, ack(1), now), Step::Done);
        assert_eq!(w.acknowledge(Awaiting::Ack, ack(3), now), Step::Done);
        assert!(w.is_empty() && w.oldest().is_none());
    }

    #[test]
    fn qos2_holds_its_slot_until_pubcomp() {
        let now = Instant::now();
        let mut w = Window::new(1);
        let id = w.open(QoS::ExactlyOnce, now);
        assert_eq!(
            w.acknowledge(Awaiting::Ack, ack(id), now),
            Step::Unexpected("PUBACK for packet id 1 (expected PUBREC)".into())
        );
        assert_eq!(w.acknowledge(Awaiting::Rec, ack(id), now), Step::Release(id));
        assert!(!w.has_room(), "[MQTT-3.3.4-7]: in flight until PUBCOMP");
        assert_eq!(w.acknowledge(Awaiting::Comp, ack(id), now), Step::Done);
        assert!(w.has_room());
    }

    #[test]
    fn an_error_pubrec_frees_the_slot_and_reports_the_refusal() {
        let now = Instant::now();
        let mut w = Window::new(2);
        let id = w.open(QoS::ExactlyOnce, now);
        let refused = PubResponse { reason: ReasonCode::NotAuthorized, ..ack(id) };
        assert!(matches!(w.acknowledge(Awaiting::Rec, refused, now), Step::Refused(_)));
        assert!(w.is_empty());
        assert!(matches!(w.acknowledge(Awaiting::Ack, ack(9), now), Step::Unexpected(_)));
    }

    #[test]
    fn identifiers_in_use_are_skipped_after_wrapping() {
        let now = Instant::now();
        let mut w = Window::new(2);
        let first = w.open(QoS::AtLeastOnce, now);
        for _ in 0..65533 {
            let id = w.open(QoS::AtLeastOnce, now);
            assert_eq!(w.acknowledge(Awaiting::Ack, ack(id), now), Step::Done);
        }
        assert_eq!(w.open(QoS::AtLeastOnce, now), 65535);
        let _ = w.acknowledge(Awaiting::Ack, ack(65535), now);
        assert_eq!(w.open(QoS::AtLeastOnce, now), 2, "1 is still in flight");
        assert_eq!(first, 1);
    }
}
