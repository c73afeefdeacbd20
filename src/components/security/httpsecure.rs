//! `security/http`: host restrictions, the HTTPS redirect and the security headers, with the
//! semantics of the `unrolled/secure` middleware KrakenD CE installs on its router.
//!
//! * `allowed_hosts` (exact, case-insensitive, or anchored regular expressions with
//!   `allowed_hosts_are_regex`) refuses other hosts with `500 Bad Host`; the host is read
//!   from the first non-empty `host_proxy_headers` header, else from the request.
//! * `ssl_redirect` sends plain-HTTP requests to `https://` (`ssl_host` when set) with a 301.
//!   A request is HTTPS when it came over TLS, is absolute-form `https://`, or carries one
//!   of the `ssl_proxy_headers` with its value.
//! * `Strict-Transport-Security` only over HTTPS, unless `force_sts_header`.
//! * `is_development` turns off the host check, the redirect and HSTS.
//! * The other headers (`X-Frame-Options`, `X-Content-Type-Options`, `X-XSS-Protection`,
//!   `Content-Security-Policy`, `Referrer-Policy`) go on every response, router errors
//!   included, except on the refusals and redirects this component answers itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use regex::Regex;
use serde_json::Value;

use crate::components::security::cors::{preset_headers, PreflightAnswer};
use crate::components::{config_object, field, keys, Build, BuildCx, Built, ComponentSpec, Scope};
use crate::error::{Error, Result};
use crate::hooks::{RequestHead, ServiceLayer};
use crate::vocab::body::{empty_body, full_body, Body};

pub const NAMESPACE: &str = "security/http";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Service],
    keys::list_check!(KEYS),
    &[Build::Service(20, service_layer)],
);

fn service_layer(cx: &BuildCx<'_>) -> Built<dyn ServiceLayer> {
    crate::components::service_namespace(cx, NAMESPACE, build)
}

/// The keys of a `security/http` object, as KrakenD documents them: the ones the
/// parser below reads, and `hpkp_public_key`, accepted but not acted on (browsers dropped
/// public key pinning).
const KEYS: &[&str] = &[
    "allowed_hosts",
    "allowed_hosts_are_regex",
    "browser_xss_filter",
    "content_security_policy",
    "content_type_nosniff",
    "custom_frame_options_value",
    "force_sts_header",
    "frame_deny",
    "host_proxy_headers",
    "hpkp_public_key",
    "is_development",
    "referrer_policy",
    "ssl_host",
    "ssl_proxy_headers",
    "ssl_redirect",
    "sts_include_subdomains",
    "sts_seconds",
];

/// The typed `security/http` object (every field defaults to off / empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpSecureConfig {
    pub allowed_hosts: Vec<String>,
    pub allowed_hosts_are_regex: bool,
    pub host_proxy_headers: Vec<String>,
    pub ssl_redirect: bool,
    pub ssl_host: String,
    pub ssl_proxy_headers: BTreeMap<String, String>,
    pub sts_seconds: i64,
    pub sts_include_subdomains: bool,
    pub force_sts_header: bool,
    pub frame_deny: bool,
    pub custom_frame_options_value: String,
    pub content_type_nosniff: bool,
    pub browser_xss_filter: bool,
    pub content_security_policy: String,
    pub referrer_policy: String,
    pub is_development: bool,
}

