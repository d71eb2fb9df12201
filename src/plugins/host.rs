//! The store data of a plugin instance and the host functions a plugin imports: logging,
//! crypto, key-value store and metrics. Everything shared between a plugin's instances lives
//! in [`Shared`], reached through an `Arc`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::aviary::plugin::{context, crypto, kv, log, metrics, types};
use super::breaker::Breaker;
use super::convert;
use super::crypto::KeySets;
use super::kv::KvStore;
use super::stats::HookStats;
use super::Hook;
use crate::auth::Identity;
use crate::message::Message;

/// Log severity of a plugin line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// A plugin's logger: tags lines with its name, truncates them and limits their rate.
pub(crate) struct PluginLog {
    name: Arc<str>,
    per_sec: u32,
    window: Mutex<(Instant, u32)>,
    /// Lines dropped by the rate limit.
    pub(crate) dropped: AtomicU64,
}

/// Longest log line kept, in bytes.
const MAX_LOG_LINE: usize = 4096;

impl PluginLog {
    pub(crate) fn new(name: Arc<str>, per_sec: u32) -> Self {
        PluginLog { name, per_sec, window: Mutex::new((Instant::now(), 0)), dropped: AtomicU64::new(0) }
    }

    /// Logs one line from `source` ("log", "stdout", "stderr").
    pub(crate) fn line(&self, level: LogLevel, source: &str, text: &str) {
        if let Ok(mut w) = self.window.lock() {
            if w.0.elapsed().as_secs() >= 1 {
                *w = (Instant::now(), 0);
            }
            if w.1 >= self.per_sec {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            w.1 += 1;
        }
        let mut end = text.len().min(MAX_LOG_LINE);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let (plugin, text) = (&*self.name, &text[..end]);
        match level {
            LogLevel::Debug => tracing::debug!(plugin, source, "{text}"),
            LogLevel::Info => tracing::info!(plugin, source, "{text}"),
            LogLevel::Warn => tracing::warn!(plugin, source, "{text}"),
            LogLevel::Error => tracing::error!(plugin, source, "{text}"),
        }
    }
}

/// Counters the broker keeps about one plugin.
#[derive(Debug, Default)]
pub struct PluginStats {
    /// Calls that failed (trap, panic, deadline, memory, bad answer) or were refused by the
    /// open circuit breaker.
    pub failures: AtomicU64,
    /// Deadline misses among the failures.
    pub timeouts: AtomicU64,
    /// Instances created (the first per thread, then one after each failure).
    pub instances: AtomicU64,
    /// Times the circuit breaker opened.
    pub breaker_opened: AtomicU64,
    hooks: [HookStats; Hook::ALL.len()],
}

impl PluginStats {
    /// Hook calls made (all hooks; refusals by the open circuit breaker included).
    pub fn calls(&self) -> u64 {
        self.hooks.iter().map(HookStats::calls).sum()
    }

    /// The counters of one hook.
    pub fn hook(&self, hook: Hook) -> &HookStats {
        &self.hooks[hook.index()]
    }
}

/// The values a plugin set through `aviary:plugin/metrics`, by name.
pub(crate) type PluginMetrics = Mutex<HashMap<String, i64>>;

/// What every instance of one plugin shares.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) log: Arc<PluginLog>,
    pub(crate) kv: Arc<KvStore>,
    pub(crate) keys: KeySets,
    pub(crate) stats: Arc<PluginStats>,
    pub(crate) breaker: Breaker,
    pub(crate) metrics: Arc<PluginMetrics>,
}

/// What a reload hands from a plugin to its successor of the same name: its key-value store,
/// its counters and its metrics, so that state and exported series carry on.
#[derive(Clone)]
pub(crate) struct Carried {
    pub(crate) kv: Arc<KvStore>,
    pub(crate) stats: Arc<PluginStats>,
    pub(crate) metrics: Arc<PluginMetrics>,
}

impl Shared {
    /// What a successor of this plugin keeps.
    pub(crate) fn carried(&self) -> Carried {
        Carried { kv: self.kv.clone(), stats: self.stats.clone(), metrics: self.metrics.clone() }
    }
}

