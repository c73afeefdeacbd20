//! One endpoint's handler: turns the client request into a `ProxyRequest` (zero-trust
//! forwarding), runs the pipe within the endpoint timeout, and writes KrakenD's response
//! (status, `X-Krakend-Completed`, `Cache-Control`, the render).

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::Either;
use futures_util::FutureExt as _;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};

use super::Shared;
use crate::encoding::Render;
use crate::hooks::{EndpointGuard, GuardRequest, ProxyStage};
use crate::http1::RawFields;
use crate::message::{Payload, ProxyError, ProxyRequest, RequestBody};
use crate::pipeline::Pipe;
use crate::vocab::body::{empty_body, full_body, read_body, Body};

pub(crate) const X_KRAKEND: HeaderName = HeaderName::from_static("x-krakend");
pub(crate) const X_KRAKEND_COMPLETED: HeaderName = HeaderName::from_static("x-krakend-completed");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_VIA: HeaderName = HeaderName::from_static("x-forwarded-via");

/// Largest request body buffered for several backends.
const MAX_BUFFERED_BODY: usize = 64 << 20;

/// The client's address as the gateway reports it, and as a header value when one was made
/// already.
#[derive(Clone)]
pub struct ClientIp<'a> {
    pub text: std::borrow::Cow<'a, str>,
    pub value: Option<&'a HeaderValue>,
}

/// Which client headers an endpoint lets through.
pub enum HeaderFilter {
    /// `input_headers` empty: only `Content-Type`.
    ContentTypeOnly,
    All,
    List(Vec<HeaderName>),
}

/// Which query parameters an endpoint lets through.
pub enum QueryFilter {
    None,
    All,
    List(Vec<String>),
}

pub struct EndpointHandler {
    pub endpoint: String,
    pub method: Method,
    pub pipe: Pipe,
    pub render: Render,
    pub headers: HeaderFilter,
    pub query: QueryFilter,
    pub cache_control: Option<HeaderValue>,
    /// Backend failures are expected (static `always` health pattern): log them at debug.
    pub quiet_errors: bool,
    pub buffer_body: bool,
    pub log_prefix: String,
    pub guards: Vec<Arc<dyn EndpointGuard>>,
    pub stages: Vec<Arc<dyn ProxyStage>>,
}

static NO_QUERY: std::sync::LazyLock<Arc<Vec<(String, String)>>> =
    std::sync::LazyLock::new(|| Arc::new(Vec::new()));

impl EndpointHandler {
    fn forwarded_headers(
        &self,
        client: &HeaderMap,
        shared: &Shared,
        client_ip: &ClientIp<'_>,
    ) -> (HeaderMap, bool) {
        let mut out = crate::http1::header_map(8);
        // only a filter that can let the client's own User-Agent through needs to look for it
        let mut may_forward_ua = true;
        match &self.headers {
            HeaderFilter::ContentTypeOnly => {
                may_forward_ua = false;
                if let Some(ct) = client.get(header::CONTENT_TYPE) {
                    out.insert(header::CONTENT_TYPE, ct.clone());
                }
            }
            HeaderFilter::All => {
                for (k, v) in client {
                    if !crate::backend::HOP_BY_HOP.contains(&k.as_str()) {
                        out.append(k.clone(), v.clone());
                    }
                }
            }
            HeaderFilter::List(names) => {
                for name in names {
                    for v in client.get_all(name) {
                        out.append(name.clone(), v.clone());
                    }
                }
            }
        }
        match client_ip.value {
            Some(v) => {
                out.insert(X_FORWARDED_FOR, v.clone());
            }
            None => {
                if let Ok(v) = HeaderValue::from_str(&client_ip.text) {
                    out.insert(X_FORWARDED_FOR, v);
                }
            }
        }
        if let Some(host) = client.get(header::HOST) {
            out.insert(X_FORWARDED_HOST, host.clone());
        }
        let forwards_ua = may_forward_ua && out.contains_key(header::USER_AGENT);
        if forwards_ua {
            out.insert(X_FORWARDED_VIA, shared.user_agent.clone());
        } else {
            out.insert(header::USER_AGENT, shared.user_agent.clone());
        }
        (out, forwards_ua)
    }

    fn forwarded_query(&self, raw: Option<&str>) -> Vec<(String, String)> {
        let Some(raw) = raw else { return Vec::new() };
        match &self.query {
            QueryFilter::None => Vec::new(),
            QueryFilter::All => form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
            QueryFilter::List(keys) => form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .filter(|(k, _)| keys.contains(k))
                .collect(),
        }
    }

