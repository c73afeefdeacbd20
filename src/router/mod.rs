//! The route table, built once from the endpoints (`{param}` paths, one handler per method),
//! and the dispatch of every request: built-in endpoints, gin's trailing-slash and fixed-path
//! redirects, `404 page not found`, `405 method not allowed`, the encoded-parameter 400.

pub mod builtin;
pub mod endpoint;
pub mod options;

use std::borrow::Cow;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::Either;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::components;
use crate::config::{route_pattern, EndpointConfig, ServiceConfig};
use crate::hooks::{RequestHead, ServiceLayer};
use crate::vocab::body::{full_body, read_body, Body};
use crate::vocab::percent::percent_decode;
use endpoint::{ClientIp, EndpointHandler};
pub use options::RouterOptions;

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

enum Target {
    Endpoint(Arc<EndpointHandler>),
    Health,
    Debug,
    Echo,
}

/// One registered route: the path as matchit knows it (`/users/{id}`) and its handler.
struct Route {
    pattern: String,
    target: Target,
}

/// The routes of one HTTP method: gin keeps one tree per method, so the same path may use
/// different parameter names on different methods.
struct MethodTable {
    method: Method,
    tree: matchit::Router<usize>,
    /// Indexes into `Gateway::routes`, in registration order.
    routes: Vec<usize>,
}

/// The methods gin's `Any` registers a handler for (the built-in `/__debug/`, `/__echo/`).
const ANY_METHODS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
    Method::DELETE,
    Method::CONNECT,
    Method::TRACE,
];

