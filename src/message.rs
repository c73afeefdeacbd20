//! The request and the response as they travel between an endpoint, its pipe and its backends
//! (Lura's `proxy.Request` and `proxy.Response`), and the error a backend call fails with.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Map, Value};

use crate::vocab::body::{Body, OutBody};

/// What the endpoint hands to its backends: already filtered by the endpoint's
/// `input_headers` / `input_query_strings`, with KrakenD's forwarding headers set.
pub struct ProxyRequest {
    pub method: Method,
    /// Path parameters, keys with the first letter upper-cased (`{id}` → `Id`), plus
    /// sequential (`Resp0_x`) and JWT (`JWT.sub`) values added on the way.
    pub params: Vec<(String, String)>,
    /// Query pairs the endpoint lets through, in the client's order.
    pub query: Arc<Vec<(String, String)>>,
    pub headers: Arc<HeaderMap>,
    pub body: RequestBody,
    /// Whether the client's own `User-Agent` travels upstream.
    pub forwards_user_agent: bool,
    /// Validated JWT claims (set by `auth/validator`), for CEL and Lua.
    pub claims: Option<Arc<Map<String, Value>>>,
}

impl ProxyRequest {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A copy for one of several backends (the body must be buffered first).
    pub fn clone_for_backend(&self) -> ProxyRequest {
        ProxyRequest {
            method: self.method.clone(),
            params: self.params.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            body: match &self.body {
                RequestBody::Buffered(b) => RequestBody::Buffered(b.clone()),
                RequestBody::Empty | RequestBody::Stream(_) => RequestBody::Empty,
            },
            forwards_user_agent: self.forwards_user_agent,
            claims: self.claims.clone(),
        }
    }
}

/// The client's request body.
pub enum RequestBody {
    /// No body was sent.
    Empty,
    /// Read into memory (several backends need it, or it was small).
    Buffered(Bytes),
    /// Streamed through to a single backend.
    Stream(Body),
}

impl RequestBody {
    pub fn is_empty(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Buffered(b) => b.is_empty(),
            RequestBody::Stream(_) => false,
        }
    }
}

/// What a pipe produces: its answer in one of three forms, chosen where the answer is made
/// (the backend, or the merge), and written by the endpoint's one render.
#[derive(Default)]
pub struct ProxyResponse {
    pub payload: Payload,
    pub is_complete: bool,
}

/// The forms of an answer.
pub enum Payload {
    /// Decoded data: what merges, components and renders read and change.
    Data(Map<String, Value>),
    /// The backend's JSON object already written as the `json` render writes it: only on
    /// endpoints whose data nothing reads or changes (see `Backend::set_canonical_json`).
    Json(CanonicalJson),
    /// A `no-op` backend's answer, written through as it came.
    Raw(http::Response<Body>),
}

impl Default for Payload {
    fn default() -> Self {
        Payload::Data(Map::new())
    }
}

/// A JSON object written as the `json` render writes it.
#[derive(Clone, Debug)]
pub struct CanonicalJson {
    /// The object; `{"<group>":<object>}` when it came from a backend with a `group`.
    pub bytes: Bytes,
    /// That group: the objects of backends with distinct groups merge by joining members.
    pub group: Option<Arc<str>>,
}

impl CanonicalJson {
    /// Puts the members of the object into a map. A grouped object is read from inside its
    /// group: the wrapped one may be nested one level deeper than a decoder reads.
    pub fn insert_into(&self, data: &mut Map<String, Value>) {
        use crate::encoding::json::{parse, write_str};
        match &self.group {
            Some(group) => {
                let mut prefix = vec![b'{'];
                write_str(&mut prefix, group);
                prefix.push(b':');
                let inner = self
                    .bytes
                    .get(prefix.len()..self.bytes.len().saturating_sub(1));
                if let Some(Ok(v)) = inner.map(parse) {
                    data.insert(group.to_string(), v);
                }
            }
            None => {
                if let Ok(Value::Object(m)) = parse(&self.bytes) {
                    data.extend(m);
                }
            }
        }
    }
}

impl ProxyResponse {
    pub fn complete(data: Map<String, Value>) -> Self {
        ProxyResponse {
            payload: Payload::Data(data),
            is_complete: true,
        }
    }

