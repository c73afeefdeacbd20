//! `qos/http-cache`: an in-memory HTTP cache in front of a backend's HTTP client, as KrakenD's
//! krakend-httpcache (a private cache, RFC 9111 freshness).
//!
//! Why the cache rules are written here and not taken from `http-cache-semantics` (measured
//! 2026-12-07, 2 cores, release profile with fat LTO, a scratch binary deciding on one
//! response either way): KrakenD's cache is gregjones/httpcache, which stores a response of any
//! status that no `no-store` forbids; the crate stores only the statuses it understands (a 500,
//! 201 or 418 with `max-age=60` is refused, checked), and adds no `X-From-Cache`. It is a
//! policy object only: the store, its bounds, revalidation and body buffering stay here. It
//! would add 6 crates (http-cache-semantics, time and its 4 helpers), 51 KB of stripped binary
//! and 11 s of clean build, and decides slower: 1.1-1.2 µs per response against 0.3 µs here
//! (private cache, heuristics off).
//!
//! * Only GET and HEAD requests without `Range` are cached; the key is the method (HEAD only)
//!   and URL, and an entry is only used when the request's values of the headers the response
//!   named in `Vary` match (`Vary: *` never matches).
//! * A response is stored unless it (or the request) says `no-store`, when it has an explicit
//!   freshness lifetime (`max-age`, or `Expires` − `Date`) or a validator (`ETag`,
//!   `Last-Modified`). `s-maxage` is a shared-cache directive and is ignored, as is `private`.
//! * A fresh entry is served without calling the backend, with `X-From-Cache: 1`. A stale one
//!   with validators is revalidated (`If-None-Match` / `If-Modified-Since`); a 304 refreshes it.
//!   The request's `no-cache` and `max-age` are honoured.
//! * Memory is bounded: `max_items` and `max_size` (bytes) with LRU eviction; without them, a
//!   default cap applies. `shared: true` makes every backend with it use one cache.
//!
//! The LRU is the `lru` crate (without its `hashbrown` feature: std's `HashMap`, one crate new
//! to the tree); the size in bytes is counted beside it. Measured 2026-12-07 on the 2-core
//! machine, 2^20 lookups (95 % hits, 4096 entries, puts on misses) under the mutex: about
//! 950 ns per operation with the former hand-written map + ordered tick index (a key copied
//! on each hit), about 260 ns with the crate (150 ns with its hashbrown feature, left off: it
//! would bring a second hashbrown and foldhash).

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use tokio::time::Instant;

use crate::components::qos::ratelimit::Num;
use crate::components::{keys, Build, BuildCx, Built, ComponentSpec, Scope};
use crate::config::BackendConfig;
use crate::hooks::{BackendStage, BoxFuture, Exchanged, Next};
use crate::message::OutRequest;
use crate::vocab::body::OutBody;
use crate::vocab::body::{full_body, Body, BoxError};

pub const NAMESPACE: &str = "qos/http-cache";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Backend],
    keys::struct_check::<HttpCacheConfig>,
    &[Build::Backend(70, stage)],
);

/// The cap when the configuration sets none.
pub const DEFAULT_MAX_ITEMS: usize = 4096;
pub const DEFAULT_MAX_SIZE: usize = 32 * 1024 * 1024;

const X_FROM_CACHE: &str = "x-from-cache";

/// The `qos/http-cache` object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HttpCacheConfig {
    pub shared: bool,
    pub max_items: Option<Num>,
    pub max_size: Option<Num>,
}

/// One stored response.
#[derive(Debug, Clone)]
struct Entry {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    final_url: String,
    /// The request's values of the headers named in `Vary`.
    vary: Vec<(HeaderName, Option<HeaderValue>)>,
    vary_any: bool,
    stored_at: Instant,
    /// The age the response already had when it was received.
    initial_age: Duration,
    /// The freshness lifetime (zero: always stale).
    lifetime: Duration,
}

