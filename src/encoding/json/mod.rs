//! JSON as KrakenD writes it: a writer that produces what Go's `encoding/json` produces
//! (`write`), [`parse`], the decoder that keeps every number literal as the backend sent it
//! (`parse`), and the streaming canonicaliser that writes what the two would for a body
//! without building the value (`canonical`).

mod canonical;
mod parse;
mod write;

pub use canonical::{canonical_object, canonicalize, NotCanonical};
pub use parse::parse;
pub use write::{map_to_vec, to_vec, write_str, write_value};