    /// Serves one request on this endpoint.
    ///
    /// Not an `async fn`: the request is taken apart before the future is made, so that the
    /// future holds its parts but not the request beside them (a request future's size is
    /// what each request writes).
    pub fn handle<'a>(
        &'a self,
        req: Request<Body>,
        mut params: Vec<(String, String)>,
        shared: &'a Shared,
        ip: ClientIp<'a>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        let (mut parts, body) = req.into_parts();
        async move {
            let client_ip: &str = &ip.text;
            // the body's framing as the client sent it, whatever a guard sets
            let has_body = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .map(|v| v.as_bytes() != b"0")
                .unwrap_or_else(|| parts.headers.contains_key(header::TRANSFER_ENCODING));
            let mut claims = None;
            // KrakenD's handler chain: each guard changes the request before the next one
            // reads it (the JWT claim headers replace the client's before the rate limit keys
            // its buckets on them), and the backends get the request as the guards left it
            for g in &self.guards {
                let checked = {
                    let guard_req = GuardRequest {
                        method: &parts.method,
                        uri: &parts.uri,
                        headers: &parts.headers,
                        client_ip,
                        params: &params,
                    };
                    g.check(&guard_req).await
                };
                let e = match checked {
                    Ok(e) => e,
                    Err(mut rejection) => {
                        rejection
                            .headers_mut()
                            .insert(X_KRAKEND, shared.version_header.clone());
                        return rejection;
                    }
                };
                params.extend(e.params);
                // a guard's header replaces the client's; several values of one name all travel
                for name in e
                    .removed_headers
                    .iter()
                    .chain(e.headers.iter().map(|(k, _)| k))
                {
                    parts.headers.remove(name);
                }
                for (k, v) in e.headers {
                    parts.headers.append(k, v);
                }
                if e.claims.is_some() {
                    claims = e.claims.map(Arc::new);
                }
            }
            let (headers, forwards_user_agent) =
                self.forwarded_headers(&parts.headers, shared, &ip);
            let query = self.forwarded_query(parts.uri.query());
            let body = if !has_body {
                RequestBody::Empty
            } else if self.buffer_body {
                match read_body(body, MAX_BUFFERED_BODY).await {
                    Ok(b) => RequestBody::Buffered(b),
                    Err(e) => {
                        return text_response(
                            StatusCode::BAD_REQUEST,
                            format!("error reading the request body: {e}"),
                        )
                    }
                }
            } else {
                RequestBody::Stream(body)
            };
            let preq = ProxyRequest {
                method: parts.method.clone(),
                params,
                // most requests forward no query: they share one empty list
                query: if query.is_empty() {
                    NO_QUERY.clone()
                } else {
                    Arc::new(query)
                },
                headers: Arc::new(headers),
                body,
                forwards_user_agent,
                claims,
            };
            let timeout = self.pipe.timeout;
            let deadline = tokio::time::Instant::now() + timeout;
            let (resp, err) = match tokio::time::timeout_at(deadline, self.run_stages(preq)).await {
                Ok(r) => r,
                Err(_) => (None, Some(ProxyError::Timeout)),
            };
            if let Some(e) = &err {
                self.log_error(e);
            }
            if self.stages.iter().any(|s| s.bare_json_response()) {
                let mut out = bare_json_response(resp, err);
                out.headers_mut()
                    .insert(X_KRAKEND, shared.version_header.clone());
                return out;
            }
            let mut out = match resp {
                None => {
                    let mut r = err
                        .unwrap_or(ProxyError::Timeout)
                        .into_response(shared.opts.return_error_msg);
                    r.headers_mut()
                        .insert(X_KRAKEND_COMPLETED, HeaderValue::from_static("false"));
                    r
                }
                Some(resp) => {
                    let complete = resp.is_complete && resp.has_data();
                    let mut r = match resp.payload {
                        Payload::Raw(passthrough) => {
                            let mut r = passthrough_response(passthrough, deadline);
                            let raw = r.extensions_mut().get_mut::<RawFields>();
                            if let Some(raw) = raw.filter(|_| !complete) {
                                // the backend's lines go out as they came: the gateway's follow them
                                raw.gateway = shared.raw_lines.clone();
                                crate::http1::recycle(parts.headers);
                                return r;
                            }
                            r
                        }
                        Payload::Json(canonical) => {
                            // only on `json` endpoints: what `render` writes for this object
                            let mut r = Response::new(full_body(canonical.bytes));
                            r.headers_mut().insert(
                                header::CONTENT_TYPE,
                                HeaderValue::from_static(crate::encoding::JSON_CT),
                            );
                            r
                        }
                        Payload::Data(data) => {
                            let accept = parts
                                .headers
                                .get(header::ACCEPT)
                                .and_then(|v| v.to_str().ok());
                            let (ct, body) = self.render.render(&data, accept);
                            let mut r = Response::new(full_body(Bytes::from(body)));
                            r.headers_mut()
                                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
                            r
                        }
                    };
                    if complete {
                        if let Some(cc) = &self.cache_control {
                            r.headers_mut().insert(header::CACHE_CONTROL, cc.clone());
                        }
                    }
                    r.headers_mut().insert(
                        X_KRAKEND_COMPLETED,
                        HeaderValue::from_static(if complete { "true" } else { "false" }),
                    );
                    r
                }
            };
            out.headers_mut()
                .insert(X_KRAKEND, shared.version_header.clone());
            crate::http1::recycle(parts.headers);
            out
        }
    }

    /// Not an `async fn`: a single backend without stages is called by its own future, which
    /// holds the request once; several backends and stages get a box of their own.
    fn run_stages(
        &self,
        preq: ProxyRequest,
    ) -> impl Future<Output = crate::message::ProxyResult> + Send + '_ {
        if self.stages.is_empty() {
            if let Some(backend) = self.pipe.single() {
                // one plain call, without the pipe's own layers
                return Either::Left(backend.call(preq).map(|r| match r {
                    Ok(resp) => (Some(resp), None),
                    Err(e) => (None, Some(e)),
                }));
            }
            return Either::Right(self.pipe.run(preq).boxed());
        }
        Either::Right(self.run_staged(preq).boxed())
    }

    async fn run_staged(&self, mut preq: ProxyRequest) -> crate::message::ProxyResult {
        let started = std::time::Instant::now();
        for s in &self.stages {
            if let Err(e) = s.before(&mut preq).await {
                return (None, Some(e));
            }
        }
        let (mut resp, mut err) = self.pipe.run(preq).await;
        for s in &self.stages {
            s.after_timed(&mut resp, &mut err, started.elapsed());
        }
        (resp, err)
    }

    fn log_error(&self, e: &ProxyError) {
        let parts = e.parts();
        for (i, p) in parts.iter().enumerate() {
            let msg = if parts.len() > 1 {
                format!("{} Error #{i}: {p}", self.log_prefix)
            } else {
                format!("{} {p}", self.log_prefix)
            };
            if self.quiet_errors {
                tracing::debug!("{msg}");
            } else {
                tracing::error!("{msg}");
            }
        }
    }
}

