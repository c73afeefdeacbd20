//! `modifier/martian`: static request and response modifiers in the DSL of Google's Martian
//! proxy, as KrakenD's krakend-martian runs them around a backend's HTTP execution.
//!
//! * The namespace holds exactly one modifier, `{"package.Type": {...}}`; groups
//!   (`fifo.Group`, `priority.Group`) bundle several, filters (`header.Filter`,
//!   `header.RegexFilter`, `querystring.Filter`, `url.Filter`, `url.RegexFilter`,
//!   `cookie.Filter`, `port.Filter`) run a nested `modifier` (or `else`) on a condition.
//! * Every modifier has a `scope`: `["request"]`, `["response"]` or both (the default when
//!   absent is every scope the modifier supports). A scope the modifier cannot act on, an
//!   unknown modifier type or a bad field fails the configuration at start-up.
//! * Request modifiers change the upstream request once it is fully built (URL, headers,
//!   body), right before the HTTP call. Response modifiers change the raw upstream response
//!   before it is decoded: header changes reach the client only through `no-op` backends, a
//!   replaced body is what gets decoded.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response};
use rand_core::RngCore;
use regex::Regex;
use serde_json::{Map, Value};

use crate::backend::url::query_escape;
use crate::components::{self, keys, Build, BuildCx, Built, ComponentSpec};
use crate::config::BackendConfig;
use crate::error::{Error, Result};
use crate::hooks::{BackendStage, BoxFuture, Exchanged, Next};
use crate::message::OutRequest;
use crate::vocab::body::OutBody;
use crate::vocab::body::{full_body, Body};

pub const NAMESPACE: &str = "modifier/martian";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[components::Scope::Backend],
    check_keys,
    &[Build::Backend(60, stage)],
);

const ID_HEADER: &str = "x-martian-id";

/// Where a modifier acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scope {
    request: bool,
    response: bool,
}

/// One parsed modifier with its scope.
#[derive(Debug)]
struct Node {
    scope: Scope,
    kind: Kind,
}

/// A filter's condition.
#[derive(Debug)]
enum Cond {
    /// `header.Filter`: a header (of the request, or of the response) has this exact value.
    Header { name: HeaderName, value: String },
    /// `header.RegexFilter`: the request's first value of the header matches.
    HeaderRegex { name: HeaderName, regex: Regex },
    /// `querystring.Filter`: the request query has the key (with this value when given).
    Query { name: String, value: String },
    /// `url.Filter`: every given part equals the request URL's.
    Url {
        scheme: String,
        host: String,
        path: String,
        query: String,
    },
    /// `url.RegexFilter`: the request URL matches.
    UrlRegex(Regex),
    /// `cookie.Filter`: a cookie (of the request, or set by the response) has this name (and
    /// this value when given).
    Cookie { name: String, value: String },
    /// `port.Filter`: the request URL's port (the scheme's default when absent) is this one.
    Port(u16),
}

#[derive(Debug)]
struct CookieSpec {
    name: String,
    value: String,
    path: String,
    domain: String,
    expires: Option<SystemTime>,
    secure: bool,
    http_only: bool,
    max_age: i64,
}

#[derive(Debug)]
enum PortSpec {
    Set(u16),
    DefaultForScheme,
    Remove,
}

#[derive(Debug)]
enum Kind {
    HeaderSet(HeaderName, HeaderValue),
    HeaderAppend(HeaderName, HeaderValue),
    HeaderCopy {
        from: HeaderName,
        to: HeaderName,
    },
    HeaderBlacklist(Vec<HeaderName>),
    HeaderId,
    Body {
        content_type: String,
        body: Bytes,
    },
    QuerySet {
        name: String,
        value: String,
    },
    UrlSet {
        scheme: String,
        host: String,
        path: String,
        query: String,
    },
    Cookie(CookieSpec),
    Port(PortSpec),
    Stash(HeaderName),
    Filter {
        cond: Cond,
        then: Option<Box<Node>>,
        otherwise: Option<Box<Node>>,
    },
    /// `fifo.Group` and `priority.Group` (already in priority order).
    Group(Vec<Node>),
}

// ---------------------------------------------------------------------------------------------
// parsing
// ---------------------------------------------------------------------------------------------

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| Error::other(format!("{what}: must be an object")))
}

fn str_field(m: &Map<String, Value>, key: &str, ty: &str) -> Result<String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Error::other(format!("{ty}: {key}: must be a string"))),
    }
}

fn bool_field(m: &Map<String, Value>, key: &str, ty: &str) -> Result<bool> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Error::other(format!("{ty}: {key}: must be a boolean"))),
    }
}

fn int_field(m: &Map<String, Value>, key: &str, ty: &str) -> Result<Option<i64>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| Error::other(format!("{ty}: {key}: must be an integer"))),
        Some(_) => Err(Error::other(format!("{ty}: {key}: must be an integer"))),
    }
}

fn header_name(m: &Map<String, Value>, key: &str, ty: &str) -> Result<HeaderName> {
    let s = str_field(m, key, ty)?;
    HeaderName::from_bytes(s.as_bytes())
        .map_err(|_| Error::other(format!("{ty}: {key}: {s:?} is not a valid header name")))
}

