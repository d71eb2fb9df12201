//! Runtime support for the code `#[plugin]` generates. Not a public API.

use crate::bindings::aviary::plugin::types::PublishDecision as Answer;
use crate::bindings::exports::aviary::plugin::messages::MessageBatch;
use std::borrow::Cow;

use crate::{Client, MessageRef, Plugin, PublishDecision};

/// The client of the running hook call, asked for on first use.
pub fn client() -> Client {
    Client::of_call()
}

/// A transform's decision on message `index` of its batch as the broker takes it: a `modify`
/// hands its message over through `context.set-message` first, so the answer carries no data.
fn answer(index: u32, d: PublishDecision) -> Answer {
    match d {
        PublishDecision::Pass => Answer::Pass,
        PublishDecision::Modify(m) => {
            crate::host::set_message(index, &m);
            Answer::Modify
        }
        PublishDecision::Drop(reason) => Answer::Drop(reason),
    }
}

/// A transform's lone message (`on-publish` / `on-deliver`), with its properties when it has
/// any (asked of the broker when the hook wants them).
pub fn message(
    topic: String,
    payload: Vec<u8>,
    qos: u8,
    retain: bool,
    has_properties: bool,
) -> MessageRef<'static> {
    MessageRef::of_call(Cow::Owned(topic), Cow::Owned(payload), qos, retain, 0, has_properties)
}

/// Runs a transform hook on a lone message (see [`message`]).
pub fn transform_one(
    msg: MessageRef<'_>,
    f: impl FnOnce(&Client, MessageRef<'_>) -> PublishDecision,
) -> Answer {
    answer(0, f(&client(), msg))
}

/// Message `index` of a transform batch, borrowed from it: `topic` and `payload` are its
/// byte ranges in the batch's columns.
fn batch_message(
    b: &MessageBatch,
    index: u32,
    topic: (usize, usize),
    payload: (usize, usize),
) -> MessageRef<'_> {
    let flags = b.flags.get(index as usize).copied().unwrap_or(0);
    let topic = b.topics.get(topic.0..topic.1).unwrap_or_default();
    let payload = b.payloads.get(payload.0..payload.1).unwrap_or_default();
    MessageRef::of_call(
        Cow::Borrowed(topic),
        Cow::Borrowed(payload),
        flags & 0b11,
        flags & 0b100 != 0,
        index,
        flags & 0b1000 != 0,
    )
}

/// Runs a transform hook (`f`: the plugin's `on_publish_ref` or `on_deliver_ref`) over a
/// batch (`on-publish-batch` / `on-deliver-batch`): one answer per message, in order. The
/// client of the call is asked for once, on first use.
pub fn transform_batch(
    batch: MessageBatch,
    mut f: impl FnMut(&Client, MessageRef<'_>) -> PublishDecision,
) -> Vec<Answer> {
    let who = client();
    let n = batch.flags.len();
    let mut answers = Vec::with_capacity(n);
    let (mut topic_at, mut payload_at) = (0, 0);
    for (index, k) in (0u32..).zip(0..n) {
        let end = |i: usize, or: usize| batch.ends.get(i).map_or(or, |&e| e as usize);
        let (topic_end, payload_end) = (end(2 * k, topic_at), end(2 * k + 1, payload_at));
        let msg = batch_message(&batch, index, (topic_at, topic_end), (payload_at, payload_end));
        (topic_at, payload_at) = (topic_end, payload_end);
        answers.push(answer(index, f(&who, msg)));
    }
    answers
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
                    __with(|p| $crate::__private::transform_one(msg, |c, m| p.on_publish_ref(c, m)))
                }
                fn on_publish_batch(
                    batch: __exports::messages::MessageBatch,
                ) -> ::std::vec::Vec<$crate::bindings::aviary::plugin::types::PublishDecision> {
                    __with(|p| $crate::__private::transform_batch(batch, |c, m| p.on_publish_ref(c, m)))
                }
                fn on_deliver(
                    topic: ::std::string::String,
                    payload: ::std::vec::Vec<u8>,
                    qos: u8,
                    retain: bool,
                    has_properties: bool,
                ) -> $crate::bindings::aviary::plugin::types::PublishDecision {
                    let msg = $crate::__private::message(topic, payload, qos, retain, has_properties);
                    __with(|p| $crate::__private::transform_one(msg, |c, m| p.on_deliver_ref(c, m)))
                }
                fn on_deliver_batch(
                    batch: __exports::messages::MessageBatch,
                ) -> ::std::vec::Vec<$crate::bindings::aviary::plugin::types::PublishDecision> {
                    __with(|p| $crate::__private::transform_batch(batch, |c, m| p.on_deliver_ref(c, m)))
                }
            }

    $crate::bindings::__export_world!(__AviaryExport with_types_in $crate::bindings);
        };
    };
}