impl Entry {
    fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 16)
            .sum();
        self.body.len() + headers + self.final_url.len() + 128
    }

    fn age(&self, now: Instant) -> Duration {
        self.initial_age + now.saturating_duration_since(self.stored_at)
    }

    fn matches(&self, req_headers: &HeaderMap) -> bool {
        !self.vary_any
            && self
                .vary
                .iter()
                .all(|(name, value)| req_headers.get(name) == value.as_ref())
    }

    fn has_validators(&self) -> bool {
        self.headers.contains_key(header::ETAG) || self.headers.contains_key(header::LAST_MODIFIED)
    }

    fn response(&self, method: &Method) -> Response<Body> {
        let mut resp = Response::new(if method == Method::HEAD {
            full_body(Bytes::new())
        } else {
            full_body(self.body.clone())
        });
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp.headers_mut().insert(
            HeaderName::from_static(X_FROM_CACHE),
            HeaderValue::from_static("1"),
        );
        resp
    }
}

struct Lru {
    /// The entries, the least recently used first out.
    entries: lru::LruCache<String, Arc<Entry>>,
    /// Bytes accounted for.
    size: usize,
}

/// A bounded LRU of responses.
pub struct Store {
    inner: Mutex<Lru>,
    max_items: usize,
    max_size: usize,
}

impl Store {
    pub fn new(max_items: usize, max_size: usize) -> Store {
        Store {
            // bounded here by both `max_items` and `max_size`, not by the crate's count alone
            inner: Mutex::new(Lru {
                entries: lru::LruCache::unbounded(),
                size: 0,
            }),
            max_items: max_items.max(1),
            max_size: max_size.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.lock().entries.get(key).cloned()
    }

    fn remove_locked(lru: &mut Lru, key: &str) {
        if let Some(entry) = lru.entries.pop(key) {
            lru.size = lru.size.saturating_sub(entry.size());
        }
    }

    fn remove(&self, key: &str) {
        Self::remove_locked(&mut self.lock(), key);
    }

    fn put(&self, key: String, entry: Entry) {
        let size = entry.size();
        let mut lru = self.lock();
        Self::remove_locked(&mut lru, &key);
        if size > self.max_size {
            return;
        }
        while lru.entries.len() >= self.max_items || lru.size + size > self.max_size {
            let Some((_, oldest)) = lru.entries.pop_lru() else {
                break;
            };
            lru.size = lru.size.saturating_sub(oldest.size());
        }
        lru.entries.put(key, Arc::new(entry));
        lru.size += size;
    }

    /// Number of stored responses.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes accounted for.
    pub fn size(&self) -> usize {
        self.lock().size
    }
}

/// Cache-Control directives (lower-cased names, unquoted values).
fn directives(headers: &HeaderMap) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for v in headers.get_all(header::CACHE_CONTROL) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            match part.split_once('=') {
                Some((k, v)) => out.push((
                    k.trim().to_ascii_lowercase(),
                    Some(v.trim().trim_matches('"').to_string()),
                )),
                None => out.push((part.to_ascii_lowercase(), None)),
            }
        }
    }
    out
}

fn has(dirs: &[(String, Option<String>)], name: &str) -> bool {
    dirs.iter().any(|(k, _)| k == name)
}

fn seconds(dirs: &[(String, Option<String>)], name: &str) -> Option<Duration> {
    dirs.iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref())
        .map(|v| Duration::from_secs(delta_seconds(v)))
}

/// A `delta-seconds` value (RFC 9111 §1.2.2: `1*DIGIT`, no sign): one too large for the
/// cache stands for the largest it keeps (2^31); one that is not a number for 0.
fn delta_seconds(v: &str) -> u64 {
    const LARGEST: u64 = 1 << 31;
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        crate::http1::digits(v.as_bytes()).map_or(LARGEST, |n| n.min(LARGEST))
    } else {
        0
    }
}

fn http_date(headers: &HeaderMap, name: HeaderName) -> Option<SystemTime> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| httpdate::parse_http_date(s).ok())
}

/// The freshness lifetime a response declares, if any.
fn lifetime(headers: &HeaderMap, dirs: &[(String, Option<String>)], now: SystemTime) -> Duration {
    if has(dirs, "no-cache") {
        return Duration::ZERO;
    }
    if let Some(max_age) = seconds(dirs, "max-age") {
        return max_age;
    }
    if headers.contains_key(header::EXPIRES) {
        // an invalid Expires means already expired
        let Some(expires) = http_date(headers, header::EXPIRES) else {
            return Duration::ZERO;
        };
        let date = http_date(headers, header::DATE).unwrap_or(now);
        return expires.duration_since(date).unwrap_or(Duration::ZERO);
    }
    Duration::ZERO
}

