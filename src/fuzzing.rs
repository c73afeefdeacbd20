//! Fuzz targets: one function per target, each taking arbitrary bytes and driving the gateway's
//! own code (the server's and the backend client's head parsers, the body framing, the router's
//! path decoding, `url_pattern`, the config loader, flatmap, the JSON canonicaliser), with the
//! checks that turn a wrong answer into a panic: offsets inside the buffer, the same result
//! whatever way the input is cut, an encoding that decodes back to what was encoded, two
//! implementations that agree.
//!
//! The `fuzz/` crate (cargo-fuzz, libFuzzer) calls them, one target each, and
//! `tests/fuzz_replay.rs` replays every seed and every kept reproducer through them on stable.
//!
//! | target                  | code                                                      |
//! |-------------------------|-----------------------------------------------------------|
//! | `request_head`          | `http1::server::parse` + `build`                          |
//! | `request_head_httparse` | the same, against the `httparse` crate                    |
//! | `response_head`         | `http1::client::parse_head` + `RawHead::build`, `framing` |
//! | `body_decoder`          | `http1::Decoder` (length, chunked, until close)           |
//! | `path_query`            | `vocab::percent::percent_decode`, routes, query pairs     |
//! | `url_pattern`           | `backend::url::UrlTemplate`                               |
//! | `config_json`           | `config::load_str` (JSON), what `tentacle check` reads    |
//! | `config_yaml`           | `config::load_str` (YAML)                                 |
//! | `flatmap`               | `transform::parse_flatmap` + `apply_flatmap`              |
//! | `json_canonical`        | `encoding::json::canonicalize` against `parse` + write    |

use std::fmt::Debug;
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName};
use http::{Method, Version};
use serde_json::{Map, Value};

use crate::backend::url::{param_key, query_escape, UrlTemplate};
use crate::config::{load_str, Format};
use crate::encoding::json;
use crate::http1::client::{framing, keeps_alive, parse_head, Framing, RawHead};
use crate::http1::server::{self as server_h1, Field, HeadError, Parsed};
use crate::http1::{content_length, Chunk, Decoder, RawFields, Step};

/// The bound on a request's header fields the request-head targets parse with (the
/// service's default `max_header_fields`, and the reference parser's table size).
pub const MAX_FIELDS: usize = 100;

/// Every cut of inputs up to this length is tried; longer ones are cut at sampled points.
const ALL_CUTS: usize = 512;

/// The points where an input of `len` bytes is cut in two.
fn cuts(len: usize) -> Vec<usize> {
    if len <= ALL_CUTS {
        return (0..=len).collect();
    }
    let mut at: Vec<usize> = (0..64).chain(len - 64..=len).collect();
    let step = len / 64;
    at.extend((1..64).map(|i| i * step));
    at
}

// ---------------------------------------------------------------------------------------------
// request heads (server)

