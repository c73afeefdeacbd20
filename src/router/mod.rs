//! The gateway: its route table, built once from the endpoints, and the dispatch of every
//! request. One concern a file:
//! - `table.rs`: the route table (`{param}` paths, one tree per method, one handler per
//!   method and path), its registration checks and lookups, the encoded-parameter 400;
//! - `dispatch.rs`: serving a request (`Peer`, the client IP, the service layers around the
//!   route, the access log);
//! - `unrouted.rs`: the answer when no route serves a request: gin's trailing-slash and
//!   fixed-path redirects (Go's path cleaning), `OPTIONS`, `404 page not found`,
//!   `405 method not allowed`;
//! - `builtin.rs`: the gateway's own endpoints (`/__health`, `/__debug/`, `/__echo/`);
//! - `endpoint.rs`: the endpoint handler (forwarding, rendering);
//! - `options.rs`: the router options (`router` in the service's `extra_config`).

pub mod builtin;
mod dispatch;
pub mod endpoint;
pub mod options;
mod table;
mod unrouted;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderValue;

use crate::components;
use crate::config::ServiceConfig;
use crate::hooks::ServiceLayer;
pub use dispatch::Peer;
pub use options::RouterOptions;
use table::{MethodTable, Route};

/// The version this binary reports (`X-Krakend`, `User-Agent`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What is shared by every handler.
pub struct Shared {
    pub opts: RouterOptions,
    pub version_header: HeaderValue,
    pub user_agent: HeaderValue,
    pub started: Instant,
    /// The gateway's header lines after the lines of a `no-op` answer that go out as they
    /// came (`http1::RawFields`), as an endpoint would write them into a map:
    /// `X-Krakend-Completed: false`, then `X-Krakend`.
    pub raw_lines: Bytes,
}

/// `X-Krakend-Completed: false` and `X-Krakend: <version>` as header lines.
fn incomplete_lines(version: &HeaderValue) -> Bytes {
    let mut lines = b"X-Krakend-Completed: false\r\nX-Krakend: ".to_vec();
    lines.extend_from_slice(version.as_bytes());
    lines.extend_from_slice(b"\r\n");
    Bytes::from(lines)
}

/// The running gateway: route tables plus shared settings.
pub struct Gateway {
    tables: Vec<MethodTable>,
    routes: Vec<Route>,
    pub shared: Shared,
    pub config: Arc<ServiceConfig>,
    layers: Vec<Arc<dyn ServiceLayer>>,
    /// The server's TLS configuration (`tls`).
    pub server_tls: Option<Arc<rustls::ServerConfig>>,
    /// The metrics registry (`telemetry/metrics`), served on its own listener.
    pub metrics: Option<Arc<components::telemetry::metrics::Registry>>,
}

impl Gateway {
    /// An empty gateway for `config`: no route yet (`add_builtins`, `add_endpoint`).
    pub(crate) fn new(
        config: ServiceConfig,
        opts: RouterOptions,
        layers: Vec<Arc<dyn ServiceLayer>>,
        server_tls: Option<Arc<rustls::ServerConfig>>,
        metrics: Option<Arc<components::telemetry::metrics::Registry>>,
    ) -> Gateway {
        let version_header = HeaderValue::from_str(&if opts.hide_version_header {
            "Version undefined".to_string()
        } else {
            format!("Version {VERSION}")
        })
        .unwrap_or(HeaderValue::from_static("Version undefined"));
        Gateway {
            tables: Vec::new(),
            routes: Vec::new(),
            shared: Shared {
                opts,
                raw_lines: incomplete_lines(&version_header),
                version_header,
                user_agent: HeaderValue::from_str(&format!("Tentacle Version {VERSION}"))
                    .unwrap_or(HeaderValue::from_static("Tentacle")),
                started: Instant::now(),
            },
            config: Arc::new(config),
            layers,
            server_tls,
            metrics,
        }
    }

    /// Whether no service layer sees the answers on their way out.
    pub(crate) fn bare_responses(&self) -> bool {
        self.layers.is_empty()
    }
}
