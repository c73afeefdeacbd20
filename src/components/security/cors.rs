//! `security/cors`: Cross-Origin Resource Sharing for the whole service, answered the way
//! KrakenD CE answers it (the `rs/cors` handler wrapped around the router).
//!
//! * A preflight is an `OPTIONS` request with a non-empty `Access-Control-Request-Method`.
//!   It is answered before routing, whatever the path, with `options_success_status` (204)
//!   and an empty body. A refused preflight (origin, method or headers not allowed) gets the
//!   same status with only the `Vary` header: the browser is the one that refuses.
//!   With `options_passthrough`, the preflight headers are set and the request goes on.
//! * Any other request goes on, and its response gets `Vary: Origin`, plus, when the origin
//!   and the method are allowed, `Access-Control-Allow-Origin`, `-Expose-Headers` and
//!   `-Allow-Credentials`.
//!
//! Headers are set "before the handler": values the response already carries for the same
//! header come after the ones written here.

use std::collections::HashMap;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use serde_json::Value;

use crate::components::{config_object, field, keys, Build, BuildCx, Built, ComponentSpec, Scope};
use crate::config::duration::parse_go_duration;
use crate::error::{Error, Result};
use crate::hooks::{RequestHead, ServiceLayer};
use crate::vocab::body::{empty_body, Body};
use crate::vocab::go::canonical_header;

pub const NAMESPACE: &str = "security/cors";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Service, Scope::Endpoint],
    keys::list_check!(KEYS),
    &[Build::Service(10, service_layer)],
);

fn service_layer(cx: &BuildCx<'_>) -> Built<dyn ServiceLayer> {
    crate::components::service_namespace(cx, NAMESPACE, build)
}

/// Marks a response that is a preflight answered by this layer (no other layer touches it:
/// in KrakenD the preflight never reaches the router and its middlewares).
#[derive(Debug, Clone, Copy)]
pub struct PreflightAnswer;

/// How many empty elements a header list may hold (`a,,b`).
const MAX_EMPTY_ELEMENTS: usize = 16;

/// The keys of a `security/cors` object, as KrakenD documents them: the ones the
/// parser below reads.
const KEYS: &[&str] = &[
    "allow_credentials",
    "allow_headers",
    "allow_methods",
    "allow_origins",
    "allow_private_network",
    "debug",
    "expose_headers",
    "max_age",
    "options_passthrough",
    "options_success_status",
];

/// The typed `security/cors` object, with KrakenD's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorsConfig {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    /// Seconds a preflight may be cached (`max_age`, a duration string).
    pub max_age: u64,
    pub options_passthrough: bool,
    pub options_success_status: u16,
    pub allow_private_network: bool,
    pub debug: bool,
}

impl CorsConfig {
    /// Reads the namespace object; a wrong type or an unreadable duration is an error naming
    /// the field.
    pub fn from_value(v: &Value) -> Result<CorsConfig> {
        let obj = config_object(NAMESPACE, v)?;
        let max_age = match field::<String>(NAMESPACE, obj, "max_age")? {
            Some(s) => parse_go_duration(&s)
                .map_err(|e| Error::invalid(format!("{NAMESPACE}: max_age"), e))?
                .as_secs(),
            None => 0,
        };
        let options_success_status =
            field::<u16>(NAMESPACE, obj, "options_success_status")?.unwrap_or(0);
        if options_success_status != 0 && !(100..=999).contains(&options_success_status) {
            return Err(Error::config(
                NAMESPACE,
                format!(
                    "options_success_status: {options_success_status} is not an HTTP status code"
                ),
            ));
        }
        Ok(CorsConfig {
            allow_origins: field(NAMESPACE, obj, "allow_origins")?.unwrap_or_default(),
            allow_methods: field(NAMESPACE, obj, "allow_methods")?.unwrap_or_default(),
            allow_headers: field(NAMESPACE, obj, "allow_headers")?.unwrap_or_default(),
            expose_headers: field(NAMESPACE, obj, "expose_headers")?.unwrap_or_default(),
            allow_credentials: field(NAMESPACE, obj, "allow_credentials")?.unwrap_or(false),
            max_age,
            options_passthrough: field(NAMESPACE, obj, "options_passthrough")?.unwrap_or(false),
            options_success_status,
            allow_private_network: field(NAMESPACE, obj, "allow_private_network")?.unwrap_or(false),
            debug: field(NAMESPACE, obj, "debug")?.unwrap_or(false),
        })
    }
}

