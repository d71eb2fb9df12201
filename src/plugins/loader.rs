//! Loading: read, pin, compile, check imports, pre-link, and run `init` once to learn the
//! plugin's hooks. Any problem stops the broker's startup with the plugin's name.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

use super::bindings::aviary::plugin::types::Hooks;
use super::bindings::PluginPre;
use super::breaker::{Breaker, BreakerConfig};
use super::config::{PluginConfig, PluginRuntimeConfig};
use super::crypto::KeySets;
use super::host::{Carried, HostState, PluginLog, Shared};
use super::kv::{KvLimits, KvStore};
use super::{instance, wasi, PluginError};
use crate::protocol::topic::{matches, validate_topic_filter};

/// The WIT package version this broker speaks.
const WIT_VERSION: &str = "0.3.0";

/// A compiled, checked plugin.
pub(crate) struct Loaded {
    pub(crate) config: PluginConfig,
    pub(crate) pre: PluginPre<HostState>,
    pub(crate) config_json: String,
    pub(crate) hooks: Hooks,
    /// The topic filters the plugin limits its transforms to (`None`: every message).
    pub(crate) transform_topics: Option<Box<[String]>>,
    pub(crate) shared: Arc<Shared>,
}

impl Loaded {
    /// Is a message on `topic` for this plugin's transforms?
    pub(crate) fn transforms(&self, topic: &str) -> bool {
        self.transform_topics.as_ref().is_none_or(|filters| filters.iter().any(|f| matches(f, topic)))
    }
}

fn err(plugin: &str, problem: impl std::fmt::Display) -> PluginError {
    PluginError::Load { plugin: plugin.to_owned(), problem: problem.to_string() }
}

/// Where a plugin is loaded: the engine and linker of its host, the runtime limits, the
/// configuration file's directory and the epoch tick.
pub(crate) struct Env<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) linker: &'a Linker<HostState>,
    pub(crate) rt: &'a PluginRuntimeConfig,
    pub(crate) base: &'a Path,
    pub(crate) epoch_tick: Duration,
}

/// Loads one `[[plugin]]`; on a reload, `carried` is what its predecessor of the same name
/// hands on (its store keeps its limits until the whole new host is in: see
/// [`PluginHost::reload`](super::PluginHost::reload)).
pub(crate) fn load(env: &Env<'_>, c: &PluginConfig, carried: Option<Carried>) -> Result<Loaded, PluginError> {
    let Env { engine, linker, rt, base, epoch_tick } = *env;
    let name = c.name.as_str();
    let path = base.join(&c.path);
    let len = std::fs::metadata(&path).map_err(|e| err(name, format!("{}: {e}", path.display())))?.len();
    if len > rt.max_wasm_bytes as u64 {
        return Err(err(name, format!("{} is larger than max_wasm_bytes", path.display())));
    }
    let bytes = std::fs::read(&path).map_err(|e| err(name, format!("{}: {e}", path.display())))?;
    if let Some(expected) = &c.sha256 {
        let actual: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(err(name, format!("sha256 mismatch: file has {actual}")));
        }
    }
    let component = Component::new(engine, &bytes).map_err(|e| err(name, format!("not a component: {e}")))?;
    check_imports(engine, &component, c)?;
    let pre = linker.instantiate_pre(&component).map_err(|e| err(name, format!("cannot link: {e}")))?;
    let pre = PluginPre::new(pre).map_err(|e| err(name, format!("missing exports: {e}")))?;
    let config_json = config_json(c, base)?;
    let shared = Arc::new(shared(c, rt, &config_json, base, carried)?);
    let mut loaded =
        Loaded { config: c.clone(), pre, config_json, hooks: Hooks::empty(), transform_topics: None, shared };
    // A trial instance: `init` must succeed now, and it tells us the hooks. It is not counted.
    let trial = instance::instantiate(&loaded, engine, epoch_tick);
    loaded.shared.stats.instances.fetch_sub(1, Ordering::Relaxed);
    let (_, info) = trial.map_err(|e| PluginError::Init { plugin: c.name.clone(), problem: e })?;
    loaded.hooks = info.hooks;
    if let Some(filters) = info.transform_topics {
        if let Some(bad) = filters.iter().find(|f| validate_topic_filter(f).is_err()) {
            return Err(err(name, format!("`{bad}` (a transform topic) is not a valid topic filter")));
        }
        loaded.transform_topics = Some(filters.into());
    }
    tracing::info!(
        plugin = name, module = %info.name, version = %info.version, hooks = ?info.hooks,
        transform_topics = ?loaded.transform_topics, "plugin loaded"
    );
    Ok(loaded)
}

