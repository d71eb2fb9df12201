//! The client registry: one entry per known client id, connected or keeping an offline session.

use std::collections::VecDeque;

use bytestring::ByteString;
use rustc_hash::FxHashMap;

use super::messages::{ClientInfo, Delivery, SessionHandle, StoredSession};
use super::state::SubEntry;

/// Where a client's session stands.
pub enum Presence {
    /// Connected: deliveries go straight to the session actor.
    Online {
        /// The session.
        handle: SessionHandle,
        /// The connection, to ignore stale messages from an older one.
        connection_id: u64,
    },
    /// The connection is closing: deliveries are queued here until the session hands over its
    /// state with `SessionClosed`.
    Detaching {
        /// The closing connection.
        connection_id: u64,
    },
    /// Disconnected, session kept until it expires.
    Offline,
}

/// Everything the router knows about one client id.
pub struct ClientEntry {
    /// Connected, closing or offline.
    pub presence: Presence,
    /// Subscriptions: the filter as written -> (share group, topic filter, options).
    pub subscriptions: FxHashMap<ByteString, (Option<ByteString>, ByteString, SubEntry)>,
    /// The last connection's details (admin API, persistence).
    pub info: ClientInfo,
    /// State handed over by the last connection (offline only).
    pub stored: StoredSession,
    /// Messages routed while the client was not online, oldest first.
    pub queued: VecDeque<Delivery>,
    /// Payload bytes in `queued`.
    pub queued_bytes: usize,
    /// Deliveries to the online session gathered during this turn of the router's mailbox
    /// (sent as one [`super::messages::ToSession::Deliver`] by `RouterState::flush_deliveries`).
    pub outgoing: Vec<Delivery>,
    /// Bumped on every connect and disconnect; timers carry it to know they are still current.
    pub generation: u64,
}

impl ClientEntry {
    /// A fresh entry for a connecting client.
    pub fn new(handle: SessionHandle, connection_id: u64, generation: u64) -> Self {
        ClientEntry {
            presence: Presence::Online { handle, connection_id },
            subscriptions: FxHashMap::default(),
            info: ClientInfo::default(),
            stored: StoredSession::default(),
            queued: VecDeque::new(),
            queued_bytes: 0,
            outgoing: Vec::new(),
            generation,
        }
    }

    /// True when the session outlives its connection (and so is persisted).
    pub fn persistent(&self) -> bool {
        self.info.session_expiry_secs > 0
    }

    /// The connected session, if any.
    pub fn online(&self) -> Option<&SessionHandle> {
        match &self.presence {
            Presence::Online { handle, .. } => Some(handle),
            _ => None,
        }
    }

    /// The id of the connection attached (online or detaching).
    pub fn connection_id(&self) -> Option<u64> {
        match self.presence {
            Presence::Online { connection_id, .. } | Presence::Detaching { connection_id } => {
                Some(connection_id)
            }
            Presence::Offline => None,
        }
    }
}

/// Client id -> entry. Boxed: the table keeps ~1.5x its length in slots, and an entry is
/// ~360 bytes, so inline entries cost ~200 bytes more per connected client.
pub type Registry = FxHashMap<ByteString, Box<ClientEntry>>;
