//! `modifier/*`: Lua scripts (feature `lua`) and the Martian request/response modifiers.

#[cfg(feature = "lua")]
pub mod lua;
pub mod martian;

/// Without the `lua` feature the namespaces are known but not acted on.
#[cfg(not(feature = "lua"))]
pub mod lua {
    use crate::components::{ComponentSpec, Scope, Support};

    /// The registry entry of `modifier/lua-proxy` in a build without the feature.
    pub const PROXY_SPEC: ComponentSpec = ComponentSpec::ignored(
        "modifier/lua-proxy",
        &[Scope::Endpoint],
        Support::NotImplemented,
    );
    /// The registry entry of `modifier/lua-backend` in a build without the feature.
    pub const BACKEND_SPEC: ComponentSpec = ComponentSpec::ignored(
        "modifier/lua-backend",
        &[Scope::Backend],
        Support::NotImplemented,
    );
}
