//! The pooled HTTP client used for every backend call: keep-alive connections per host,
//! redirects followed as Go's client follows them (with `Referer`), gzip answered when the
//! gateway itself asked for it.

use std::future::Future;
use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::proxy::{Proxy, ProxyEnv, TunnelConnector};
use crate::config::ServiceConfig;
use crate::error::Error;
use crate::http1::client::{Exchange, H1Client, SendError, Settings};
use crate::vocab::body::{boxed, empty_body, full_body, Body, BoxError, OutBody};

/// The shared outbound client.
#[derive(Clone)]
pub struct HttpClient {
    /// `https://` backends.
    inner: Client<HttpsConnector<TunnelConnector>, Body>,
    /// `http://` backends.
    h1: H1Client,
    /// The proxies the environment names (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`).
    proxy: Option<Arc<ProxyEnv>>,
    pub disable_compression: bool,
    /// Follow 3xx redirects (`backend/http/client.no_redirect` turns it off).
    pub follow_redirects: bool,
    /// Send the body again after a 307/308 (`backend/http/client.send_body_on_redirect`).
    pub send_body_on_redirect: bool,
}

impl HttpClient {
    pub fn new(svc: &ServiceConfig) -> crate::error::Result<HttpClient> {
        let tls =
            crate::tls::client_config(svc.client_tls.as_ref(), svc.allow_insecure_connections)?;
        Ok(HttpClient::with_tls(svc, tls))
    }

    /// This client with a backend's `backend/http/client` options (`no_redirect`,
    /// `send_body_on_redirect`).
    pub fn for_backend(
        &self,
        b: &crate::config::BackendConfig,
    ) -> crate::error::Result<HttpClient> {
        let mut client = self.clone();
        if let Some(opts) = b.extra_config.get("backend/http/client") {
            let Some(opts) = opts.as_object() else {
                return Err(Error::config(
                    format!("{}.extra_config.backend/http/client", b.json_path),
                    "expected an object",
                ));
            };
            for (key, value) in opts {
                let flag = match key.as_str() {
                    "send_body_on_redirect" => &mut client.send_body_on_redirect,
                    "no_redirect" => &mut client.follow_redirects,
                    _ => continue,
                };
                let Some(on) = value.as_bool() else {
                    return Err(Error::config(
                        format!("{}.extra_config.backend/http/client.{key}", b.json_path),
                        "expected true or false",
                    ));
                };
                *flag = if key == "no_redirect" { !on } else { on };
            }
        }
        Ok(client)
    }

