//! The WebAssembly plugin host: the only module that touches wasmtime.
//!
//! - [`config`]: `[[plugin]]` and `[plugin_runtime]`.
//! - `loader`: read, pin (sha256), compile, refuse ungranted imports, pre-link, trial `init`.
//! - `instance`: [`PluginSet`], one instance per plugin per thread, each call under an epoch
//!   deadline, a memory limit and a stack limit; a failing instance is dropped and rebuilt, and
//!   repeated failures open a circuit breaker.
//! - `chain`: the hook chains (authenticate, authorize-*, on-publish / on-deliver), each over
//!   the plugins a [`PluginMask`] (the client's listener) selects.
//! - `auth_pool`: the threads that run `authenticate`.
//! - `host`, `crypto`, `kv`, `wasi`: what a plugin may import.
//!
//! Threads: sessions call the per-message hooks on their own worker thread through a
//! thread-local [`PluginSet`] ([`with_local`]); CONNECT goes through the [`AuthPool`]. One
//! ticker thread advances the engine's epoch every `epoch_tick_ms`.

mod auth_pool;
mod bindings;
mod breaker;
mod chain;
pub mod config;
mod convert;
mod crypto;
mod host;
mod instance;
mod kv;
mod loader;
mod mask;
mod stats;
mod wasi;

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::Engine;

pub use auth_pool::{AuthPool, Busy};
pub use chain::{SubVerdict, Transformed};
pub use config::{PluginConfig, PluginRuntimeConfig};
pub use host::PluginStats;
pub use instance::PluginSet;
pub use mask::{listener_masks, PluginMask, UnknownPlugin};
pub use stats::{FailureKind, HookStats};

/// Messages handed to one `on-publish` / `on-deliver` call at most.
pub const TRANSFORM_BATCH: usize = 64;

/// Why plugins could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The engine could not be set up.
    #[error("plugin engine: {0}")]
    Engine(String),
    /// A plugin could not be read, verified or compiled.
    #[error("plugin `{plugin}`: {problem}")]
    Load {
        /// The plugin's name.
        plugin: String,
        /// What went wrong.
        problem: String,
    },
    /// A plugin imports something it was not granted.
    #[error("plugin `{plugin}` imports `{import}`, which it is not granted")]
    Forbidden {
        /// The plugin's name.
        plugin: String,
        /// The import.
        import: String,
    },
    /// A plugin's `init` failed.
    #[error("plugin `{plugin}` failed to initialise: {problem}")]
    Init {
        /// The plugin's name.
        plugin: String,
        /// Its error, trap or timeout.
        problem: String,
    },
}

/// The hooks a host's plugins implement, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `authenticate`.
    Authenticate,
    /// `authorize-publish`.
    AuthorizePublish,
    /// `authorize-subscribe`.
    AuthorizeSubscribe,
    /// `on-publish`.
    OnPublish,
    /// `on-deliver`.
    OnDeliver,
}

/// The loaded plugins of one broker: immutable, shared by every thread. A reload builds a new
/// host ([`PluginHost::reload`]) rather than changing this one.
pub struct PluginHost {
    engine: Engine,
    plugins: Vec<loader::Loaded>,
    runtime: PluginRuntimeConfig,
    tick: Duration,
    id: u64,
    ticker_stop: Arc<AtomicBool>,
    /// Times calls for the latency metric: the CPU's time-stamp counter where it is reliable
    /// (a read costs a third of `Instant::now()`'s on the development VM), else the OS clock.
    clock: quanta::Clock,
}

/// The one [`quanta::Clock`] of the process, calibrated when the first host is built (which
/// takes a millisecond or so) rather than on a session thread's first call.
fn clock() -> quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

static NEXT_HOST_ID: AtomicU64 = AtomicU64::new(1);

impl PluginHost {
    /// Compiles and checks every plugin, running each one's `init` once.
    pub fn load(
        plugins: &[PluginConfig],
        runtime: &PluginRuntimeConfig,
        base: &Path,
    ) -> Result<Arc<PluginHost>, PluginError> {
        Self::build(plugins, runtime, base, |_| None)
    }

    /// A new host from a new configuration (a reload), built like [`PluginHost::load`]: this
    /// one stays untouched if it fails. A plugin that keeps its name keeps its key-value
    /// store, counters and metrics; its instances are new, with the new `[plugin.config]` and
    /// `files`. Sessions notice the new host on their next hook call ([`with_local`]).
    pub fn reload(
        &self,
        plugins: &[PluginConfig],
        runtime: &PluginRuntimeConfig,
        base: &Path,
    ) -> Result<Arc<PluginHost>, PluginError> {
        let host = Self::build(plugins, runtime, base, |name| {
            self.plugins.iter().find(|p| p.config.name == name).map(|p| p.shared.carried())
        })?;
        let limits = loader::kv_limits(runtime);
        host.plugins.iter().for_each(|p| p.shared.kv.set_limits(limits));
        Ok(host)
    }

