//! Reloading a running broker's configuration: what SIGHUP does, through
//! [`BrokerHandle::reload`].
//!
//! - `[auth]`: the [`Policy`] every session consults sits in a [`LivePolicy`] (an `ArcSwap`)
//!   and is replaced whole. Connected clients meet the new static rules and `acl_default` on
//!   their next PUBLISH or SUBSCRIBE, new clients meet `allow_anonymous` at CONNECT. Grants an
//!   authentication plugin returned at CONNECT stay with the connection.
//! - `[[plugin]]` and `[plugin_runtime]`: a new [`PluginHost`] is built beside the running one
//!   (read, pin, compile, check grants, trial `init` with the new `[plugin.config]` and
//!   `files`). Only when all of it loads does it replace the old one in [`LivePlugins`];
//!   otherwise the old plugins stay and one error is logged. Sessions' thread-local instances
//!   notice the new host on their next hook call and rebuild; a new authentication pool serves
//!   new CONNECTs while the old one finishes its queue and ends. A plugin that keeps its name
//!   keeps its key-value store, counters and metrics.
//! - The certificate files of every TLS listener ([`BrokerHandle::reload_tls`]).
//!
//! Everything else (listeners, `[mqtt]`, `[workers]`, the log format, `[http]`, `[limits]`,
//! `[persistence]`) is read once at startup: a reload names what changed there in one warning.
//! The log level belongs to the binary, which swaps its own filter.

use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption, Guard};

use crate::auth::Policy;
use crate::config::Config;
use crate::plugins::{AuthPool, Hook, PluginHost, PluginMask};
use crate::session::Plugins;
use crate::BrokerHandle;

/// The built-in policy in force, swapped whole by a reload.
pub struct LivePolicy(ArcSwap<Policy>);

impl LivePolicy {
    /// A cell holding `policy`.
    pub fn new(policy: Policy) -> Self {
        LivePolicy(ArcSwap::from_pointee(policy))
    }

    /// The policy in force now: one `ArcSwap` load, no reference count touched.
    pub fn load(&self) -> Guard<Arc<Policy>> {
        self.0.load()
    }
}

/// The plugins in force (none when no `[[plugin]]` is configured), swapped whole by a reload.
pub struct LivePlugins(ArcSwapOption<Plugins>);

/// One look at the plugins in force, for the length of one call.
pub struct PluginsNow(Guard<Option<Arc<Plugins>>>);

impl LivePlugins {
    /// A cell holding `plugins`.
    pub fn new(plugins: Option<Plugins>) -> Self {
        LivePlugins(ArcSwapOption::new(plugins.map(Arc::new)))
    }

    /// The plugins in force now: one `ArcSwap` load, no reference count touched. Hold it for
    /// one call, not across awaits.
    pub fn load(&self) -> PluginsNow {
        PluginsNow(self.0.load())
    }

    /// The host in force now, kept as long as the caller likes.
    pub fn host(&self) -> Option<Arc<PluginHost>> {
        self.0.load().as_ref().map(|p| p.host.clone())
    }
}

impl PluginsNow {
    /// The plugin host.
    pub fn host(&self) -> Option<&Arc<PluginHost>> {
        self.0.as_ref().map(|p| &p.host)
    }

    /// The plugins the listener at position `listener` selects.
    fn mask(&self, listener: usize) -> &PluginMask {
        const ALL: &PluginMask = &PluginMask::ALL;
        self.0.as_ref().and_then(|p| p.masks.get(listener)).unwrap_or(ALL)
    }

    /// The plugin host and the selection of the listener at position `listener`, if one of
    /// the plugins it selects implements `hook`.
    pub fn host_with(&self, hook: Hook, listener: usize) -> Option<(&Arc<PluginHost>, &PluginMask)> {
        let mask = self.mask(listener);
        self.host().filter(|h| h.has_in(hook, mask)).map(|h| (h, mask))
    }

    /// The authentication threads and the listener's selection, when a plugin it selects
    /// authenticates.
    pub fn auth_for(&self, listener: usize) -> Option<(&AuthPool, &PluginMask)> {
        let (_, mask) = self.host_with(Hook::Authenticate, listener)?;
        self.0.as_ref().and_then(|p| p.auth.as_ref()).map(|pool| (pool, mask))
    }
}

