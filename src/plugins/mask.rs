//! Which plugins run for a client: its listener's `plugins` key, resolved to plugin indexes
//! each time a plugin host is built (at startup and on every reload, see
//! [`listener_masks`]). An index is the position of the `[[plugin]]` table in the
//! configuration, which is also the host's load order, so the chains keep the global order
//! and test one bit per plugin per call (no name comparison on the message path).

use std::sync::Arc;

use super::config::PluginConfig;
use crate::config::ListenerConfig;

/// A set of plugin indexes; the default selects every plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginMask {
    /// One bit per plugin index; `None` selects all of them.
    bits: Option<Arc<[u64]>>,
}

/// A listener names a plugin that no `[[plugin]]` table defines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listener `{listener}` names plugin `{plugin}`, but no [[plugin]] table has that name{}", known_list(.known))]
pub struct UnknownPlugin {
    /// The listener.
    pub listener: String,
    /// The unknown name.
    pub plugin: String,
    /// The names that exist.
    pub known: Vec<String>,
}

fn known_list(known: &[String]) -> String {
    match known.is_empty() {
        true => " (none is configured)".into(),
        false => format!(" (configured: {})", known.join(", ")),
    }
}

/// The selection of every listener, in `[[listener]]` order, among `plugins`.
pub fn listener_masks(
    listeners: &[ListenerConfig],
    plugins: &[PluginConfig],
) -> Result<Arc<[PluginMask]>, UnknownPlugin> {
    listeners.iter().map(|l| PluginMask::resolve(&l.name, l.plugins.as_deref(), plugins)).collect()
}

impl PluginMask {
    /// Every plugin.
    pub const ALL: PluginMask = PluginMask { bits: None };

    /// Every plugin.
    pub fn all() -> PluginMask {
        PluginMask::ALL
    }

    /// The plugins `names` selects among `plugins` (`None`: all of them).
    pub fn resolve(
        listener: &str,
        names: Option<&[String]>,
        plugins: &[PluginConfig],
    ) -> Result<PluginMask, UnknownPlugin> {
        let Some(names) = names else { return Ok(PluginMask::all()) };
        let mut bits = vec![0u64; plugins.len().div_ceil(64)];
        for name in names {
            let Some(i) = plugins.iter().position(|p| &p.name == name) else {
                return Err(UnknownPlugin {
                    listener: listener.to_owned(),
                    plugin: name.clone(),
                    known: plugins.iter().map(|p| p.name.clone()).collect(),
                });
            };
            bits[i / 64] |= 1 << (i % 64);
        }
        Ok(PluginMask { bits: Some(bits.into()) })
    }

    /// Does the mask select plugin `i`?
    #[inline]
    pub fn allows(&self, i: usize) -> bool {
        match &self.bits {
            None => true,
            Some(bits) => bits.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugins(n: usize) -> Vec<PluginConfig> {
        (0..n).map(|i| toml::from_str(&format!("name = \"p{i}\"\npath = \"p{i}.wasm\"")).unwrap()).collect()
    }

    #[test]
    fn absent_selects_all_empty_selects_none() {
        let ps = plugins(3);
        let all = PluginMask::resolve("l", None, &ps).unwrap();
        assert!((0..3).all(|i| all.allows(i)));
        let none = PluginMask::resolve("l", Some(&[]), &ps).unwrap();
        assert!((0..3).all(|i| !none.allows(i)));
    }

    #[test]
    fn names_select_their_indexes_beyond_one_word() {
        let ps = plugins(70);
        let m = PluginMask::resolve("l", Some(&["p2".into(), "p65".into()]), &ps).unwrap();
        let on: Vec<usize> = (0..80).filter(|&i| m.allows(i)).collect();
        assert_eq!(on, [2, 65]);
    }

    #[test]
    fn unknown_names_name_the_listener_and_the_plugin() {
        let e = PluginMask::resolve("edge", Some(&["nope".into()]), &plugins(2)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "listener `edge` names plugin `nope`, but no [[plugin]] table has that name (configured: p0, p1)"
        );
    }
}
