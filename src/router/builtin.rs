//! The gateway's own endpoints: `/__health`, `/__debug/`, `/__echo/`.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use serde_json::{Map, Value};

use crate::backend::{full_body, Body};
use crate::encoding::{json, JSON_CT};

/// Go's `time.Now().String()` for UTC, with the monotonic reading since start.
pub fn go_now(started: std::time::Instant) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mono = started.elapsed().as_secs_f64();
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:09} +0000 UTC m=+{mono:.9}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

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

/// Go's `textproto.CanonicalMIMEHeaderKey`: `x-header` → `X-Header`;
/// a name with characters a header name may not hold is left as it is.
pub fn canonical_header(name: &str) -> String {
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return name.to_string();
    }
    canonical_token(name).map(char::from).collect()
}

/// The bytes of [`canonical_header`] for a name already known to be a valid token (as every
/// `http::HeaderName` is): upper case first and after each `-`, lower case elsewhere.
pub fn canonical_token(name: &str) -> impl Iterator<Item = u8> + '_ {
    let mut upper = true;
    name.bytes().map(move |b| {
        let c = if upper {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        };
        upper = b == b'-';
        c
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
        assert_eq!(canonical_header("x-y-z"), "X-Y-Z");
    }
}
