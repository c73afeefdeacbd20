//! `validation/*`: CEL expressions (feature `cel`) and the JSON Schema of a request body.

#[cfg(feature = "cel")]
pub mod cel;
pub mod jsonschema;