/// What a hook call is about: the client and, for a transform batch holding a message with
/// MQTT 5 properties, the batch's messages (by index).
#[derive(Clone, Copy)]
pub(crate) struct CallFor<'a> {
    pub(crate) client: &'a Arc<Identity>,
    pub(crate) messages: &'a [&'a Arc<Message>],
    /// Messages in the transform batch (0 for other hooks).
    pub(crate) batch_len: u32,
}

/// What `aviary:plugin/context` answers with: set as each call begins. The client stays after
/// the call (no reference count is touched while one session's calls follow each other; the
/// next call replaces it), the messages do not.
#[derive(Default)]
pub(crate) struct CallContext {
    client: Option<Arc<Identity>>,
    messages: Vec<Arc<Message>>,
    batch_len: u32,
    /// What the plugin handed to `context.set-message` during this call, by batch index.
    replacements: Vec<(u32, types::Message)>,
}

impl CallContext {
    /// A call for `c` begins.
    pub(crate) fn enter(&mut self, c: CallFor<'_>) {
        if !self.client.as_ref().is_some_and(|held| Arc::ptr_eq(held, c.client)) {
            self.client = Some(c.client.clone());
        }
        self.messages.extend(c.messages.iter().map(|m| Arc::clone(m)));
        self.batch_len = c.batch_len;
    }

    /// The messages the plugin handed to `context.set-message` during this call, by index.
    pub(crate) fn take_replacements(&mut self) -> Vec<(u32, types::Message)> {
        std::mem::take(&mut self.replacements)
    }

    /// The call ended.
    pub(crate) fn leave(&mut self) {
        self.messages.clear();
        self.replacements.clear();
        self.batch_len = 0;
    }
}

/// The data of one instance's store.
pub(crate) struct HostState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) limits: StoreLimits,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) context: CallContext,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

impl context::Host for HostState {
    fn get_client(&mut self) -> types::ClientResult {
        match &self.context.client {
            Some(who) => convert::client(who),
            None => convert::no_client(),
        }
    }

    fn get_client_id(&mut self) -> String {
        self.context.client.as_ref().map(|who| who.client_id.clone()).unwrap_or_default()
    }

    fn get_username(&mut self) -> Option<String> {
        self.context.client.as_ref().and_then(|who| who.username.clone())
    }

    fn get_message_properties(&mut self, index: u32) -> types::MessageProperties {
        convert::properties(self.context.messages.get(index as usize).map(|m| &**m))
    }

    fn set_message(&mut self, index: u32, msg: types::Message) {
        // One entry per message at most, however often a plugin calls this.
        match self.context.replacements.iter_mut().find(|(i, _)| *i == index) {
            Some(r) => r.1 = msg,
            None if index < self.context.batch_len => self.context.replacements.push((index, msg)),
            None => {}
        }
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace | log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.shared.log.line(level, "log", &message);
    }
}

impl crypto::Host for HostState {
    fn verify_password(&mut self, phc_hash: String, password: Vec<u8>) -> Result<bool, String> {
        super::crypto::verify_password(&phc_hash, &password)
    }

    fn verify_jwt(&mut self, token: String, key_set: String) -> Result<String, crypto::JwtError> {
        self.shared.keys.verify(&token, &key_set)
    }
}

impl kv::Host for HostState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.shared.kv.get(&key)
    }
    fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u32>) -> Result<(), String> {
        self.shared.kv.set(key, value, ttl_ms)
    }
    fn delete(&mut self, key: String) {
        self.shared.kv.delete(&key)
    }
    fn cas(&mut self, key: String, expected: Option<Vec<u8>>, value: Vec<u8>) -> Result<bool, String> {
        self.shared.kv.cas(key, expected.as_deref(), value)
    }
}

/// Distinct metric names one plugin may create.
const MAX_METRICS: usize = 256;

impl HostState {
    fn metric(&self, name: String, f: impl FnOnce(&mut i64)) {
        if name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return;
        }
        if let Ok(mut m) = self.shared.metrics.lock() {
            if m.len() < MAX_METRICS || m.contains_key(&name) {
                f(m.entry(name).or_default());
            }
        }
    }
}

impl metrics::Host for HostState {
    fn counter_add(&mut self, name: String, delta: u64) {
        let delta = i64::try_from(delta).unwrap_or(i64::MAX);
        self.metric(name, |v| *v = v.saturating_add(delta));
    }
    fn gauge_set(&mut self, name: String, value: i64) {
        self.metric(name, |v| *v = value);
    }
}