/// An origin pattern with one `*`: what comes before and after it.
#[derive(Debug, Clone)]
struct Wildcard {
    prefix: String,
    suffix: String,
}

impl Wildcard {
    fn matches(&self, origin: &str) -> bool {
        origin.len() >= self.prefix.len() + self.suffix.len()
            && origin.starts_with(&self.prefix)
            && origin.ends_with(&self.suffix)
    }
}

/// The CORS service layer.
#[derive(Debug)]
pub struct Cors {
    all_origins: bool,
    origins: Vec<String>,
    wildcards: Vec<Wildcard>,
    all_headers: bool,
    /// Allowed request headers (lower case) and their position in sorted order.
    headers: HashMap<String, usize>,
    headers_max_len: usize,
    methods: Vec<String>,
    exposed: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    credentials: bool,
    private_network: bool,
    passthrough: bool,
    success_status: StatusCode,
    preflight_vary: HeaderValue,
    debug: bool,
}

/// Builds the layer from the namespace's value.
pub fn build(v: &Value) -> Result<Cors> {
    Cors::new(&CorsConfig::from_value(v)?)
}

impl Cors {
    pub fn new(cfg: &CorsConfig) -> Result<Cors> {
        let mut all_origins = cfg.allow_origins.is_empty();
        let mut origins = Vec::new();
        let mut wildcards = Vec::new();
        for o in &cfg.allow_origins {
            let o = o.to_ascii_lowercase();
            if o == "*" {
                all_origins = true;
                origins.clear();
                wildcards.clear();
                break;
            }
            match o.split_once('*') {
                Some((prefix, suffix)) => wildcards.push(Wildcard {
                    prefix: prefix.to_string(),
                    suffix: suffix.to_string(),
                }),
                None => origins.push(o),
            }
        }

        let all_headers = cfg.allow_headers.iter().any(|h| h == "*");
        let mut names: Vec<String> = if cfg.allow_headers.is_empty() {
            vec![
                "accept".into(),
                "content-type".into(),
                "x-requested-with".into(),
            ]
        } else {
            cfg.allow_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect()
        };
        // `Origin` is always allowed.
        names.push("origin".into());
        names.sort();
        names.dedup();
        let headers_max_len = names.iter().map(String::len).max().unwrap_or(0);
        let headers = names.into_iter().enumerate().map(|(i, n)| (n, i)).collect();

        let methods = if cfg.allow_methods.is_empty() {
            vec!["GET".into(), "POST".into(), "HEAD".into()]
        } else {
            cfg.allow_methods.clone()
        };

        let exposed = if cfg.expose_headers.is_empty() {
            None
        } else {
            let joined = cfg
                .expose_headers
                .iter()
                .map(|h| canonical_header(h))
                .collect::<Vec<_>>()
                .join(", ");
            Some(HeaderValue::from_str(&joined).map_err(|_| {
                Error::config(
                    NAMESPACE,
                    format!("expose_headers: {joined:?} is not a valid header value"),
                )
            })?)
        };
        let max_age = (cfg.max_age > 0).then(|| HeaderValue::from(cfg.max_age));
        let success_status = if cfg.options_success_status == 0 {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::from_u16(cfg.options_success_status).map_err(|_| {
                Error::config(
                    NAMESPACE,
                    format!(
                        "options_success_status: {} is not an HTTP status code",
                        cfg.options_success_status
                    ),
                )
            })?
        };
        let preflight_vary = HeaderValue::from_static(if cfg.allow_private_network {
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network"
        } else {
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        });
        if all_origins && cfg.allow_credentials {
            tracing::warn!(
                "[SERVICE: CORS] unsafe configuration: every origin allowed together with credentials"
            );
        }
        Ok(Cors {
            all_origins,
            origins,
            wildcards,
            all_headers,
            headers,
            headers_max_len,
            methods,
            exposed,
            max_age,
            credentials: cfg.allow_credentials,
            private_network: cfg.allow_private_network,
            passthrough: cfg.options_passthrough,
            success_status,
            preflight_vary,
            debug: cfg.debug,
        })
    }