impl HttpSecureConfig {
    pub fn from_value(v: &Value) -> Result<HttpSecureConfig> {
        let obj = config_object(NAMESPACE, v)?;
        let sts_seconds = match obj.get("sts_seconds") {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
                .ok_or_else(|| {
                    Error::config(
                        NAMESPACE,
                        format!("sts_seconds: {n} is not a number of seconds"),
                    )
                })?,
            Some(other) => {
                return Err(Error::config(
                    NAMESPACE,
                    format!("sts_seconds: expected a number, found {other}"),
                ))
            }
        };
        let s = |key: &str| -> Result<String> {
            Ok(field::<String>(NAMESPACE, obj, key)?.unwrap_or_default())
        };
        let b = |key: &str| -> Result<bool> {
            Ok(field::<bool>(NAMESPACE, obj, key)?.unwrap_or(false))
        };
        Ok(HttpSecureConfig {
            allowed_hosts: field(NAMESPACE, obj, "allowed_hosts")?.unwrap_or_default(),
            allowed_hosts_are_regex: b("allowed_hosts_are_regex")?,
            host_proxy_headers: field(NAMESPACE, obj, "host_proxy_headers")?.unwrap_or_default(),
            ssl_redirect: b("ssl_redirect")?,
            ssl_host: s("ssl_host")?,
            ssl_proxy_headers: field(NAMESPACE, obj, "ssl_proxy_headers")?.unwrap_or_default(),
            sts_seconds,
            sts_include_subdomains: b("sts_include_subdomains")?,
            force_sts_header: b("force_sts_header")?,
            frame_deny: b("frame_deny")?,
            custom_frame_options_value: s("custom_frame_options_value")?,
            content_type_nosniff: b("content_type_nosniff")?,
            browser_xss_filter: b("browser_xss_filter")?,
            content_security_policy: s("content_security_policy")?,
            referrer_policy: s("referrer_policy")?,
            is_development: b("is_development")?,
        })
    }
}

/// The security layer.
#[derive(Debug)]
pub struct HttpSecure {
    cfg: HttpSecureConfig,
    host_regexes: Vec<Regex>,
    ssl_proxy_headers: Vec<(HeaderName, String)>,
    host_proxy_headers: Vec<HeaderName>,
    /// Fixed headers, in the order unrolled/secure writes them (HSTS apart).
    fixed: Vec<(HeaderName, HeaderValue)>,
    sts: Option<HeaderValue>,
    /// The CSP with `%NONCE%` where `$NONCE` was, when it asks for a nonce.
    csp_nonce_template: Option<String>,
    nonce_counter: AtomicU64,
}

/// What the layer decides for one request.
enum Verdict {
    BadHost,
    Redirect(String),
    Pass { ssl: bool },
}

/// Builds the layer from the namespace's value.
pub fn build(v: &Value) -> Result<HttpSecure> {
    HttpSecure::new(HttpSecureConfig::from_value(v)?)
}

fn header_value(key: &str, v: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(v).map_err(|_| {
        Error::config(
            NAMESPACE,
            format!("{key}: {v:?} is not a valid header value"),
        )
    })
}