/// What the server's head parser made of a buffer, in a comparable form.
#[derive(Debug, Clone, PartialEq)]
enum ServerHead {
    Partial,
    Refused(u16, &'static str),
    Parsed {
        len: usize,
        method: (usize, usize),
        target: (usize, usize),
        http10: bool,
        fields: Vec<Field>,
    },
}

fn server_parse(buf: &[u8]) -> ServerHead {
    let mut fields = Vec::new();
    match server_h1::parse(buf, &mut fields, MAX_FIELDS) {
        Ok(None) => ServerHead::Partial,
        Ok(Some(p)) => ServerHead::Parsed {
            len: p.len,
            method: p.method,
            target: p.target,
            http10: p.http10,
            fields,
        },
        Err(HeadError::Reply(status, why)) => ServerHead::Refused(status.as_u16(), why),
        Err(HeadError::Close) => panic!("the head parser closed without an answer"),
    }
}

/// The positions of a parsed request head: inside the head, in order, on the right bytes.
fn check_request_positions(
    buf: &[u8],
    len: usize,
    method: (usize, usize),
    target: (usize, usize),
    fields: &[Field],
) {
    assert!(len <= buf.len(), "head length {len} past the buffer");
    assert_eq!(buf[len - 1], b'\n', "a head ends with a line feed");
    assert!(method.0 < method.1 && method.1 < target.0 && target.0 < target.1 && target.1 < len);
    assert!(buf[method.0..method.1]
        .iter()
        .all(|b| crate::http1::TOKEN[usize::from(*b)]));
    assert_eq!(buf[method.1], b' ');
    assert_eq!(buf[target.1], b' ');
    assert!(buf[target.0..target.1]
        .iter()
        .all(|b| *b > b' ' && *b != 0x7f));
    let mut after = target.1;
    for &(ns, ne, vs, ve) in fields {
        assert!(
            after < ns && ns < ne && ne < vs && vs <= ve && ve < len,
            "{fields:?}"
        );
        assert_eq!(buf[ns - 1], b'\n', "a field starts a line");
        assert_eq!(buf[ne], b':');
        assert!(buf[ns..ne]
            .iter()
            .all(|b| crate::http1::TOKEN[usize::from(*b)]));
        assert!(!buf[vs..ve].contains(&b'\n'));
        for edge in [buf[vs..ve].first(), buf[vs..ve].last()]
            .into_iter()
            .flatten()
        {
            assert!(*edge != b' ' && *edge != b'\t', "a value is trimmed");
        }
        after = ve;
    }
}

/// What the server does with a buffer: the head's parse, then the request built from it.
#[derive(Debug)]
enum ServerVerdict {
    Partial,
    Refused(u16, &'static str),
    Accepted(Box<(ServerHead, http::Request<()>)>),
}

/// Parses and builds a request head as the server's connection loop does, with every check
/// on the way.
fn server_request(data: &[u8]) -> ServerVerdict {
    let parsed = server_parse(data);
    let ServerHead::Parsed {
        len,
        method,
        target,
        http10,
        ref fields,
    } = parsed
    else {
        return match parsed {
            ServerHead::Refused(status, why) => ServerVerdict::Refused(status, why),
            _ => ServerVerdict::Partial,
        };
    };
    check_request_positions(data, len, method, target, fields);
    let head = Bytes::copy_from_slice(&data[..len]);
    let p = Parsed {
        len,
        method,
        target,
        http10,
    };
    let (req, meta) = match server_h1::build(&head, &p, fields) {
        Ok(built) => built,
        Err(HeadError::Reply(status, why)) => return ServerVerdict::Refused(status.as_u16(), why),
        Err(HeadError::Close) => panic!("building a request closed without an answer"),
    };
    assert_eq!(req.method().as_str().as_bytes(), &data[method.0..method.1]);
    assert_eq!(meta.head, req.method() == Method::HEAD);
    let version = if http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    assert_eq!(req.version(), version);
    let raw_target = &data[target.0..target.1];
    if raw_target.starts_with(b"/") {
        // as sent, but for a `#fragment` (no part of a request-target), which the URI parser
        // drops
        let sent = raw_target.split(|b| *b == b'#').next().unwrap_or_default();
        let built = req.uri().path_and_query().map(|pq| pq.as_str().as_bytes());
        assert_eq!(built, Some(sent), "an origin-form target is kept as sent");
    }
    // every field is in the map with its value, but a Content-Length the coding replaced
    let chunked = matches!(meta.body, Some(Decoder::Chunked(Chunk::Size)));
    let mut kept = 0;
    for &(ns, ne, vs, ve) in fields {
        let name = HeaderName::from_bytes(&data[ns..ne]).expect("a built request's names");
        if chunked && name == header::CONTENT_LENGTH {
            continue;
        }
        kept += 1;
        let value = &data[vs..ve];
        assert!(
            req.headers()
                .get_all(&name)
                .iter()
                .any(|v| v.as_bytes() == value),
            "{name} lost its value"
        );
    }
    assert_eq!(req.headers().len(), kept, "the map holds the head's fields");
    // the body's framing is the one the fields announce
    let te = req.headers().contains_key(header::TRANSFER_ENCODING);
    let lengths: Vec<Option<u64>> = req
        .headers()
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .map(|v| content_length(v.as_bytes()))
        .collect();
    match meta.body {
        Some(Decoder::Chunked(Chunk::Size)) => {
            assert!(te && lengths.is_empty() && !http10);
        }
        Some(Decoder::Length(n)) => {
            assert!(!te && n > 0);
            assert!(!lengths.is_empty() && lengths.iter().all(|l| *l == Some(n)));
        }
        None => assert!(!te && lengths.iter().all(|l| *l == Some(0))),
        other => panic!("a request body framed as {other:?}"),
    }
    if !http10 && req.method() != Method::CONNECT {
        assert_eq!(req.headers().get_all(header::HOST).iter().count(), 1);
    }
    assert!(!(meta.expect_continue && http10));
    ServerVerdict::Accepted(Box::new((parsed, req)))
}

/// Whether two results of the head parser on a prefix and on the whole agree: a prefix may be
/// incomplete; once it is not, more bytes change nothing.
fn check_prefix_stable<T: PartialEq + Debug>(
    data: &[u8],
    whole: &T,
    parse: impl Fn(&[u8]) -> T,
    partial: impl Fn(&T) -> bool,
) {
    for cut in cuts(data.len()) {
        let part = parse(&data[..cut]);
        if !partial(&part) {
            assert_eq!(&part, whole, "a prefix of {cut} bytes decided otherwise");
        }
    }
    if !partial(whole) {
        let mut more = data.to_vec();
        more.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(&parse(&more), whole, "bytes after the head changed it");
    }
}

/// The server's request head parser and request builder (`http1::server`): positions inside
/// the head and on the right bytes; the built request carries the method, version, target
/// and every field as sent, one `Host` for HTTP/1.1, the body framing the fields announce;
/// the parse of any prefix is "incomplete" or the parse of the whole, and bytes after a
/// complete head change nothing.
pub fn request_head(data: &[u8]) {
    let whole = server_parse(data);
    check_prefix_stable(data, &whole, server_parse, |h| *h == ServerHead::Partial);
    server_request(data);
}

/// What a reference parser made of a request head (filled by the `fuzz/` crate from the
/// `httparse` crate, which the gateway itself does not depend on).
#[derive(Debug)]
pub enum Reference {
    /// More bytes are needed.
    Partial,
    /// Refused, with the reference's reason.
    Invalid(String),
    Complete(ReferenceHead),
}

/// The reference parser: a head's bytes to its verdict.
pub type ReferenceParser<'a> = &'a dyn Fn(&[u8]) -> Reference;

/// A complete head as the reference parsed it.
#[derive(Debug)]
pub struct ReferenceHead {
    pub len: usize,
    pub method: Vec<u8>,
    pub target: Vec<u8>,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    /// Names and values as the reference gives them (values perhaps with spaces around).
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A header value without spaces and tabs around it.
fn ows_trimmed(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| *b != b' ' && *b != b'\t');
    let end = v.iter().rposition(|b| *b != b' ' && *b != b'\t');
    match (start, end) {
        (Some(s), Some(e)) => &v[s..=e],
        _ => &[],
    }
}

/// RFC 3986 `unreserved / sub-delims / ":" / "@" / "/" / "?"`, what a request target may
/// hold besides `%XX` escapes.
fn uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b)
}