/// Refuses a component that imports anything not granted.
fn check_imports(engine: &Engine, component: &Component, c: &PluginConfig) -> Result<(), PluginError> {
    let ty = component.component_type();
    for (import, _) in ty.imports(engine) {
        let (iface, version) = import.split_once('@').unwrap_or((import, ""));
        let ok = match iface {
            "aviary:plugin/types" | "aviary:plugin/log" | "aviary:plugin/context" => true,
            i if i.starts_with("aviary:plugin/") => c.grants.iter().any(|g| g.interface() == i),
            i => wasi::ALLOWED_WASI.contains(&i),
        };
        if !ok {
            return Err(PluginError::Forbidden { plugin: c.name.clone(), import: import.to_owned() });
        }
        if iface.starts_with("aviary:plugin/") && version != WIT_VERSION {
            let problem = format!("built for aviary:plugin@{version}; this broker speaks @{WIT_VERSION}");
            return Err(err(&c.name, problem));
        }
    }
    Ok(())
}

/// The plugin's table as JSON, with the `files` it asked for.
fn config_json(c: &PluginConfig, base: &Path) -> Result<String, PluginError> {
    let mut json = serde_json::to_value(&c.config).map_err(|e| err(&c.name, e))?;
    if !c.files.is_empty() {
        let mut files = serde_json::Map::new();
        for (key, path) in &c.files {
            let full = base.join(path);
            let meta =
                std::fs::metadata(&full).map_err(|e| err(&c.name, format!("{}: {e}", full.display())))?;
            if meta.len() > 1 << 20 {
                return Err(err(&c.name, format!("{} is larger than 1 MiB", full.display())));
            }
            let text = std::fs::read_to_string(&full)
                .map_err(|e| err(&c.name, format!("{}: {e}", full.display())))?;
            files.insert(key.clone(), text.into());
        }
        if let Some(obj) = json.as_object_mut() {
            obj.insert("files".into(), files.into());
        }
    }
    Ok(json.to_string())
}

fn shared(
    c: &PluginConfig,
    rt: &PluginRuntimeConfig,
    json: &str,
    base: &Path,
    carried: Option<Carried>,
) -> Result<Shared, PluginError> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| err(&c.name, e))?;
    let keys = KeySets::from_config(&value, base).map_err(|e| err(&c.name, e))?;
    let name: Arc<str> = c.name.as_str().into();
    let carried = carried.unwrap_or_else(|| Carried {
        kv: Arc::new(KvStore::new(kv_limits(rt))),
        stats: Default::default(),
        metrics: Default::default(),
    });
    Ok(Shared {
        log: Arc::new(PluginLog::new(name.clone(), rt.log_lines_per_sec)),
        name,
        kv: carried.kv,
        keys,
        stats: carried.stats,
        breaker: Breaker::new(BreakerConfig {
            failures: rt.breaker_failures,
            window: Duration::from_secs(rt.breaker_window_secs),
            open: Duration::from_millis(rt.breaker_open_ms),
            max_open: Duration::from_secs(rt.breaker_max_open_secs),
        }),
        metrics: carried.metrics,
    })
}

/// The key-value store limits of `[plugin_runtime]`.
pub(crate) fn kv_limits(rt: &PluginRuntimeConfig) -> KvLimits {
    KvLimits { max_keys: rt.kv_max_keys, max_value_bytes: rt.kv_max_value_bytes, max_bytes: rt.kv_max_bytes }
}
