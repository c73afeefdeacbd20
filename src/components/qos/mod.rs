//! `qos/*`: the endpoint rate limit (`qos/ratelimit/router`), the backend one
//! (`qos/ratelimit/proxy`), the circuit breaker and the HTTP cache.

pub mod breaker;
pub mod httpcache;
pub mod ratelimit;
pub mod ratelimit_proxy;