    fn log(&self, msg: std::fmt::Arguments<'_>) {
        if self.debug {
            tracing::info!(target: "tentacle::cors", "[CORS] {msg}");
        }
    }

    /// Whether the request is a preflight.
    pub fn is_preflight(req: &RequestHead<'_>) -> bool {
        *req.method == Method::OPTIONS
            && req
                .headers
                .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                .is_some_and(|v| !v.is_empty())
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.all_origins {
            return true;
        }
        let origin = origin.to_ascii_lowercase();
        self.origins.contains(&origin) || self.wildcards.iter().any(|w| w.matches(&origin))
    }

    fn method_allowed(&self, method: &str) -> bool {
        if self.methods.is_empty() {
            return false;
        }
        method == "OPTIONS" || self.methods.iter().any(|m| m == method)
    }

    /// Whether every line of `Access-Control-Request-Headers` lists allowed names, in lower
    /// case, sorted and without repetition (as browsers send them).
    fn headers_allowed(&self, lines: &[&HeaderValue]) -> bool {
        if self.all_headers {
            return true;
        }
        let mut last: Option<usize> = None;
        let mut empty = 0;
        for line in lines {
            let Ok(line) = line.to_str() else {
                return false;
            };
            for element in line.split(',') {
                let Some(name) = trim_ows(element) else {
                    return false;
                };
                if name.is_empty() {
                    empty += 1;
                    if empty > MAX_EMPTY_ELEMENTS {
                        return false;
                    }
                    continue;
                }
                if name.len() > self.headers_max_len {
                    return false;
                }
                let Some(&pos) = self.headers.get(name) else {
                    return false;
                };
                if last.is_some_and(|l| pos <= l) {
                    return false;
                }
                last = Some(pos);
            }
        }
        true
    }

