//! One backend's stack, built once: url_pattern rendering, header and query filtering, host
//! balancing, the HTTP call, status handling (`backend/http`), decoding and formatting.

pub mod client;
pub mod proxy;
pub mod sd;
pub mod url;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::Either;
use futures_util::FutureExt as _;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use serde_json::{Map, Value};

use crate::config::BackendConfig;
use crate::encoding::Decoder;
use crate::error::Error;
use crate::hooks::{BackendCall, BackendStage, Exchanged, Next};
use crate::message::OutRequest;
use crate::message::{
    CanonicalJson, Payload, ProxyError, ProxyRequest, ProxyResponse, RequestBody,
};
use crate::transform::{parse_flatmap, Formatter};
use crate::vocab::body::OutBody;
pub use client::HttpClient;
use http_body_util::BodyExt;
use url::{query_escape, UrlTemplate};

/// Headers that never travel upstream as they are. A forwarded `Content-Length` does (Lura
/// copies a single value onto the backend request); it is checked in `call_http`.
pub(crate) const HOP_BY_HOP: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// How a failed status is reported (`backend/http`).
#[derive(Debug, Clone)]
enum StatusMode {
    Default,
    Details(String),
    ReturnCode,
}

/// Where a backend's hosts come from.
enum Hosts {
    Static(Vec<String>),
    /// `sd: "dns"`: refreshed in the background.
    Dns(sd::SharedHosts),
}

/// A backend, ready to be called many times.
pub struct Backend {
    pub method: Method,
    template: UrlTemplate,
    hosts: Hosts,
    next_host: AtomicUsize,
    decoder: Decoder,
    is_collection: bool,
    formatter: Formatter,
    input_headers: Option<Vec<HeaderName>>,
    all_headers: bool,
    input_query: Option<Vec<String>>,
    status_mode: StatusMode,
    error_prefix: Arc<str>,
    /// The HTTP client with this backend's options (`backend/http/client`).
    client: HttpClient,
    /// The components around each call, in their rank's order (see `hooks::BackendStage`).
    stages: Vec<Arc<dyn BackendStage>>,
    /// `proxy.shadow`: called, its answer ignored.
    pub shadow: bool,
    pub url_pattern: String,
    /// Answers a JSON object as the bytes the endpoint writes (no map): see
    /// `set_canonical_json`.
    canonical_json: bool,
    /// `group`, shared by every answer that carries it.
    group: Option<Arc<str>>,
    /// Hands a `no-op` answer's header lines on as they came: see `set_raw_fields`.
    raw_fields: bool,
}