/// The other end of a client connection, its address also as text (written once per
/// connection, read by every request on it).
pub struct Peer {
    pub addr: SocketAddr,
    pub ip: String,
    /// `ip` as a header value (`X-Forwarded-For`), made once per connection.
    pub ip_value: Option<HeaderValue>,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        let ip = ip_string(addr.ip());
        Peer {
            addr,
            ip_value: HeaderValue::from_str(&ip).ok(),
            ip,
        }
    }
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

    /// Registers the built-in endpoints: `/__health` (unless disabled), `/__debug/` (with
    /// `debug` or `debug_endpoint`), `/__echo/` (`echo_endpoint`).
    pub(crate) fn add_builtins(&mut self, debug: bool, errors: &mut Vec<String>) {
        if !self.shared.opts.disable_health {
            let p = self.shared.opts.health_path.clone();
            self.add(
                &p,
                Method::GET,
                Target::Health,
                false,
                errors,
                "router.health_path",
            );
        }
        if debug || self.config.debug_endpoint {
            for p in ["/__debug", "/__debug/", "/__debug/{*rest}"] {
                self.add(
                    p,
                    Method::GET,
                    Target::Debug,
                    true,
                    errors,
                    "debug_endpoint",
                );
            }
        }
        if self.config.echo_endpoint {
            for p in ["/__echo", "/__echo/", "/__echo/{*rest}"] {
                self.add(p, Method::GET, Target::Echo, true, errors, "echo_endpoint");
            }
        }
    }

    /// Registers an endpoint's handler on its route.
    pub(crate) fn add_endpoint(
        &mut self,
        ep: &EndpointConfig,
        handler: EndpointHandler,
        errors: &mut Vec<String>,
    ) {
        let method = handler.method.clone();
        let pattern = route_pattern(&ep.endpoint);
        self.add(
            &pattern,
            method,
            Target::Endpoint(Arc::new(handler)),
            false,
            errors,
            &format!("{}.endpoint", ep.json_path),
        );
    }

    /// Registers `target` for `method` (every method of gin's `Any` when `any_method`).
    fn add(
        &mut self,
        pattern: &str,
        method: Method,
        target: Target,
        any_method: bool,
        errors: &mut Vec<String>,
        path: &str,
    ) {
        let methods: &[Method] = if any_method {
            &ANY_METHODS
        } else {
            std::slice::from_ref(&method)
        };
        // any error fails the build, so a half-registered route is never served
        for m in methods {
            if let Err(e) = self.check_insert(m, pattern) {
                errors.push(format!("{path}: the route {m} {pattern} {e}"));
                return;
            }
        }
        let idx = self.routes.len();
        for m in methods {
            let pos = match self.tables.iter().position(|t| t.method == *m) {
                Some(p) => p,
                None => {
                    self.tables.push(MethodTable {
                        method: m.clone(),
                        tree: matchit::Router::new(),
                        routes: Vec::new(),
                    });
                    self.tables.len() - 1
                }
            };
            let table = &mut self.tables[pos];
            if let Err(e) = table.tree.insert(pattern, idx) {
                errors.push(format!(
                    "{path}: the route {m} {pattern} conflicts with another endpoint: {e}"
                ));
                return;
            }
            table.routes.push(idx);
        }
        self.routes.push(Route {
            pattern: pattern.to_string(),
            target,
        });
    }

    /// Whether `pattern` can join the tree of `method`: not defined twice, no parameter
    /// named differently at the same position (matchit checks the rest on insert).
    fn check_insert(&self, method: &Method, pattern: &str) -> Result<(), String> {
        let Some(table) = self.table(method) else {
            return Ok(());
        };
        if let Ok(m) = table.tree.at(pattern) {
            if self.routes[*m.value].pattern == pattern {
                return Err("is defined twice".to_string());
            }
        }
        if let Some(other) = table
            .routes
            .iter()
            .find_map(|i| param_conflict(&self.routes[*i].pattern, pattern))
        {
            return Err(format!("conflicts with another endpoint: {other}"));
        }
        Ok(())
    }

    fn table(&self, method: &Method) -> Option<&MethodTable> {
        self.tables.iter().find(|t| t.method == *method)
    }

    /// The endpoint pattern that serves `method path`, if any (no redirects).
    pub fn lookup(&self, method: &Method, path: &str) -> Option<&str> {
        let m = self.table(method)?.tree.at(path).ok()?;
        Some(self.routes[*m.value].pattern.as_str())
    }

    /// The client IP as gin's `ClientIP()` computes it with KrakenD's router options, with its
    /// header value when one was made already.
    fn client_ip<'a>(
        &self,
        req: &Request<Body>,
        peer: &'a Peer,
    ) -> (Cow<'a, str>, Option<&'a HeaderValue>) {
        let opts = &self.shared.opts;
        if opts.forwarded_by_client_ip {
            let trusted = opts.trusted_proxies.is_empty()
                || opts
                    .trusted_proxies
                    .iter()
                    .any(|c| options::in_cidr(peer.addr.ip(), *c));
            if trusted {
                for h in &opts.remote_ip_headers {
                    if let Some(v) = req.headers().get(h.as_str()).and_then(|v| v.to_str().ok()) {
                        if let Some(ip) = v
                            .split(',')
                            .map(str::trim)
                            .find_map(|s| s.parse::<IpAddr>().ok())
                        {
                            return (Cow::Owned(ip_string(ip)), None);
                        }
                    }
                }
            }
        }
        // the connection's own address has its header value made already
        (Cow::Borrowed(&peer.ip), peer.ip_value.as_ref())
    }

    /// Serves one request; the response's headers are all in its map.
    pub async fn dispatch(&self, req: Request<Body>, peer: &Peer) -> Response<Body> {
        let mut resp = self.dispatch_raw(req, peer).await;
        if let Some(raw) = resp.extensions_mut().remove::<crate::http1::RawFields>() {
            raw.append_to(resp.headers_mut());
        }
        resp
    }

    /// Serves one request for a writer that also writes `http1::RawFields` (a `no-op` answer's
    /// header lines kept as they came) beside the map.
    ///
    /// Not an `async fn`: a request that no service layer sees and no access log reports is
    /// served by its route's own future, with nothing around it; any other goes through
    /// [`dispatch_observed`](Self::dispatch_observed), in a box of its own. A request future's
    /// size is what each request writes.
    pub fn dispatch_raw<'a>(
        &'a self,
        req: Request<Body>,
        peer: &'a Peer,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        if self.layers.is_empty() && self.shared.opts.disable_access_log {
            let (client_ip, ip_value) = self.client_ip(&req, peer);
            Either::Left(self.route(req, client_ip, ip_value))
        } else {
            Either::Right(Box::pin(self.dispatch_observed(req, peer)))
        }
    }

    /// Serves one request with the service layers around it and the access log after it.
    async fn dispatch_observed(&self, req: Request<Body>, peer: &Peer) -> Response<Body> {
        let log = !self.shared.opts.disable_access_log;
        // the clock is read only when something reports the time taken
        let started = (log || !self.layers.is_empty()).then(Instant::now);
        let method = req.method().clone();
        let raw_path = if log {
            req.uri().path().to_string()
        } else {
            String::new()
        };
        let (client_ip, ip_value) = self.client_ip(&req, peer);
        let resp = if self.layers.is_empty() {
            self.route(req, client_ip.clone(), ip_value).await
        } else {
            let (m, u, h) = (
                req.method().clone(),
                req.uri().clone(),
                req.headers().clone(),
            );
            let head = RequestHead {
                method: &m,
                uri: &u,
                headers: &h,
                client_ip: &client_ip,
                tls: self.server_tls.is_some(),
            };
            let early = self.layers.iter().find_map(|l| l.request(&head));
            let routed = early.is_none();
            let mut resp = match early {
                Some(r) => r,
                None => self.route(req, client_ip.clone(), ip_value).await,
            };
            for l in &self.layers {
                l.response(&head, &mut resp);
            }
            let elapsed = started.map(|t| t.elapsed()).unwrap_or_default();
            for l in &self.layers {
                l.observe(&head, &resp, elapsed, routed);
            }
            resp
        };
        if log && !self.shared.opts.logger_skip_paths.contains(&raw_path) {
            tracing::info!(
                target: "tentacle::access",
                "[GIN] | {} | {:>12?} | {:>15} | {:<7} {:?}",
                resp.status().as_u16(),
                started.map(|t| t.elapsed()).unwrap_or_default(),
                client_ip,
                method.as_str(),
                raw_path
            );
        }
        resp
    }

    /// Not an `async fn`: the route is found before the future is made, and an endpoint's
    /// future is its handler's own, with no routing layer around it.
    fn route<'a>(
        &'a self,
        req: Request<Body>,
        client_ip: Cow<'a, str>,
        ip_value: Option<&'a HeaderValue>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        match self.find(&req) {
            Found::Endpoint(h, params) => {
                let ip = ClientIp {
                    text: client_ip,
                    value: ip_value,
                };
                Either::Left(h.handle(req, params, &self.shared, ip))
            }
            // reads a body: kept out of the endpoint path's future
            Found::Inspect { debug } => Either::Right(Either::Left(Box::pin(inspect(debug, req)))),
            Found::Answer(resp) => Either::Right(Either::Right(std::future::ready(resp))),
        }
    }

    /// What serves a request: an endpoint with its params, a built-in endpoint, or (no route)
    /// the redirect, `OPTIONS` or error answer.
    fn find(&self, req: &Request<Body>) -> Found<'_> {
        let opts = &self.shared.opts;
        // gin routes on the decoded path; `disable_path_decoding` only turns off the
        // encoded-param check
        let mut path = std::borrow::Cow::Borrowed(req.uri().path());
        if path.contains('%') {
            path = std::borrow::Cow::Owned(percent_decode(&path));
        }
        if opts.remove_extra_slash && path.contains("//") {
            path = std::borrow::Cow::Owned(collapse_slashes(&path));
        }
        if let Some(m) = self.table(req.method()).and_then(|t| t.tree.at(&path).ok()) {
            let route = &self.routes[*m.value];
            let h = match &route.target {
                Target::Endpoint(h) => h,
                Target::Health => return Found::Answer(builtin::health(self.shared.started)),
                Target::Debug => return Found::Inspect { debug: true },
                Target::Echo => return Found::Inspect { debug: false },
            };
            let params: Vec<(String, String)> = m
                .params
                .iter()
                .map(|(k, v)| (crate::backend::url::param_key(k), v.to_string()))
                .collect();
            if !self.shared.opts.disable_path_decoding
                && params.iter().any(|(_, v)| {
                    v.contains(['?', '#']) || (v.contains('%') && percent_decode(v) != *v)
                })
            {
                return Found::Answer(endpoint::text_response(
                    StatusCode::BAD_REQUEST,
                    "error: encoded url params",
                ));
            }
            return Found::Endpoint(h, params);
        }
        Found::Answer(self.unrouted(req, &path))
    }

    /// The answer to a request no route serves.
    fn unrouted(&self, req: &Request<Body>, path: &str) -> Response<Body> {
        let opts = &self.shared.opts;
        let method = req.method().clone();
        if method != Method::CONNECT && path != "/" {
            let code = if method == Method::GET {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::TEMPORARY_REDIRECT
            };
            if !opts.disable_redirect_trailing_slash {
                let alt = match path.strip_suffix('/') {
                    Some(p) => p.to_string(),
                    None => format!("{path}/"),
                };
                if self.has_method(&alt, &method) {
                    return redirect(code, &alt, req.uri().query(), &method);
                }
            }
            if !opts.disable_redirect_fixed_path {
                if let Some(fixed) = self.fixed_path(&clean_path(path), &method) {
                    return redirect(code, &fixed, req.uri().query(), &method);
                }
            }
        }
        if method == Method::OPTIONS && opts.auto_options {
            // KrakenD lists the endpoint methods registered for the path, sorted
            let mut allow: Vec<&str> = self
                .tables
                .iter()
                .filter(|t| t.tree.at(path).is_ok())
                .map(|t| t.method.as_str())
                .collect();
            if !allow.is_empty() {
                allow.sort_unstable();
                let mut r = Response::new(crate::vocab::body::empty_body());
                if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                    r.headers_mut().insert(header::ALLOW, v);
                }
                r.headers_mut()
                    .insert(endpoint::X_KRAKEND, self.shared.version_header.clone());
                return r;
            }
        }
        if !opts.disable_handle_method_not_allowed
            && self
                .tables
                .iter()
                .any(|t| t.method != method && t.tree.at(path).is_ok())
        {
            return self.error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                &opts.error_body_405,
                "405 method not allowed",
            );
        }
        self.error_page(
            StatusCode::NOT_FOUND,
            &opts.error_body_404,
            "404 page not found",
        )
    }

    fn error_page(
        &self,
        status: StatusCode,
        custom: &Option<Vec<u8>>,
        text: &'static str,
    ) -> Response<Body> {
        let mut r = match custom {
            Some(body) => builtin::json_response(status.as_u16(), body.clone()),
            None => {
                let mut r = Response::new(full_body(Bytes::from_static(text.as_bytes())));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                r
            }
        };
        *r.status_mut() = status;
        r.headers_mut().insert(
            endpoint::X_KRAKEND_COMPLETED,
            HeaderValue::from_static("false"),
        );
        r.headers_mut()
            .insert(endpoint::X_KRAKEND, self.shared.version_header.clone());
        r
    }

    fn has_method(&self, path: &str, method: &Method) -> bool {
        self.table(method).is_some_and(|t| t.tree.at(path).is_ok())
    }

    /// gin's case-insensitive lookup: the registered path that matches `path` ignoring case.
    fn fixed_path(&self, path: &str, method: &Method) -> Option<String> {
        let table = self.table(method)?;
        let want: Vec<&str> = path.split('/').collect();
        for route in table.routes.iter().map(|i| &self.routes[*i]) {
            let segs: Vec<&str> = route.pattern.split('/').collect();
            let mut out = Vec::with_capacity(want.len());
            let mut ok = true;
            for (i, seg) in segs.iter().enumerate() {
                if seg.starts_with("{*") {
                    if i < want.len() {
                        out.extend(want[i..].iter().map(|s| s.to_string()));
                    }
                    break;
                }
                let Some(w) = want.get(i) else {
                    ok = false;
                    break;
                };
                if seg.starts_with('{') && seg.ends_with('}') && !seg.starts_with("{{") {
                    if w.is_empty() {
                        ok = false;
                        break;
                    }
                    out.push(w.to_string());
                } else if seg.eq_ignore_ascii_case(w) {
                    out.push(seg.to_string());
                } else {
                    ok = false;
                    break;
                }
            }
            if ok && (segs.len() == want.len() || segs.last().is_some_and(|s| s.starts_with("{*")))
            {
                let fixed = out.join("/");
                if fixed != path || path != want.join("/") {
                    return Some(fixed);
                }
                return Some(fixed);
            }
        }
        None
    }
}