/// Whether a target breaks RFC 3986: a byte outside its character set, or a `%` that does not
/// start two hex digits.
fn not_rfc3986(target: &[u8]) -> bool {
    let bad_escape = target
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'%')
        .any(|(i, _)| {
            !(target.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && target.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        });
    bad_escape || target.iter().any(|b| !uri_char(*b) && *b != b'%')
}

/// Whether a target has one of the forms of RFC 9112 §3.2 an HTTP server serves:
/// origin-form (`/path?query`), asterisk-form (`*`), absolute-form with an authority
/// (`scheme://host/path`: the `http` and `https` URIs of RFC 9110 §4.2 have one),
/// authority-form (`host:port`).
fn request_target_form(target: &[u8]) -> bool {
    if target == b"*" || target.starts_with(b"/") {
        return true;
    }
    let Some(colon) = target.iter().position(|b| *b == b':') else {
        return false;
    };
    let scheme = &target[..colon];
    let absolute = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
        && target[colon..].starts_with(b"://");
    let port = &target[colon + 1..];
    let authority = !port.is_empty() && port.iter().all(u8::is_ascii_digit);
    absolute || authority
}

/// Whether a target other than origin-form (`/...`) or `*` is one the server's URI type
/// (`http::Uri`) refuses: an authority with a percent-escape in the host, a port that is not
/// digits, a `/` in an authority-form target, a scheme over 64 bytes, ... Such a target is
/// refused with 400, as Go's `url.ParseRequestURI` refuses most of them.
fn refused_authority(target: &[u8]) -> bool {
    if target == b"*" || target.starts_with(b"/") {
        return false;
    }
    http::Uri::try_from(target).is_err()
}

/// The field values named `name` in a reference head, trimmed.
fn reference_values<'a>(head: &'a ReferenceHead, name: &'a str) -> Vec<&'a [u8]> {
    head.fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| ows_trimmed(v))
        .collect()
}

/// Why the server may refuse a head the reference accepts: each case is a rule of RFC 9112
/// the reference (a tokenizer, not a server) leaves to its caller. `None` when the refusal
/// has no such reason.
fn stricter_by_rfc(status: u16, why: &str, head: &ReferenceHead) -> Option<&'static str> {
    let hosts = reference_values(head, "host");
    let lengths = reference_values(head, "content-length");
    let codings = reference_values(head, "transfer-encoding");
    let ok = match (status, why) {
        // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host field
        (400, "missing required Host header") => hosts.is_empty() && head.minor_version == 1,
        // RFC 9112 §3.2: ... or with more than one Host field line
        (400, "too many Host headers") => hosts.len() > 1,
        // RFC 9112 §3.2: ... or with an invalid Host field value (RFC 3986 host [":" port])
        (400, "malformed Host header") => hosts.iter().any(|h| {
            h.iter()
                .any(|b| !(uri_char(*b) || matches!(b, b'%' | b'[' | b']')) || b"/?@".contains(b))
        }),
        // RFC 9112 §6.3 (5): an invalid Content-Length is unrecoverable framing, 400
        (400, "invalid Content-Length") => lengths
            .iter()
            .any(|v| v.is_empty() || !v.iter().all(u8::is_ascii_digit) || v.len() > 20),
        (400, "multiple Content-Length headers") => lengths.windows(2).any(|w| w[0] != w[1]),
        // RFC 9112 §6.1: a transfer coding in an HTTP/1.0 request is faulty framing
        (400, "transfer encoding in an HTTP/1.0 request") => {
            !codings.is_empty() && head.minor_version == 0
        }
        // RFC 9112 §6.1 and §7: a transfer coding the server does not understand gets 501;
        // `chunked` alone is the only one applied
        (501, "unsupported transfer encoding") => {
            codings.len() > 1 || codings.iter().any(|c| !c.eq_ignore_ascii_case(b"chunked"))
        }
        // RFC 9112 §3.2: the target is a URI reference (RFC 3986); 400 for one that is not
        (400, "malformed request URI") | (400, "") => {
            not_rfc3986(&head.target)
                || !request_target_form(&head.target)
                // RFC 9112 §3.2: no request-target form holds a fragment
                || head.target.contains(&b'#')
                || refused_authority(&head.target)
        }
        _ => false,
    };
    ok.then_some(match why {
        "missing required Host header" | "too many Host headers" | "malformed Host header" => {
            "RFC 9112 §3.2 (Host)"
        }
        "invalid Content-Length" | "multiple Content-Length headers" => "RFC 9112 §6.3",
        "transfer encoding in an HTTP/1.0 request" | "unsupported transfer encoding" => {
            "RFC 9112 §6.1"
        }
        _ => "RFC 9112 §3.2 (request-target)",
    })
}