impl Backend {
    /// The backend `cfg` describes, calling out through `client` with `stages` around each
    /// call (the components build them: `components::backend_stages`).
    pub fn build(
        cfg: &BackendConfig,
        dns_cache_ttl: std::time::Duration,
        client: HttpClient,
        stages: Vec<Arc<dyn BackendStage>>,
    ) -> crate::error::Result<Backend> {
        let proxy_ns = cfg.extra_config.get("proxy");
        let flatmap = match proxy_ns.and_then(|p| p.get("flatmap_filter")) {
            Some(v) => Some(parse_flatmap(v).map_err(|e| {
                e.within(format!(
                    "{}.extra_config.proxy.flatmap_filter",
                    cfg.json_path
                ))
            })?),
            None => None,
        };
        let shadow = proxy_ns
            .and_then(|p| p.get("shadow"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let status_mode = match cfg.extra_config.get("backend/http") {
            Some(v) => match v.get("return_error_details").and_then(Value::as_str) {
                Some(name) if !name.is_empty() => StatusMode::Details(name.to_string()),
                _ if v.get("return_error_code").and_then(Value::as_bool) == Some(true) => {
                    StatusMode::ReturnCode
                }
                _ => StatusMode::Default,
            },
            None => StatusMode::Default,
        };
        let (input_headers, all_headers) = match &cfg.input_headers {
            Some(list) if !list.is_empty() => {
                if list.iter().any(|h| h == "*") {
                    (None, true)
                } else {
                    (
                        Some(
                            list.iter()
                                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                                .collect(),
                        ),
                        false,
                    )
                }
            }
            _ => (None, true),
        };
        let input_query = match &cfg.input_query_strings {
            Some(list) if !list.is_empty() && !list.iter().any(|q| q == "*") => Some(list.clone()),
            _ => None,
        };
        let template = UrlTemplate::parse(&cfg.url_pattern);
        let method = Method::from_bytes(cfg.method.as_bytes()).map_err(|_| {
            Error::config(
                format!("{}.method", cfg.json_path),
                format!("invalid method {}", cfg.method),
            )
        })?;
        Ok(Backend {
            error_prefix: format!("[{} {}]:", cfg.method, template.go_form()).into(),
            method,
            template,
            hosts: if cfg.sd == "dns" {
                let shared: sd::SharedHosts = Default::default();
                match cfg.host.first() {
                    Some(name) => sd::spawn_resolver(
                        name.trim_start_matches("http://")
                            .trim_start_matches("https://")
                            .to_string(),
                        cfg.sd_scheme.clone(),
                        dns_cache_ttl,
                        shared.clone(),
                    ),
                    None => {
                        return Err(Error::config(
                            format!("{}.host", cfg.json_path),
                            "sd \"dns\" needs the SRV name in host[0]",
                        ))
                    }
                }
                Hosts::Dns(shared)
            } else {
                Hosts::Static(cfg.host.clone())
            },
            next_host: AtomicUsize::new(0),
            decoder: Decoder::from_name(&cfg.encoding),
            is_collection: cfg.is_collection,
            formatter: Formatter::new(cfg, flatmap),
            input_headers,
            all_headers,
            input_query,
            status_mode,
            client,
            stages,
            shadow,
            url_pattern: cfg.url_pattern.clone(),
            canonical_json: false,
            group: cfg.group.as_deref().map(Arc::from),
            raw_fields: false,
        })
    }

    /// Whether this backend's answer is the backend's JSON object as it came, or that object
    /// wrapped in its `group`: `json` decoding of an object, no
    /// `target`/`allow`/`deny`/`mapping`/flatmap, and no stage that reads or changes the data.
    pub fn answers_plain_json(&self) -> bool {
        self.decoder == Decoder::Json
            && !self.is_collection
            && self.formatter.keeps_object()
            && !self.shadow
            && self.stages.iter().all(|s| !s.reads_data())
    }

    /// Makes a backend that [`answers_plain_json`](Self::answers_plain_json) hand its JSON
    /// object on as the bytes the endpoint's `json` render would write
    /// (`Payload::Json`) instead of a map. The endpoint decides this when
    /// nothing after the backend reads the data and it renders `json`.
    pub fn set_canonical_json(&mut self) {
        self.canonical_json = self.answers_plain_json();
    }

    /// Makes a `no-op` backend with no stage of its own hand its
    /// answer's header lines on as they came (`http1::RawFields`) rather than in a map. The
    /// gateway decides this when nothing between the backend and the client reads or changes
    /// response headers; the server writes the lines through.
    pub fn set_raw_fields(&mut self) {
        self.raw_fields = self.decoder == Decoder::NoOp && self.stages.is_empty() && !self.shadow;
    }

    /// Whether [`set_raw_fields`](Self::set_raw_fields) took effect.
    pub fn hands_on_raw_fields(&self) -> bool {
        self.raw_fields
    }

    /// Whether [`set_canonical_json`](Self::set_canonical_json) took effect.
    pub fn hands_on_canonical_json(&self) -> bool {
        self.canonical_json
    }

    /// The key this backend's object is wrapped in (`group`).
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    pub fn is_noop(&self) -> bool {
        self.decoder == Decoder::NoOp
    }

    fn pick<'a>(&self, hosts: &'a [String]) -> Option<&'a str> {
        match hosts.len() {
            0 => None,
            1 => Some(&hosts[0]),
            n => {
                let i = self.next_host.fetch_add(1, Ordering::Relaxed);
                Some(&hosts[i % n])
            }
        }
    }