fn header_value(m: &Map<String, Value>, key: &str, ty: &str) -> Result<HeaderValue> {
    let s = str_field(m, key, ty)?;
    HeaderValue::from_str(&s)
        .map_err(|_| Error::other(format!("{ty}: {key}: {s:?} is not a valid header value")))
}

fn regex_field(m: &Map<String, Value>, key: &str, ty: &str) -> Result<Regex> {
    let s = str_field(m, key, ty)?;
    Regex::new(&s).map_err(|e| Error::invalid(format!("{ty}: {key}"), e))
}

/// The modifier under `key` (required), or under `else` (optional).
fn nested(
    m: &Map<String, Value>,
    key: &str,
    ty: &str,
    required: bool,
) -> Result<Option<Box<Node>>> {
    match m.get(key) {
        None | Some(Value::Null) if required => {
            Err(Error::other(format!("{ty}: {key}: a modifier is required")))
        }
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse(v, &format!("{ty}.{key}")).map(|n| Some(Box::new(n))),
    }
}

/// The keys of each modifier's object, as KrakenD documents them and [`parse`] reads them;
/// `modifier`, `else` and `modifiers` hold modifiers, checked in turn.
const MODIFIER_KEYS: &[(&str, &[&str])] = &[
    ("header.Modifier", &["scope", "name", "value"]),
    ("header.Append", &["scope", "name", "value"]),
    ("header.Copy", &["scope", "from", "to"]),
    ("header.Blacklist", &["scope", "names"]),
    ("header.Id", &["scope", "header"]),
    ("body.Modifier", &["scope", "body", "contentType"]),
    ("querystring.Modifier", &["scope", "name", "value"]),
    (
        "url.Modifier",
        &["scope", "scheme", "host", "path", "query"],
    ),
    (
        "cookie.Modifier",
        &[
            "scope", "name", "value", "path", "domain", "expires", "secure", "httpOnly", "maxAge",
        ],
    ),
    (
        "port.Modifier",
        &["scope", "port", "defaultForScheme", "remove"],
    ),
    ("stash.Modifier", &["scope", "headerName"]),
    (
        "header.Filter",
        &["scope", "name", "value", "modifier", "else"],
    ),
    (
        "header.RegexFilter",
        &["scope", "header", "regex", "modifier"],
    ),
    (
        "querystring.Filter",
        &["scope", "name", "value", "modifier", "else"],
    ),
    (
        "url.Filter",
        &[
            "scope", "scheme", "host", "path", "query", "modifier", "else",
        ],
    ),
    ("url.RegexFilter", &["scope", "regex", "modifier", "else"]),
    (
        "cookie.Filter",
        &["scope", "name", "value", "modifier", "else"],
    ),
    ("port.Filter", &["scope", "port", "modifier", "else"]),
    ("fifo.Group", &["scope", "modifiers", "aggregateErrors"]),
    ("priority.Group", &["scope", "modifiers"]),
];

/// The keys of one `priority.Group` entry.
const PRIORITY_ENTRY_KEYS: &[&str] = &["priority", "modifier"];

/// Checks the keys of the namespace's modifier and of every modifier nested in it (an unknown
/// modifier type is the parser's error).
pub fn check_keys(_: components::Scope, v: &Value, out: &mut Vec<keys::UnknownKey>) {
    check_modifier_keys(out, "", v);
}

fn check_modifier_keys(out: &mut Vec<keys::UnknownKey>, at: &str, v: &Value) {
    use keys::{child, list, object};
    for (ty, body) in v.as_object().into_iter().flatten() {
        let Some((_, known)) = MODIFIER_KEYS.iter().find(|(t, _)| t == ty) else {
            continue;
        };
        let at = child(at, ty);
        let Some(m) = object(out, &at, body, known) else {
            continue;
        };
        for key in ["modifier", "else"] {
            if let Some(nested) = m.get(key).filter(|_| known.contains(&key)) {
                check_modifier_keys(out, &child(&at, key), nested);
            }
        }
        let Some(mods) = m.get("modifiers") else {
            continue;
        };
        list(out, &child(&at, "modifiers"), mods, |out, at, item| {
            if ty != "priority.Group" {
                return check_modifier_keys(out, at, item);
            }
            if let Some(entry) = object(out, at, item, PRIORITY_ENTRY_KEYS) {
                if let Some(nested) = entry.get("modifier") {
                    check_modifier_keys(out, &child(at, "modifier"), nested);
                }
            }
        });
    }
}