/// The HTTP cache around an executor.
pub struct HttpCache {
    store: Arc<Store>,
}

/// A body that yields a prefix already read, then the rest of a stream.
struct Prefixed {
    prefix: Option<Bytes>,
    rest: Body,
}

impl hyper::body::Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        if let Some(p) = self.prefix.take() {
            if !p.is_empty() {
                return Poll::Ready(Some(Ok(hyper::body::Frame::data(p))));
            }
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }
}

/// Reads a body up to `limit` bytes: `Ok` with all of it, or `Err` with a body that still
/// yields everything (too large to keep).
async fn read_limited(
    mut body: Body,
    limit: usize,
) -> Result<Result<Bytes, Body>, crate::error::Error> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| crate::error::Error::Upstream {
            message: format!("reading the backend response: {e}"),
            source: Some(e),
        })?;
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
            if buf.len() > limit {
                return Ok(Err(Prefixed {
                    prefix: Some(buf.freeze()),
                    rest: body,
                }
                .boxed()));
            }
        }
    }
    Ok(Ok(buf.freeze()))
}

impl HttpCache {
    pub fn new(store: Arc<Store>) -> HttpCache {
        HttpCache { store }
    }

    async fn run(&self, req: OutRequest, next: Next<'_>) -> Exchanged {
        let cacheable = (req.method == Method::GET || req.method == Method::HEAD)
            && !req.headers.contains_key(header::RANGE)
            && !matches!(req.body, OutBody::Stream(_));
        if !cacheable {
            return next.run(req).await;
        }
        let key = if req.method == Method::HEAD {
            format!("HEAD {}", req.url)
        } else {
            req.url.clone()
        };
        let req_dirs = directives(&req.headers);
        let now = Instant::now();
        let cached = self.store.get(&key).filter(|e| e.matches(&req.headers));
        let mut revalidating = None;
        if let Some(entry) = cached {
            let mut fresh = entry.age(now) < entry.lifetime;
            if let Some(max_age) = seconds(&req_dirs, "max-age") {
                fresh = fresh && entry.age(now) <= max_age;
            }
            if has(&req_dirs, "no-cache") {
                fresh = false;
            }
            if fresh {
                return Ok((entry.response(&req.method), entry.final_url.clone()));
            }
            if entry.has_validators() {
                revalidating = Some(entry);
            }
        }
        let method = req.method.clone();
        let req_headers = req.headers.clone();
        let mut req = req;
        if let Some(entry) = &revalidating {
            let conditional = req.headers.contains_key(header::IF_NONE_MATCH)
                || req.headers.contains_key(header::IF_MODIFIED_SINCE);
            if conditional {
                revalidating = None;
            } else {
                if let Some(etag) = entry.headers.get(header::ETAG) {
                    req.headers.insert(header::IF_NONE_MATCH, etag.clone());
                }
                if let Some(lm) = entry.headers.get(header::LAST_MODIFIED) {
                    req.headers.insert(header::IF_MODIFIED_SINCE, lm.clone());
                }
            }
        }
        let (resp, final_url) = next.run(req).await?;
        let received = Instant::now();
        if let Some(entry) = revalidating {
            if resp.status() == StatusCode::NOT_MODIFIED {
                let mut updated = (*entry).clone();
                for (name, value) in resp.headers() {
                    if is_end_to_end(name) {
                        updated.headers.insert(name.clone(), value.clone());
                    }
                }
                let dirs = directives(&updated.headers);
                updated.lifetime = lifetime(&updated.headers, &dirs, SystemTime::now());
                updated.initial_age = initial_age(&updated.headers);
                updated.stored_at = received;
                let out = updated.response(&method);
                let url = updated.final_url.clone();
                self.store.put(key, updated);
                return Ok((out, url));
            }
        }
        let resp_dirs = directives(resp.headers());
        let status = resp.status();
        let storable = !has(&resp_dirs, "no-store")
            && !has(&req_dirs, "no-store")
            && status != StatusCode::PARTIAL_CONTENT
            && status != StatusCode::NOT_MODIFIED;
        let life = lifetime(resp.headers(), &resp_dirs, SystemTime::now());
        let validators = resp.headers().contains_key(header::ETAG)
            || resp.headers().contains_key(header::LAST_MODIFIED);
        if !storable || (life.is_zero() && !validators) {
            if !storable {
                self.store.remove(&key);
            }
            return Ok((resp, final_url));
        }
        let (parts, body) = resp.into_parts();
        let body = match read_limited(body, self.store.max_size).await? {
            Ok(bytes) => bytes,
            Err(stream) => return Ok((Response::from_parts(parts, stream), final_url)),
        };
        let mut vary = Vec::new();
        let mut vary_any = false;
        for v in parts.headers.get_all(header::VARY) {
            for name in v.to_str().unwrap_or("*").split(',') {
                let name = name.trim();
                if name == "*" {
                    vary_any = true;
                } else if let Ok(h) = HeaderName::from_bytes(name.as_bytes()) {
                    let value = req_headers.get(&h).cloned();
                    vary.push((h, value));
                }
            }
        }
        let entry = Entry {
            status: parts.status,
            headers: parts.headers.clone(),
            body: body.clone(),
            final_url: final_url.clone(),
            vary,
            vary_any,
            stored_at: received,
            initial_age: initial_age(&parts.headers),
            lifetime: life,
        };
        if !vary_any {
            self.store.put(key, entry);
        }
        Ok((Response::from_parts(parts, full_body(body)), final_url))
    }
}

