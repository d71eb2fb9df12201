//! Starting the router from the state read back from the store.

use std::sync::Arc;
use std::time::Duration;

use bytestring::ByteString;
use rustc_hash::FxHashMap;

use super::super::messages::{ClientInfo, StoredSession};
use super::super::registry::{ClientEntry, Presence};
use super::{FollowUp, RouterState};
use crate::persistence::records::unix_ms;
use crate::persistence::{Op, Recovered};

impl RouterState {
    /// Loads recovered sessions, retained messages and wills; returns the timers to start
    /// (session expiry, will delay). Clients that were connected when the broker stopped
    /// count as disconnected now.
    pub fn restore(&mut self, rec: Recovered) -> Vec<FollowUp> {
        let mut follow_ups = Vec::new();
        let now_ms = unix_ms();
        self.ops.next_msg_id = rec.next_msg_id;
        self.ops.next_seq = rec.next_seq;
        for m in rec.retained {
            self.retained.insert(&m.topic.clone(), m);
        }
        let mut remaining: FxHashMap<String, u32> = FxHashMap::default();
        for s in rec.sessions {
            let client_id = ByteString::from(s.client.as_str());
            let elapsed = s.disconnected_unix_ms.map_or(0, |at| now_ms.saturating_sub(at) / 1000);
            let left = match s.expiry_secs {
                u32::MAX => u32::MAX,
                e => e.saturating_sub(u32::try_from(elapsed).unwrap_or(u32::MAX)),
            };
            if left == 0 {
                self.ops.send(|| Op::SessionEnd { client: s.client.clone() });
                continue;
            }
            if s.disconnected_unix_ms.is_none() {
                self.ops.send(|| Op::SessionDown {
                    client: s.client.clone(),
                    expiry_secs: s.expiry_secs,
                    at_unix_ms: now_ms,
                });
            }
            let generation = self.generation();
            let mut entry = ClientEntry {
                outgoing: Vec::new(),
                presence: Presence::Offline,
                subscriptions: FxHashMap::default(),
                info: ClientInfo { session_expiry_secs: s.expiry_secs, ..ClientInfo::default() },
                stored: StoredSession {
                    inflight: s.inflight,
                    queue: Default::default(),
                    incoming_qos2: s.incoming_qos2,
                    subscriptions: Vec::new(),
                },
                queued_bytes: s.queue.iter().map(|d| d.message.size()).sum(),
                queued: s.queue,
                generation,
            };
            for (filter, group, topic_filter, sub) in s.subscriptions {
                self.tree.subscribe(&topic_filter, group.as_deref(), client_id.clone(), sub);
                entry.subscriptions.insert(filter.into(), (group.map(Into::into), topic_filter.into(), sub));
            }
            if left != u32::MAX {
                follow_ups.push(FollowUp::ExpireSession {
                    client_id: client_id.clone(),
                    generation,
                    after: Duration::from_secs(u64::from(left)),
                });
            }
            remaining.insert(s.client, left);
            self.clients.insert(client_id, Box::new(entry));
        }
        for (client, will) in rec.wills {
            let client_id = ByteString::from(client.as_str());
            match (remaining.get(&client), self.clients.get(&client_id)) {
                (Some(left), Some(entry)) if will.delay_secs > 0 => {
                    let generation = entry.generation;
                    let delay = will.delay_secs.min(*left);
                    self.wills.insert(client_id.clone(), (generation, Arc::clone(&will.message)));
                    follow_ups.push(FollowUp::PublishWill {
                        client_id,
                        generation,
                        after: Duration::from_secs(u64::from(delay)),
                    });
                }
                _ => {
                    // The connection ended with the broker: the will goes out now.
                    self.publish(will.message);
                    self.store_will_gone(&client_id);
                }
            }
        }
        follow_ups
    }
}
