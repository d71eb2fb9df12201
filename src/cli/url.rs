//! Broker addresses: `mqtt://`, `mqtts://`, `ws://` and `wss://` URLs, with optional
//! `user:password@` and, for WebSocket, a path (default `/mqtt`).

use super::error::CliError;

/// The transport a URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `mqtt://`: plain TCP (default port 1883).
    Mqtt,
    /// `mqtts://`: TLS (default port 8883).
    Mqtts,
    /// `ws://`: WebSocket (default port 80).
    Ws,
    /// `wss://`: WebSocket over TLS (default port 443).
    Wss,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Transport.
    pub scheme: Scheme,
    /// Host name or IP address (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// HTTP path (WebSocket only).
    pub path: String,
    /// User name from the URL.
    pub username: Option<String>,
    /// Password from the URL.
    pub password: Option<String>,
}

impl Target {
    /// Parses a URL.
    pub fn parse(url: &str) -> Result<Target, CliError> {
        let bad = |why: &str| CliError::Usage(format!("bad --url `{url}`: {why}"));
        let (scheme, rest) =
            url.split_once("://").ok_or_else(|| bad("expected mqtt://, mqtts://, ws:// or wss://"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => Scheme::Mqtt,
            "mqtts" | "ssl" | "tls" => Scheme::Mqtts,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            _ => return Err(bad("unknown scheme; use mqtt, mqtts, ws or wss")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(user.to_owned()), Some(pass.to_owned())),
                None => (Some(u.to_owned()), None),
            },
            None => (None, None),
        };
        let (host, port) = split_host_port(hostport).map_err(&bad)?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let ws = matches!(scheme, Scheme::Ws | Scheme::Wss);
        let path = match path {
            "" | "/" if ws => "/mqtt".to_owned(),
            p if ws => p.to_owned(),
            "" | "/" => String::new(),
            _ => return Err(bad("mqtt:// and mqtts:// URLs take no path")),
        };
        Ok(Target { scheme, host, port: port.unwrap_or(scheme.default_port()), path, username, password })
    }

    /// The URL again, without credentials (for messages).
    pub fn display(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{}://{host}:{}{}", self.scheme.name(), self.port, self.path)
    }
}

fn split_host_port(s: &str) -> Result<(String, Option<u16>), &'static str> {
    let parse_port = |p: &str| p.parse::<u16>().map_err(|_| "the port is not a number from 0 to 65535");
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed `[` in an IPv6 address")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if after.is_empty() => None,
            None => return Err("unexpected text after `]`"),
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_owned(), Some(parse_port(port)?))),
        None => Ok((s.to_owned(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults() {
        let t = Target::parse("mqtt://localhost").unwrap();
        assert_eq!(
            (t.scheme, t.host.as_str(), t.port, t.path.as_str()),
            (Scheme::Mqtt, "localhost", 1883, "")
        );
        let t = Target::parse("mqtts://u:p@broker.example:8884").unwrap();
        assert_eq!((t.scheme, t.port), (Scheme::Mqtts, 8884));
        assert_eq!((t.username.as_deref(), t.password.as_deref()), (Some("u"), Some("p")));
        let t = Target::parse("ws://127.0.0.1:9001").unwrap();
        assert_eq!((t.port, t.path.as_str()), (9001, "/mqtt"));
        let t = Target::parse("wss://[::1]/ws").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("::1", 443, "/ws"));
        assert_eq!(t.display(), "wss://[::1]:443/ws");
    }

    #[test]
    fn bad_urls_are_usage_errors() {
        for bad in ["localhost:1883", "http://x", "mqtt://:1883", "mqtt://h:port", "mqtt://h/path"] {
            assert!(matches!(Target::parse(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