/// The `Age` a response arrives with, or its apparent age from `Date`, whichever is larger.
fn initial_age(headers: &HeaderMap) -> Duration {
    let age = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .map(|s| delta_seconds(s.trim()))
        .map(Duration::from_secs)
        .unwrap_or(Duration::ZERO);
    let apparent = http_date(headers, header::DATE)
        .and_then(|d| SystemTime::now().duration_since(d).ok())
        .unwrap_or(Duration::ZERO);
    age.max(apparent)
}

fn is_end_to_end(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
    )
}

impl BackendStage for HttpCache {
    fn exchange<'a>(&'a self, req: OutRequest, next: Next<'a>) -> BoxFuture<'a, Exchanged> {
        Box::pin(self.run(req, next))
    }

    fn reads_data(&self) -> bool {
        false
    }
}

fn shared_store(max_items: usize, max_size: usize) -> Arc<Store> {
    static SHARED: OnceLock<Arc<Store>> = OnceLock::new();
    SHARED
        .get_or_init(|| Arc::new(Store::new(max_items, max_size)))
        .clone()
}

/// The stage of a backend with `qos/http-cache`.
fn stage(b: &BackendConfig, _: &BuildCx<'_>) -> Built<dyn BackendStage> {
    let Some(cfg) = crate::components::typed_config::<HttpCacheConfig>(
        &b.extra_config,
        &b.json_path,
        NAMESPACE,
    )?
    else {
        return Ok(None);
    };
    let items = cfg.max_items.map(Num::as_u64).unwrap_or(0) as usize;
    let size = cfg.max_size.map(Num::as_u64).unwrap_or(0) as usize;
    // KrakenD only bounds the cache when both are set; this build always does
    let (items, size) = if items == 0 || size == 0 {
        (DEFAULT_MAX_ITEMS, DEFAULT_MAX_SIZE)
    } else {
        (items, size)
    };
    let store = if cfg.shared {
        shared_store(items, size)
    } else {
        Arc::new(Store::new(items, size))
    };
    Ok(Some(Arc::new(HttpCache::new(store))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn delta_seconds_are_digits_only() {
        assert_eq!(delta_seconds("60"), 60);
        assert_eq!(delta_seconds("0"), 0);
        for not_a_number in ["+60", "-1", " 60", "6 0", "0x10", ""] {
            assert_eq!(delta_seconds(not_a_number), 0, "{not_a_number}");
        }
        assert_eq!(delta_seconds("99999999999999999999999"), 1 << 31);
        assert_eq!(delta_seconds("4294967296"), 1 << 31);
    }

    /// An executor answering from a script, counting calls and recording request headers.
    type Answer = Box<dyn Fn(&OutRequest, usize) -> Response<Body> + Send + Sync>;

    struct Fake {
        calls: AtomicUsize,
        answer: Answer,
        seen: Mutex<Vec<HeaderMap>>,
    }

    impl crate::hooks::Transport for Fake {
        fn exchange(&self, req: OutRequest) -> BoxFuture<'_, crate::hooks::Exchanged> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let resp = (self.answer)(&req, n);
            self.seen.lock().unwrap().push(req.headers.clone());
            Box::pin(async move { Ok((resp, req.url)) })
        }
    }

    fn fake(
        answer: impl Fn(&OutRequest, usize) -> Response<Body> + Send + Sync + 'static,
    ) -> Arc<Fake> {
        Arc::new(Fake {
            calls: AtomicUsize::new(0),
            answer: Box::new(answer),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn resp(headers: &[(&str, &str)], body: String) -> Response<Body> {
        let mut r = Response::new(full_body(body));
        for (k, v) in headers {
            r.headers_mut().append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        r
    }

    fn get(url: &str, headers: &[(&str, &str)]) -> OutRequest {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        OutRequest {
            method: Method::GET,
            url: url.into(),
            headers: h,
            body: OutBody::Empty,
        }
    }

    /// A cache in front of a fake transport.
    struct Cached {
        cache: HttpCache,
        transport: Arc<Fake>,
    }

    impl Cached {
        fn new(transport: Arc<Fake>, store: Arc<Store>) -> Cached {
            Cached {
                cache: HttpCache::new(store),
                transport,
            }
        }
    }

    async fn body_of(c: &Cached, req: OutRequest) -> (String, bool) {
        let next = Next::new(&[], &*c.transport);
        let (r, _) = c.cache.exchange(req, next).await.unwrap();
        let from_cache = r.headers().contains_key(X_FROM_CACHE);
        let b = r.into_body().collect().await.unwrap().to_bytes();
        (String::from_utf8(b.to_vec()).unwrap(), from_cache)
    }

    /// `GET url` without headers through the cache: the body, and whether the cache served it.
    async fn fetch(c: &Cached, url: &str) -> (String, bool) {
        body_of(c, get(url, &[])).await
    }

    fn cache_over(f: Arc<Fake>) -> Cached {
        Cached::new(f, Arc::new(Store::new(100, 1 << 20)))
    }

    #[tokio::test(start_paused = true)]
    async fn serves_fresh_responses_until_max_age() {
        let f = fake(|_, n| resp(&[("cache-control", "public, max-age=60")], format!("v{n}")));
        let cache = cache_over(f.clone());
        assert_eq!(fetch(&cache, "http://h/a").await, ("v0".into(), false));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(fetch(&cache, "http://h/a").await, ("v0".into(), true));
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(fetch(&cache, "http://h/a").await, ("v1".into(), false));
        // another URL is another entry
        assert_eq!(fetch(&cache, "http://h/b").await, ("v2".into(), false));
    }

    #[tokio::test(start_paused = true)]
    async fn expires_counts_from_date() {
        let f = fake(|_, n| {
            resp(
                &[
                    ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
                    ("expires", "Mon, 01 Jan 2024 00:00:30 GMT"),
                    ("age", "0"),
                ],
                format!("v{n}"),
            )
        });
        let cache = cache_over(f.clone());
        // the Date is long past: the apparent age makes it stale at once
        fetch(&cache, "http://h/a").await;
        assert_eq!(fetch(&cache, "http://h/a").await, ("v1".into(), false));
        assert_eq!(
            lifetime(
                &resp(
                    &[
                        ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
                        ("expires", "Mon, 01 Jan 2024 00:00:30 GMT"),
                    ],
                    String::new()
                )
                .headers()
                .clone(),
                &[],
                SystemTime::now()
            ),
            Duration::from_secs(30)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_store_and_no_freshness_are_not_cached() {
        let f = fake(|req, n| {
            if req.url.ends_with("/ns") {
                resp(
                    &[("cache-control", "no-store, max-age=60")],
                    format!("v{n}"),
                )
            } else {
                resp(&[], format!("v{n}"))
            }
        });
        let cache = cache_over(f.clone());
        fetch(&cache, "http://h/ns").await;
        assert!(!fetch(&cache, "http://h/ns").await.1);
        fetch(&cache, "http://h/plain").await;
        assert!(!fetch(&cache, "http://h/plain").await.1);
        assert_eq!(f.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn vary_headers_are_part_of_the_key() {
        let f = fake(|req, n| {
            let lang = req
                .headers
                .get("accept-language")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            resp(
                &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
                format!("{lang}{n}"),
            )
        });
        let cache = cache_over(f.clone());
        let en = || get("http://h/a", &[("accept-language", "en")]);
        let es = || get("http://h/a", &[("accept-language", "es")]);
        assert_eq!(body_of(&cache, en()).await, ("en0".into(), false));
        assert_eq!(body_of(&cache, en()).await, ("en0".into(), true));
        assert_eq!(body_of(&cache, es()).await, ("es1".into(), false));
        assert_eq!(body_of(&cache, es()).await, ("es1".into(), true));
    }

    #[tokio::test(start_paused = true)]
    async fn stale_entries_are_revalidated_with_their_etag() {
        let f = fake(|req, n| {
            if req.headers.get("if-none-match").map(|v| v.as_bytes()) == Some(b"\"t1\"") {
                let mut r = resp(&[("cache-control", "max-age=10")], String::new());
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                r
            } else {
                resp(
                    &[("cache-control", "max-age=10"), ("etag", "\"t1\"")],
                    format!("v{n}"),
                )
            }
        });
        let cache = cache_over(f.clone());
        assert_eq!(fetch(&cache, "http://h/a").await, ("v0".into(), false));
        tokio::time::advance(Duration::from_secs(10)).await;
        // revalidated: the backend said 304, the stored body is served and fresh again
        assert_eq!(fetch(&cache, "http://h/a").await, ("v0".into(), true));
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(fetch(&cache, "http://h/a").await, ("v0".into(), true));
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn request_no_cache_goes_to_the_backend() {
        let f = fake(|_, n| resp(&[("cache-control", "max-age=60")], format!("v{n}")));
        let cache = cache_over(f.clone());
        fetch(&cache, "http://h/a").await;
        assert_eq!(
            body_of(&cache, get("http://h/a", &[("cache-control", "no-cache")])).await,
            ("v1".into(), false)
        );
        assert_eq!(fetch(&cache, "http://h/a").await, ("v1".into(), true));
    }

    #[tokio::test(start_paused = true)]
    async fn other_methods_are_not_cached() {
        let f = fake(|_, n| resp(&[("cache-control", "max-age=60")], format!("v{n}")));
        let cache = cache_over(f.clone());
        for _ in 0..2 {
            let mut r = get("http://h/a", &[]);
            r.method = Method::POST;
            assert!(!body_of(&cache, r).await.1);
        }
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn memory_stays_bounded() {
        let f = fake(|_, n| {
            resp(
                &[("cache-control", "max-age=600")],
                "x".repeat(1000) + &n.to_string(),
            )
        });
        let store = Arc::new(Store::new(10, 8 * 1024));
        let cache = Cached::new(f.clone(), store.clone());
        for i in 0..100 {
            body_of(&cache, get(&format!("http://h/{i}"), &[])).await;
        }
        assert!(store.len() <= 10);
        assert!(store.size() <= 8 * 1024);
        // the most recent entries survive
        assert!(fetch(&cache, "http://h/99").await.1);
        assert!(!fetch(&cache, "http://h/0").await.1);
        // a body larger than the cache goes through whole and is not kept
        let big = fake(|_, _| resp(&[("cache-control", "max-age=600")], "y".repeat(20_000)));
        let cache = Cached::new(big, Arc::new(Store::new(10, 8 * 1024)));
        let (b, _) = fetch(&cache, "http://h/big").await;
        assert_eq!(b.len(), 20_000);
        assert!(!fetch(&cache, "http://h/big").await.1);
    }

    #[test]
    fn config_defaults_cap_memory() {
        let cfg: HttpCacheConfig = serde_json::from_str("{}").unwrap();
        assert!(!cfg.shared && cfg.max_items.is_none() && cfg.max_size.is_none());
    }
}