    /// A client with the service's connection settings and its own TLS configuration.
    pub fn with_tls(svc: &ServiceConfig, tls: rustls::ClientConfig) -> HttpClient {
        let tcp_keepalive = if svc.dialer_keep_alive.is_zero() {
            Duration::from_secs(15)
        } else {
            svc.dialer_keep_alive
        };
        let max_idle_per_host = if svc.disable_keep_alives {
            0
        } else {
            svc.max_idle_connections_per_host
        };
        let idle_timeout = if svc.idle_connection_timeout.is_zero() {
            Duration::from_secs(90)
        } else {
            svc.idle_connection_timeout
        };
        let h1 = H1Client::new(
            Settings {
                max_idle_per_host,
                idle_timeout,
                connect_timeout: Some(svc.dialer_timeout).filter(|d| !d.is_zero()),
                tcp_keepalive: Some(tcp_keepalive),
                response_header_timeout: Some(svc.response_header_timeout).filter(|d| !d.is_zero()),
            },
            tls.clone(),
        );
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_keepalive(Some(tcp_keepalive));
        if !svc.dialer_timeout.is_zero() {
            connector.set_connect_timeout(Some(svc.dialer_timeout));
        }
        connector.enforce_http(false);
        let proxy = proxy_env();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(TunnelConnector::new(connector, proxy.clone()));
        let mut builder = Client::builder(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        builder.pool_timer(TokioTimer::new());
        builder.pool_max_idle_per_host(max_idle_per_host);
        builder.pool_idle_timeout(idle_timeout);
        HttpClient {
            inner: builder.build(connector),
            h1,
            proxy,
            disable_compression: svc.disable_compression,
            follow_redirects: true,
            send_body_on_redirect: false,
        }
    }

    /// Sends a request and follows up to 10 redirects as Go's `http.Client` does.
    /// `added_gzip` says whether the gateway (not the client) asked for gzip. With
    /// `raw_fields`, an `http://` answer may keep its header lines as they came
    /// (`http1::RawFields`, see `Backend::set_raw_fields`).
    ///
    /// Not an `async fn`: its arguments are held once by the future, not also copied into
    /// locals beside them (a request future's size is what each request writes).
    #[allow(clippy::manual_async_fn)]
    pub fn send(
        &self,
        mut method: Method,
        mut url: String,
        mut headers: HeaderMap,
        body: OutBody,
        raw_fields: bool,
    ) -> impl Future<Output = crate::hooks::Exchanged> + Send + '_ {
        async move {
            // Go's transport asks for gzip itself when the request does not say what it accepts;
            // the field is written with the request's head, not added to the map
            let added_gzip =
                !self.disable_compression && !headers.contains_key(header::ACCEPT_ENCODING);
            // KrakenD CE sends a body again after a 307/308 only with `send_body_on_redirect`
            let mut body = Some(match body {
                OutBody::Stream(s) if self.send_body_on_redirect && self.follow_redirects => {
                    OutBody::Buffered(
                        crate::vocab::body::read_body(s, 64 << 20)
                            .await
                            .map_err(Error::other)?,
                    )
                }
                other => other,
            });
            let replay = match &body {
                Some(OutBody::Empty) => Some(Bytes::new()),
                Some(OutBody::Buffered(b)) if b.is_empty() || self.send_body_on_redirect => {
                    Some(b.clone())
                }
                _ => None,
            };
            for _ in 0..=10 {
                // a plain `http://` URL is split as it is; any other is parsed in full
                let plain = split_plain_http(&url);
                let parsed: Option<Uri> =
                    match plain {
                        Some(_) => None,
                        None => Some(url.parse().map_err(|e| {
                            Error::other(format!("invalid backend URL {url:?}: {e}"))
                        })?),
                    };
                let out = match body.take() {
                    Some(b) => b,
                    None => match &replay {
                        Some(b) if !b.is_empty() => OutBody::Buffered(b.clone()),
                        _ => OutBody::Empty,
                    },
                };
                // `http://` and `https://` go through the own client (plain or TLS
                // connections); an `https://` URL an HTTPS proxy tunnels to through hyper
                let h1_target = match plain {
                    Some((authority, target)) => Some((authority, target, false)),
                    None => parsed.as_ref().and_then(|uri| {
                        let tls = match uri.scheme_str() {
                            Some("http") => false,
                            Some("https") => true,
                            _ => return None,
                        };
                        let authority = uri.authority().map_or("", |a| a.as_str());
                        let tunneled = tls
                            && self
                                .proxy
                                .as_deref()
                                .is_some_and(|p| p.lookup(true, authority).is_some());
                        (!tunneled).then(|| {
                            let target = uri.path_and_query().map_or("/", |p| p.as_str());
                            (authority, target, tls)
                        })
                    }),
                };
                let resp = if let Some((authority, target, tls)) = h1_target {
                    let how = Exchange {
                        gzip: added_gzip,
                        raw: raw_fields,
                        via: None,
                        tls,
                    };
                    let proxy = (!tls)
                        .then(|| self.proxy.as_deref()?.lookup(false, authority))
                        .flatten();
                    let sent =
                        match proxy {
                            None => {
                                self.h1
                                    .send(&method, authority, target, &headers, out, how)
                                    .await
                            }
                            // rare: its future gets a box, not room in every request's
                            Some(proxy) => {
                                Box::pin(self.send_via(
                                    proxy, &method, authority, target, &headers, out, how,
                                ))
                                .await
                            }
                        };
                    sent.map_err(|e| {
                        failed(
                            &method,
                            &url,
                            &e.message,
                            e.source.map(|s| Box::new(s) as _),
                        )
                    })?
                } else if let Some(uri) = &parsed {
                    let out_body = match out {
                        OutBody::Stream(b) => crate::vocab::body::Chunked(b).boxed(),
                        OutBody::Buffered(b) => full_body(b),
                        OutBody::Empty => empty_body(),
                    };
                    let mut req = Request::new(out_body);
                    *req.method_mut() = method.clone();
                    *req.uri_mut() = uri.clone();
                    *req.headers_mut() = headers.clone();
                    if added_gzip {
                        req.headers_mut()
                            .insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
                    }
                    let resp = self.inner.request(req).await.map_err(|e| {
                        let cause = error_cause(&e);
                        failed(&method, &url, &cause, Some(Box::new(e)))
                    })?;
                    resp.map(boxed)
                } else {
                    return Err(Error::other(format!("invalid backend URL {url:?}")));
                };
                let status = resp.status();
                let redirect = self.follow_redirects
                    && matches!(
                        status,
                        StatusCode::MOVED_PERMANENTLY
                            | StatusCode::FOUND
                            | StatusCode::SEE_OTHER
                            | StatusCode::TEMPORARY_REDIRECT
                            | StatusCode::PERMANENT_REDIRECT
                    );
                let location = redirect
                    .then(|| resp.headers().get(header::LOCATION))
                    .flatten()
                    .and_then(|l| l.to_str().ok())
                    .map(str::to_string);
                let keeps_body = matches!(
                    status,
                    StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
                );
                // not followed: no redirect, or a 307/308 whose streamed body cannot be sent twice
                // (Go returns that redirect as it is)
                let resendable = !(keeps_body && replay.is_none());
                let Some(location) = location.filter(|_| resendable) else {
                    crate::http1::recycle(headers);
                    return Ok((finish(resp, added_gzip).await?, url));
                };
                let base = match parsed {
                    Some(uri) => uri,
                    None => url
                        .parse()
                        .map_err(|e| Error::other(format!("invalid backend URL {url:?}: {e}")))?,
                };
                let next = resolve(&base, &location);
                if let Ok(referer) = HeaderValue::from_str(&url) {
                    headers.insert(header::REFERER, referer);
                }
                if !keeps_body {
                    if method != Method::HEAD {
                        method = Method::GET;
                    }
                    headers.remove(header::CONTENT_LENGTH);
                    headers.remove(header::CONTENT_TYPE);
                    body = Some(OutBody::Empty);
                } else {
                    body = replay.clone().map(OutBody::Buffered);
                }
                // drain what is left of the redirect response so the connection is reused
                let _ = resp.into_body().collect().await;
                url = next;
            }
            Err(Error::other(format!(
                "Get {url:?}: stopped after 10 redirects"
            )))
        }
    }
}