/// `/__debug/` (`debug`) or `/__echo/`: the request as it came, its body read.
async fn inspect(debug: bool, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = read_body(body, 16 << 20).await.unwrap_or_default();
    if debug {
        builtin::debug(&parts.method, &parts.uri, &parts.headers, &body)
    } else {
        builtin::echo(&parts.method, &parts.uri, &parts.headers, &body)
    }
}

/// What [`Gateway::find`] found for a request.
enum Found<'a> {
    Endpoint(&'a EndpointHandler, Vec<(String, String)>),
    /// `/__debug/` or `/__echo/`.
    Inspect {
        debug: bool,
    },
    Answer(Response<Body>),
}

/// An address as `Display` writes it; IPv4 (the usual client) without the formatting machinery.
fn ip_string(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut s = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if octet >= 100 {
            s.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            s.push(char::from(b'0' + octet / 10 % 10));
        }
        s.push(char::from(b'0' + octet % 10));
    }
    s
}

/// gin refuses two routes whose paths agree up to a parameter segment that has a different
/// name in each (`/user/{a}` and `/user/{b}/x`); KrakenD fails to start on them.
fn param_conflict(existing: &str, new: &str) -> Option<String> {
    let is_param = |s: &str| s.starts_with('{') && s.ends_with('}') && !s.starts_with("{{");
    for (a, b) in existing.split('/').zip(new.split('/')) {
        match (is_param(a), is_param(b)) {
            (true, true) if a != b => {
                return Some(format!(
                    "wildcard {b} conflicts with the existing wildcard {a} in {existing}"
                ))
            }
            (true, true) => continue,
            (false, false) if a == b => continue,
            _ => return None,
        }
    }
    None
}

