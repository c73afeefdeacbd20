//! The gateway's own endpoints: `/__health`, `/__debug/`, `/__echo/`.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use serde_json::{Map, Value};

use crate::encoding::{json, JSON_CT};
use crate::vocab::body::{full_body, read_body, Body};
use crate::vocab::go::{canonical_header, go_now};

pub fn json_response(status: u16, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full_body(body));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(JSON_CT),
    );
    r
}

pub fn health(started: std::time::Instant) -> Response<Body> {
    let mut m = Map::new();
    m.insert("agents".into(), Value::Object(Map::new()));
    m.insert("now".into(), Value::String(go_now(started)));
    m.insert("status".into(), Value::String("ok".into()));
    json_response(200, json::map_to_vec(&m))
}

pub fn debug(
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response<Body> {
    tracing::debug!(
        target: "tentacle::debug",
        method = %method,
        url = %uri,
        query = uri.query().unwrap_or(""),
        headers = ?headers,
        body = %String::from_utf8_lossy(body),
        "[ENDPOINT: /__debug/*] request received"
    );
    json_response(200, br#"{"message":"pong"}"#.to_vec())
}

pub fn echo(method: &Method, uri: &http::Uri, headers: &HeaderMap, body: &Bytes) -> Response<Body> {
    let mut details = Map::new();
    details.insert("user".into(), Value::String(String::new()));
    details.insert(
        "host".into(),
        Value::String(
            headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string(),
        ),
    );
    details.insert("path".into(), Value::String(uri.path().to_string()));
    details.insert(
        "query".into(),
        Value::String(uri.query().unwrap_or("").to_string()),
    );
    details.insert("fragment".into(), Value::String(String::new()));
    let mut querystring = Map::new();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let entry = querystring
            .entry(k.into_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(Value::String(v.into_owned()));
        }
    }
    let mut hdrs = Map::new();
    for (name, value) in headers {
        let key = canonical_header(name.as_str());
        let entry = hdrs.entry(key).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(Value::String(
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
        }
    }
    let mut m = Map::new();
    m.insert("req_uri".into(), Value::String(uri.to_string()));
    m.insert("req_uri_details".into(), Value::Object(details));
    m.insert("req_method".into(), Value::String(method.to_string()));
    m.insert("req_querystring".into(), Value::Object(querystring));
    m.insert(
        "req_body".into(),
        Value::String(String::from_utf8_lossy(body).into_owned()),
    );
    m.insert("req_headers".into(), Value::Object(hdrs));
    json_response(200, json::map_to_vec(&m))
}

/// `/__debug/` (`debug`) or `/__echo/`: the request as it came, its body read.
pub(super) async fn inspect(debug: bool, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = read_body(body, 16 << 20).await.unwrap_or_default();
    if debug {
        self::debug(&parts.method, &parts.uri, &parts.headers, &body)
    } else {
        echo(&parts.method, &parts.uri, &parts.headers, &body)
    }
}