/// The answer of an endpoint whose response is signed (`auth/signer`), as KrakenD's signing
/// handler writes it: the data as JSON, or an empty 400 on any error.
fn bare_json_response(
    resp: Option<crate::message::ProxyResponse>,
    err: Option<ProxyError>,
) -> Response<Body> {
    match (resp, err) {
        (Some(mut resp), None) => {
            let body = match resp.data_mut() {
                Some(data) => crate::encoding::json::map_to_vec(data),
                None => b"{}".to_vec(),
            };
            let mut r = Response::new(full_body(Bytes::from(body)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
        _ => {
            let mut r = Response::new(empty_body());
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
    }
}

/// Response headers that describe the backend connection, not the answer.
static HOP_BY_HOP_RESPONSE: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TRAILER,
];

/// A `no-op` backend response, handed to the client as it came (hop-by-hop headers aside).
/// A `no-op` answer as the client gets it: the hop-by-hop fields removed, the body cut off
/// when the endpoint's deadline passes before its end.
fn passthrough_response(resp: Response<Body>, deadline: tokio::time::Instant) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let body = if hyper::body::Body::size_hint(&body).exact() == Some(0) {
        body
    } else {
        http_body_util::BodyExt::boxed(crate::vocab::body::Deadline::new(body, deadline))
    };
    // one pass over the names notes which are present; only those are removed
    let mut present = 0u8;
    for k in parts.headers.keys() {
        if let Some(i) = HOP_BY_HOP_RESPONSE.iter().position(|h| h == k) {
            present |= 1 << i;
        }
    }
    for (i, h) in HOP_BY_HOP_RESPONSE.iter().enumerate() {
        if present & (1 << i) != 0 {
            parts.headers.remove(h);
        }
    }
    Response::from_parts(parts, body)
}

pub fn text_response(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full_body(text.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
