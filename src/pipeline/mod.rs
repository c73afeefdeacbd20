//! The proxy pipe of one endpoint: fan-out and merge (parallel or sequential), the static
//! proxy, endpoint-level flatmap. What travels through it is in `message`.

pub mod merge;