    /// The headers of the answer to a preflight, `Vary` first.
    pub fn preflight_headers(&self, req: &RequestHead<'_>) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = vec![(header::VARY, self.preflight_vary.clone())];
        let Some(origin) = req.headers.get(header::ORIGIN).filter(|o| !o.is_empty()) else {
            self.log(format_args!("Preflight aborted: empty origin"));
            return out;
        };
        let origin_str = String::from_utf8_lossy(origin.as_bytes());
        if !self.origin_allowed(&origin_str) {
            self.log(format_args!(
                "Preflight aborted: origin '{origin_str}' not allowed"
            ));
            return out;
        }
        let req_method = req
            .headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !self.method_allowed(&req_method) {
            self.log(format_args!(
                "Preflight aborted: method '{req_method}' not allowed"
            ));
            return out;
        }
        let req_headers: Vec<&HeaderValue> = req
            .headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .collect();
        if !req_headers.is_empty() && !self.headers_allowed(&req_headers) {
            self.log(format_args!(
                "Preflight aborted: headers '{req_headers:?}' not allowed"
            ));
            return out;
        }
        if self.all_origins {
            out.push((
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ));
        } else {
            for o in req.headers.get_all(header::ORIGIN) {
                out.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone()));
            }
        }
        for m in req.headers.get_all(header::ACCESS_CONTROL_REQUEST_METHOD) {
            out.push((header::ACCESS_CONTROL_ALLOW_METHODS, m.clone()));
        }
        if req_headers.first().is_some_and(|h| !h.is_empty()) {
            for h in &req_headers {
                out.push((header::ACCESS_CONTROL_ALLOW_HEADERS, (*h).clone()));
            }
        }
        if self.credentials {
            out.push((
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        }
        if self.private_network
            && req
                .headers
                .get("access-control-request-private-network")
                .is_some_and(|v| v == "true")
        {
            out.push((
                HeaderName::from_static("access-control-allow-private-network"),
                HeaderValue::from_static("true"),
            ));
        }
        if let Some(age) = &self.max_age {
            out.push((header::ACCESS_CONTROL_MAX_AGE, age.clone()));
        }
        self.log(format_args!("Preflight response headers: {out:?}"));
        out
    }

    /// The headers added to the response of any other request, `Vary` first.
    pub fn actual_headers(&self, req: &RequestHead<'_>) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = vec![(header::VARY, HeaderValue::from_static("Origin"))];
        let Some(origin) = req.headers.get(header::ORIGIN).filter(|o| !o.is_empty()) else {
            self.log(format_args!(
                "Actual request no headers added: missing origin"
            ));
            return out;
        };
        let origin_str = String::from_utf8_lossy(origin.as_bytes());
        if !self.origin_allowed(&origin_str) {
            self.log(format_args!(
                "Actual request no headers added: origin '{origin_str}' not allowed"
            ));
            return out;
        }
        if !self.method_allowed(req.method.as_str()) {
            self.log(format_args!(
                "Actual request no headers added: method '{}' not allowed",
                req.method
            ));
            return out;
        }
        if self.all_origins {
            out.push((
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ));
        } else {
            for o in req.headers.get_all(header::ORIGIN) {
                out.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone()));
            }
        }
        if let Some(e) = &self.exposed {
            out.push((header::ACCESS_CONTROL_EXPOSE_HEADERS, e.clone()));
        }
        if self.credentials {
            out.push((
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        }
        self.log(format_args!("Actual response added headers: {out:?}"));
        out
    }
}

/// Trims at most one byte of optional whitespace on each side; `None` when there is more.
fn trim_ows(s: &str) -> Option<&str> {
    let is_ows = |b: u8| b == b' ' || b == b'\t';
    let b = s.as_bytes();
    if b.iter().all(|&c| is_ows(c)) {
        return Some("");
    }
    let lead = b.iter().take_while(|&&c| is_ows(c)).count();
    let trail = b.iter().rev().take_while(|&&c| is_ows(c)).count();
    if lead > 1 || trail > 1 {
        return None;
    }
    Some(&s[lead..s.len() - trail])
}

/// Writes `values` as if they were set before the handler ran: for each header name, the
/// values given here come first and the ones the response already had follow.
pub fn preset_headers(headers: &mut HeaderMap, values: Vec<(HeaderName, HeaderValue)>) {
    let mut grouped: Vec<(HeaderName, Vec<HeaderValue>)> = Vec::new();
    for (name, value) in values {
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, vs)) => vs.push(value),
            None => grouped.push((name, vec![value])),
        }
    }
    for (name, mut vs) in grouped {
        if let header::Entry::Occupied(e) = headers.entry(&name) {
            let (_, existing) = e.remove_entry_mult();
            vs.extend(existing);
        }
        for v in vs {
            headers.append(name.clone(), v);
        }
    }
}

impl ServiceLayer for Cors {
    fn request(&self, req: &RequestHead<'_>) -> Option<Response<Body>> {
        if self.passthrough || !Cors::is_preflight(req) {
            return None;
        }
        self.log(format_args!("Handler: Preflight request"));
        let mut resp = Response::new(empty_body());
        *resp.status_mut() = self.success_status;
        for (name, value) in self.preflight_headers(req) {
            resp.headers_mut().append(name, value);
        }
        resp.extensions_mut().insert(PreflightAnswer);
        Some(resp)
    }