impl HttpSecure {
    pub fn new(cfg: HttpSecureConfig) -> Result<HttpSecure> {
        let mut host_regexes = Vec::new();
        if cfg.allowed_hosts_are_regex {
            for h in &cfg.allowed_hosts {
                host_regexes.push(Regex::new(&format!("^{h}$")).map_err(|e| {
                    Error::invalid(
                        format!(
                            "{NAMESPACE}: allowed_hosts: {h:?} is not a valid regular expression"
                        ),
                        e,
                    )
                })?);
            }
        }
        let mut ssl_proxy_headers = Vec::new();
        for (k, v) in &cfg.ssl_proxy_headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                Error::config(
                    NAMESPACE,
                    format!("ssl_proxy_headers: {k:?} is not a header name"),
                )
            })?;
            ssl_proxy_headers.push((name, v.clone()));
        }
        let mut host_proxy_headers = Vec::new();
        for k in &cfg.host_proxy_headers {
            host_proxy_headers.push(HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                Error::config(
                    NAMESPACE,
                    format!("host_proxy_headers: {k:?} is not a header name"),
                )
            })?);
        }
        let sts = (cfg.sts_seconds != 0).then(|| {
            let sub = if cfg.sts_include_subdomains {
                "; includeSubDomains"
            } else {
                ""
            };
            HeaderValue::from_str(&format!("max-age={}{sub}", cfg.sts_seconds))
                .unwrap_or(HeaderValue::from_static("max-age=0"))
        });
        let mut fixed = Vec::new();
        if !cfg.custom_frame_options_value.is_empty() {
            fixed.push((
                header::X_FRAME_OPTIONS,
                header_value(
                    "custom_frame_options_value",
                    &cfg.custom_frame_options_value,
                )?,
            ));
        } else if cfg.frame_deny {
            fixed.push((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")));
        }
        if cfg.content_type_nosniff {
            fixed.push((
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ));
        }
        if cfg.browser_xss_filter {
            fixed.push((
                header::X_XSS_PROTECTION,
                HeaderValue::from_static("1; mode=block"),
            ));
        }
        let mut csp_nonce_template = None;
        if !cfg.content_security_policy.is_empty() {
            if cfg.content_security_policy.contains("$NONCE") {
                let t = cfg
                    .content_security_policy
                    .replace("$NONCE", "'nonce-%NONCE%'");
                header_value("content_security_policy", &t)?;
                csp_nonce_template = Some(t);
            } else {
                fixed.push((
                    header::CONTENT_SECURITY_POLICY,
                    header_value("content_security_policy", &cfg.content_security_policy)?,
                ));
            }
        }
        if !cfg.referrer_policy.is_empty() {
            fixed.push((
                header::REFERRER_POLICY,
                header_value("referrer_policy", &cfg.referrer_policy)?,
            ));
        }
        if !cfg.ssl_host.is_empty() {
            header_value("ssl_host", &cfg.ssl_host)?;
        }
        Ok(HttpSecure {
            cfg,
            host_regexes,
            ssl_proxy_headers,
            host_proxy_headers,
            fixed,
            sts,
            csp_nonce_template,
            nonce_counter: AtomicU64::new(0),
        })
    }

    /// The host the request is for: the first non-empty proxy header, else the request's.
    fn host(&self, req: &RequestHead<'_>) -> String {
        for h in &self.host_proxy_headers {
            if let Some(v) = req.headers.get(h).filter(|v| !v.is_empty()) {
                return String::from_utf8_lossy(v.as_bytes()).into_owned();
            }
        }
        if let Some(a) = req.uri.authority() {
            return a.as_str().to_string();
        }
        req.headers
            .get(header::HOST)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }

    fn is_ssl(&self, req: &RequestHead<'_>) -> bool {
        req.tls
            || req
                .uri
                .scheme_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("https"))
            || self.ssl_proxy_headers.iter().any(|(k, v)| {
                req.headers.get(k).map(|h| h.as_bytes()).unwrap_or_default() == v.as_bytes()
            })
    }

    fn verdict(&self, req: &RequestHead<'_>) -> Verdict {
        let host = self.host(req);
        if !self.cfg.allowed_hosts.is_empty() && !self.cfg.is_development {
            let good = if self.cfg.allowed_hosts_are_regex {
                self.host_regexes.iter().any(|r| r.is_match(&host))
            } else {
                self.cfg
                    .allowed_hosts
                    .iter()
                    .any(|h| h.to_lowercase() == host.to_lowercase())
            };
            if !good {
                return Verdict::BadHost;
            }
        }
        let ssl = self.is_ssl(req);
        if self.cfg.ssl_redirect && !ssl && !self.cfg.is_development {
            let target_host = if self.cfg.ssl_host.is_empty() {
                host
            } else {
                self.cfg.ssl_host.clone()
            };
            let mut url = format!("https://{target_host}{}", req.uri.path());
            if let Some(q) = req.uri.query() {
                url.push('?');
                url.push_str(q);
            }
            return Verdict::Redirect(url);
        }
        Verdict::Pass { ssl }
    }

    /// A fresh nonce: 16 bytes, base64.
    fn nonce(&self) -> String {
        use std::hash::{BuildHasher, Hasher};
        let n = self.nonce_counter.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(n);
            h.write_usize(i);
            if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                h.write_u128(d.as_nanos());
            }
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        base64(&bytes)
    }

    fn headers_for(&self, ssl: bool) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(self.fixed.len() + 2);
        if let Some(sts) = &self.sts {
            if (ssl || self.cfg.force_sts_header) && !self.cfg.is_development {
                out.push((header::STRICT_TRANSPORT_SECURITY, sts.clone()));
            }
        }
        out.extend(self.fixed.iter().cloned());
        if let Some(t) = &self.csp_nonce_template {
            if let Ok(v) = HeaderValue::from_str(&t.replace("%NONCE%", &self.nonce())) {
                out.push((header::CONTENT_SECURITY_POLICY, v));
            }
        }
        out
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `http.Error(w, "Bad Host", 500)`.
fn bad_host() -> Response<Body> {
    let mut r = Response::new(full_body("Bad Host\n"));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Go's `http.Redirect` with a 301.
fn redirect(method: &Method, url: &str) -> Response<Body> {
    let mut location = String::with_capacity(url.len());
    for b in url.bytes() {
        if b >= 0x80 {
            location.push_str(&format!("%{b:02x}"));
        } else {
            location.push(char::from(b));
        }
    }
    let get = *method == Method::GET;
    let mut r = if get {
        let escaped = url
            .replace('&', "&amp;")
            .replace('\'', "&#39;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;");
        Response::new(full_body(format!(
            "<a href=\"{escaped}\">Moved Permanently</a>.\n\n"
        )))
    } else {
        Response::new(empty_body())
    };
    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if get || *method == Method::HEAD {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    r
}

impl ServiceLayer for HttpSecure {
    fn request(&self, req: &RequestHead<'_>) -> Option<Response<Body>> {
        match self.verdict(req) {
            Verdict::BadHost => Some(bad_host()),
            Verdict::Redirect(url) => Some(redirect(req.method, &url)),
            Verdict::Pass { .. } => None,
        }
    }

    fn response(&self, req: &RequestHead<'_>, resp: &mut Response<Body>) {
        if resp.extensions().get::<PreflightAnswer>().is_some() {
            return;
        }
        if let Verdict::Pass { ssl } = self.verdict(req) {
            let headers = self.headers_for(ssl);
            if !headers.is_empty() {
                preset_headers(resp.headers_mut(), headers);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, Uri};
    use http_body_util::BodyExt;
    use serde_json::json;

    /// The error of a configuration the component refuses.
    fn build_error(v: Value) -> String {
        build(&v).unwrap_err().to_string()
    }

    struct Req {
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        tls: bool,
    }

    fn req(method: Method, uri: &str, hdrs: &[(&str, &str)]) -> Req {
        let mut headers = HeaderMap::new();
        for (k, v) in hdrs {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        Req {
            method,
            uri: uri.parse().expect("uri"),
            headers,
            tls: false,
        }
    }

    async fn run(layer: &HttpSecure, r: &Req) -> (StatusCode, HeaderMap, bytes::Bytes) {
        let head = RequestHead {
            method: &r.method,
            uri: &r.uri,
            headers: &r.headers,
            client_ip: "127.0.0.1",
            tls: r.tls,
        };
        let mut resp = layer.request(&head).unwrap_or_else(|| {
            let mut r = Response::new(full_body("ok"));
            r.headers_mut()
                .insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
            r
        });
        layer.response(&head, &mut resp);
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (parts.status, parts.headers, bytes)
    }

    fn all(h: &HeaderMap, name: &str) -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("").to_string())
            .collect()
    }

    fn layer(v: Value) -> HttpSecure {
        build(&v).expect("valid config")
    }

    #[tokio::test]
    async fn headers_and_hsts_only_over_https() {
        let l = layer(json!({
            "sts_seconds": 31536000,
            "sts_include_subdomains": true,
            "frame_deny": true,
            "content_type_nosniff": true,
            "browser_xss_filter": true,
            "content_security_policy": "default-src 'self'",
            "referrer_policy": "same-origin",
            "ssl_proxy_headers": {"X-Forwarded-Proto": "https"}
        }));
        let (status, h, body) = run(&l, &req(Method::GET, "/a", &[("host", "x.test")])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"ok");
        assert!(h.get("strict-transport-security").is_none());
        assert_eq!(all(&h, "x-frame-options"), ["DENY", "SAMEORIGIN"]);
        assert_eq!(all(&h, "x-content-type-options"), ["nosniff"]);
        assert_eq!(all(&h, "x-xss-protection"), ["1; mode=block"]);
        assert_eq!(all(&h, "content-security-policy"), ["default-src 'self'"]);
        assert_eq!(all(&h, "referrer-policy"), ["same-origin"]);

        let (_, h, _) = run(
            &l,
            &req(
                Method::GET,
                "/a",
                &[("host", "x.test"), ("x-forwarded-proto", "https")],
            ),
        )
        .await;
        assert_eq!(
            all(&h, "strict-transport-security"),
            ["max-age=31536000; includeSubDomains"]
        );
        let mut tls = req(Method::GET, "/a", &[("host", "x.test")]);
        tls.tls = true;
        let (_, h, _) = run(&l, &tls).await;
        assert_eq!(
            all(&h, "strict-transport-security"),
            ["max-age=31536000; includeSubDomains"]
        );
        // A proxy header with another value is not HTTPS.
        let (_, h, _) = run(
            &l,
            &req(Method::GET, "/a", &[("x-forwarded-proto", "http")]),
        )
        .await;
        assert!(h.get("strict-transport-security").is_none());
    }

    #[tokio::test]
    async fn forced_hsts_and_development() {
        let l = layer(json!({"sts_seconds": 60, "force_sts_header": true}));
        let (_, h, _) = run(&l, &req(Method::GET, "/", &[])).await;
        assert_eq!(all(&h, "strict-transport-security"), ["max-age=60"]);

        let l = layer(json!({
            "sts_seconds": 60, "force_sts_header": true, "is_development": true,
            "allowed_hosts": ["only.test"], "ssl_redirect": true,
            "custom_frame_options_value": "SAMEORIGIN"
        }));
        let (status, h, _) = run(&l, &req(Method::GET, "/", &[("host", "other.test")])).await;
        assert_eq!(status, StatusCode::OK);
        assert!(h.get("strict-transport-security").is_none());
        assert_eq!(all(&h, "x-frame-options"), ["SAMEORIGIN", "SAMEORIGIN"]);
    }

    #[tokio::test]
    async fn allowed_hosts_reject_with_bad_host() {
        let l = layer(json!({
            "allowed_hosts": ["api.example.com", "localhost:8080"],
            "frame_deny": true
        }));
        let (status, h, body) = run(&l, &req(Method::GET, "/x", &[("host", "evil.test")])).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(&body[..], b"Bad Host\n");
        assert_eq!(all(&h, "content-type"), ["text/plain; charset=utf-8"]);
        assert_eq!(all(&h, "x-content-type-options"), ["nosniff"]);
        // The refusal carries none of the security headers.
        assert!(h.get("x-frame-options").is_none());

        for ok in ["API.example.com", "localhost:8080"] {
            let (status, h, _) = run(&l, &req(Method::GET, "/x", &[("host", ok)])).await;
            assert_eq!(status, StatusCode::OK, "{ok}");
            assert_eq!(all(&h, "x-frame-options"), ["DENY", "SAMEORIGIN"]);
        }
        // No Host at all is refused too.
        let (status, _, _) = run(&l, &req(Method::GET, "/x", &[])).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn allowed_hosts_as_regex_and_proxy_headers() {
        let l = layer(json!({
            "allowed_hosts": [".*\\.example\\.com"],
            "allowed_hosts_are_regex": true,
            "host_proxy_headers": ["X-Forwarded-Host"]
        }));
        let (status, _, _) = run(&l, &req(Method::GET, "/", &[("host", "a.example.com")])).await;
        assert_eq!(status, StatusCode::OK);
        // Anchored: a suffix after the match is refused.
        let (status, _, _) = run(
            &l,
            &req(Method::GET, "/", &[("host", "a.example.com.evil")]),
        )
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        // The proxy header wins over Host.
        let (status, _, _) = run(
            &l,
            &req(
                Method::GET,
                "/",
                &[("host", "a.example.com"), ("x-forwarded-host", "evil.test")],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let (status, _, _) = run(
            &l,
            &req(
                Method::GET,
                "/",
                &[("host", "evil.test"), ("x-forwarded-host", "b.example.com")],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            build_error(json!({"allowed_hosts": ["("], "allowed_hosts_are_regex": true}))
                .contains("allowed_hosts")
        );
    }

    #[tokio::test]
    async fn ssl_redirect() {
        let l = layer(json!({
            "ssl_redirect": true, "sts_seconds": 100, "frame_deny": true,
            "ssl_proxy_headers": {"X-Forwarded-Proto": "https"}
        }));
        let (status, h, body) = run(
            &l,
            &req(Method::GET, "/a/b?x=1&y=2", &[("host", "api.test:8080")]),
        )
        .await;
        assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(all(&h, "location"), ["https://api.test:8080/a/b?x=1&y=2"]);
        assert_eq!(all(&h, "content-type"), ["text/html; charset=utf-8"]);
        assert_eq!(
            &body[..],
            b"<a href=\"https://api.test:8080/a/b?x=1&amp;y=2\">Moved Permanently</a>.\n\n"
        );
        assert!(h.get("x-frame-options").is_none());
        assert!(h.get("strict-transport-security").is_none());

        let (status, h, body) = run(&l, &req(Method::POST, "/p", &[("host", "api.test")])).await;
        assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(all(&h, "location"), ["https://api.test/p"]);
        assert!(h.get("content-type").is_none());
        assert!(body.is_empty());

        // Behind a TLS-terminating proxy: served, with HSTS.
        let (status, h, _) = run(
            &l,
            &req(
                Method::GET,
                "/a",
                &[("host", "api.test"), ("x-forwarded-proto", "https")],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(all(&h, "strict-transport-security"), ["max-age=100"]);

        let l = layer(json!({"ssl_redirect": true, "ssl_host": "secure.test"}));
        let (_, h, _) = run(&l, &req(Method::GET, "/a", &[("host", "api.test")])).await;
        assert_eq!(all(&h, "location"), ["https://secure.test/a"]);
    }

    #[tokio::test]
    async fn csp_nonce_changes_per_response() {
        let l = layer(json!({"content_security_policy": "script-src $NONCE"}));
        let (_, a, _) = run(&l, &req(Method::GET, "/", &[])).await;
        let (_, b, _) = run(&l, &req(Method::GET, "/", &[])).await;
        let a = all(&a, "content-security-policy").remove(0);
        let b = all(&b, "content-security-policy").remove(0);
        assert!(
            a.starts_with("script-src 'nonce-") && a.ends_with("=='"),
            "{a}"
        );
        assert_eq!(a.len(), "script-src 'nonce-".len() + 24 + 1);
        assert_ne!(a, b);
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn bad_config_names_the_field() {
        let e = build_error(json!({"frame_deny": "yes"}));
        assert!(
            e.contains("security/http") && e.contains("frame_deny"),
            "{e}"
        );
        let e = build_error(json!({"sts_seconds": "1y"}));
        assert!(e.contains("sts_seconds"), "{e}");
        // Numbers written with a fraction are truncated, as KrakenD reads them.
        let l = build(&json!({"sts_seconds": 10.7})).expect("config");
        assert_eq!(l.cfg.sts_seconds, 10);
    }
}
