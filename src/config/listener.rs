//! Checks on one `[[listener]]` table that serde cannot make: which keys each kind needs or
//! forbids. Errors name the listener and the key.

use serde::Deserialize;

use super::{ListenerConfig, ListenerKind};
use crate::plugins::config::PluginConfig;
use crate::plugins::PluginMask;

/// A TLS protocol version (`tls_versions = ["1.2", "1.3"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "1.3")]
    Tls13,
}

/// Returns the dotted key (`listener.<name>.<key>`) and the problem.
pub(super) fn validate(l: &ListenerConfig, plugins: &[PluginConfig]) -> Result<(), (String, String)> {
    let bad = |key: &str, problem: String| Err((format!("listener.{}.{key}", l.name), problem));
    let kind = kind_name(l.kind);
    let tls = matches!(l.kind, ListenerKind::Tls | ListenerKind::Wss);
    let ws = matches!(l.kind, ListenerKind::Ws | ListenerKind::Wss);
    if tls {
        if l.cert_file.is_none() {
            return bad("cert_file", format!("is required for a {kind} listener (a PEM certificate chain)"));
        }
        if l.key_file.is_none() {
            return bad("key_file", format!("is required for a {kind} listener (the PEM private key)"));
        }
    } else {
        let tls_keys = [
            ("cert_file", l.cert_file.is_some()),
            ("key_file", l.key_file.is_some()),
            ("ca_file", l.ca_file.is_some()),
            ("require_client_cert", l.require_client_cert),
            ("use_identity_as_username", l.use_identity_as_username),
            ("tls_versions", l.tls_versions.is_some()),
            ("alpn_protocols", l.alpn_protocols.is_some()),
            ("crl_file", l.crl_file.is_some()),
        ];
        if let Some((key, _)) = tls_keys.iter().find(|(_, set)| *set) {
            return bad(key, format!("only applies to tls and wss listeners, not {kind}"));
        }
    }
    if l.require_client_cert && l.ca_file.is_none() {
        return bad("ca_file", "is required when require_client_cert = true".into());
    }
    if l.use_identity_as_username && !l.require_client_cert {
        return bad("use_identity_as_username", "needs require_client_cert = true".into());
    }
    if l.crl_file.is_some() && l.ca_file.is_none() {
        return bad("crl_file", "needs ca_file (the CRLs are checked for client certificates)".into());
    }
    if l.tls_versions.as_ref().is_some_and(Vec::is_empty) {
        return bad("tls_versions", "must name at least one version: \"1.2\", \"1.3\"".into());
    }
    if let Some(p) = l.alpn_protocols.iter().flatten().find(|p| p.is_empty() || p.len() > 255) {
        return bad("alpn_protocols", format!("`{p}`: a protocol name is 1 to 255 bytes"));
    }
    if ws && !l.path.starts_with('/') {
        return bad("path", format!("must start with `/` (got `{}`)", l.path));
    }
    if !ws && l.path != "/mqtt" {
        return bad("path", format!("only applies to ws and wss listeners, not {kind}"));
    }
    if let Some(n) = l.max_packet_size_bytes {
        if !(64..=268_435_460).contains(&n) {
            return bad("max_packet_size_bytes", "must be between 64 and 268435460".into());
        }
    }
    if let Err(e) = PluginMask::resolve(&l.name, l.plugins.as_deref(), plugins) {
        let known = match e.known.is_empty() {
            true => "no [[plugin]] is configured".to_owned(),
            false => format!("the [[plugin]] names are: {}", e.known.join(", ")),
        };
        return bad("plugins", format!("names plugin `{}`, which is not configured ({known})", e.plugin));
    }
    Ok(())
}

