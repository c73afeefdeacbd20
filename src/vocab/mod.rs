//! The gateway's shared HTTP vocabulary, below every other module (it imports none of them):
//! the body type every layer passes, Go's spellings of header names and times,
//! percent-encoding, and a URL authority's host and port.

pub mod authority;
pub mod body;
pub mod go;
pub mod percent;