impl HttpClient {
    /// An `http://` request through a proxy: its absolute URL as the target, the proxy's
    /// credentials with it (as Go's transport sends them).
    #[allow(clippy::too_many_arguments)]
    async fn send_via(
        &self,
        proxy: &Proxy,
        method: &Method,
        authority: &str,
        target: &str,
        headers: &HeaderMap,
        out: OutBody,
        how: Exchange<'_>,
    ) -> Result<Response<Body>, SendError> {
        let host_port = crate::vocab::authority::host_port(authority);
        let absolute = format!("http://{host_port}{target}");
        let mut headers = headers.clone();
        if let Some(credentials) = &proxy.authorization {
            headers.insert(header::PROXY_AUTHORIZATION, credentials.clone());
        }
        let how = Exchange {
            via: Some(&proxy.authority),
            ..how
        };
        self.h1
            .send(method, authority, &absolute, &headers, out, how)
            .await
            .map_err(|mut e| {
                if e.message.starts_with("dial tcp") {
                    e.message = format!("proxyconnect tcp: {}", e.message);
                }
                e
            })
    }
}

/// The environment's proxies, read once per process (its warnings logged once).
fn proxy_env() -> Option<Arc<ProxyEnv>> {
    static ENV: OnceLock<Option<Arc<ProxyEnv>>> = OnceLock::new();
    ENV.get_or_init(|| ProxyEnv::from_env().map(Arc::new))
        .clone()
}

/// A plain `http://` URL as its authority and its request target, when it needs no parsing
/// to be sent: lower-case scheme, a host, a target that starts with `/`, and only bytes a URI
/// carries as they are (and the brackets of an IPv6 host).
fn split_plain_http(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    if !rest
        .bytes()
        .all(|b| super::url::URI_SAFE[usize::from(b)] || b == b'[' || b == b']')
    {
        return None;
    }
    let (authority, target) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match target {
        _ if authority.is_empty() => None,
        "" => Some((authority, "/")),
        t if t.starts_with('/') => Some((authority, t)),
        _ => None,
    }
}

