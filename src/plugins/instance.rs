//! Plugin instances: one per plugin per thread, held in a [`PluginSet`], called under a
//! deadline, and thrown away after any failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimitsBuilder, Trap};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::aviary::plugin::types::PluginInfo;
use super::bindings::Plugin;
use super::host::{CallContext, CallFor, HostState};
use super::loader::Loaded;
use super::wasi::LogStream;
use super::{FailureKind, Hook, PluginHost};

/// A live instance.
pub(crate) struct Slot {
    store: Store<HostState>,
    plugin: Plugin,
}

/// What [`describe`] says of a deadline miss.
const DEADLINE: &str = "deadline exceeded";

/// Why a call failed.
fn describe(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => DEADLINE.into(),
        Some(t) => format!("trap: {t}"),
        None => format!("{e:#}"),
    }
}

/// Epoch ticks for a deadline: rounded up, plus one for the tick already under way.
fn ticks(deadline_ms: u64, tick: Duration) -> u64 {
    let tick_ms = tick.as_millis().max(1) as u64;
    deadline_ms.div_ceil(tick_ms) + 1
}

/// Runs `f` with panics (from host code reached through the plugin) turned into errors.
fn guarded<R>(f: impl FnOnce() -> wasmtime::Result<R>) -> Result<R, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(describe(&e)),
        Err(_) => Err("host panic during the call".into()),
    }
}

/// Creates an instance and runs `init` under its deadline.
pub(crate) fn instantiate(l: &Loaded, engine: &Engine, tick: Duration) -> Result<(Slot, PluginInfo), String> {
    let memory = (l.config.limits.memory_mib as usize) << 20;
    let limits = StoreLimitsBuilder::new()
        .memory_size(memory)
        .table_elements(10_000)
        .instances(64)
        .trap_on_grow_failure(true)
        .build();
    let logger = l.shared.log.clone();
    let wasi = WasiCtxBuilder::new()
        .stdout(LogStream { logger: logger.clone(), stream: "stdout" })
        .stderr(LogStream { logger, stream: "stderr" })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = HostState {
        shared: l.shared.clone(),
        limits,
        wasi,
        table: ResourceTable::new(),
        context: CallContext::default(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store.epoch_deadline_trap();
    store.set_epoch_deadline(ticks(l.config.limits.init_ms, tick));
    l.shared.stats.instances.fetch_add(1, Ordering::Relaxed);
    let plugin = guarded(|| l.pre.instantiate(&mut store))?;
    let info = guarded(|| plugin.aviary_plugin_lifecycle().call_init(&mut store, &l.config_json))?
        .map_err(|e| format!("init refused: {e}"))?;
    Ok((Slot { store, plugin }, info))
}

/// This thread's instances of every plugin of a host.
pub struct PluginSet {
    pub(crate) host: Arc<PluginHost>,
    slots: Vec<Option<Slot>>,
    /// Where this set counts its calls (see `stats`).
    shard: usize,
}

impl PluginSet {
    /// An empty set; instances are made on first use.
    pub fn new(host: Arc<PluginHost>) -> Self {
        let slots = host.plugins.iter().map(|_| None).collect();
        PluginSet { host, slots, shard: super::stats::next_shard() }
    }

    /// Calls plugin `i` under `deadline_ms` about `context` (what the plugin's
    /// `aviary:plugin/context` calls answer). `Err` after a failure (already logged, counted and the
    /// instance dropped) or when the plugin's circuit breaker is open.
    pub(crate) fn call<R>(
        &mut self,
        i: usize,
        hook: Hook,
        deadline_ms: u64,
        context: CallFor<'_>,
        f: impl FnOnce(&Plugin, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, ()> {
        let l = &self.host.plugins[i];
        let stats = &l.shared.stats;
        let per_hook = stats.hook(hook);
        per_hook.call(self.shard);
        if !l.shared.breaker.allows() {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            per_hook.failure(FailureKind::BreakerOpen);
            return Err(());
        }
        let started = self.host.clock.now();
        let outcome = run(&self.host, &mut self.slots[i], i, deadline_ms, context, f);
        let l = &self.host.plugins[i];
        l.shared.stats.hook(hook).time(self.shard, self.host.clock.now().duration_since(started));
        match outcome {
            Ok(r) => {
                l.shared.breaker.success();
                Ok(r)
            }
            Err(e) => {
                let kind = if e == DEADLINE { FailureKind::Timeout } else { FailureKind::Error };
                self.record_failure(i, hook, kind, &e);
                Err(())
            }
        }
    }

    /// Records an unusable answer of plugin `i` to `hook` (a failure like any other).
    pub(crate) fn fail(&mut self, i: usize, hook: Hook, problem: &str) {
        self.record_failure(i, hook, FailureKind::InvalidAnswer, problem);
    }

    /// Records a failure of plugin `i` (a trap, or an answer the broker cannot use): logs it,
    /// counts it, drops the instance and feeds the circuit breaker.
    fn record_failure(&mut self, i: usize, hook: Hook, kind: FailureKind, problem: &str) {
        self.slots[i] = None;
        let shared = &self.host.plugins[i].shared;
        shared.stats.failures.fetch_add(1, Ordering::Relaxed);
        shared.stats.hook(hook).failure(kind);
        if kind == FailureKind::Timeout {
            shared.stats.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        let hook = hook.name();
        tracing::warn!(plugin = %shared.name, hook, problem, "plugin failed; instance discarded");
        if let Some(open) = shared.breaker.failure() {
            shared.stats.breaker_opened.fetch_add(1, Ordering::Relaxed);
            tracing::error!(plugin = %shared.name, open_ms = open.as_millis() as u64, "circuit breaker opened");
        }
    }
}

/// Makes plugin `i`'s instance in `slot` if needed and runs `f` on it under `deadline_ms`
/// with `context` in force.
fn run<R>(
    host: &PluginHost,
    slot: &mut Option<Slot>,
    i: usize,
    deadline_ms: u64,
    context: CallFor<'_>,
    f: impl FnOnce(&Plugin, &mut Store<HostState>) -> wasmtime::Result<R>,
) -> Result<R, String> {
    let slot = match slot {
        Some(s) => s,
        None => slot.insert(instantiate(&host.plugins[i], &host.engine, host.tick)?.0),
    };
    slot.store.set_epoch_deadline(ticks(deadline_ms, host.tick));
    slot.store.data_mut().context.enter(context);
    let plugin = &slot.plugin;
    let store = &mut slot.store;
    let outcome = guarded(|| f(plugin, store));
    store.data_mut().context.leave();
    outcome
}