/// Parses one `{"package.Type": {...}}` message.
fn parse(v: &Value, at: &str) -> Result<Node> {
    let msg = obj(v, at)?;
    if msg.len() != 1 {
        let keys: Vec<&str> = msg.keys().map(String::as_str).collect();
        return Err(Error::other(format!(
            "{at}: must contain exactly one modifier, but has {}: {}",
            msg.len(),
            keys.join(", ")
        )));
    }
    let Some((ty, body)) = msg.iter().next() else {
        return Err(Error::other(format!("{at}: no modifier")));
    };
    let ty = ty.as_str();
    let m = obj(body, ty)?;
    // A filter, on requests and responses: its condition, the modifier it runs when the
    // condition holds (`modifier`) and, for the filters that have one (`has_else`), the one it
    // runs otherwise (`else`).
    let filter = |cond: Cond, has_else: bool| -> Result<(Kind, (bool, bool))> {
        let then = nested(m, "modifier", ty, true)?;
        let otherwise = if has_else {
            nested(m, "else", ty, false)?
        } else {
            None
        };
        Ok((
            Kind::Filter {
                cond,
                then,
                otherwise,
            },
            (true, true),
        ))
    };
    // (supports request, supports response)
    let (kind, supports) = match ty {
        "header.Modifier" => (
            Kind::HeaderSet(header_name(m, "name", ty)?, header_value(m, "value", ty)?),
            (true, true),
        ),
        "header.Append" => (
            Kind::HeaderAppend(header_name(m, "name", ty)?, header_value(m, "value", ty)?),
            (true, true),
        ),
        "header.Copy" => (
            Kind::HeaderCopy {
                from: header_name(m, "from", ty)?,
                to: header_name(m, "to", ty)?,
            },
            (true, true),
        ),
        "header.Blacklist" => {
            let names = match m.get("names") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|n| {
                        n.as_str()
                            .and_then(|s| HeaderName::from_bytes(s.as_bytes()).ok())
                            .ok_or_else(|| {
                                Error::other(format!("{ty}: names: {n} is not a valid header name"))
                            })
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => {
                    return Err(Error::other(format!(
                        "{ty}: names: must be a list of header names"
                    )))
                }
            };
            (Kind::HeaderBlacklist(names), (true, true))
        }
        "header.Id" => (Kind::HeaderId, (true, false)),
        "body.Modifier" => {
            let raw = str_field(m, "body", ty)?;
            let body = base64::engine::general_purpose::STANDARD
                .decode(raw.as_bytes())
                .map_err(|e| Error::invalid(format!("{ty}: body: not base64"), e))?;
            (
                Kind::Body {
                    content_type: str_field(m, "contentType", ty)?,
                    body: Bytes::from(body),
                },
                (true, true),
            )
        }
        "querystring.Modifier" => (
            Kind::QuerySet {
                name: str_field(m, "name", ty)?,
                value: str_field(m, "value", ty)?,
            },
            (true, false),
        ),
        "url.Modifier" => (
            Kind::UrlSet {
                scheme: str_field(m, "scheme", ty)?,
                host: str_field(m, "host", ty)?,
                path: str_field(m, "path", ty)?,
                query: str_field(m, "query", ty)?,
            },
            (true, false),
        ),
        "cookie.Modifier" => {
            let expires = match str_field(m, "expires", ty)?.as_str() {
                "" => None,
                s => Some(parse_rfc3339(s).ok_or_else(|| {
                    Error::other(format!("{ty}: expires: {s:?} is not an RFC 3339 time"))
                })?),
            };
            let name = str_field(m, "name", ty)?;
            if name.is_empty() {
                return Err(Error::other(format!(
                    "{ty}: name: a cookie name is required"
                )));
            }
            (
                Kind::Cookie(CookieSpec {
                    name,
                    value: str_field(m, "value", ty)?,
                    path: str_field(m, "path", ty)?,
                    domain: str_field(m, "domain", ty)?,
                    expires,
                    secure: bool_field(m, "secure", ty)?,
                    http_only: bool_field(m, "httpOnly", ty)?,
                    max_age: int_field(m, "maxAge", ty)?.unwrap_or(0),
                }),
                (true, true),
            )
        }
        "port.Modifier" => {
            let port = int_field(m, "port", ty)?;
            let default = bool_field(m, "defaultForScheme", ty)?;
            let remove = bool_field(m, "remove", ty)?;
            let spec = match (port, default, remove) {
                (Some(p), false, false) => Kind::Port(PortSpec::Set(
                    u16::try_from(p)
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| Error::other(format!("{ty}: port: {p} is not a port")))?,
                )),
                (None, true, false) => Kind::Port(PortSpec::DefaultForScheme),
                (None, false, true) => Kind::Port(PortSpec::Remove),
                _ => {
                    return Err(Error::other(format!(
                        "{ty}: exactly one of port, defaultForScheme, remove is required"
                    )))
                }
            };
            (spec, (true, false))
        }
        "stash.Modifier" => (Kind::Stash(header_name(m, "headerName", ty)?), (true, true)),
        "header.Filter" => filter(
            Cond::Header {
                name: header_name(m, "name", ty)?,
                value: str_field(m, "value", ty)?,
            },
            true,
        )?,
        "header.RegexFilter" => filter(
            Cond::HeaderRegex {
                name: header_name(m, "header", ty)?,
                regex: regex_field(m, "regex", ty)?,
            },
            false,
        )?,
        "querystring.Filter" => filter(
            Cond::Query {
                name: str_field(m, "name", ty)?,
                value: str_field(m, "value", ty)?,
            },
            true,
        )?,
        "url.Filter" => filter(
            Cond::Url {
                scheme: str_field(m, "scheme", ty)?,
                host: str_field(m, "host", ty)?,
                path: str_field(m, "path", ty)?,
                query: str_field(m, "query", ty)?,
            },
            true,
        )?,
        "url.RegexFilter" => filter(Cond::UrlRegex(regex_field(m, "regex", ty)?), true)?,
        "cookie.Filter" => filter(
            Cond::Cookie {
                name: str_field(m, "name", ty)?,
                value: str_field(m, "value", ty)?,
            },
            true,
        )?,
        "port.Filter" => {
            let port = int_field(m, "port", ty)?.unwrap_or(0);
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| Error::other(format!("{ty}: port: {port} is not a port")))?;
            filter(Cond::Port(port), true)?
        }
        "fifo.Group" => {
            let mut mods = Vec::new();
            match m.get("modifiers") {
                None | Some(Value::Null) => {}
                Some(Value::Array(a)) => {
                    for (i, child) in a.iter().enumerate() {
                        mods.push(parse(child, &format!("{ty}.modifiers[{i}]"))?);
                    }
                }
                Some(_) => return Err(Error::other(format!("{ty}: modifiers: must be a list"))),
            }
            // modifiers never fail here, so `aggregateErrors` changes nothing; it is checked
            bool_field(m, "aggregateErrors", ty)?;
            (Kind::Group(mods), (true, true))
        }
        "priority.Group" => {
            let mut mods: Vec<(i64, Node)> = Vec::new();
            match m.get("modifiers") {
                None | Some(Value::Null) => {}
                Some(Value::Array(a)) => {
                    for (i, child) in a.iter().enumerate() {
                        let at = format!("{ty}.modifiers[{i}]");
                        let c = obj(child, &at)?;
                        let priority = int_field(c, "priority", &at)?.unwrap_or(0);
                        let Some(inner) = c.get("modifier") else {
                            return Err(Error::other(format!(
                                "{at}: modifier: a modifier is required"
                            )));
                        };
                        mods.push((priority, parse(inner, &format!("{at}.modifier"))?));
                    }
                }
                Some(_) => return Err(Error::other(format!("{ty}: modifiers: must be a list"))),
            }
            // higher priorities first; equal ones in the order written
            mods.sort_by_key(|(p, _)| std::cmp::Reverse(*p));
            (
                Kind::Group(mods.into_iter().map(|(_, n)| n).collect()),
                (true, true),
            )
        }
        other => return Err(Error::other(format!("unknown modifier {other:?}"))),
    };
    let scope = match m.get("scope") {
        None | Some(Value::Null) => Scope {
            request: supports.0,
            response: supports.1,
        },
        Some(Value::Array(list)) => {
            let mut s = Scope {
                request: false,
                response: false,
            };
            for item in list {
                match item.as_str() {
                    Some("request") if supports.0 => s.request = true,
                    Some("response") if supports.1 => s.response = true,
                    Some(k @ ("request" | "response")) => {
                        return Err(Error::other(format!(
                            "{ty}: invalid scope '{k}' for modifier"
                        )))
                    }
                    _ => {
                        return Err(Error::other(format!(
                            "{ty}: invalid scope: {item} not in [\"request\", \"response\"]"
                        )))
                    }
                }
            }
            s
        }
        Some(_) => return Err(Error::other(format!("{ty}: scope: must be a list"))),
    };
    Ok(Node { scope, kind })
}

