//! Host-side cryptography for plugins: argon2 password hashes and JWT verification with key
//! sets from the plugin's `[plugin.config.jwt.<name>]` tables.
//!
//! ```toml
//! [plugin.config.jwt.default]
//! algorithms = ["RS256"]              # HS256/384/512, RS256 or ES256 (one family per set)
//! public_key_file = "keys/jwt.pem"   # or public_key_pem = "...", secret = "...", secret_base64 = "..."
//! issuer = "https://id.example"      # optional: `iss` must equal it
//! audience = "mqtt"                  # optional: `aud` must contain it
//! leeway_secs = 30                   # clock skew allowed on exp / nbf
//! ```

use std::collections::HashMap;
use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::bindings::aviary::plugin::crypto::JwtError;

/// Most memory (KiB) and passes a hash may ask argon2 for: a hostile hash must not exhaust the
/// host.
const MAX_ARGON2_M_KIB: u32 = 256 * 1024;
const MAX_ARGON2_T: u32 = 16;

/// Checks `password` against a PHC string.
pub(crate) fn verify_password(phc: &str, password: &[u8]) -> Result<bool, String> {
    let hash = PasswordHash::new(phc).map_err(|e| format!("malformed hash: {e}"))?;
    let params = argon2::Params::try_from(&hash).map_err(|e| format!("unusable hash: {e}"))?;
    if params.m_cost() > MAX_ARGON2_M_KIB || params.t_cost() > MAX_ARGON2_T || params.p_cost() > 16 {
        return Err("hash parameters exceed the broker's limits".into());
    }
    Ok(argon2::Argon2::default().verify_password(password, &hash).is_ok())
}

/// One `[plugin.config.jwt.<name>]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySetConfig {
    algorithms: Vec<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secret_base64: Option<String>,
    #[serde(default)]
    public_key_pem: Option<String>,
    #[serde(default)]
    public_key_file: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    leeway_secs: u64,
}

struct KeySet {
    key: DecodingKey,
    validation: Validation,
}

/// The key sets of one plugin.
#[derive(Default)]
pub(crate) struct KeySets(HashMap<String, KeySet>);

impl KeySets {
    /// Reads `config.jwt` (absent: no key sets); files are relative to `base`.
    pub(crate) fn from_config(config: &serde_json::Value, base: &Path) -> Result<KeySets, String> {
        let Some(sets) = config.get("jwt") else { return Ok(KeySets::default()) };
        let sets: HashMap<String, KeySetConfig> =
            serde_json::from_value(sets.clone()).map_err(|e| format!("config.jwt: {e}"))?;
        let mut out = HashMap::new();
        for (name, set) in sets {
            let ks = key_set(set, base).map_err(|e| format!("config.jwt.{name}: {e}"))?;
            out.insert(name, ks);
        }
        Ok(KeySets(out))
    }

    /// Verifies `token` with the named key set and returns its claims as JSON.
    pub(crate) fn verify(&self, token: &str, set: &str) -> Result<String, JwtError> {
        let ks = self.0.get(set).ok_or(JwtError::UnknownKey)?;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &ks.key, &ks.validation)
            .map_err(|e| jwt_error(e.kind()))?;
        Ok(data.claims.to_string())
    }
}

fn key_set(c: KeySetConfig, base: &Path) -> Result<KeySet, String> {
    let algs: Vec<Algorithm> = c
        .algorithms
        .iter()
        .map(|a| match a.as_str() {
            "HS256" => Ok(Algorithm::HS256),
            "HS384" => Ok(Algorithm::HS384),
            "HS512" => Ok(Algorithm::HS512),
            "RS256" => Ok(Algorithm::RS256),
            "ES256" => Ok(Algorithm::ES256),
            other => Err(format!("unsupported algorithm `{other}`")),
        })
        .collect::<Result<_, _>>()?;
    let first = *algs.first().ok_or("`algorithms` is empty")?;
    let pem = match (&c.public_key_pem, &c.public_key_file) {
        (Some(p), None) => Some(p.clone().into_bytes()),
        (None, Some(f)) => Some(std::fs::read(base.join(f)).map_err(|e| format!("{f}: {e}"))?),
        (None, None) => None,
        (Some(_), Some(_)) => return Err("give public_key_pem or public_key_file, not both".into()),
    };
    let key = match (first, &c.secret, &c.secret_base64, pem) {
        (Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512, Some(s), None, None) => {
            DecodingKey::from_secret(s.as_bytes())
        }
        (Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512, None, Some(b), None) => {
            DecodingKey::from_base64_secret(b).map_err(|e| format!("secret_base64: {e}"))?
        }
        (Algorithm::RS256, None, None, Some(p)) => {
            DecodingKey::from_rsa_pem(&p).map_err(|e| e.to_string())?
        }
        (Algorithm::ES256, None, None, Some(p)) => DecodingKey::from_ec_pem(&p).map_err(|e| e.to_string())?,
        _ => return Err("HS* needs one secret; RS256/ES256 need one public key".into()),
    };
    let family = |a: Algorithm| match a {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => 0,
        Algorithm::RS256 => 1,
        _ => 2,
    };
    if algs.iter().any(|a| family(*a) != family(first)) {
        return Err("all algorithms of a key set must use the same key".into());
    }
    let mut validation = Validation::new(first);
    validation.algorithms = algs;
    validation.leeway = c.leeway_secs;
    validation.validate_nbf = true;
    if let Some(iss) = &c.issuer {
        validation.set_issuer(&[iss]);
    }
    match &c.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    Ok(KeySet { key, validation })
}

fn jwt_error(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            JwtError::Malformed
        }
        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => JwtError::BadSignature,
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidIssuer => JwtError::InvalidClaims("iss".into()),
        ErrorKind::InvalidAudience => JwtError::InvalidClaims("aud".into()),
        ErrorKind::MissingRequiredClaim(c) => JwtError::InvalidClaims(format!("missing {c}")),
        other => JwtError::InvalidClaims(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn sets() -> KeySets {
        let cfg = json!({"jwt": {"default": {"algorithms": ["HS256"], "secret": "k", "issuer": "me"}}});
        KeySets::from_config(&cfg, Path::new(".")).unwrap()
    }

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    #[test]
    fn valid_expired_tampered_and_wrong_issuer() {
        let now = jsonwebtoken::get_current_timestamp();
        let s = sets();
        let good = token(json!({"sub": "ann", "exp": now + 60, "iss": "me"}), "k");
        assert!(s.verify(&good, "default").unwrap().contains("ann"));
        let old = token(json!({"sub": "ann", "exp": now - 600, "iss": "me"}), "k");
        assert_eq!(s.verify(&old, "default"), Err(JwtError::Expired));
        let forged = token(json!({"sub": "ann", "exp": now + 60, "iss": "me"}), "other");
        assert_eq!(s.verify(&forged, "default"), Err(JwtError::BadSignature));
        let iss = token(json!({"sub": "ann", "exp": now + 60, "iss": "you"}), "k");
        assert!(matches!(s.verify(&iss, "default"), Err(JwtError::InvalidClaims(_))));
        assert_eq!(s.verify(&good, "nope"), Err(JwtError::UnknownKey));
        assert_eq!(s.verify("garbage", "default"), Err(JwtError::Malformed));
    }

    #[test]
    fn expensive_hashes_are_refused() {
        let phc = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";
        assert!(verify_password(phc, b"x").is_err());
    }
}
