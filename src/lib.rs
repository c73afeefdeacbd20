//! Tentacle: an API gateway that runs KrakenD configurations unchanged.
//!
//! # Layout
//! Modules import only from the layers below them (no cycle between top-level modules):
//! `vocab` and `error` at the bottom; `config`, `encoding`, `tls`, `http1`, `telemetry`,
//! `transform`; `message`; `hooks`; `backend`; `pipeline` and `components`; `router`; `app`;
//! `server`; `cli`. `http1` calls the gateway only through its `server::Dispatch` trait, which
//! `server/dispatch.rs` implements for the router's `Gateway`.
//! ```text
//! src/main.rs        the `tentacle` binary: argv → cli
//! src/cli.rs         run | check | version (krakend's flags), the embedded default config
//! src/app.rs         the composition root: builds the gateway from its config (client, TLS,
//!                    every level's components in KrakenD CE's order, endpoints, routes)
//! src/config/        typed service/endpoint/backend config, defaults, v2 → v3 names,
//!                    KRAKEND_* overrides, errors with file:line:col and JSON path
//! src/router/        mod.rs: Gateway, Shared; table.rs: the route table ({param}, one tree
//!                    per method) and its lookups; dispatch.rs: Peer, the client IP, service
//!                    layers, the access log; unrouted.rs: redirects (Go's path cleaning),
//!                    404/405; builtin.rs: /__health /__debug/ /__echo/; endpoint.rs: the
//!                    endpoint handler (forwarding, rendering); options.rs
//! src/message.rs     ProxyRequest/ProxyResponse/ProxyError (Lura's proxy.Request and
//!                    proxy.Response; a response's Payload is one of its three forms:
//!                    Data (a map), Json (an object already written as the render writes
//!                    it), Raw (a `no-op` answer)), OutRequest (one upstream HTTP request)
//! src/hooks.rs       where components plug in: ServiceLayer, EndpointGuard, ProxyStage,
//!                    BackendStage (one chain per backend call: admit, request, exchange,
//!                    response, outcome), Transport (the HTTP client behind the chain)
//! src/pipeline/      mod.rs: the endpoint's Pipe (one backend, shadows, flatmap, static);
//!                    merge.rs (parallel merge), sequential.rs, concurrent.rs
//!                    (concurrent_calls), static_data.rs (the static proxy's strategies)
//! src/backend/       per-backend stack: url_pattern, filters, balancing, its stage chain,
//!                    the client (client.rs, the Transport: redirects, gzip; http:// and
//!                    https:// through http1::client's pool, hyper only for an HTTPS
//!                    proxy's CONNECT tunnel; proxy.rs: HTTP_PROXY, HTTPS_PROXY, NO_PROXY), status handling (backend/http),
//!                    decode + format
//! src/transform.rs   target → allow|deny → mapping → group; flatmap operations
//! src/encoding/      decoders and renders; json/: the Go-compatible writer (write.rs), the
//!                    parser that keeps number literals (parse.rs) and the streaming
//!                    canonicaliser (canonical.rs: plain JSON endpoints, and merges under
//!                    distinct groups, skip the map); XML; YAML
//! src/components/    mod.rs: the namespace registry (active / not yet / Enterprise): one
//!                    entry per component, which describes and builds it (its hook and its
//!                    rank in KrakenD CE's order); keys.rs: the keys each namespace
//!                    reads (unknown ones are warned about); one folder per family, one
//!                    file (or folder) per component:
//!                    security/ (cors, httpsecure, botdetector), auth/ (jwt/: validator,
//!                    signer, JWK cache; client_credentials), qos/ (ratelimit,
//!                    ratelimit_proxy, breaker, httpcache), validation/ (cel (feature),
//!                    jsonschema), modifier/ (lua/ (feature), martian), telemetry/ (metrics)
//! src/telemetry.rs   telemetry/logging
//! src/server/        listener, accept, graceful shutdown: plain connections to
//!                    http1::server's loop, TLS and h2c connections on hyper; dispatch.rs:
//!                    the gateway as the loop's `Dispatch`
//! src/http1/         HTTP/1.1, hand-written (mod.rs: why, with the measured figures):
//!                    server.rs (the connection loop for plain connections: parse, run the
//!                    gateway in place through `Dispatch`, write), client.rs (the inline
//!                    keep-alive pool for http:// and https:// backends: one exchange, the response head
//!                    scanner, framing, the idle sweep); the wire code both share: head.rs
//!                    (first and field lines), framing.rs (length, chunked, until close),
//!                    fields.rs (Content-Length, Connection, Host values), names.rs (Go's
//!                    header names), raw_fields.rs (a bare `no-op` answer's lines, written
//!                    through by server.rs, put into the map by `Gateway::dispatch` for
//!                    hyper), pool.rs (per-thread maps and buffers), socket.rs
//! src/tls.rs         rustls configs: backend client (client_tls) and server (tls)
//! src/vocab/         the shared HTTP vocabulary, below every other module (imports none):
//!                    body.rs (the body type every layer passes, its error, Deadline for a
//!                    streamed answer), go.rs (Go's spellings of header names and times),
//!                    percent.rs (%XX escapes, a path's escapes checked as Go's),
//!                    authority.rs (a URL authority's host and port, for Host and pools)
//! src/error.rs      the one error type outside the request path (thiserror): a
//!                    configuration that cannot be built, I/O, TLS, a document that does not
//!                    decode, a component's failure at run time; library errors kept as
//!                    `source`; imports std and external crates only
//! src/fuzzing.rs     the fuzz targets' checks (fuzz/ runs them, tests/fuzz_replay.rs replays)
//! ```
//!
//! # Request flow
//! ```text
//! client ─▶ server (http1::server loop │ hyper for TLS/h2c) ─▶ Gateway::dispatch ─▶ service
//!          layers (CORS, security/http, bots, metrics) ─▶ route table (per method)
//!          ─▶ EndpointHandler
//!   EndpointHandler: guards (bots, JWT, rate limit) ─▶ filter headers/query (zero trust)
//!     ─▶ proxy stages (Lua, CEL, JSON schema, signer) around Pipe::run (endpoint timeout)
//!     Pipe: 1 backend │ parallel merge (85 %) │ sequential ─▶ flatmap ─▶ static
//!       (a pipe that is one plain call has its backend called without the pipe's layers)
//!       Backend: stages admit (metrics, breaker, rate limit, CEL) ─▶ url_pattern ─▶ host
//!                ─▶ stages' request (Lua) ─▶ stages' exchange (Martian, HTTP cache,
//!                   client credentials) ─▶ Transport (HTTP client: redirects, gzip;
//!                   http1::client's inline pool, plain or rustls; hyper through an
//!                   HTTPS proxy's tunnel)
//!                ─▶ status ─▶ decode (encoding)
//!                ─▶ target ─▶ allow|deny ─▶ mapping ─▶ group ─▶ stages' response (CEL,
//!                   Lua) and outcome (breaker, metrics)
//!   ◀─ render (output_encoding), X-Krakend, X-Krakend-Completed, Cache-Control
//!      (a bare `no-op` answer: the backend's lines as they came, then the gateway's two)
//! ```

pub mod app;
pub mod backend;
pub mod cli;
pub mod components;
pub mod config;
pub mod encoding;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
pub mod http1;
pub mod message;
pub mod pipeline;
pub mod router;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod transform;
pub mod vocab;
