//! `aviary passwd`: create, update and delete entries of a password file, like
//! `mosquitto_passwd`. One `user:hash` line per user, the hash an argon2id PHC string; the
//! `auth-password` plugin reads this file.

use std::path::Path;

use argon2::password_hash::{PasswordHasher, SaltString};

/// Why a password file could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum PasswdError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not `user:$hash`.
    #[error("line {0}: expected `user:$argon2...`")]
    Format(usize),
    /// The user name cannot be stored.
    #[error("user names must be non-empty and contain no `:`, spaces or control characters")]
    BadUsername,
    /// Hashing failed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Hashes a password as an argon2id PHC string (argon2's default parameters, random salt).
pub fn hash_password(password: &[u8]) -> Result<String, PasswdError> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| PasswdError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswdError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswdError::Hash(e.to_string()))
}

/// The entries of a password file, in order. Comment lines are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Comment(String),
    Entry(String, String),
}

fn valid_username(u: &str) -> bool {
    !u.is_empty() && !u.chars().any(|c| c == ':' || c.is_whitespace() || c.is_control())
}

impl PasswordFile {
    /// Parses the text of a password file.
    pub fn parse(text: &str) -> Result<PasswordFile, PasswdError> {
        let mut lines = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                lines.push(Line::Comment(raw.to_owned()));
                continue;
            }
            match line.split_once(':') {
                Some((u, h)) if valid_username(u) && h.starts_with('$') => {
                    lines.push(Line::Entry(u.to_owned(), h.to_owned()))
                }
                _ => return Err(PasswdError::Format(n + 1)),
            }
        }
        Ok(PasswordFile { lines })
    }

    /// Reads a file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<PasswordFile, PasswdError> {
        match std::fs::read_to_string(path) {
            Ok(text) => PasswordFile::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PasswordFile::default()),
            Err(source) => Err(PasswdError::Io { path: path.display().to_string(), source }),
        }
    }

    /// Adds the user, or replaces their hash.
    pub fn set(&mut self, user: &str, hash: String) -> Result<(), PasswdError> {
        if !valid_username(user) {
            return Err(PasswdError::BadUsername);
        }
        for line in &mut self.lines {
            if let Line::Entry(u, h) = line {
                if u == user {
                    *h = hash;
                    return Ok(());
                }
            }
        }
        self.lines.push(Line::Entry(user.to_owned(), hash));
        Ok(())
    }

    /// Removes the user; returns whether they were there.
    pub fn delete(&mut self, user: &str) -> bool {
        let before = self.lines.len();
        self.lines.retain(|l| !matches!(l, Line::Entry(u, _) if u == user));
        self.lines.len() != before
    }

    /// The user's hash.
    pub fn get(&self, user: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| match l {
            Line::Entry(u, h) if u == user => Some(h.as_str()),
            _ => None,
        })
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Comment(c) => out.push_str(c),
                Line::Entry(u, h) => {
                    out.push_str(u);
                    out.push(':');
                    out.push_str(h);
                }
            }
            out.push('\n');
        }
        out
    }

    /// Writes the file atomically (a temporary file renamed over it), readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), PasswdError> {
        let io = |source| PasswdError::Io { path: path.display().to_string(), source };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.render()).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHash, PasswordVerifier};

    #[test]
    fn set_update_delete_round_trip() {
        let mut f = PasswordFile::parse("# users\nann:$argon2id$x\n").unwrap();
        f.set("bob", "$argon2id$y".into()).unwrap();
        f.set("ann", "$argon2id$z".into()).unwrap();
        assert_eq!(f.render(), "# users\nann:$argon2id$z\nbob:$argon2id$y\n");
        assert!(f.delete("ann"));
        assert!(!f.delete("ann"));
        assert_eq!(PasswordFile::parse(&f.render()).unwrap(), f);
        assert!(matches!(f.set("a:b", String::new()), Err(PasswdError::BadUsername)));
        assert!(matches!(PasswordFile::parse("nocolon"), Err(PasswdError::Format(1))));
    }

    #[test]
    fn hashes_verify() {
        let h = hash_password(b"secret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(argon2::Argon2::default().verify_password(b"secret", &parsed).is_ok());
        assert!(argon2::Argon2::default().verify_password(b"other", &parsed).is_err());
    }
}