/// A cookie's `expires` as martian reads it (a `time.Time` from JSON): Go's
/// `time.Parse(time.RFC3339, s)`, whose layout parser is laxer than RFC 3339 in places and
/// stricter in others: `YYYY-MM-DDTHH:MM:SS[(.|,)digits](Z|±hh:mm)` with an upper-case `T`
/// and `Z`, an hour of one or two digits (0-23), seconds 0-59 (no leap second), the day
/// within its month, and an offset of up to 24 hours and 60 minutes.
///
/// Hand-written, not from a crate (2026-12-07): none of `time`, `chrono` or `humantime` is in
/// the tree, and none reads Go's layout: `time` and `chrono` take a lower-case `t`/`z` and a
/// leap second and refuse a one-digit hour or a comma, `humantime` takes no offset. Called at
/// start-up only.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    // Go's getnum: one or two digits, two when `fixed`
    fn num(b: &[u8], at: &mut usize, fixed: bool) -> Option<i64> {
        let d = |i: usize| {
            b.get(i)
                .filter(|c| c.is_ascii_digit())
                .map(|c| i64::from(c - b'0'))
        };
        let first = d(*at)?;
        match d(*at + 1) {
            Some(second) => {
                *at += 2;
                Some(first * 10 + second)
            }
            None if !fixed => {
                *at += 1;
                Some(first)
            }
            None => None,
        }
    }
    fn lit(b: &[u8], at: &mut usize, c: u8) -> Option<()> {
        (b.get(*at) == Some(&c)).then(|| *at += 1)
    }
    let b = s.as_bytes();
    let year = s
        .get(..4)
        .filter(|y| y.bytes().all(|c| c.is_ascii_digit()))?;
    let y: i64 = year.parse().ok()?;
    let at = &mut 4;
    lit(b, at, b'-')?;
    let mo = num(b, at, true)?;
    lit(b, at, b'-')?;
    let d = num(b, at, true)?;
    lit(b, at, b'T')?;
    let h = num(b, at, false)?;
    lit(b, at, b':')?;
    let mi = num(b, at, true)?;
    lit(b, at, b':')?;
    let sec = num(b, at, true)?;
    let mut nanos = 0u32;
    if matches!(b.get(*at), Some(b'.' | b',')) && b.get(*at + 1).is_some_and(u8::is_ascii_digit) {
        *at += 1;
        let mut scale = 100_000_000;
        while let Some(c) = b.get(*at).filter(|c| c.is_ascii_digit()) {
            nanos += u32::from(c - b'0') * scale;
            scale /= 10;
            *at += 1;
        }
    }
    let offset = if b.get(*at) == Some(&b'Z') {
        *at += 1;
        0
    } else {
        let sign = *b.get(*at)?;
        *at += 1;
        let oh = num(b, at, true)?;
        lit(b, at, b':')?;
        let om = num(b, at, true)?;
        if oh > 24 || om > 60 {
            return None;
        }
        match sign {
            b'+' => (oh * 60 + om) * 60,
            b'-' => -(oh * 60 + om) * 60,
            _ => return None,
        }
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days_in = match mo {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if *at != b.len()
        || !(1..=12).contains(&mo)
        || !(1..=days_in).contains(&d)
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    // days from the civil date (proleptic Gregorian)
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    let whole = if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    whole?.checked_add(Duration::from_nanos(u64::from(nanos)))
}

// ---------------------------------------------------------------------------------------------
// the request URL
// ---------------------------------------------------------------------------------------------

/// An absolute URL split as Go's `net/url` exposes it to martian (`Scheme`, `Host` with its
/// port, `Path`, `RawQuery`), rendered back as it came in.
///
/// Not the `url` crate (2026-12-07, 2-core machine): it parses as the WHATWG URL standard,
/// not as Go's `url.Parse`: it lower-cases and IDNA-maps hosts, drops default ports, adds a
/// `/` path and re-encodes paths and queries, so `url.Filter` matches and the URL sent upstream
/// would differ from KrakenD's. It would add 26 crates (idna and 20 ICU4X crates) and 658 KB
/// to a release binary with a hyper client (fat LTO).
#[derive(Debug, Clone)]
struct Url {
    scheme: String,
    host: String,
    path: String,
    query: String,
}

impl Url {
    fn parse(s: &str) -> Url {
        let s = s.split_once('#').map_or(s, |(a, _)| a);
        let (scheme, rest) = match s.split_once("://") {
            Some((sc, rest)) => (sc.to_string(), rest),
            None => (String::new(), s),
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let host = rest[..end].to_string();
        let (path, query) = match rest[end..].split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (rest[end..].to_string(), String::new()),
        };
        Url {
            scheme,
            host,
            path,
            query,
        }
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(
            self.scheme.len() + self.host.len() + self.path.len() + self.query.len() + 5,
        );
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push_str("://");
        }
        out.push_str(&self.host);
        if !self.path.is_empty() && !self.path.starts_with('/') && !self.host.is_empty() {
            out.push('/');
        }
        out.push_str(&self.path);
        if !self.query.is_empty() {
            out.push('?');
            out.push_str(&self.query);
        }
        out
    }

    /// The host without its port (IPv6 brackets kept).
    fn hostname(&self) -> &str {
        let h = self.host.as_str();
        if h.starts_with('[') {
            return h.find(']').map_or(h, |i| &h[..=i]);
        }
        h.rsplit_once(':').map_or(h, |(name, _)| name)
    }

    /// The port, or the scheme's default.
    fn port(&self) -> Option<u16> {
        let rest = &self.host[self.hostname().len()..];
        match rest.strip_prefix(':') {
            Some(p) if !p.is_empty() => p.parse().ok(),
            _ if self.scheme.eq_ignore_ascii_case("https") => Some(443),
            _ if self.scheme.eq_ignore_ascii_case("http") => Some(80),
            _ => None,
        }
    }

    fn pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// Go's `url.Values.Encode`: keys sorted, values in order.
fn encode_query(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (k, v) in &pairs {
        if !out.is_empty() {
            out.push('&');
        }
        query_escape(&mut out, k);
        out.push('=');
        query_escape(&mut out, v);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// applying
// ---------------------------------------------------------------------------------------------

/// A request being modified: its URL split, its headers and body.
struct ReqCx<'a> {
    url: Url,
    headers: &'a mut HeaderMap,
    body: &'a mut OutBody,
}

/// A response being modified, with the (modified) request it answers.
struct ResCx<'a> {
    url: &'a Url,
    req_headers: &'a HeaderMap,
    resp: &'a mut Response<Body>,
}

fn first<'h>(h: &'h HeaderMap, name: &HeaderName) -> &'h str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn cookie_pair(c: &CookieSpec) -> String {
    // Go quotes values with a space or a comma
    if c.value.contains([' ', ',']) {
        format!("{}=\"{}\"", c.name, c.value)
    } else {
        format!("{}={}", c.name, c.value)
    }
}

