//! Host bindings generated from the same WIT file the SDK uses (`plugin-sdk/wit`), so the
//! broker and its plugins cannot drift apart; plus conversions between the broker's types and
//! the WIT types.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "plugin-sdk/wit",
    world: "plugin",
    additional_derives: [PartialEq],
    // Arguments are lowered straight from borrowed data (`&str`, `&[u8]`) into the plugin's
    // memory, without an owned copy first.
    ownership: Borrowing { duplicate_if_necessary: true },
});