fn redirect(code: StatusCode, path: &str, query: Option<&str>, method: &Method) -> Response<Body> {
    let location = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let body = if *method == Method::GET || *method == Method::HEAD {
        format!(
            "<a href=\"{}\">{}</a>.\n\n",
            location
                .replace('&', "&amp;")
                .replace('"', "&#34;")
                .replace('<', "&lt;"),
            code.canonical_reason().unwrap_or("")
        )
    } else {
        String::new()
    };
    let mut r = Response::new(full_body(body));
    *r.status_mut() = code;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if *method == Method::GET || *method == Method::HEAD {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    r
}

fn collapse_slashes(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut prev = false;
    for c in p.chars() {
        if c == '/' {
            if prev {
                continue;
            }
            prev = true;
        } else {
            prev = false;
        }
        out.push(c);
    }
    out
}

/// Go's `path.Clean` as gin's `cleanPath` applies it (keeping a trailing slash).
fn clean_path(p: &str) -> String {
    let trailing = p.len() > 1 && p.ends_with('/');
    let mut stack: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut out = format!("/{}", stack.join("/"));
    if trailing && out != "/" {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which endpoints hand the backend's JSON on without building a map: the endpoint
    /// `/{name}` of each case, and whether it should.
    #[tokio::test]
    async fn canonical_json_only_where_nothing_reads_the_data() {
        let b = |extra: serde_json::Value| {
            let mut b = serde_json::json!({"url_pattern": "/x", "host": ["http://127.0.0.1:19"]});
            if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
                b.extend(extra.clone());
            }
            b
        };
        let none = serde_json::json!({});
        let cases: Vec<(&str, bool, serde_json::Value)> = vec![
            (
                "plain",
                true,
                serde_json::json!({"backend": [b(none.clone())]}),
            ),
            (
                "explicit-json",
                true,
                serde_json::json!({"output_encoding": "json", "backend": [b(serde_json::json!({"encoding": "json"}))]}),
            ),
            (
                "concurrent",
                true,
                serde_json::json!({"concurrent_calls": 3, "backend": [b(none.clone())]}),
            ),
            (
                "cache-ttl",
                true,
                serde_json::json!({"cache_ttl": "60s", "backend": [b(none.clone())]}),
            ),
            (
                "status-handling",
                true,
                serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {"backend/http": {"return_error_code": true}}}))]}),
            ),
            (
                "breaker-ratelimit",
                true,
                serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {
                "qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 1},
                "qos/ratelimit/proxy": {"max_rate": 10, "capacity": 10}}}))]}),
            ),
            (
                "two-backends",
                false,
                serde_json::json!({"backend": [b(none.clone()), b(none.clone())]}),
            ),
            (
                "shadow",
                false,
                serde_json::json!({"backend": [b(none.clone()), b(serde_json::json!({"extra_config": {"proxy": {"shadow": true}}}))]}),
            ),
            (
                "static",
                false,
                serde_json::json!({"extra_config": {"proxy": {"static": {"strategy": "always", "data": {"a": 1}}}}, "backend": [b(none.clone())]}),
            ),
            (
                "sequential",
                false,
                serde_json::json!({"extra_config": {"proxy": {"sequential": true}}, "backend": [b(none.clone())]}),
            ),
            (
                "flatmap-endpoint",
                false,
                serde_json::json!({"extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["a"]}]}}, "backend": [b(none.clone())]}),
            ),
            (
                "flatmap-backend",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["a"]}]}}}))]}),
            ),
            (
                "allow",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"allow": ["a"]}))]}),
            ),
            (
                "deny",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"deny": ["a"]}))]}),
            ),
            (
                "mapping",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"mapping": {"a": "b"}}))]}),
            ),
            (
                "target",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"target": "a"}))]}),
            ),
            (
                "group",
                true,
                serde_json::json!({"backend": [b(serde_json::json!({"group": "g"}))]}),
            ),
            (
                "two-groups",
                true,
                serde_json::json!({"backend": [b(serde_json::json!({"group": "g"})), b(serde_json::json!({"group": "h"}))]}),
            ),
            (
                "one-group-twice",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"group": "g"})), b(serde_json::json!({"group": "g"}))]}),
            ),
            (
                "group-and-none",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"group": "g"})), b(none.clone())]}),
            ),
            (
                "two-groups-static",
                false,
                serde_json::json!({"extra_config": {"proxy": {"static": {"strategy": "always", "data": {"a": 1}}}}, "backend": [b(serde_json::json!({"group": "g"})), b(serde_json::json!({"group": "h"}))]}),
            ),
            (
                "collection",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"is_collection": true}))]}),
            ),
            (
                "safejson",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"encoding": "safejson"}))]}),
            ),
            (
                "xml-in",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"encoding": "xml"}))]}),
            ),
            (
                "noop-in",
                false,
                serde_json::json!({"output_encoding": "no-op", "backend": [b(serde_json::json!({"encoding": "no-op"}))]}),
            ),
            (
                "negotiate",
                false,
                serde_json::json!({"output_encoding": "negotiate", "backend": [b(none.clone())]}),
            ),
            (
                "xml-out",
                false,
                serde_json::json!({"output_encoding": "xml", "backend": [b(none.clone())]}),
            ),
            (
                "string-out",
                false,
                serde_json::json!({"output_encoding": "string", "backend": [b(none.clone())]}),
            ),
            (
                "json-collection-out",
                false,
                serde_json::json!({"output_encoding": "json-collection", "backend": [b(none.clone())]}),
            ),
            (
                "jsonschema",
                false,
                serde_json::json!({"extra_config": {"validation/json-schema": {"type": "object"}}, "backend": [b(none.clone())]}),
            ),
        ];
        #[cfg(feature = "lua")]
        let cases = {
            let mut cases = cases;
            cases.push(("lua-proxy", false, serde_json::json!({"extra_config": {"modifier/lua-proxy": {"post": "local r = response.load()"}}, "backend": [b(none.clone())]})));
            cases.push(("lua-backend", false, serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {"modifier/lua-backend": {"post": "local r = response.load()"}}}))]})));
            cases
        };
        #[cfg(feature = "cel")]
        let cases = {
            let mut cases = cases;
            cases.push(("cel-proxy", false, serde_json::json!({"extra_config": {"validation/cel": [{"check_expr": "resp_data.ok == true"}]}, "backend": [b(none.clone())]})));
            cases.push(("cel-proxy-pre", false, serde_json::json!({"extra_config": {"validation/cel": [{"check_expr": "req_method == 'GET'"}]}, "backend": [b(none.clone())]})));
            cases.push(("cel-backend", false, serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {"validation/cel": [{"check_expr": "resp_data.ok == true"}]}}))]})));
            cases
        };
        let endpoints: Vec<serde_json::Value> = cases
            .iter()
            .map(|(name, _, ep)| {
                let mut ep = ep.clone();
                ep["endpoint"] = serde_json::Value::String(format!("/{name}"));
                ep
            })
            .collect();
        let build = |extra: serde_json::Value| {
            let mut cfg = serde_json::json!({"version": 3, "endpoints": endpoints.clone()});
            if let (Some(c), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
                c.extend(extra.clone());
            }
            let loaded = crate::config::load_str(
                &cfg.to_string(),
                "t.json",
                crate::config::Format::Json,
                &|_| None,
            )
            .unwrap();
            crate::app::build(loaded.config, false).unwrap()
        };
        // service-level metrics add a stage to every endpoint and backend: it only counts
        let metrics = serde_json::json!({"extra_config": {"telemetry/metrics": {"listen_address": "127.0.0.1:0"}}});
        for gw in [build(serde_json::json!({})), build(metrics)] {
            for (name, want, _) in &cases {
                let handler = gw
                    .routes
                    .iter()
                    .find_map(|r| match &r.target {
                        Target::Endpoint(h) if h.endpoint == format!("/{name}") => Some(h),
                        _ => None,
                    })
                    .unwrap();
                for b in &handler.pipe.backends {
                    assert_eq!(b.hands_on_canonical_json(), *want, "{name}");
                }
                assert!(handler
                    .pipe
                    .shadows
                    .iter()
                    .all(|b| !b.hands_on_canonical_json()));
            }
        }
    }

    #[test]
    fn only_bare_no_op_answers_keep_raw_header_lines() {
        let noop = |extra: serde_json::Value| {
            let mut b = serde_json::json!({"url_pattern": "/", "host": ["http://127.0.0.1:8081"], "encoding": "no-op"});
            if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
                b.extend(extra.clone());
            }
            b
        };
        let cases = [
            (
                "bare",
                true,
                serde_json::json!({"output_encoding": "no-op", "backend": [noop(serde_json::json!({}))]}),
            ),
            (
                "json",
                false,
                serde_json::json!({"backend": [{"url_pattern": "/", "host": ["http://127.0.0.1:8081"]}]}),
            ),
            (
                "backend-stage",
                false,
                serde_json::json!({"output_encoding": "no-op", "backend": [noop(serde_json::json!({"extra_config": {"modifier/martian": {"header.Modifier": {"scope": ["response"], "name": "X-A", "value": "1"}}}}))]}),
            ),
            // a guard answers before the backend or not at all: the answer stays bare
            (
                "guarded",
                true,
                serde_json::json!({"output_encoding": "no-op", "extra_config": {"qos/ratelimit/router": {"max_rate": 100}}, "backend": [noop(serde_json::json!({}))]}),
            ),
            (
                "endpoint-stage",
                false,
                serde_json::json!({"output_encoding": "no-op", "extra_config": {"validation/json-schema": {"type": "object"}}, "backend": [noop(serde_json::json!({}))]}),
            ),
        ];
        let build = |extra: serde_json::Value| {
            let endpoints: Vec<serde_json::Value> = cases
                .iter()
                .map(|(name, _, ep)| {
                    let mut ep = ep.clone();
                    ep["endpoint"] = serde_json::Value::String(format!("/{name}"));
                    ep
                })
                .collect();
            let mut cfg = serde_json::json!({"version": 3, "endpoints": endpoints});
            if let (Some(c), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
                c.extend(extra.clone());
            }
            let loaded = crate::config::load_str(
                &cfg.to_string(),
                "t.json",
                crate::config::Format::Json,
                &|_| None,
            )
            .unwrap();
            crate::app::build(loaded.config, false).unwrap()
        };
        let raw = |gw: &Gateway, name: &str| {
            gw.routes
                .iter()
                .find_map(|r| match &r.target {
                    Target::Endpoint(h) if h.endpoint == format!("/{name}") => Some(h),
                    _ => None,
                })
                .unwrap()
                .pipe
                .backends
                .iter()
                .any(|b| b.hands_on_raw_fields())
        };
        let gw = build(serde_json::json!({}));
        for (name, want, _) in &cases {
            assert_eq!(raw(&gw, name), *want, "{name}");
        }
        // a service layer sees every response's headers: none keeps raw lines
        let layered =
            build(serde_json::json!({"extra_config": {"security/http": {"frame_deny": true}}}));
        for (name, _, _) in &cases {
            assert!(!raw(&layered, name), "{name} behind a layer");
        }
    }

    #[test]
    fn addresses_print_as_display_does() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "::ffff:1.2.3.4",
            "2001:db8::8a2e:370:7334",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_string(ip), ip.to_string());
        }
    }

    #[test]
    fn patterns_and_paths() {
        assert_eq!(route_pattern("/a/{id}/b"), "/a/{id}/b");
        assert_eq!(route_pattern("/a/:id"), "/a/{id}");
        assert_eq!(route_pattern("/file.{ext}"), "/file.{{ext}}");
        assert_eq!(clean_path("/a/../b//c/"), "/b/c/");
        assert_eq!(percent_decode("/a%20b%zz"), "/a b%zz");
        assert_eq!(percent_decode("/a/%+0x/% 1"), "/a/%+0x/% 1");
        assert_eq!(collapse_slashes("//a///b"), "/a/b");
        assert!(param_conflict("/user/{a}", "/user/{b}/x").is_some());
        assert!(param_conflict("/user/{a}", "/user/{a}/x").is_none());
        assert!(param_conflict("/user/{a}", "/users/{b}").is_none());
        assert!(param_conflict("/__debug/{*rest}", "/__debug/{*rest}").is_none());
    }
}