/// The innermost cause of a client error.
fn error_cause(e: &hyper_util::client::legacy::Error) -> String {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    cause
}

/// An exchange that failed, told as Go's client tells it (`Get "url": cause`), with the
/// error underneath as its source.
fn failed(method: &Method, url: &str, cause: &str, source: Option<BoxError>) -> Error {
    let verb = crate::vocab::go::client_verb(method);
    Error::Upstream {
        message: format!("{verb} {url:?}: {cause}"),
        source,
    }
}

/// Decompresses a gzip body the gateway asked for; other bodies stream through.
async fn finish(resp: Response<Body>, added_gzip: bool) -> Result<Response<Body>, Error> {
    let gz = added_gzip
        && resp
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let (mut parts, body) = resp.into_parts();
    if !gz {
        return Ok(Response::from_parts(parts, body));
    }
    let compressed = body
        .collect()
        .await
        .map_err(|e| Error::Upstream {
            message: format!("reading backend body: {e}"),
            source: Some(e),
        })?
        .to_bytes();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut out)
        .map_err(|e| Error::Upstream {
            message: format!("gzip: {e}"),
            source: Some(Box::new(e)),
        })?;
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, full_body(Bytes::from(out))))
}

/// Resolves a `Location` against the URL that answered it.
fn resolve(base: &Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = base.path();
    let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(0)];
    format!("{scheme}://{authority}{dir}{location}")
}

impl crate::hooks::Transport for HttpClient {
    fn exchange(
        &self,
        req: crate::message::OutRequest,
    ) -> crate::hooks::BoxFuture<'_, crate::hooks::Exchanged> {
        Box::pin(self.send(req.method, req.url, req.headers, req.body, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed exchange reads as Go's client words it and keeps the I/O error as its source.
    #[tokio::test]
    async fn a_refused_connection_keeps_its_cause() {
        let svc: ServiceConfig = crate::config::load_str(
            r#"{"version": 3, "endpoints": []}"#,
            "t.json",
            crate::config::Format::Json,
            &|_| None,
        )
        .map(|l| l.config)
        .unwrap_or_else(|e| panic!("{e:?}"));
        let client = HttpClient::new(&svc).unwrap();
        // a port nobody listens on: bound, then released
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/x");
        let sent = client
            .send(
                Method::GET,
                url.clone(),
                HeaderMap::new(),
                OutBody::Empty,
                false,
            )
            .await;
        let Err(e) = sent else {
            panic!("nobody listens on {port}")
        };
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("Get {url:?}: dial tcp 127.0.0.1:{port}: ")),
            "{text}"
        );
        let source = std::error::Error::source(&e).expect("the cause is kept");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("an I/O error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn plain_urls_split_without_the_parser() {
        assert_eq!(
            split_plain_http("http://h:8080/a/b?c=1&d=%20"),
            Some(("h:8080", "/a/b?c=1&d=%20"))
        );
        assert_eq!(split_plain_http("http://h"), Some(("h", "/")));
        assert_eq!(
            split_plain_http("http://[::1]:80/x"),
            Some(("[::1]:80", "/x"))
        );
        assert_eq!(split_plain_http("http://u:p@h/x"), Some(("u:p@h", "/x")));
        for other in [
            "https://h/x",
            "HTTP://h/x",
            "http:///x",
            "http://h?x=1",
            "http://h/a b",
            "http://h/a#frag",
            "http://h/a\"b",
            "http://h/caf\u{e9}",
        ] {
            assert_eq!(split_plain_http(other), None, "{other}");
            // what is not split goes through the full parser, as every URL did before
        }
    }

    #[test]
    fn resolves_locations() {
        let base: Uri = "http://h:1/a/b?x=1".parse().unwrap();
        assert_eq!(resolve(&base, "/c?d=1"), "http://h:1/c?d=1");
        assert_eq!(resolve(&base, "c"), "http://h:1/a/c");
        assert_eq!(resolve(&base, "http://o/p"), "http://o/p");
        assert_eq!(resolve(&base, "//o/p"), "http://o/p");
    }
}