fn set_cookie_line(c: &CookieSpec) -> String {
    let mut s = cookie_pair(c);
    if !c.path.is_empty() {
        s.push_str("; Path=");
        s.push_str(&c.path);
    }
    if !c.domain.is_empty() {
        s.push_str("; Domain=");
        s.push_str(c.domain.strip_prefix('.').unwrap_or(&c.domain));
    }
    if let Some(t) = c.expires {
        if t >= SystemTime::UNIX_EPOCH {
            s.push_str("; Expires=");
            s.push_str(&httpdate::fmt_http_date(t));
        }
    }
    if c.max_age > 0 {
        s.push_str(&format!("; Max-Age={}", c.max_age));
    } else if c.max_age < 0 {
        s.push_str("; Max-Age=0");
    }
    if c.http_only {
        s.push_str("; HttpOnly");
    }
    if c.secure {
        s.push_str("; Secure");
    }
    s
}

/// Whether one `name=value` cookie pair has the name (and the value, when one is wanted).
fn cookie_matches(pair: &str, name: &str, value: &str) -> bool {
    let Some((n, v)) = pair.trim().split_once('=') else {
        return false;
    };
    let v = v.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v);
    n.trim() == name && (value.is_empty() || v == value)
}

fn header_value_of(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

fn request_id() -> String {
    let mut b = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Cond {
    fn on_request(&self, url: &Url, headers: &HeaderMap) -> bool {
        match self {
            Cond::Header { name, value } => headers
                .get_all(name)
                .iter()
                .any(|v| v.as_bytes() == value.as_bytes()),
            Cond::HeaderRegex { name, regex } => {
                let v = first(headers, name);
                !v.is_empty() && regex.is_match(v)
            }
            Cond::Query { name, value } => url
                .pairs()
                .iter()
                .any(|(k, v)| k == name && (value.is_empty() || v == value)),
            Cond::Url {
                scheme,
                host,
                path,
                query,
            } => {
                (scheme.is_empty() || *scheme == url.scheme)
                    && (host.is_empty() || *host == url.host)
                    && (path.is_empty() || *path == url.path)
                    && (query.is_empty() || *query == url.query)
            }
            Cond::UrlRegex(re) => re.is_match(&url.render()),
            Cond::Cookie { name, value } => headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .any(|c| cookie_matches(c, name, value)),
            Cond::Port(p) => url.port() == Some(*p),
        }
    }

    fn on_response(&self, cx: &ResCx<'_>) -> bool {
        match self {
            // header.Filter looks at the response's headers
            Cond::Header { name, value } => cx
                .resp
                .headers()
                .get_all(name)
                .iter()
                .any(|v| v.as_bytes() == value.as_bytes()),
            // cookie.Filter at the cookies the response sets
            Cond::Cookie { name, value } => cx
                .resp
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| cookie_matches(v.split(';').next().unwrap_or(""), name, value)),
            // the others at the request the response answers
            _ => self.on_request(cx.url, cx.req_headers),
        }
    }
}

impl Node {
    fn modify_request(&self, cx: &mut ReqCx<'_>) {
        if !self.scope.request {
            return;
        }
        match &self.kind {
            Kind::HeaderSet(n, v) => {
                cx.headers.insert(n.clone(), v.clone());
            }
            Kind::HeaderAppend(n, v) => {
                cx.headers.append(n.clone(), v.clone());
            }
            Kind::HeaderCopy { from, to } => {
                let v = cx
                    .headers
                    .get(from)
                    .cloned()
                    .unwrap_or(HeaderValue::from_static(""));
                cx.headers.insert(to.clone(), v);
            }
            Kind::HeaderBlacklist(names) => {
                for n in names {
                    cx.headers.remove(n);
                }
            }
            Kind::HeaderId => {
                if first(cx.headers, &HeaderName::from_static(ID_HEADER)).is_empty() {
                    if let Some(v) = header_value_of(&request_id()) {
                        cx.headers.insert(HeaderName::from_static(ID_HEADER), v);
                    }
                }
            }
            Kind::Body { content_type, body } => {
                *cx.body = OutBody::Buffered(body.clone());
                cx.headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                match header_value_of(content_type) {
                    Some(v) if !content_type.is_empty() => {
                        cx.headers.insert(header::CONTENT_TYPE, v);
                    }
                    _ => {
                        cx.headers.remove(header::CONTENT_TYPE);
                    }
                }
            }
            Kind::QuerySet { name, value } => {
                let mut pairs = cx.url.pairs();
                pairs.retain(|(k, _)| k != name);
                pairs.push((name.clone(), value.clone()));
                cx.url.query = encode_query(pairs);
            }
            Kind::UrlSet {
                scheme,
                host,
                path,
                query,
            } => {
                if !scheme.is_empty() {
                    cx.url.scheme = scheme.clone();
                }
                if !host.is_empty() {
                    cx.url.host = host.clone();
                }
                if !path.is_empty() {
                    cx.url.path = path.clone();
                }
                if !query.is_empty() {
                    cx.url.query = query.clone();
                }
            }
            Kind::Cookie(c) => {
                let pair = cookie_pair(c);
                let joined = match first(cx.headers, &header::COOKIE) {
                    "" => pair,
                    existing => format!("{existing}; {pair}"),
                };
                if let Some(v) = header_value_of(&joined) {
                    cx.headers.insert(header::COOKIE, v);
                }
            }
            Kind::Port(spec) => {
                let name = cx.url.hostname().to_string();
                cx.url.host = match spec {
                    PortSpec::Remove => name,
                    PortSpec::Set(p) => format!("{name}:{p}"),
                    PortSpec::DefaultForScheme => {
                        let p = if cx.url.scheme.eq_ignore_ascii_case("https") {
                            443
                        } else {
                            80
                        };
                        format!("{name}:{p}")
                    }
                };
            }
            Kind::Stash(name) => {
                if let Some(v) = header_value_of(&cx.url.render()) {
                    cx.headers.insert(name.clone(), v);
                }
            }
            Kind::Filter {
                cond,
                then,
                otherwise,
            } => {
                let branch = if cond.on_request(&cx.url, cx.headers) {
                    then
                } else {
                    otherwise
                };
                if let Some(n) = branch {
                    n.modify_request(cx);
                }
            }
            Kind::Group(mods) => {
                for m in mods {
                    m.modify_request(cx);
                }
            }
        }
    }

    fn modify_response(&self, cx: &mut ResCx<'_>) {
        if !self.scope.response {
            return;
        }
        match &self.kind {
            Kind::HeaderSet(n, v) => {
                cx.resp.headers_mut().insert(n.clone(), v.clone());
            }
            Kind::HeaderAppend(n, v) => {
                cx.resp.headers_mut().append(n.clone(), v.clone());
            }
            Kind::HeaderCopy { from, to } => {
                let h = cx.resp.headers_mut();
                let v = h.get(from).cloned().unwrap_or(HeaderValue::from_static(""));
                h.insert(to.clone(), v);
            }
            Kind::HeaderBlacklist(names) => {
                for n in names {
                    cx.resp.headers_mut().remove(n);
                }
            }
            Kind::Body { content_type, body } => {
                *cx.resp.body_mut() = full_body(body.clone());
                let h = cx.resp.headers_mut();
                h.remove(header::CONTENT_ENCODING);
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                match header_value_of(content_type) {
                    Some(v) if !content_type.is_empty() => {
                        h.insert(header::CONTENT_TYPE, v);
                    }
                    _ => {
                        h.remove(header::CONTENT_TYPE);
                    }
                }
            }
            Kind::Cookie(c) => {
                if let Some(v) = header_value_of(&set_cookie_line(c)) {
                    cx.resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            Kind::Stash(name) => {
                if let Some(v) = header_value_of(&cx.url.render()) {
                    cx.resp.headers_mut().insert(name.clone(), v);
                }
            }
            Kind::Filter {
                cond,
                then,
                otherwise,
            } => {
                let branch = if cond.on_response(cx) {
                    then
                } else {
                    otherwise
                };
                if let Some(n) = branch {
                    n.modify_response(cx);
                }
            }
            Kind::Group(mods) => {
                for m in mods {
                    m.modify_response(cx);
                }
            }
            // request-only modifiers (the parser refuses them a response scope)
            Kind::HeaderId | Kind::QuerySet { .. } | Kind::UrlSet { .. } | Kind::Port(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the executor
// ---------------------------------------------------------------------------------------------

/// The modifiers of one backend, around its HTTP execution.
pub struct Martian {
    root: Node,
}

impl Martian {
    async fn run(&self, mut req: OutRequest, next: Next<'_>) -> Exchanged {
        let mut cx = ReqCx {
            url: Url::parse(&req.url),
            headers: &mut req.headers,
            body: &mut req.body,
        };
        self.root.modify_request(&mut cx);
        let url = cx.url;
        req.url = url.render();
        if !self.root.scope.response {
            return next.run(req).await;
        }
        let req_headers = req.headers.clone();
        let (mut resp, final_url) = next.run(req).await?;
        let mut rcx = ResCx {
            url: &url,
            req_headers: &req_headers,
            resp: &mut resp,
        };
        self.root.modify_response(&mut rcx);
        Ok((resp, final_url))
    }
}

impl BackendStage for Martian {
    fn exchange<'a>(&'a self, req: OutRequest, next: Next<'a>) -> BoxFuture<'a, Exchanged> {
        Box::pin(self.run(req, next))
    }

    fn reads_data(&self) -> bool {
        false
    }
}

/// Parses a `modifier/martian` object; errors name the modifier type and field.
fn build(v: &Value) -> Result<Node> {
    parse(v, NAMESPACE).map_err(|e| Error::invalid(NAMESPACE, e))
}

/// The stage of a backend with `modifier/martian`.
fn stage(b: &BackendConfig, _: &BuildCx<'_>) -> Built<dyn BackendStage> {
    let Some(raw) = b.extra_config.get(NAMESPACE) else {
        return Ok(None);
    };
    let root = build(raw).map_err(|e| e.within(format!("{}.extra_config.", b.json_path)))?;
    Ok(Some(Arc::new(Martian { root })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        build(&v)
            .expect_err("the configuration should be refused")
            .to_string()
    }

    #[test]
    fn unknown_modifiers_and_bad_scopes_are_refused() {
        let e = err(json!({"fifo.Group": {"modifiers": [{"header.Nope": {}}]}}));
        assert!(
            e.contains("modifier/martian") && e.contains("header.Nope"),
            "{e}"
        );
        let e = err(json!({"url.Modifier": {"scope": ["response"], "host": "x"}}));
        assert!(e.contains("invalid scope 'response'"), "{e}");
        let e = err(json!({"header.Modifier": {"scope": ["sideways"], "name": "a"}}));
        assert!(e.contains("invalid scope"), "{e}");
        let e = err(json!({"header.Modifier": {"name": "a"}, "header.Append": {"name": "b"}}));
        assert!(e.contains("exactly one modifier"), "{e}");
        let e = err(json!({"body.Modifier": {"body": "%%%"}}));
        assert!(e.contains("body.Modifier") && e.contains("base64"), "{e}");
        let e = err(json!({"header.RegexFilter": {"header": "a", "regex": "(", "modifier": {}}}));
        assert!(e.contains("header.RegexFilter"), "{e}");
    }

    #[test]
    fn scopes_default_to_what_the_modifier_supports() {
        let n = build(&json!({"url.Modifier": {"host": "x"}})).unwrap();
        assert_eq!(
            n.scope,
            Scope {
                request: true,
                response: false
            }
        );
        let n = build(&json!({"header.Modifier": {"name": "a", "value": "b"}})).unwrap();
        assert!(n.scope.request && n.scope.response);
    }

    #[test]
    fn urls_split_and_render_back() {
        for s in [
            "http://127.0.0.1:8080/a/b?x=1&y=2",
            "https://example.com",
            "http://[::1]:80/p",
        ] {
            assert_eq!(Url::parse(s).render(), s);
        }
        assert_eq!(Url::parse("http://[::1]:80/p").hostname(), "[::1]");
        assert_eq!(Url::parse("http://h:1/p").hostname(), "h");
    }

    #[test]
    fn rfc3339_times() {
        let t = parse_rfc3339("2009-11-10T23:00:00Z").unwrap();
        assert_eq!(httpdate::fmt_http_date(t), "Tue, 10 Nov 2009 23:00:00 GMT");
        let t = parse_rfc3339("2009-11-11T01:30:00.5+02:30").unwrap();
        assert_eq!(httpdate::fmt_http_date(t), "Tue, 10 Nov 2009 23:00:00 GMT");
        assert!(parse_rfc3339("yesterday").is_none());
    }

    #[test]
    fn rfc3339_times_as_go_parses_them() {
        let at = |s: &str| parse_rfc3339(s).map(httpdate::fmt_http_date);
        // Go's layout parser takes these
        assert_eq!(
            at("2009-11-10T3:00:00Z").as_deref(),
            Some("Tue, 10 Nov 2009 03:00:00 GMT")
        );
        assert_eq!(
            at("2009-11-10T23:00:00,5Z").as_deref(),
            Some("Tue, 10 Nov 2009 23:00:00 GMT")
        );
        assert_eq!(
            at("2009-11-11T23:00:00+24:00").as_deref(),
            Some("Tue, 10 Nov 2009 23:00:00 GMT")
        );
        assert_eq!(
            at("2012-02-29T00:00:00Z").as_deref(),
            Some("Wed, 29 Feb 2012 00:00:00 GMT")
        );
        // and refuses these
        for bad in [
            "2009-11-10t23:00:00Z",
            "2009-11-10T23:00:00z",
            "2009-11-10T23:59:60Z",
            "2009-02-30T00:00:00Z",
            "2011-02-29T00:00:00Z",
            "2009-11-10T23:00:00.Z",
            "2009-11-10T24:00:00Z",
            "2009-11-10T23:00:00+25:00",
            "2009-11-10T23:00:00+0100",
            "2009-11-10T23:00:00Z ",
            "+009-11-10T23:00:00Z",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn priority_groups_run_the_highest_first() {
        let n = build(&json!({"priority.Group": {"modifiers": [
            {"priority": 1, "modifier": {"header.Append": {"name": "x", "value": "low"}}},
            {"priority": 5, "modifier": {"header.Append": {"name": "x", "value": "high"}}},
            {"priority": 1, "modifier": {"header.Append": {"name": "x", "value": "low2"}}}
        ]}}))
        .unwrap();
        let mut headers = HeaderMap::new();
        let mut body = OutBody::Empty;
        let mut cx = ReqCx {
            url: Url::parse("http://h/p"),
            headers: &mut headers,
            body: &mut body,
        };
        n.modify_request(&mut cx);
        let got: Vec<&str> = headers
            .get_all("x")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(got, ["high", "low", "low2"]);
    }
}