    fn build(
        plugins: &[PluginConfig],
        runtime: &PluginRuntimeConfig,
        base: &Path,
        carried: impl Fn(&str) -> Option<host::Carried>,
    ) -> Result<Arc<PluginHost>, PluginError> {
        let mut c = wasmtime::Config::new();
        c.epoch_interruption(true).max_wasm_stack(512 << 10).wasm_component_model(true);
        c.concurrency_support(false);
        if std::env::var_os("AVIARY_WASM_PERFMAP").is_some() {
            c.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&c).map_err(|e| PluginError::Engine(e.to_string()))?;
        let mut linker = Linker::<host::HostState>::new(&engine);
        wasi::add_to_linker(&mut linker).map_err(|e| PluginError::Engine(e.to_string()))?;
        bindings::Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        let tick = Duration::from_millis(runtime.epoch_tick_ms);
        let ticker_stop = Arc::new(AtomicBool::new(false));
        start_ticker(&engine, tick, ticker_stop.clone()).map_err(|e| PluginError::Engine(e.to_string()))?;
        let env = loader::Env { engine: &engine, linker: &linker, rt: runtime, base, epoch_tick: tick };
        let mut loaded = Vec::new();
        for p in plugins {
            match loader::load(&env, p, carried(&p.name)) {
                Ok(l) => loaded.push(l),
                Err(e) => {
                    ticker_stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        let id = NEXT_HOST_ID.fetch_add(1, Ordering::Relaxed);
        let clock = clock();
        Ok(Arc::new(PluginHost {
            engine,
            plugins: loaded,
            runtime: runtime.clone(),
            tick,
            id,
            ticker_stop,
            clock,
        }))
    }

    /// The plugins' names, in chain order.
    pub fn names(&self) -> Vec<&str> {
        self.plugins.iter().map(|p| p.config.name.as_str()).collect()
    }

    /// Does any plugin implement `hook`?
    pub fn has(&self, hook: Hook) -> bool {
        self.plugins.iter().any(|p| p.hooks.contains(hook.flag()))
    }

    /// Does any plugin that `mask` selects implement `hook`?
    pub fn has_in(&self, hook: Hook, mask: &PluginMask) -> bool {
        self.plugins.iter().enumerate().any(|(i, p)| mask.allows(i) && p.hooks.contains(hook.flag()))
    }

    /// Does any plugin that `mask` selects implement `hook` (a transform) for messages on
    /// `topic` (see `plugin-info.transform-topics`)?
    pub fn transforms_in(&self, hook: Hook, mask: &PluginMask, topic: &str) -> bool {
        self.plugins
            .iter()
            .enumerate()
            .any(|(i, p)| mask.allows(i) && p.hooks.contains(hook.flag()) && p.transforms(topic))
    }

    /// The hooks plugin `i` implements.
    fn hooks_of(&self, i: usize) -> impl Iterator<Item = Hook> + '_ {
        Hook::ALL.into_iter().filter(move |h| self.plugins[i].hooks.contains(h.flag()))
    }

    /// Each plugin's name, the hooks it implements and its counters, in load order.
    pub fn hook_stats(&self) -> impl Iterator<Item = (&str, Hook, &HookStats)> + '_ {
        (0..self.plugins.len()).flat_map(move |i| {
            let p = &self.plugins[i];
            self.hooks_of(i).map(move |h| (p.config.name.as_str(), h, p.shared.stats.hook(h)))
        })
    }

    /// Each plugin's name and counters.
    pub fn stats(&self) -> Vec<(&str, &PluginStats)> {
        self.plugins.iter().map(|p| (p.config.name.as_str(), &*p.shared.stats)).collect()
    }

    /// A plugin's counters, by name.
    pub fn stats_of(&self, name: &str) -> Option<&PluginStats> {
        self.plugins.iter().find(|p| p.config.name == name).map(|p| &*p.shared.stats)
    }

    /// Log lines (log calls, stdout, stderr) of a plugin dropped by the rate limit.
    pub fn log_lines_dropped(&self, plugin: &str) -> Option<u64> {
        let p = self.plugins.iter().find(|p| p.config.name == plugin)?;
        Some(p.shared.log.dropped.load(Ordering::Relaxed))
    }

    /// A metric a plugin set through `aviary:plugin/metrics`.
    pub fn metric(&self, plugin: &str, name: &str) -> Option<i64> {
        let p = self.plugins.iter().find(|p| p.config.name == plugin)?;
        p.shared.metrics.lock().ok()?.get(name).copied()
    }

    /// Every metric plugins set through `aviary:plugin/metrics`: `(plugin, name, value)` in
    /// load order, then by name (at most 256 names per plugin).
    pub fn metrics(&self) -> Vec<(&str, String, i64)> {
        let mut out = Vec::new();
        for p in &self.plugins {
            let Ok(m) = p.shared.metrics.lock() else { continue };
            let mut values: Vec<(String, i64)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
            values.sort_unstable();
            out.extend(values.into_iter().map(|(k, v)| (p.config.name.as_str(), k, v)));
        }
        out
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn start_ticker(engine: &Engine, tick: Duration, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let engine = engine.clone();
    std::thread::Builder::new().name("aviary-epoch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            engine.increment_epoch();
        }
    })?;
    Ok(())
}

thread_local! {
    static LOCAL: RefCell<Option<PluginSet>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's instances of `host`'s plugins (made on first use).
pub fn with_local<R>(host: &Arc<PluginHost>, f: impl FnOnce(&mut PluginSet) -> R) -> R {
    LOCAL.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|s| s.host.id != host.id) {
            *slot = Some(PluginSet::new(host.clone()));
        }
        match slot.as_mut() {
            Some(set) => f(set),
            None => f(&mut PluginSet::new(host.clone())),
        }
    })
}