/// The server's request head parser and builder against a reference parser (`httparse`):
/// the same heads accepted, with the same method, target, version and fields, and the same
/// length. The server may be stricter where RFC 9112 tells a server to refuse what a
/// tokenizer passes on to its caller:
///
/// * no `Host` in an HTTP/1.1 request, more than one, or one that is not a URI host
///   (RFC 9112 §3.2: 400);
/// * a `Content-Length` that is not digits, or two that disagree (RFC 9112 §6.3 item 5: 400);
/// * a `Transfer-Encoding` in an HTTP/1.0 request (RFC 9112 §6.1: faulty framing, 400);
/// * a transfer coding other than `chunked` alone (RFC 9112 §6.1 and §7: 501);
/// * a target that is not an RFC 3986 URI reference: bytes outside its set (non-ASCII,
///   `"`, `<`, `{`, ...) or a `%` without two hex digits, or none of the forms of a
///   request-target an HTTP server serves (`%25/a`, `a:b/c`: not `/...`, `*`,
///   `scheme://authority...` or `host:port`) (RFC 9112 §3.2, RFC 9110 §4.2: 400);
/// * a target with a fragment (`#`), which no request-target form holds (RFC 9112 §3.2:
///   400), or a target other than origin-form or `*` that the server's URI type refuses (a
///   percent-escape in the host, a port that is not digits, a scheme over 64 bytes: 400);
/// * input that cannot start a request line, or a head over `MAX_FIELDS` fields, refused
///   before the reference has seen a whole head (it waits for more);
///
/// and a line is judged once it is whole, so the server may wait where the reference
/// already refused. Any other disagreement panics, the server more lenient first of all.
///
/// `reference`: `None` runs only the server's own checks; the fuzz target and the replay pass
/// [`httparse_reference`].
pub fn request_head_httparse(data: &[u8], reference: Option<ReferenceParser<'_>>) {
    request_head_against(data, reference)
}

/// The `httparse` crate's reading of a request head, with as many header slots as the
/// server's default bound on fields.
pub fn httparse_reference(data: &[u8]) -> Reference {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(data) {
        Ok(httparse::Status::Partial) => Reference::Partial,
        Err(e) => Reference::Invalid(e.to_string()),
        Ok(httparse::Status::Complete(len)) => Reference::Complete(ReferenceHead {
            len,
            method: req.method.unwrap_or_default().as_bytes().to_vec(),
            target: req.path.unwrap_or_default().as_bytes().to_vec(),
            minor_version: req.version.unwrap_or_default(),
            fields: req
                .headers
                .iter()
                .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
                .collect(),
        }),
    }
}

