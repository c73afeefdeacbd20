//! `validation/*`: CEL expressions (feature `cel`) and the JSON Schema of a request body.

#[cfg(feature = "cel")]
pub mod cel;
pub mod jsonschema;

/// Without the `cel` feature the namespace is known but not acted on.
#[cfg(not(feature = "cel"))]
pub mod cel {
    use crate::components::{ComponentSpec, Scope, Support};

    /// The registry entry of `validation/cel` in a build without the feature.
    pub const SPEC: ComponentSpec = ComponentSpec::ignored(
        "validation/cel",
        &[Scope::Endpoint, Scope::Backend],
        Support::NotImplemented,
    );
}