    fn response(&self, req: &RequestHead<'_>, resp: &mut Response<Body>) {
        if Cors::is_preflight(req) {
            if self.passthrough {
                preset_headers(resp.headers_mut(), self.preflight_headers(req));
            }
            return;
        }
        self.log(format_args!("Handler: Actual request"));
        preset_headers(resp.headers_mut(), self.actual_headers(req));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Uri;
    use http_body_util::BodyExt;
    use serde_json::json;

    /// The error of a configuration the component refuses.
    fn build_error(v: Value) -> String {
        build(&v).unwrap_err().to_string()
    }

    fn cors(v: Value) -> Cors {
        build(&v).expect("valid config")
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    /// Runs the layer the way the dispatcher does: `request`, else a plain 200 from the
    /// "router", then `response`.
    async fn run(
        c: &Cors,
        method: Method,
        hdrs: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, bytes::Bytes) {
        let h = headers(hdrs);
        let uri = Uri::from_static("/foo");
        let head = RequestHead {
            method: &method,
            uri: &uri,
            headers: &h,
            client_ip: "127.0.0.1",
            tls: false,
        };
        let mut resp = match c.request(&head) {
            Some(r) => r,
            None => {
                let mut r = Response::new(crate::vocab::body::full_body("{}"));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                r
            }
        };
        c.response(&head, &mut resp);
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (parts.status, parts.headers, bytes)
    }

    /// A preflight from `origin` for `method`, asking for the headers `asked` when given.
    async fn preflight(
        c: &Cors,
        origin: &str,
        method: &str,
        asked: Option<&str>,
    ) -> (StatusCode, HeaderMap, bytes::Bytes) {
        let mut hdrs = vec![
            ("Origin", origin),
            ("Access-Control-Request-Method", method),
        ];
        if let Some(asked) = asked {
            hdrs.push(("Access-Control-Request-Headers", asked));
        }
        run(c, Method::OPTIONS, &hdrs).await
    }

    fn all(h: &HeaderMap, name: &str) -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("").to_string())
            .collect()
    }

    fn fixture() -> Cors {
        cors(json!({
            "allow_origins": ["*"],
            "allow_methods": ["POST", "GET"],
            "allow_headers": ["Origin", "Authorization", "Content-Type"],
            "expose_headers": ["Content-Length"],
            "max_age": "12h"
        }))
    }