fn request_head_against(data: &[u8], reference: Option<ReferenceParser<'_>>) {
    let ours = server_request(data);
    let Some(reference) = reference else {
        return;
    };
    let theirs = reference(data);
    match (&ours, &theirs) {
        (ServerVerdict::Partial, Reference::Partial | Reference::Invalid(_)) => {}
        (ServerVerdict::Partial, Reference::Complete(h)) => {
            panic!("the server waits for more of a head the reference reads whole: {h:?}")
        }
        (ServerVerdict::Refused(..), Reference::Partial | Reference::Invalid(_)) => {}
        (ServerVerdict::Refused(status, why), Reference::Complete(h)) => {
            assert!(
                stricter_by_rfc(*status, why, h).is_some(),
                "the server refuses ({status} {why:?}) a head the reference accepts: {h:?}"
            );
        }
        (ServerVerdict::Accepted(..), Reference::Partial) => {
            panic!("LENIENT: the server accepts a head the reference still waits on")
        }
        (ServerVerdict::Accepted(..), Reference::Invalid(e)) => {
            panic!("LENIENT: the server accepts a head the reference refuses ({e})")
        }
        (ServerVerdict::Accepted(accepted), Reference::Complete(h)) => {
            let (parsed, req) = &**accepted;
            let ServerHead::Parsed {
                len,
                target,
                ref fields,
                ..
            } = *parsed
            else {
                unreachable!()
            };
            assert_eq!(len, h.len, "head length");
            assert_eq!(req.method().as_str().as_bytes(), &h.method[..]);
            assert_eq!(&data[target.0..target.1], &h.target[..]);
            let minor = u8::from(req.version() == Version::HTTP_11);
            assert_eq!(minor, h.minor_version);
            assert_eq!(fields.len(), h.fields.len(), "field count");
            for (&(ns, ne, vs, ve), (name, value)) in fields.iter().zip(&h.fields) {
                assert_eq!(&data[ns..ne], &name[..]);
                assert_eq!(&data[vs..ve], ows_trimmed(value));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// response heads (backend client)

/// What the backend client's head parser made of a buffer, in a comparable form.
#[derive(Debug, Clone, PartialEq)]
enum BackendHead {
    Partial,
    Refused(String),
    Parsed {
        len: usize,
        code: u16,
        http10: bool,
        folded: bool,
        clean: bool,
        fields_start: usize,
        fields: Vec<(u32, u32, u32, u32)>,
    },
}

fn backend_parse(buf: &[u8]) -> (BackendHead, RawHead) {
    let mut raw = RawHead::new();
    let head = match parse_head(buf, &mut raw) {
        Ok(false) => BackendHead::Partial,
        Ok(true) => BackendHead::Parsed {
            len: raw.len,
            code: raw.code,
            http10: raw.http10,
            folded: raw.folded,
            clean: raw.clean,
            fields_start: raw.fields_start,
            fields: raw.fields().to_vec(),
        },
        Err(e) => BackendHead::Refused(e.message),
    };
    (head, raw)
}

/// A built response head with its framing, for `method`.
struct BuiltResponse {
    resp: http::Response<()>,
    framing: Result<Framing, String>,
    keeps_alive: bool,
}

fn backend_build(
    raw: &RawHead,
    head: &Bytes,
    raw_fields: bool,
    method: &Method,
) -> Result<BuiltResponse, String> {
    let (mut resp, mut delimiters) = raw.build(head, raw_fields).map_err(|e| e.message)?;
    let framing = framing(&mut resp, method, &mut delimiters).map_err(|e| e.message);
    let keeps_alive = keeps_alive(&resp, &delimiters);
    Ok(BuiltResponse {
        resp,
        framing,
        keeps_alive,
    })
}

/// Where a slice of `head` starts in it.
fn offset_in(head: &[u8], part: &[u8]) -> usize {
    let at = (part.as_ptr() as usize).wrapping_sub(head.as_ptr() as usize);
    assert!(at + part.len() <= head.len(), "a slice outside its head");
    at
}

/// The header map of a response, without its `Content-Length`, as (name, value) pairs in
/// order.
fn pairs_without_length(map: &http::HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .filter(|(n, _)| **n != header::CONTENT_LENGTH)
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

/// The backend client's response head parser (`http1::client::parse_head`) and builder
/// (`RawHead::build`, `framing`, `keeps_alive`): positions inside the head; a prefix is
/// "incomplete" or the whole's result; the two ways of building a head (a header map, or the
/// lines kept as they came for a `no-op` answer) give the same status, fields, framing and
/// connection reuse; the kept lines are whole `\r\n`-terminated lines of the head.
pub fn response_head(data: &[u8]) {
    let (whole, raw) = backend_parse(data);
    check_prefix_stable(
        data,
        &whole,
        |b| backend_parse(b).0,
        |h| *h == BackendHead::Partial,
    );
    let BackendHead::Parsed {
        len,
        fields_start,
        ref fields,
        folded,
        ..
    } = whole
    else {
        return;
    };
    assert!(len <= data.len() && fields_start <= len);
    assert_eq!(data[len - 1], b'\n');
    let mut after = fields_start;
    for &(ns, ne, vs, ve) in fields {
        let (ns, ne, vs, ve) = (ns as usize, ne as usize, vs as usize, ve as usize);
        assert!(
            after <= ns && ns < ne && ne < vs && vs <= ve && ve < len,
            "{fields:?}"
        );
        after = ve;
    }
    let head = Bytes::copy_from_slice(&data[..len]);
    for method in [Method::GET, Method::HEAD] {
        let map = backend_build(&raw, &head, false, &method);
        let kept = backend_build(&raw, &head, true, &method);
        let (map, kept) = match (map, kept) {
            (Ok(m), Ok(k)) => (m, k),
            (Err(a), Err(b)) => {
                assert_eq!(a, b);
                continue;
            }
            (a, b) => panic!(
                "the two builds disagree: {:?} / {:?}",
                a.map(|r| r.resp),
                b.map(|r| r.resp)
            ),
        };
        for value in map.resp.headers().values() {
            assert!(!value.as_bytes().iter().any(|b| *b == b'\r' || *b == b'\n'));
        }
        if !folded {
            for &(ns, ne, vs, ve) in fields {
                let name = &data[ns as usize..ne as usize];
                if let (Ok(name), Ok(_)) = (
                    HeaderName::from_bytes(name),
                    http::HeaderValue::from_bytes(&data[vs as usize..ve as usize]),
                ) {
                    let dropped = [
                        header::CONNECTION,
                        header::TRANSFER_ENCODING,
                        HeaderName::from_static("keep-alive"),
                    ];
                    let framed_away =
                        name == header::CONTENT_LENGTH && map.framing == Ok(Framing::Chunked);
                    if !dropped.contains(&name) && !framed_away {
                        assert!(map.resp.headers().contains_key(&name), "{name} lost");
                    }
                }
            }
        }
        assert_eq!(map.resp.status(), kept.resp.status());
        assert_eq!(map.resp.version(), kept.resp.version());
        assert_eq!(map.framing, kept.framing, "{method}");
        assert_eq!(map.keeps_alive, kept.keeps_alive, "{method}");
        let Some(lines) = kept.resp.extensions().get::<RawFields>() else {
            assert_eq!(
                pairs_without_length(map.resp.headers()),
                pairs_without_length(kept.resp.headers())
            );
            continue;
        };
        // the kept lines: whole lines of the head's field block, in order
        let mut last_end = fields_start;
        for run in lines.runs() {
            let at = offset_in(&head, run);
            assert!(!run.is_empty());
            assert!(
                at >= last_end && at + run.len() <= len,
                "a run outside the fields"
            );
            assert_eq!(head[at - 1], b'\n', "a run starts a line");
            assert!(run.ends_with(b"\r\n"), "a run ends its line: {run:?}");
            last_end = at + run.len();
        }
        let mut rebuilt = kept.resp.headers().clone();
        lines.append_to(&mut rebuilt);
        assert_eq!(
            pairs_without_length(map.resp.headers()),
            pairs_without_length(&rebuilt),
            "the kept lines hold the map's fields"
        );
        if map.framing.is_ok() {
            let announced = map
                .resp
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| content_length(v.as_bytes()));
            assert_eq!(announced, lines.content_length);
        }
        assert_eq!(
            lines.has_date,
            map.resp.headers().contains_key(header::DATE)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// body framing

/// The body and what follows it, or the error's text.
type Decoded = Result<(Vec<u8>, Vec<u8>), String>;

/// Runs a decoder over input arriving in `pieces`, as a connection reads it.
fn decode_pieces(mut decoder: Decoder, pieces: &[&[u8]]) -> Decoded {
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut next = pieces.iter();
    loop {
        match decoder.step(&mut buf).map_err(|e| e.to_string())? {
            Step::Data(d) => {
                assert!(!d.is_empty(), "an empty piece of body");
                body.extend_from_slice(&d);
            }
            Step::End => {
                assert!(decoder.is_done());
                assert!(matches!(decoder.step(&mut buf), Ok(Step::End)));
                let mut rest = buf.to_vec();
                next.for_each(|p| rest.extend_from_slice(p));
                return Ok((body, rest));
            }
            Step::More => match next.next() {
                Some(p) => buf.extend_from_slice(p),
                None => {
                    decoder.at_eof().map_err(|e| e.to_string())?;
                    return Ok((body, buf.to_vec()));
                }
            },
        }
    }
}

/// `body` in the chunked coding, in chunks of the sizes `sizes` cycles through (each 1 to
/// 256), with chunk extensions and a trailer now and then.
fn chunk_encode(body: &[u8], sizes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let pick = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(255);
        let n = (usize::from(pick) + 1).min(rest.len());
        out.extend_from_slice(format!("{n:x}").as_bytes());
        if pick % 5 == 0 {
            out.extend_from_slice(b" ;ext=\"v\"");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n");
    if body.len() % 2 == 1 {
        out.extend_from_slice(b"X-Trailer: t\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The body decoder (`http1::Decoder`). The first byte picks the framing (chunked, a length
/// from the next two bytes, until close); the rest is the input. The body and what follows
/// it are the same whether the input arrives whole, in two pieces cut anywhere or byte by
/// byte; a length body is the first `n` bytes; a chunked body, encoded again in other chunk
/// sizes, decodes to itself with the same bytes after it.
pub fn body_decoder(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (decoder, wire) = match mode % 3 {
        0 => (Decoder::chunked(), rest),
        1 if rest.len() >= 2 => (
            Decoder::Length(u64::from(u16::from_be_bytes([rest[0], rest[1]]))),
            &rest[2..],
        ),
        1 => return,
        _ => (Decoder::Eof, rest),
    };
    let whole = decode_pieces(decoder, &[wire]);
    for cut in cuts(wire.len()) {
        let split = decode_pieces(decoder, &[&wire[..cut], &wire[cut..]]);
        assert_eq!(split, whole, "cut at {cut}");
    }
    if wire.len() <= 256 {
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_pieces(decoder, &bytes), whole, "byte by byte");
    }
    match (decoder, &whole) {
        (Decoder::Length(n), Ok((body, after))) => {
            assert_eq!(body.len() as u64, n);
            assert_eq!(&wire[..body.len()], &body[..]);
            assert_eq!(&wire[body.len()..], &after[..]);
        }
        (Decoder::Length(n), Err(_)) => assert!((wire.len() as u64) < n),
        (Decoder::Eof, result) => {
            assert_eq!(result, &Ok((wire.to_vec(), Vec::new())));
        }
        (Decoder::Chunked(_), Ok((body, after))) => {
            assert!(body.len() < wire.len());
            let mut again = chunk_encode(body, wire);
            again.extend_from_slice(after);
            let decoded = decode_pieces(Decoder::chunked(), &[&again]);
            assert_eq!(decoded, Ok((body.clone(), after.clone())), "re-encoded");
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// paths, queries, url_pattern

/// `%XX` escapes with two hex digits decoded, every other byte as it is, then read as UTF-8
/// (invalid sequences replaced): what the router's path decoding is documented to do.
fn reference_percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|d| (*d as char).to_digit(16)),
                b.get(i + 2).and_then(|d| (*d as char).to_digit(16)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The endpoints of the route table `path_query` looks paths up in.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/users/{id}"),
    ("GET", "/users/{id}/posts/{post}"),
    ("POST", "/users/{id}"),
    ("GET", "/static/path"),
    ("GET", "/static/path/"),
    ("GET", "/files/{name}/raw"),
    ("PUT", "/a/{b}/c/{d}/e"),
    ("GET", "/caf\u{e9}/{x}"),
    ("GET", "/v1/{version}/items"),
    ("DELETE", "/items/{id}"),
];

/// A gateway with `ROUTES` (and the built-in endpoints), built once.
fn route_table() -> &'static crate::router::Gateway {
    static GATEWAY: OnceLock<crate::router::Gateway> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let endpoints: Vec<Value> = ROUTES
            .iter()
            .map(|(method, endpoint)| {
                serde_json::json!({
                    "endpoint": endpoint,
                    "method": method,
                    "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/x"}]
                })
            })
            .collect();
        let text = serde_json::json!({
            "version": 3,
            "echo_endpoint": true,
            "debug_endpoint": true,
            "endpoints": endpoints
        })
        .to_string();
        let loaded = load_str(&text, "routes.json", Format::Json, &|_| None)
            .unwrap_or_else(|e| panic!("the route table's config: {e}"));
        crate::app::build(loaded.config, true).unwrap_or_else(|e| panic!("the route table: {e:?}"))
    })
}

/// A request target's path and query as the router reads them: the path percent-decoded
/// (`vocab::percent::percent_decode`, checked against the documented rule: `%` and two hex
/// digits decode, anything else stays) and looked up in a route table; the query's pairs (as
/// an endpoint forwards them) written as the backend URL writes them (`query_escape`) read
/// back as the same pairs, in a target that is still a valid URI.
pub fn path_query(data: &[u8]) {
    // an origin-form target, as the server's request builder reads it
    let Ok(target) = http::uri::PathAndQuery::try_from(data) else {
        return;
    };
    let path = target.path();
    let decoded = crate::vocab::percent::percent_decode(path);
    assert_eq!(decoded, reference_percent_decode(path), "decoding {path:?}");
    if !path.contains('%') {
        assert_eq!(decoded, path);
    }
    let gw = route_table();
    for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
        if let Some(pattern) = gw.lookup(&method, &decoded) {
            assert!(
                pattern.starts_with("/__")
                    || ROUTES
                        .iter()
                        .any(|(m, p)| *m == method.as_str() && *p == pattern),
                "{method} {decoded:?} routed to {pattern:?}"
            );
        }
    }
    let Some(query) = target.query() else {
        return;
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let mut encoded = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            encoded.push('&');
        }
        query_escape(&mut encoded, k);
        encoded.push('=');
        query_escape(&mut encoded, v);
    }
    assert!(encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~%+=&".contains(&b)));
    let again: Vec<(String, String)> = form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        again, pairs,
        "the query written again reads otherwise: {encoded}"
    );
    let url = format!("/x?{encoded}");
    assert!(http::uri::PathAndQuery::try_from(url.as_str()).is_ok());
}

/// What a `url_pattern` part renders to, with `{name}` slots filled by `value`, unescaped.
fn reference_render(part: &str, value: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = part;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let name = &rest[start + 1..start + len];
        if name.is_empty() {
            out.push_str("{}");
        } else {
            out.push_str(&value(&param_key(name)));
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// A `url_pattern` (`backend::url::UrlTemplate`). The first line is the pattern; each later
/// line `name=value` is a request parameter. The rendered path and query hold only bytes a
/// URI carries as they are; without a `%` anywhere, they decode to the pattern with its slots
/// filled; a query part comes out when the pattern has a `?`.
pub fn url_pattern(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let pattern = lines.next().unwrap_or("");
    let params: Vec<(String, &str)> = lines
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (param_key(k), v))
        .collect();
    let lookup = |k: &str| params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| *v);
    let template = UrlTemplate::parse(pattern);
    let mut path = String::from("http://h");
    let query = template.render(lookup, &mut path);
    let path = &path["http://h".len()..];
    assert_eq!(query.is_some(), pattern.contains('?'));
    let safe = |s: &str| {
        s.bytes()
            .all(|b| crate::backend::url::URI_SAFE[usize::from(b)])
    };
    assert!(safe(path), "{path:?}");
    assert!(query.as_deref().is_none_or(safe), "{query:?}");
    let value = |k: &str| lookup(k).unwrap_or("").to_string();
    let (pattern_path, pattern_query) = match pattern.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (pattern, None),
    };
    if !text.contains('%') {
        assert_eq!(
            reference_percent_decode(path),
            reference_render(pattern_path, &value)
        );
        if let (Some(q), Some(pq)) = (&query, pattern_query) {
            assert_eq!(reference_percent_decode(q), reference_render(pq, &value));
        }
    }
    // the pattern as errors print it: every slot in Go's template form
    let go = template.go_form();
    let slot = |k: &str| format!("{{{{.{k}}}}}");
    let mut want = reference_render(pattern_path, &slot);
    if let Some(q) = pattern_query {
        want.push('?');
        want.push_str(&reference_render(q, &slot));
    }
    assert_eq!(go, want);
}

// ---------------------------------------------------------------------------------------------
// configuration

/// The `KRAKEND_*` variables the config targets see.
fn fuzz_env(key: &str) -> Option<String> {
    match key {
        "KRAKEND_PORT" => Some("8081".into()),
        "KRAKEND_NAME" => Some("fuzzed".into()),
        "KRAKEND_TIMEOUT" => Some("2s".into()),
        _ => None,
    }
}

fn config(data: &[u8], format: Format) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // lines as YAML counts them (a CR alone, NEL, LS and PS break a line too), at least as
    // many as JSON's
    let lines = text
        .replace("\r\n", "\n")
        .split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
        .count();
    match load_str(text, "fuzz", format, &fuzz_env) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                assert!(!w.is_empty());
            }
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a failed load names its errors");
            for e in &errors.0 {
                if let Some((line, _)) = e.line {
                    assert!(line <= lines + 1, "line {line} of {lines}: {e}");
                }
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// The config loader (`config::load_str`, what `tentacle check` and `run` read a file
/// with) on arbitrary JSON text: no panic, errors named with a line inside the text.
pub fn config_json(data: &[u8]) {
    config(data, Format::Json);
}

/// The config loader on arbitrary YAML text.
pub fn config_yaml(data: &[u8]) {
    config(data, Format::Yaml);
}

// ---------------------------------------------------------------------------------------------
// flatmap, JSON

/// Flatmap operations applied at the most per input (each may double the data).
const MAX_OPS: usize = 8;

/// Flatmap (`transform::parse_flatmap`, `apply_flatmap`). The first line is the operation
/// list (any JSON), the rest the backend's answer (any JSON; anything but an object is
/// wrapped as a collection). No panic; the same result twice; no operations, no change;
/// the result written is canonical JSON.
pub fn flatmap(data: &[u8]) {
    let (ops, doc) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let Ok(ops) = serde_json::from_slice::<Value>(ops) else {
        return;
    };
    let Ok(ops) = crate::transform::parse_flatmap(&ops) else {
        return;
    };
    if ops.len() > MAX_OPS {
        return;
    }
    let Ok(doc) = json::parse(doc) else {
        return;
    };
    let original = match doc {
        Value::Object(m) => m,
        other => Map::from_iter([("collection".to_string(), other)]),
    };
    let mut once = original.clone();
    crate::transform::apply_flatmap(&mut once, &ops);
    let mut twice = original.clone();
    crate::transform::apply_flatmap(&mut twice, &ops);
    assert_eq!(once, twice, "the same operations gave two results");
    if ops.is_empty() {
        assert_eq!(once, original);
    }
    let written = json::map_to_vec(&once);
    let mut canonical = Vec::new();
    if json::canonicalize(&written, &mut canonical).is_ok() {
        assert_eq!(canonical, written, "the writer's output is canonical");
    }
}

/// serde_json's nesting limit, which the canonicaliser keeps.
const MAX_DEPTH: usize = 127;

/// Whether the canonicaliser may refuse, at `offset`, a document `parse` reads: the cases its
/// documentation lists (a `\u` escape of a surrogate, a key serde_json reads as something
/// else, nesting at serde_json's limit).
fn documented_refusal(input: &[u8], offset: usize) -> bool {
    let at = &input[offset.min(input.len())..];
    let surrogate = at.starts_with(b"\\u")
        && at
            .get(2..6)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok())
            .is_some_and(|c| (0xD800..=0xDFFF).contains(&c));
    let private_key = input[..offset.min(input.len())]
        .trim_ascii_end()
        .ends_with(b":")
        && (input.windows(10).any(|w| w == b"serde_json") || input.windows(2).any(|w| w == b"\\u"));
    let deep = matches!(at.first(), Some(b'[' | b'{')) && depth_at(input, offset) >= MAX_DEPTH;
    surrogate || private_key || deep
}

/// How many arrays and objects are open at `offset` (strings skipped).
fn depth_at(input: &[u8], offset: usize) -> usize {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in &input[..offset.min(input.len())] {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    depth
}

/// The streaming JSON canonicaliser (`encoding::json::canonicalize`) against decoding with
/// `encoding::json::parse` (serde_json) and writing with `write_value`: the same bytes, or
/// both an error, but for the refusals the canonicaliser documents. Its output canonicalises
/// to itself; on an error it leaves the output as it was; `canonical_object` wraps it.
pub fn json_canonical(data: &[u8]) {
    let mut out = b"prefix".to_vec();
    let canonical = json::canonicalize(data, &mut out);
    let parsed = json::parse(data);
    match (&canonical, &parsed) {
        (Ok(()), Ok(v)) => {
            assert_eq!(
                String::from_utf8_lossy(&out[6..]),
                String::from_utf8_lossy(&json::to_vec(v))
            );
        }
        (Ok(()), Err(e)) => panic!("canonicalised a document serde_json refuses: {e}"),
        (Err(refused), Ok(_)) => assert!(
            documented_refusal(data, refused.offset),
            "refused at {} a document serde_json reads",
            refused.offset
        ),
        (Err(_), Err(_)) => {}
    }
    match canonical {
        Err(_) => assert_eq!(out, b"prefix", "a refusal leaves the output as it was"),
        Ok(()) => {
            let written = &out[6..];
            let mut again = Vec::new();
            json::canonicalize(written, &mut again).expect("canonical output canonicalises");
            assert_eq!(again, written);
            let wrapped = json::canonical_object(data, Some("g"));
            if written.first() == Some(&b'{') {
                let mut want = b"{\"g\":".to_vec();
                want.extend_from_slice(written);
                want.push(b'}');
                assert_eq!(wrapped, Some(want));
            } else {
                assert_eq!(wrapped, None);
            }
        }
    }
}

/// The fixture key set: one key of every kind the validator verifies with (oct, RSA 2048,
/// P-256, P-384, Ed25519), private parts included.
fn fixture_keys() -> &'static [crate::components::auth::jwt::jose::Jwk] {
    static KEYS: OnceLock<Vec<crate::components::auth::jwt::jose::Jwk>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let set = include_bytes!("../tests/fixtures/jwt/keys.json");
        match crate::components::auth::jwt::jose::parse_set(set) {
            Ok((keys, _)) => keys,
            Err(e) => panic!("the fixture key set: {e}"),
        }
    })
}

/// A JWT as a client sends it (`Authorization: Bearer ...`), parsed as a compact JWS and
/// checked with every fixture key under every algorithm: nothing panics, and a signature an
/// HMAC key verifies is the one that key makes for the same input (a verification that
/// passes for anything else would be a forgery).
pub fn jwt_token(data: &[u8]) {
    use crate::components::auth::jwt::jose::{parse_compact, sign, verify, Alg, KeyMaterial};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(jws) = parse_compact(text) else {
        return;
    };
    let _ = Alg::parse(jws.header_str("alg"));
    let input = jws.signing_input.as_bytes();
    assert!(
        text.starts_with(jws.signing_input),
        "the signed bytes are the token's start"
    );
    for key in fixture_keys() {
        for alg in Alg::ALL {
            if verify(alg, &key.key, input, &jws.signature).is_ok() {
                if let KeyMaterial::Oct(_) = key.key {
                    let tag = sign(alg, &key.key, input).expect("an HMAC key signs");
                    assert_eq!(tag, jws.signature, "{} verified another tag", alg.name());
                }
            }
        }
    }
}

/// A JWK set as a JWK server (or a local file) sends it: parsing never panics, and every key
/// it yields verifies a fixed input under every algorithm without panicking (a key of the
/// wrong kind is an error, never a pass).
pub fn jwk_set(data: &[u8]) {
    use crate::components::auth::jwt::jose::{parse_set, verify, Alg};
    let Ok((keys, _skipped)) = parse_set(data) else {
        return;
    };
    for key in &keys {
        for alg in Alg::ALL {
            let signature = [0u8; 64];
            assert!(
                verify(alg, &key.key, b"eyJhbGciOiJIUzI1NiJ9.e30", &signature).is_err(),
                "a key verified a zero signature under {}",
                alg.name()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(reference_percent_decode("/a%20b%zz%4"), "/a b%zz%4");
        assert_eq!(reference_percent_decode("%+1%C3%A9"), "%+1\u{e9}");
    }

    #[test]
    fn rfc3986_targets() {
        assert!(!not_rfc3986(b"/a/b?c=d&e=%20"));
        assert!(not_rfc3986(b"/a b"));
        assert!(not_rfc3986(b"/a\"b"));
        assert!(not_rfc3986(b"/a%2"));
    }

    #[test]
    fn the_route_table_builds() {
        assert_eq!(
            route_table().lookup(&Method::GET, "/users/7"),
            Some("/users/{id}")
        );
    }
}