/// The sessions' view of a host: the host, authentication threads when a plugin
/// authenticates, and each listener's selection of its plugins (`masks`, resolved against
/// this host's plugin list by [`crate::plugins::listener_masks`]).
pub(crate) fn plugins_for(host: Arc<PluginHost>, masks: Arc<[PluginMask]>) -> std::io::Result<Plugins> {
    let auth = match host.has(Hook::Authenticate) {
        true => Some(AuthPool::start(host.clone())?),
        false => None,
    };
    Ok(Plugins { host, auth, masks })
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// What was reloaded and is in force now: `tls`, `auth`, `plugins`.
    pub applied: Vec<&'static str>,
    /// What could not be reloaded (the previous one stays in force), with why.
    pub failed: Vec<(&'static str, String)>,
    /// Tables that changed but are only read at startup: not applied.
    pub restart_needed: Vec<&'static str>,
}

impl BrokerHandle {
    /// Applies `new` (a configuration read again from the same file) to the running broker:
    /// the TLS certificate files, `[auth]`, the plugins. Logs one line per thing reloaded,
    /// one error per thing that failed (the previous one stays in force), and one warning
    /// naming the changed tables that need a restart. The binary calls it on SIGHUP.
    pub fn reload(&self, new: &Config) -> ReloadReport {
        let mut report = ReloadReport::default();
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.tls.is_empty() {
            match self.reload_tls() {
                Ok(()) => report.applied.push("tls"),
                Err(e) => report.failed.push(("tls", e.to_string())),
            }
        }
        if new.auth != running.auth {
            self.policy.0.store(Arc::new(Policy::new(&new.auth)));
            let a = &new.auth;
            tracing::info!(
                allow_anonymous = a.allow_anonymous, acl_rules = a.acl.len(), acl_default = ?a.acl_default,
                "reload: [auth] applied"
            );
            running.auth = new.auth.clone();
            report.applied.push("auth");
        }
        self.reload_plugins(&mut running, new, &mut report);
        report.restart_needed = restart_needed(&running, new);
        if !report.restart_needed.is_empty() {
            tracing::warn!(
                tables = ?report.restart_needed,
                "reload: these changes need a restart and were not applied"
            );
        }
        report
    }

    /// Builds the new plugin host and swaps it in, or keeps the old one.
    fn reload_plugins(&self, running: &mut Config, new: &Config, report: &mut ReloadReport) {
        if running.plugins.is_empty() && new.plugins.is_empty() {
            running.plugin_runtime = new.plugin_runtime.clone();
            return;
        }
        let built = match (new.plugins.is_empty(), self.plugins.host()) {
            (true, _) => Ok(None),
            (false, Some(old)) => old.reload(&new.plugins, &new.plugin_runtime, &new.base_dir).map(Some),
            (false, None) => PluginHost::load(&new.plugins, &new.plugin_runtime, &new.base_dir).map(Some),
        };
        // The listeners stay as they started (a change to them needs a restart); their plugin
        // names are looked up in the new plugin list.
        let masks = crate::plugins::listener_masks(&running.listeners, &new.plugins);
        let plugins = built.map_err(|e| e.to_string()).and_then(|host| {
            let masks = masks.map_err(|e| e.to_string())?;
            host.map(|h| plugins_for(h, masks))
                .transpose()
                .map_err(|e| format!("cannot start the authentication threads: {e}"))
        });
        match plugins {
            Ok(plugins) => {
                let names = plugins.as_ref().map(|p| p.host.names().join(", ")).unwrap_or_default();
                self.plugins.0.store(plugins.map(Arc::new));
                tracing::info!(plugins = %names, "reload: plugins reloaded");
                running.plugins = new.plugins.clone();
                running.plugin_runtime = new.plugin_runtime.clone();
                running.base_dir = new.base_dir.clone();
                report.applied.push("plugins");
            }
            Err(e) => {
                tracing::error!(error = %e, "reload: plugins not reloaded; the previous plugins stay in use");
                report.failed.push(("plugins", e));
            }
        }
    }
}

/// The tables read only at startup that differ between `running` and `new`.
fn restart_needed(running: &Config, new: &Config) -> Vec<&'static str> {
    // Every field is named: a new table does not compile until it is sorted here.
    let Config {
        listeners,
        auth: _,
        mqtt,
        workers,
        log,
        http,
        limits,
        persistence,
        plugins: _,
        plugin_runtime: _,
        base_dir: _,
    } = new;
    [
        ("listener", &running.listeners != listeners),
        ("mqtt", &running.mqtt != mqtt),
        ("workers", &running.workers != workers),
        ("log.format", running.log.format != log.format),
        ("http", &running.http != http),
        ("limits", &running.limits != limits),
        ("persistence", &running.persistence != persistence),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}