    #[tokio::test]
    async fn preflight_allowed() {
        let (status, h, body) = preflight(
            &fixture(),
            "http://foo.example",
            "GET",
            Some("content-type,origin"),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(body.is_empty());
        assert_eq!(all(&h, "access-control-allow-origin"), ["*"]);
        assert_eq!(all(&h, "access-control-allow-methods"), ["GET"]);
        assert_eq!(
            all(&h, "access-control-allow-headers"),
            ["content-type,origin"]
        );
        assert_eq!(all(&h, "access-control-max-age"), ["43200"]);
        assert_eq!(
            all(&h, "vary"),
            ["Origin, Access-Control-Request-Method, Access-Control-Request-Headers"]
        );
        assert!(h.get("content-type").is_none());
        assert!(h.get("access-control-allow-credentials").is_none());
        assert!(h.get("access-control-expose-headers").is_none());
    }

    #[tokio::test]
    async fn preflight_refused_by_method_still_204_without_cors_headers() {
        let (status, h, body) = preflight(&fixture(), "http://foo.example.tld", "PUT", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(body.is_empty());
        assert!(h.get("access-control-allow-origin").is_none());
        assert!(h.get("access-control-allow-methods").is_none());
        assert!(h.get("access-control-max-age").is_none());
        assert_eq!(
            all(&h, "vary"),
            ["Origin, Access-Control-Request-Method, Access-Control-Request-Headers"]
        );
    }

    #[tokio::test]
    async fn preflight_refused_by_header() {
        for asked in [
            "X-PINGOTHER",
            "x-pingother",
            "origin,content-type",
            "Content-Type",
        ] {
            let (status, h, _) =
                preflight(&fixture(), "http://foo.example", "POST", Some(asked)).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{asked}");
            assert!(h.get("access-control-allow-origin").is_none(), "{asked}");
            assert!(h.get("access-control-allow-headers").is_none(), "{asked}");
        }
        // One byte of whitespace around a name is tolerated, as are empty elements.
        let (_, h, _) = preflight(
            &fixture(),
            "http://foo.example",
            "POST",
            Some("authorization, content-type,,origin"),
        )
        .await;
        assert_eq!(all(&h, "access-control-allow-origin"), ["*"]);
        assert_eq!(
            all(&h, "access-control-allow-headers"),
            ["authorization, content-type,,origin"]
        );
    }

    #[tokio::test]
    async fn preflight_without_origin_or_with_empty_method_header() {
        let (status, h, _) = run(
            &fixture(),
            Method::OPTIONS,
            &[("Access-Control-Request-Method", "GET")],
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(h.get("access-control-allow-origin").is_none());
        // An empty Access-Control-Request-Method makes it an ordinary OPTIONS request.
        let (status, h, body) = preflight(&fixture(), "http://foo.example", "", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"{}");
        assert_eq!(all(&h, "vary"), ["Origin"]);
    }

    #[tokio::test]
    async fn actual_request() {
        let (status, h, body) = run(
            &fixture(),
            Method::GET,
            &[("Origin", "http://foo.example.tld")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"{}");
        assert_eq!(all(&h, "vary"), ["Origin"]);
        assert_eq!(all(&h, "access-control-allow-origin"), ["*"]);
        assert_eq!(all(&h, "access-control-expose-headers"), ["Content-Length"]);
        assert_eq!(all(&h, "content-type"), ["application/json; charset=utf-8"]);
        // No origin: only Vary.
        let (_, h, _) = run(&fixture(), Method::GET, &[]).await;
        assert_eq!(all(&h, "vary"), ["Origin"]);
        assert!(h.get("access-control-allow-origin").is_none());
        // Method not allowed for CORS: only Vary.
        let (status, h, _) = run(
            &fixture(),
            Method::DELETE,
            &[("Origin", "http://foo.example")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(all(&h, "vary"), ["Origin"]);
        assert!(h.get("access-control-allow-origin").is_none());
    }

    #[tokio::test]
    async fn wildcard_origins_and_credentials() {
        let c = cors(json!({
            "allow_origins": ["https://*.example.com", "http://exact.test"],
            "allow_credentials": true,
            "allow_headers": ["X-Custom"],
            "max_age": "90s"
        }));
        let (_, h, _) = run(&c, Method::GET, &[("Origin", "https://api.Example.com")]).await;
        assert_eq!(
            all(&h, "access-control-allow-origin"),
            ["https://api.Example.com"]
        );
        assert_eq!(all(&h, "access-control-allow-credentials"), ["true"]);
        assert!(h.get("access-control-expose-headers").is_none());

        let (_, h, _) = run(&c, Method::GET, &[("Origin", "http://EXACT.test")]).await;
        assert_eq!(
            all(&h, "access-control-allow-origin"),
            ["http://EXACT.test"]
        );

        for refused in [
            "https://example.com",
            "http://api.example.com",
            "https://evil.com",
        ] {
            let (_, h, _) = run(&c, Method::GET, &[("Origin", refused)]).await;
            assert!(h.get("access-control-allow-origin").is_none(), "{refused}");
            assert!(h.get("access-control-allow-credentials").is_none());
            assert_eq!(all(&h, "vary"), ["Origin"]);
        }

        let (status, h, _) =
            preflight(&c, "https://a.example.com", "HEAD", Some("origin,x-custom")).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            all(&h, "access-control-allow-origin"),
            ["https://a.example.com"]
        );
        assert_eq!(all(&h, "access-control-allow-methods"), ["HEAD"]);
        assert_eq!(all(&h, "access-control-allow-headers"), ["origin,x-custom"]);
        assert_eq!(all(&h, "access-control-allow-credentials"), ["true"]);
        assert_eq!(all(&h, "access-control-max-age"), ["90"]);
    }

    #[tokio::test]
    async fn wildcard_all_with_credentials_keeps_the_star() {
        let c = cors(json!({"allow_credentials": true}));
        let (_, h, _) = run(&c, Method::POST, &[("Origin", "http://x.test")]).await;
        assert_eq!(all(&h, "access-control-allow-origin"), ["*"]);
        assert_eq!(all(&h, "access-control-allow-credentials"), ["true"]);
    }

    #[tokio::test]
    async fn defaults_allow_simple_methods_and_headers() {
        let c = cors(json!({}));
        let (_, h, _) = preflight(&c, "http://x.test", "PUT", None).await;
        assert!(h.get("access-control-allow-origin").is_none());
        let (_, h, _) = preflight(
            &c,
            "http://x.test",
            "HEAD",
            Some("accept,content-type,x-requested-with"),
        )
        .await;
        assert_eq!(all(&h, "access-control-allow-origin"), ["*"]);
        assert_eq!(
            all(&h, "access-control-allow-headers"),
            ["accept,content-type,x-requested-with"]
        );
        assert!(h.get("access-control-max-age").is_none());
    }

    #[tokio::test]
    async fn passthrough_private_network_and_custom_status() {
        let c = cors(json!({
            "options_passthrough": true,
            "allow_private_network": true,
            "allow_headers": ["*"]
        }));
        let (status, h, body) = run(
            &c,
            Method::OPTIONS,
            &[
                ("Origin", "http://x.test"),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "X-Anything,A"),
                ("Access-Control-Request-Private-Network", "true"),
            ],
        )
        .await;
        // The request went on to the "router".
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"{}");
        assert_eq!(all(&h, "access-control-allow-private-network"), ["true"]);
        assert_eq!(all(&h, "access-control-allow-headers"), ["X-Anything,A"]);
        assert_eq!(
            all(&h, "vary"),
            ["Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network"]
        );

        let c = cors(json!({"options_success_status": 200}));
        let (status, h, body) = preflight(&c, "http://x.test", "GET", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_empty());
        assert!(h.get("access-control-allow-headers").is_none());
        assert!(h.get("access-control-allow-private-network").is_none());
    }

    #[test]
    fn preset_keeps_handler_values_after_ours() {
        let mut h = headers(&[("vary", "Accept-Encoding"), ("x-other", "1")]);
        preset_headers(
            &mut h,
            vec![
                (header::VARY, HeaderValue::from_static("Origin")),
                (
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                ),
            ],
        );
        assert_eq!(all(&h, "vary"), ["Origin", "Accept-Encoding"]);
        assert_eq!(all(&h, "access-control-allow-origin"), ["*"]);
        assert_eq!(all(&h, "x-other"), ["1"]);
    }

    #[test]
    fn bad_config_names_the_field() {
        let e = build_error(json!({"allow_origins": "*"}));
        assert!(
            e.contains("security/cors") && e.contains("allow_origins"),
            "{e}"
        );
        let e = build_error(json!({"max_age": "twelve hours"}));
        assert!(e.contains("max_age"), "{e}");
        let e = build_error(json!({"options_success_status": 42}));
        assert!(e.contains("options_success_status"), "{e}");
        let e = build_error(json!(["*"]));
        assert!(e.contains("security/cors"), "{e}");
    }
}
