//! Runtime support for the code `#[plugin]` generates. Not a public API.

use crate::bindings::aviary::plugin::types::PublishDecision as Answer;
use crate::{Client, Message, Plugin, PublishDecision};

/// The client of the running hook call, asked for on first use.
pub fn client() -> Client {
    Client::of_call()
}

/// A transform's decision as the broker takes it: a `modify` hands its message over through
/// `context.set-message` first, so the answer carries no data (and needs no post-return).
pub fn answer(d: PublishDecision) -> Answer {
    match d {
        PublishDecision::Pass => Answer::Pass,
        PublishDecision::Modify(m) => {
            crate::host::set_message(&m);
            Answer::Modify
        }
        PublishDecision::Drop(reason) => Answer::Drop(reason),
    }
}

/// The message of a transform call: its arguments, and its properties when it has any.
pub fn message(topic: String, payload: Vec<u8>, qos: u8, retain: bool, has_properties: bool) -> Message {
    let props = match has_properties {
        true => crate::host::call_message_properties(),
        false => Default::default(),
    };
    Message::from_parts(topic, payload, qos, retain, props)
}

/// `init`: parse the configuration, route panics to the broker's log, build the plugin.
pub fn init<P: Plugin>(config_json: &str) -> Result<P, String> {
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|info| {
        crate::host::log(crate::Level::Error, &format!("panic: {info}"));
    }));
    let config = crate::plugin::parse_config::<P::Config>(config_json).map_err(|e| e.0)?;
    P::init(config).map_err(|e| e.0)
}

/// Exports a [`Plugin`] implementation as the component's `lifecycle`, `authn`, `authz` and
/// `messages` interfaces. Emitted by `#[plugin]`, which also computes the hook flags.
#[macro_export]
#[doc(hidden)]
macro_rules! __export_plugin {
    ($plugin:ty, $hooks:expr) => {
        const _: () = {
            use $crate::bindings::exports::aviary::plugin as __exports;
            use $crate::Plugin as _;

            struct __AviaryExport;

            ::std::thread_local! {
                static __AVIARY_INSTANCE: ::std::cell::OnceCell<$plugin> =
                    const { ::std::cell::OnceCell::new() };
            }

            fn __with<R>(f: impl FnOnce(&$plugin) -> R) -> R {
                __AVIARY_INSTANCE.with(|cell| match cell.get() {
                    Some(p) => f(p),
                    None => ::std::panic!("aviary plugin hook called before init"),
                })
            }

            impl __exports::lifecycle::Guest for __AviaryExport {
                fn init(
                    config_json: ::std::string::String,
                ) -> ::std::result::Result<$crate::PluginInfo, ::std::string::String> {
                    let plugin = $crate::__private::init::<$plugin>(&config_json)?;
                    let transform_topics = plugin.transform_topics();
                    __AVIARY_INSTANCE.with(|cell| {
                        let _ = cell.set(plugin);
                    });
                    ::std::result::Result::Ok($crate::PluginInfo {
                        name: ::std::env!("CARGO_PKG_NAME").into(),
                        version: ::std::env!("CARGO_PKG_VERSION").into(),
                        hooks: $hooks,
                        transform_topics,
                    })
                }
            }

            impl __exports::authn::Guest for __AviaryExport {
                fn authenticate(req: $crate::Connect) -> $crate::AuthDecision {
                    __with(|p| p.authenticate(&req))
                }
            }

            impl __exports::authz::Guest for __AviaryExport {
                fn authorize_publish(
                    topic: ::std::string::String,
                    qos: u8,
                    retain: bool,
                ) -> $crate::AuthzDecision {
                    let c = $crate::__private::client();
                    __with(|p| p.authorize_publish(&c, &topic, qos, retain))
                }
                fn authorize_subscribe(
                    subs: ::std::vec::Vec<$crate::Subscription>,
                ) -> ::std::vec::Vec<$crate::SubDecision> {
                    let c = $crate::__private::client();
                    __with(|p| p.authorize_subscribe(&c, &subs))
                }
            }

            impl __exports::messages::Guest for __AviaryExport {
                fn on_publish(
                    topic: ::std::string::String,
                    payload: ::std::vec::Vec<u8>,
                    qos: u8,
                    retain: bool,
                    has_properties: bool,
                ) -> $crate::bindings::aviary::plugin::types::PublishDecision {
                    let msg = $crate::__private::message(topic, payload, qos, retain, has_properties);
                    let sender = $crate::__private::client();
                    $crate::__private::answer(__with(|p| p.on_publish(&sender, msg)))
                }
                fn on_deliver(
                    topic: ::std::string::String,
                    payload: ::std::vec::Vec<u8>,
                    qos: u8,
                    retain: bool,
                    has_properties: bool,
                ) -> $crate::bindings::aviary::plugin::types::PublishDecision {
                    let msg = $crate::__private::message(topic, payload, qos, retain, has_properties);
                    let subscriber = $crate::__private::client();
                    $crate::__private::answer(__with(|p| p.on_deliver(&subscriber, msg)))
                }
            }

    $crate::bindings::__export_world!(__AviaryExport with_types_in $crate::bindings);
        };
    };
}