    /// The data, when the answer is a map.
    pub fn data(&self) -> Option<&Map<String, Value>> {
        match &self.payload {
            Payload::Data(m) => Some(m),
            _ => None,
        }
    }

    /// The data to read or change: an object written as bytes is read back into a map first;
    /// a raw `no-op` answer has none (KrakenD's proxy-level features do not apply to it).
    pub fn data_mut(&mut self) -> Option<&mut Map<String, Value>> {
        if let Payload::Json(c) = &self.payload {
            let mut m = Map::new();
            c.insert_into(&mut m);
            self.payload = Payload::Data(m);
        }
        match &mut self.payload {
            Payload::Data(m) => Some(m),
            _ => None,
        }
    }

    /// Whether there is any data (`{}` counts as none; a raw answer has none).
    pub fn has_data(&self) -> bool {
        match &self.payload {
            Payload::Data(m) => !m.is_empty(),
            Payload::Json(c) => c.bytes.as_ref() != b"{}",
            Payload::Raw(_) => false,
        }
    }

    /// Whether this is a raw `no-op` answer.
    pub fn is_raw(&self) -> bool {
        matches!(self.payload, Payload::Raw(_))
    }
}

/// Why a pipe failed. The variant decides the status and body the client sees
/// ([`ProxyError::into_response`], the one place they are mapped).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProxyError {
    /// The backend answered with a status other than 200/201.
    #[error("invalid status code {status} {prefix} {url}")]
    InvalidStatus {
        status: u16,
        prefix: Arc<str>,
        url: String,
    },
    /// `backend/http.return_error_code`: the backend's status and body go to the client.
    #[error("{}", String::from_utf8_lossy(body))]
    Response {
        status: u16,
        body: Bytes,
        content_type: Option<String>,
    },
    /// Connection, protocol or decoding failure.
    #[error("{0}")]
    Backend(String),
    /// The upstream exchange failed (connection, TLS, protocol, timeout awaiting the head):
    /// its error, with what caused it as `source`.
    #[error(transparent)]
    Exchange(Arc<crate::error::Error>),
    /// The endpoint (or merge) deadline passed.
    #[error("context deadline exceeded")]
    Timeout,
    /// A component refused the request with a status (e.g. CEL, rate limit).
    #[error("{message}")]
    Rejected { status: u16, message: String },
    /// Several backends failed.
    #[error("{}", joined(.0))]
    Merge(Vec<ProxyError>),
}

/// The errors of a merge, one per line.
fn joined(errs: &[ProxyError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ProxyError {
    /// The status KrakenD answers with when this error leaves no data to render.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::Response { status, .. } | ProxyError::Rejected { status, .. } => *status,
            _ => 500,
        }
    }

    /// The content type of an error body (`return_error_code` + `return_error_msg`).
    pub fn content_type(&self) -> Option<&str> {
        match self {
            ProxyError::Response { content_type, .. } => content_type.as_deref(),
            _ => None,
        }
    }

    /// The answer KrakenD gives when this error leaves no data to render: its status, and with
    /// the endpoint's `return_error_msg` the error's text as the body (the backend's own
    /// content type for a `return_error_code` answer, plain text otherwise).
    pub fn into_response(self, return_error_msg: bool) -> http::Response<Body> {
        let mut r = http::Response::new(crate::vocab::body::empty_body());
        *r.status_mut() = http::StatusCode::from_u16(self.status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        if return_error_msg {
            let text = self.to_string();
            if !text.is_empty() {
                let ct = self
                    .content_type()
                    .and_then(|c| http::HeaderValue::from_str(c).ok())
                    .unwrap_or_else(|| http::HeaderValue::from_static("text/plain; charset=utf-8"));
                r.headers_mut().insert(http::header::CONTENT_TYPE, ct);
                *r.body_mut() = crate::vocab::body::full_body(text);
            }
        }
        r
    }

    /// One error per failed backend, for logging.
    pub fn parts(&self) -> Vec<&ProxyError> {
        match self {
            ProxyError::Merge(errs) => errs.iter().collect(),
            other => vec![other],
        }
    }
}

pub type ProxyResult = (Option<ProxyResponse>, Option<ProxyError>);

/// One upstream HTTP request.
pub struct OutRequest {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: OutBody,
}
