//! [`Client`]: the client a hook call is about, asked of the broker on first use.

use std::cell::OnceCell;
use std::fmt;
use std::ops::Deref;

use crate::ClientInfo;

/// The client a hook call is about: the sender (`authorize_publish`, `on_publish`), the
/// subscriber (`authorize_subscribe`, `on_deliver`).
///
/// Its details are a [`ClientInfo`] (id, user name, peer, listener, protocol, TLS subject,
/// attributes), read through `Deref` (`client.client_id`, `client.attribute("role")`). The
/// broker hands them over on first use, once per call, so a hook that never looks at its
/// client does not pay for copying it into the plugin. [`Client::id`] and
/// [`Client::username`] ask for just that field when the rest is not needed: cheaper still.
pub struct Client {
    info: OnceCell<ClientInfo>,
    // Named apart from `ClientInfo`'s fields, which `Deref` reaches.
    id_only: OnceCell<String>,
    username_only: OnceCell<Option<String>>,
}

impl Client {
    /// The client of the running hook call, asked for on first use.
    pub(crate) fn of_call() -> Client {
        Client { info: OnceCell::new(), id_only: OnceCell::new(), username_only: OnceCell::new() }
    }

    /// A client with the given id and nothing else (handy in tests).
    pub fn new(client_id: impl Into<String>) -> Self {
        ClientInfo::new(client_id).into()
    }

    /// Sets the user name.
    pub fn with_username(self, username: impl Into<String>) -> Self {
        self.into_info().with_username(username).into()
    }

    /// Adds an attribute.
    pub fn with_attribute(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.into_info().with_attribute(name, value).into()
    }

    /// The client identifier (only it is asked of the broker, if the details were not yet).
    pub fn id(&self) -> &str {
        match self.info.get() {
            Some(info) => &info.client_id,
            None => self.id_only.get_or_init(crate::host::call_client_id),
        }
    }

    /// The user name (only it is asked of the broker, if the details were not yet).
    pub fn username(&self) -> Option<&str> {
        match self.info.get() {
            Some(info) => info.username.as_deref(),
            None => self.username_only.get_or_init(crate::host::call_username).as_deref(),
        }
    }

    /// The client's details (asked of the broker now if not yet).
    pub fn info(&self) -> &ClientInfo {
        self.info.get_or_init(crate::host::call_client)
    }

    /// The client's details, owned.
    pub fn into_info(self) -> ClientInfo {
        self.info.into_inner().unwrap_or_else(crate::host::call_client)
    }
}

impl From<ClientInfo> for Client {
    fn from(info: ClientInfo) -> Self {
        Client { info: OnceCell::from(info), id_only: OnceCell::new(), username_only: OnceCell::new() }
    }
}

impl From<Client> for ClientInfo {
    fn from(c: Client) -> Self {
        c.into_info()
    }
}

impl Deref for Client {
    type Target = ClientInfo;

    fn deref(&self) -> &ClientInfo {
        self.info()
    }
}

impl Clone for Client {
    fn clone(&self) -> Self {
        self.info().clone().into()
    }
}

impl PartialEq for Client {
    fn eq(&self, other: &Self) -> bool {
        self.info() == other.info()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info().fmt(f)
    }
}