    /// Builds the upstream URL for a request.
    fn url(&self, req: &ProxyRequest) -> Result<String, ProxyError> {
        let dynamic;
        let hosts: &[String] = match &self.hosts {
            Hosts::Static(h) => h,
            Hosts::Dns(shared) => {
                dynamic = shared.read().map(|g| g.clone()).unwrap_or_default();
                &dynamic
            }
        };
        let host = self
            .pick(hosts)
            .ok_or_else(|| ProxyError::Backend("no hosts available".into()))?;
        let mut url = String::with_capacity(host.len() + 64);
        url.push_str(host);
        let own_query = self.template.render(|k| req.param(k), &mut url);
        let mut has_query = false;
        if let Some(q) = own_query {
            url.push('?');
            url.push_str(&q);
            has_query = true;
        }
        // forwarded query: url.Values.Encode (keys sorted, values in order)
        let mut pairs: Vec<&(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| {
                self.input_query
                    .as_ref()
                    .is_none_or(|allowed| allowed.contains(k))
            })
            .collect();
        if !pairs.is_empty() {
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            url.push(if has_query { '&' } else { '?' });
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    url.push('&');
                }
                query_escape(&mut url, k);
                url.push('=');
                query_escape(&mut url, v);
            }
        }
        Ok(url)
    }

    fn headers(&self, req: &ProxyRequest) -> HeaderMap {
        let mut out = HeaderMap::with_capacity(req.headers.len() + 2);
        for (name, value) in req.headers.iter() {
            if HOP_BY_HOP.contains(&name.as_str()) {
                continue;
            }
            let always = matches!(
                name.as_str(),
                "x-forwarded-for" | "x-forwarded-host" | "x-forwarded-via"
            ) || (name == header::USER_AGENT && !req.forwards_user_agent);
            if !always && !self.all_headers {
                if let Some(list) = &self.input_headers {
                    if !list.contains(name) {
                        continue;
                    }
                }
            }
            out.append(name.clone(), value.clone());
        }
        out
    }

    /// Calls the backend (through its stages) and returns its formatted response.
    ///
    /// Not an `async fn`: without stages (the usual call) the upstream request is built before
    /// the future is made, which then holds it once; the stages' state lives in a box of its
    /// own.
    pub fn call(
        &self,
        req: ProxyRequest,
    ) -> impl Future<Output = Result<ProxyResponse, ProxyError>> + Send + '_ {
        if !self.stages.is_empty() {
            return Either::Right(self.call_staged(req).boxed());
        }
        match self.build_request(req) {
            Ok((out, _)) => Either::Left(self.send(out)),
            Err(e) => Either::Right(std::future::ready(Err(e)).boxed()),
        }
    }

    /// A call through the backend's stages (see `hooks::BackendStage` for the phases).
    async fn call_staged(&self, req: ProxyRequest) -> Result<ProxyResponse, ProxyError> {
        let mut admitted = Admitted {
            stages: &self.stages,
            tickets: Vec::with_capacity(self.stages.len()),
            finished: false,
        };
        for s in &self.stages {
            match s.admit(&req) {
                Ok(ticket) => admitted.tickets.push(ticket),
                Err(e) => {
                    // the stages that let the call through see it fail, as middlewares would
                    let result = Err(e);
                    admitted.finish(&result);
                    return result;
                }
            }
        }
        let (request, params) = match self.build_request(req) {
            Ok(built) => built,
            Err(e) => {
                let result = Err(e);
                admitted.finish(&result);
                return result;
            }
        };
        let mut call = BackendCall { request, params };
        let mut answered = None;
        for s in &self.stages {
            match s.request(&mut call).await {
                Ok(None) => {}
                Ok(Some(resp)) => {
                    answered = Some(Ok(resp));
                    break;
                }
                Err(e) => {
                    answered = Some(Err(e));
                    break;
                }
            }
        }
        let mut result = match answered {
            Some(r) => r,
            None => {
                let sent = Next::new(&self.stages, &self.client)
                    .run(call.request)
                    .await;
                self.answer(sent).await
            }
        };
        for s in self.stages.iter().rev() {
            s.response(&mut result);
        }
        admitted.finish(&result);
        result
    }

    /// The upstream request (URL, filtered headers, body) and the request params.
    #[allow(clippy::type_complexity)]
    fn build_request(
        &self,
        req: ProxyRequest,
    ) -> Result<(OutRequest, Vec<(String, String)>), ProxyError> {
        let url = self.url(&req)?;
        let mut headers = if self.all_headers {
            // the endpoint already filtered them: no copy when this backend is the only user
            Arc::try_unwrap(req.headers).unwrap_or_else(|shared| (*shared).clone())
        } else {
            self.headers(&req)
        };
        let method = self.method.clone();
        let body = match req.body {
            RequestBody::Empty => OutBody::Empty,
            RequestBody::Buffered(b) => OutBody::Buffered(b),
            RequestBody::Stream(s) => OutBody::Stream(s),
        };
        // a forwarded Content-Length is kept only when it is a single number (one lookup
        // finds and removes it)
        let forwarded_length = match headers.entry(header::CONTENT_LENGTH) {
            http::header::Entry::Occupied(e) => {
                let (_, mut values) = e.remove_entry_mult();
                match (values.next(), values.next()) {
                    (Some(v), None) => crate::http1::content_length(v.as_bytes()),
                    _ => None,
                }
            }
            http::header::Entry::Vacant(_) => None,
        };
        match (&body, forwarded_length) {
            (OutBody::Empty, _) => {
                if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
                }
            }
            (OutBody::Buffered(b), Some(n)) if b.len() as u64 == n => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            (OutBody::Stream(_), Some(n)) => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            _ => {}
        }
        Ok((
            OutRequest {
                method,
                url,
                headers,
                body,
            },
            req.params,
        ))
    }

    /// Executes the upstream request of a call without stages; status handling, decoding and
    /// formatting.
    ///
    /// Not an `async fn`: the request's parts move into the client's future, which the answer's
    /// handling follows in the same place.
    fn send(
        &self,
        out: OutRequest,
    ) -> impl Future<Output = Result<ProxyResponse, ProxyError>> + Send + '_ {
        // a decoded answer's fields are read only for its Content-Type, and only when its
        // status fails the call: they may stay lines
        let raw = self.raw_fields || self.decoder != Decoder::NoOp;
        let OutRequest {
            method,
            url,
            headers,
            body,
        } = out;
        self.client
            .send(method, url, headers, body, raw)
            .then(move |sent| self.answer(sent))
    }

    /// The status handling, decoding and formatting of an upstream answer.
    async fn answer(&self, sent: Exchanged) -> Result<ProxyResponse, ProxyError> {
        let (resp, final_url) = sent.map_err(|e| ProxyError::Exchange(Arc::new(e)))?;
        if self.decoder == Decoder::NoOp {
            return Ok(ProxyResponse {
                payload: Payload::Raw(resp),
                is_complete: false,
            });
        }
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| ProxyError::Backend(format!("reading the backend response: {e}")))?
            .to_bytes();
        if status != 200 && status != 201 {
            let mut headers = parts.headers;
            if let Some(raw) = parts.extensions.get::<crate::http1::RawFields>() {
                raw.append_to(&mut headers);
            }
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            return match &self.status_mode {
                StatusMode::Default => Err(ProxyError::InvalidStatus {
                    status,
                    prefix: self.error_prefix.clone(),
                    url: final_url,
                }),
                StatusMode::ReturnCode => Err(ProxyError::Response {
                    status,
                    body: bytes,
                    content_type,
                }),
                StatusMode::Details(name) => {
                    let mut detail = Map::new();
                    detail.insert("http_status_code".into(), Value::from(status));
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if !text.is_empty() {
                        detail.insert("http_body".into(), Value::String(text));
                    }
                    if let Some(ct) = content_type.filter(|c| !c.is_empty()) {
                        detail.insert("http_body_encoding".into(), Value::String(ct));
                    }
                    let mut data = Map::new();
                    data.insert(format!("error_{name}"), Value::Object(detail));
                    Ok(ProxyResponse {
                        payload: Payload::Data(data),
                        is_complete: false,
                    })
                }
            };
        }
        if self.canonical_json {
            // the object as the render writes it, in its group when it has one; anything
            // else (not an object, not JSON, or a form only the decoder handles) takes the
            // decoder's path below
            if let Some(out) = crate::encoding::json::canonical_object(&bytes, self.group()) {
                return Ok(ProxyResponse {
                    payload: Payload::Json(CanonicalJson {
                        bytes: Bytes::from(out),
                        group: self.group.clone(),
                    }),
                    is_complete: true,
                });
            }
        }
        let data = self
            .decoder
            .decode(&bytes, self.is_collection)
            .map_err(ProxyError::Backend)?;
        let data = if self.formatter.is_noop() {
            data
        } else {
            self.formatter.format(data)
        };
        Ok(ProxyResponse::complete(data))
    }
}

/// The stages a call went through: each gets the call's outcome exactly once, a deadline
/// (the call dropped unfinished) included.
struct Admitted<'a> {
    stages: &'a [Arc<dyn BackendStage>],
    tickets: Vec<u64>,
    finished: bool,
}

impl Admitted<'_> {
    fn finish(&mut self, result: &Result<ProxyResponse, ProxyError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        for (stage, ticket) in self.stages.iter().zip(&self.tickets) {
            stage.outcome(*ticket, result);
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.finish(&Err(ProxyError::Timeout));
    }
}