fn kind_name(kind: ListenerKind) -> &'static str {
    match kind {
        ListenerKind::Tcp => "tcp",
        ListenerKind::Tls => "tls",
        ListenerKind::Ws => "ws",
        ListenerKind::Wss => "wss",
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn err(toml: &str) -> String {
        Config::from_toml_str(toml, "l.toml").unwrap_err().to_string()
    }

    #[test]
    fn tls_needs_a_certificate() {
        let e = err("[[listener]]\nname = \"secure\"\nkind = \"tls\"\nbind = \"127.0.0.1:8883\"\n");
        assert!(e.contains("listener.secure.cert_file"), "{e}");
        assert!(e.contains("required for a tls listener"), "{e}");
    }

    #[test]
    fn tls_needs_a_key() {
        let e = err(
            "[[listener]]\nname = \"s\"\nkind = \"wss\"\nbind = \"127.0.0.1:0\"\ncert_file = \"a.pem\"\n",
        );
        assert!(e.contains("listener.s.key_file"), "{e}");
    }

    #[test]
    fn tcp_refuses_tls_keys_with_their_line() {
        let e = err("[[listener]]\nname = \"plain\"\nkind = \"tcp\"\nca_file = \"ca.pem\"\n");
        assert_eq!(
            e,
            "l.toml, line 4: `listener.plain.ca_file` only applies to tls and wss listeners, not tcp"
        );
    }

    #[test]
    fn client_certs_need_a_ca() {
        let e = err(
            "[[listener]]\nname = \"m\"\nkind = \"tls\"\ncert_file = \"c\"\nkey_file = \"k\"\nrequire_client_cert = true\n",
        );
        assert!(e.contains("listener.m.ca_file"), "{e}");
    }

    #[test]
    fn identity_as_username_needs_client_certs() {
        let e = err("[[listener]]\nname = \"m\"\nkind = \"tls\"\ncert_file = \"c\"\nkey_file = \"k\"\nca_file = \"a\"\nuse_identity_as_username = true\n");
        assert!(e.contains("listener.m.use_identity_as_username"), "{e}");
    }

    #[test]
    fn ws_path_must_be_absolute() {
        let e = err("[[listener]]\nname = \"w\"\nkind = \"ws\"\npath = \"mqtt\"\n");
        assert!(e.contains("listener.w.path"), "{e}");
    }

    #[test]
    fn per_listener_packet_size_is_checked() {
        let e = err("[[listener]]\nname = \"w\"\nmax_packet_size_bytes = 10\n");
        assert!(e.contains("listener.w.max_packet_size_bytes"), "{e}");
    }

    #[test]
    fn listener_plugins_must_be_configured() {
        let e = err("[[plugin]]\nname = \"pw\"\npath = \"pw.wasm\"\n\n[[listener]]\nname = \"edge\"\nplugins = [\"pw\", \"acl\"]\n");
        assert_eq!(
            e,
            "l.toml, line 7: `listener.edge.plugins` names plugin `acl`, which is not configured \
             (the [[plugin]] names are: pw)"
        );
    }

    #[test]
    fn per_listener_policy_keys_parse() {
        let c = Config::from_toml_str(
            "[[plugin]]\nname = \"pw\"\npath = \"pw.wasm\"\n[[listener]]\nname = \"a\"\nplugins = []\n\
             allow_anonymous = false\nacl_default = \"deny\"\n[[listener]]\nname = \"b\"\nbind = \"127.0.0.1:1884\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.listeners[0].plugins, Some(vec![]));
        assert_eq!(c.listeners[0].allow_anonymous, Some(false));
        assert_eq!(c.listeners[0].acl_default, Some(crate::auth::acl::AclDefault::Deny));
        assert_eq!((c.listeners[1].plugins.as_ref(), c.listeners[1].allow_anonymous), (None, None));
    }

    #[test]
    fn tls_versions_are_1_2_and_1_3_only() {
        let tls = "[[listener]]\nname = \"s\"\nkind = \"tls\"\ncert_file = \"c\"\nkey_file = \"k\"\n";
        let e = err(&format!("{tls}tls_versions = [\"1.3\", \"1.1\"]\n"));
        assert!(e.contains("unknown variant `1.1`, expected `1.2` or `1.3`"), "{e}");
        assert!(e.contains("line 6"), "{e}");
        let e = err(&format!("{tls}tls_versions = []\n"));
        assert!(e.contains("listener.s.tls_versions` must name at least one version"), "{e}");
        let c = Config::from_toml_str(&format!("{tls}tls_versions = [\"1.3\"]\n"), "x").unwrap();
        assert_eq!(c.listeners[0].tls_versions, Some(vec![super::TlsVersion::Tls13]));
    }

    #[test]
    fn alpn_and_crl_keys_are_checked() {
        let tls = "[[listener]]\nname = \"s\"\nkind = \"tls\"\ncert_file = \"c\"\nkey_file = \"k\"\n";
        let e = err(&format!("{tls}alpn_protocols = [\"\"]\n"));
        assert!(e.contains("listener.s.alpn_protocols"), "{e}");
        let e = err(&format!("{tls}crl_file = \"crl.pem\"\n"));
        assert!(e.contains("listener.s.crl_file` needs ca_file"), "{e}");
        let e = err("[[listener]]\nname = \"p\"\nalpn_protocols = [\"mqtt\"]\n");
        assert!(e.contains("listener.p.alpn_protocols` only applies to tls and wss"), "{e}");
    }

    #[test]
    fn a_full_tls_listener_parses() {
        let c = Config::from_toml_str(
            "[[listener]]\nname = \"s\"\nkind = \"wss\"\nbind = \"0.0.0.0:8884\"\ncert_file = \"c.pem\"\n\
             key_file = \"k.pem\"\nca_file = \"ca.pem\"\nrequire_client_cert = true\n\
             use_identity_as_username = true\npath = \"/ws\"\nmax_packet_size_bytes = 1024\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.listeners[0].path, "/ws");
        assert_eq!(c.listeners[0].max_packet_size_bytes, Some(1024));
    }
}
