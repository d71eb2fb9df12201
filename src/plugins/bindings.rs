//! Host bindings generated from the same WIT file the SDK uses (`plugin-sdk/wit`), so the
//! broker and its plugins cannot drift apart; plus conversions between the broker's types and
//! the WIT types.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "plugin-sdk/wit",
    world: "plugin",
    additional_derives: [PartialEq],
});
