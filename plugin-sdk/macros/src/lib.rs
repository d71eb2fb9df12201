//! The `#[plugin]` attribute of `aviary-plugin-sdk` (use it through that crate).

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, ImplItem, ItemImpl};

/// Marks `impl Plugin for T { ... }`: keeps the impl, exports `T` as the plugin component and
/// declares exactly the hooks written in the block, so the broker calls no other.
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(proc_macro2::Span::call_site(), "#[plugin] takes no arguments")
            .to_compile_error()
            .into();
    }
    let imp = parse_macro_input!(item as ItemImpl);
    let is_plugin = imp
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|s| s.ident == "Plugin");
    if !is_plugin {
        return syn::Error::new_spanned(&imp.self_ty, "#[plugin] goes on `impl Plugin for YourType`")
            .to_compile_error()
            .into();
    }
    let flags: Vec<_> = imp
        .items
        .iter()
        .filter_map(|item| match item {
            ImplItem::Fn(f) => hook_flag(&f.sig.ident.to_string()),
            _ => None,
        })
        .map(|name| format_ident!("{}", name))
        .collect();
    let ty = &imp.self_ty;
    quote! {
        #imp
        ::aviary_plugin_sdk::__export_plugin!(
            #ty,
            ::aviary_plugin_sdk::Hooks::empty() #( | ::aviary_plugin_sdk::Hooks::#flags )*
        );
    }
    .into()
}

/// The `hooks` flag a trait method stands for.
fn hook_flag(method: &str) -> Option<&'static str> {
    Some(match method {
        "authenticate" => "AUTHENTICATE",
        "authorize_publish" => "AUTHORIZE_PUBLISH",
        "authorize_subscribe" => "AUTHORIZE_SUBSCRIBE",
        "on_publish" | "on_publish_ref" => "ON_PUBLISH",
        "on_deliver" | "on_deliver_ref" => "ON_DELIVER",
        _ => return None,
    })
}
