//! What can go wrong in `aviary pub` / `aviary sub`, and the exit code of each (documented in
//! docs/cli.md; keep both in sync).

use aviary::protocol::ReasonCode;

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad options or input (exit 2, like clap's own usage errors).
    #[error("{0}")]
    Usage(String),
    /// The broker could not be reached, or refused the WebSocket upgrade (exit 3).
    #[error("cannot connect to {target}: {why}")]
    Connect {
        /// The broker URL.
        target: String,
        /// What happened.
        why: String,
    },
    /// The TLS handshake failed, e.g. certificate verification (exit 4).
    #[error("TLS with {target} failed: {why}")]
    Tls {
        /// The broker URL.
        target: String,
        /// Why, in words.
        why: String,
    },
    /// CONNACK refused the connection for bad credentials or lack of authorization (exit 5).
    #[error("authentication failed: the broker answered CONNACK {}", describe_reason(*.0))]
    AuthFailed(ReasonCode),
    /// CONNACK refused the connection for another reason (exit 6).
    #[error("connection refused: the broker answered CONNACK {}", describe_reason(*.0))]
    Refused(ReasonCode),
    /// Something did not happen in time (exit 7).
    #[error("timed out {0}")]
    Timeout(String),
    /// The broker refused a publish or a subscription (exit 8).
    #[error("{0}")]
    Rejected(String),
    /// The connection failed or the broker broke the protocol after CONNACK (exit 1).
    #[error("{0}")]
    Connection(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Connection(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Connect { .. } => 3,
            CliError::Tls { .. } => 4,
            CliError::AuthFailed(_) => 5,
            CliError::Refused(_) => 6,
            CliError::Timeout(_) => 7,
            CliError::Rejected(_) => 8,
        }
    }

    /// The error a refusing CONNACK stands for.
    pub fn from_connack(reason: ReasonCode) -> CliError {
        match reason {
            ReasonCode::BadUserNameOrPassword
            | ReasonCode::NotAuthorized
            | ReasonCode::BadAuthenticationMethod
            | ReasonCode::Banned => CliError::AuthFailed(reason),
            other => CliError::Refused(other),
        }
    }
}

/// `0x86 (bad user name or password)`.
pub fn describe_reason(r: ReasonCode) -> String {
    let words = match r {
        ReasonCode::UnsupportedProtocolVersion => "unsupported protocol version".to_owned(),
        ReasonCode::ClientIdentifierNotValid => "client identifier not valid".to_owned(),
        ReasonCode::BadUserNameOrPassword => "bad user name or password".to_owned(),
        ReasonCode::NotAuthorized => "not authorized".to_owned(),
        ReasonCode::ServerUnavailable => "server unavailable".to_owned(),
        ReasonCode::ServerBusy => "server busy".to_owned(),
        ReasonCode::Banned => "banned".to_owned(),
        ReasonCode::BadAuthenticationMethod => "bad authentication method".to_owned(),
        other => split_camel(&format!("{other:?}")),
    };
    format!("0x{:02X} ({words})", r.code())
}

fn split_camel(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(describe_reason(ReasonCode::BadUserNameOrPassword), "0x86 (bad user name or password)");
        assert_eq!(describe_reason(ReasonCode::QuotaExceeded), "0x97 (quota exceeded)");
    }

    #[test]
    fn auth_refusals_have_their_own_exit_code() {
        assert_eq!(CliError::from_connack(ReasonCode::NotAuthorized).exit_code(), 5);
        assert_eq!(CliError::from_connack(ReasonCode::ServerUnavailable).exit_code(), 6);
    }
}
