//! `qos/ratelimit/router`: the endpoint rate limit. A token bucket shared by every client
//! (`max_rate`, `capacity`; exceeded → 503) and one bucket per client (`client_max_rate`,
//! `client_capacity`, clients told apart by `strategy` `ip` / `header` / `param` and `key`;
//! exceeded → 429). Rates are per `every` (default one second). Both answers have an empty body,
//! as KrakenD's `AbortWithError` leaves it.
//!
//! The per-client table is sharded (`num_shards`); a shard drops the buckets idle for longer
//! than the data TTL every `cleanup_period`, and never holds more than its share of a hard cap,
//! evicting the least recently used bucket when full.
//!
//! Why hand-written and not `governor` (measured 2026-12-07, 2 cores, release profile with fat
//! LTO, a scratch binary with one global and one keyed limiter either way): the bucket here is
//! KrakenD's (krakend-ratelimit v3), not a GCRA. It starts full at `capacity` (the first
//! `capacity` requests pass at once), refills only once empty, by whole tokens, and a refill
//! that would overflow fills it and lets that request through free: after a long pause a
//! client with `capacity: 5` gets 6 requests, where `governor` gives 5 and spreads the
//! replenishment continuously; the tests here pin KrakenD's counts. `governor`'s keyed store
//! (a DashMap) has no cap and forgets idle keys only when `retain_recent` is called, where
//! KrakenD drops buckets idle past its TTL on a schedule; the store here does that per shard and
//! caps the table. It runs on tokio's clock, so the tests drive time; `governor` reads quanta's.
//! It would add 17 crates (dashmap, quanta, raw-cpuid, rand and rand_chacha, futures-timer,
//! portable-atomic, ...), 37 KB of stripped binary and 28 s of clean build; it decides faster
//! (16 ns against 55 ns for the global bucket, 49 ns against 169 ns per client among 10,000,
//! one thread), a difference four orders of magnitude under a proxied request. Neither answer
//! carries `X-RateLimit-*` headers: KrakenD CE sends none, only the empty 503 / 429.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::components::{keys, Build, ComponentSpec, Scope};
use crate::config::duration::parse_go_duration;
use crate::config::EndpointConfig;
use crate::error::Result;
use crate::hooks::{BoxFuture, EndpointGuard, GuardEffects, GuardRequest};
use crate::vocab::body::{empty_body, Body};

pub const NAMESPACE: &str = "qos/ratelimit/router";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Endpoint],
    keys::struct_check::<RouterRateLimitConfig>,
    &[Build::Guard(30, |ep, _| guard(ep))],
);

/// How long an idle client bucket is kept (KrakenD's `DataTTL`).
const DATA_TTL: Duration = Duration::from_secs(600);
/// KrakenD's default number of shards.
const DEFAULT_SHARDS: u64 = 2048;
/// The most client buckets one endpoint keeps, whatever the traffic.
const MAX_CLIENTS: usize = 250_000;

/// A number as KrakenD reads it: integers and floats alike.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Num::Int(i)),
            (None, Some(f)) => Ok(Num::Float(f)),
            _ => Err(serde::de::Error::custom(format!("invalid number {n}"))),
        }
    }
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
    /// Go's `uint64(x)` of a non-negative value; negatives become 0.
    pub fn as_u64(self) -> u64 {
        match self {
            Num::Int(i) => i.max(0) as u64,
            Num::Float(f) if f > 0.0 => f as u64,
            Num::Float(_) => 0,
        }
    }
}

/// The `qos/ratelimit/router` object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RouterRateLimitConfig {
    #[serde(alias = "maxRate")]
    pub max_rate: Option<Num>,
    pub capacity: Option<Num>,
    pub every: Option<Value>,
    #[serde(alias = "clientMaxRate")]
    pub client_max_rate: Option<Num>,
    pub client_capacity: Option<Num>,
    pub strategy: Option<String>,
    pub key: Option<String>,
    pub num_shards: Option<Num>,
    pub cleanup_period: Option<Value>,
    pub cleanup_threads: Option<Num>,
}

/// A token bucket as KrakenD's: full at start; refilled only when empty, by whole tokens, one
/// every `1/rate` seconds, never above `capacity`.
#[derive(Debug)]
pub struct TokenBucket {
    fill_interval: Duration,
    capacity: u64,
    tokens: u64,
    last_refill: Instant,
}

impl TokenBucket {
    /// `rate` tokens per second, `capacity` at most (and at start).
    pub fn new(rate: f64, capacity: u64, now: Instant) -> TokenBucket {
        let rate = if rate.is_finite() && rate >= 1e-9 {
            rate
        } else {
            1e-9
        };
        let nanos = (1e9 / rate).min(u64::MAX as f64) as u64;
        let capacity = capacity.max(1);
        TokenBucket {
            fill_interval: Duration::from_nanos(nanos.max(1)),
            capacity,
            tokens: capacity,
            last_refill: now,
        }
    }

    /// Takes one token if there is one (refilling first when the bucket is empty).
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.tokens > 0 {
            self.tokens -= 1;
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last_refill);
        let to_add = (elapsed.as_nanos() / self.fill_interval.as_nanos()) as u64;
        if to_add == 0 {
            return false;
        }
        let advance = self
            .fill_interval
            .checked_mul(u32::try_from(to_add).unwrap_or(u32::MAX))
            .unwrap_or(elapsed);
        self.last_refill += advance;
        if to_add > self.capacity {
            // as KrakenD does: an overflowing refill fills the bucket and this request is free
            self.tokens = self.capacity;
        } else {
            self.tokens = to_add - 1;
        }
        true
    }
}

/// A token bucket behind a lock.
pub struct SharedBucket(Mutex<TokenBucket>);

impl SharedBucket {
    pub fn new(rate: f64, capacity: u64) -> SharedBucket {
        SharedBucket(Mutex::new(TokenBucket::new(rate, capacity, Instant::now())))
    }
    pub fn allow(&self) -> bool {
        let now = Instant::now();
        match self.0.lock() {
            Ok(mut b) => b.allow(now),
            Err(poisoned) => poisoned.into_inner().allow(now),
        }
    }
}

/// KrakenD's capacity default: the per-second rate, or 1 below one per second.
pub fn default_capacity(rate_per_second: f64) -> u64 {
    if rate_per_second < 1.0 {
        1
    } else {
        rate_per_second as u64
    }
}

struct Entry {
    bucket: TokenBucket,
    last_access: Instant,
}

struct Shard {
    buckets: HashMap<String, Entry>,
    last_cleanup: Instant,
}

/// Per-client token buckets, sharded, with idle cleanup and a hard cap.
pub struct ClientStore {
    shards: Vec<Mutex<Shard>>,
    rate: f64,
    capacity: u64,
    ttl: Duration,
    cleanup_period: Duration,
    per_shard_cap: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl ClientStore {
    pub fn new(
        rate: f64,
        capacity: u64,
        shards: u64,
        ttl: Duration,
        cleanup_period: Duration,
        max_clients: usize,
    ) -> ClientStore {
        let n = shards.clamp(1, 1 << 16) as usize;
        let now = Instant::now();
        ClientStore {
            shards: (0..n)
                .map(|_| {
                    Mutex::new(Shard {
                        buckets: HashMap::new(),
                        last_cleanup: now,
                    })
                })
                .collect(),
            rate,
            capacity,
            ttl,
            cleanup_period,
            per_shard_cap: (max_clients / n).max(1),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn shard_of(&self, key: &str) -> usize {
        let mut h = self.hasher.build_hasher();
        h.write(key.as_bytes());
        (h.finish() % self.shards.len() as u64) as usize
    }

    /// Takes a token from the client's bucket (created full on first sight).
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let idx = self.shard_of(key);
        let mut shard = match self.shards[idx].lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if now.saturating_duration_since(shard.last_cleanup) >= self.cleanup_period {
            let ttl = self.ttl;
            shard
                .buckets
                .retain(|_, e| now.saturating_duration_since(e.last_access) <= ttl);
            shard.last_cleanup = now;
        }
        if let Some(e) = shard.buckets.get_mut(key) {
            e.last_access = now;
            return e.bucket.allow(now);
        }
        if shard.buckets.len() >= self.per_shard_cap {
            let oldest = shard
                .buckets
                .iter()
                .min_by_key(|(_, e)| e.last_access)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                shard.buckets.remove(&k);
            }
        }
        let mut bucket = TokenBucket::new(self.rate, self.capacity, now);
        let allowed = bucket.allow(now);
        shard.buckets.insert(
            key.to_string(),
            Entry {
                bucket,
                last_access: now,
            },
        );
        allowed
    }

    /// How many client buckets are held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s.lock() {
                Ok(s) => s.buckets.len(),
                Err(p) => p.into_inner().buckets.len(),
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a client is told apart.
#[derive(Debug, Clone)]
enum Strategy {
    /// The client IP, or a valid IP in the first entry of `key` header when set.
    Ip(Option<String>),
    Header(String),
    Param(String),
}

/// The endpoint rate limit guard.
pub struct RouterRateLimit {
    global: Option<SharedBucket>,
    client: Option<(Strategy, ClientStore)>,
}

/// Reads a Go duration given as a string (numbers are nanoseconds, as Go reads them).
fn duration_field(v: &Value) -> Option<Duration> {
    match v {
        Value::String(s) => parse_go_duration(s).ok(),
        Value::Number(n) => n.as_f64().map(|f| Duration::from_nanos(f.max(0.0) as u64)),
        _ => None,
    }
}

impl RouterRateLimit {
    pub fn from_config(cfg: &RouterRateLimitConfig) -> Option<RouterRateLimit> {
        let mut max_rate = cfg.max_rate.map(Num::as_f64).unwrap_or(0.0);
        let mut client_max_rate = cfg.client_max_rate.map(Num::as_f64).unwrap_or(0.0);
        let mut ttl = DATA_TTL;
        if let Some(v) = &cfg.every {
            let every = duration_field(v)
                .filter(|d| *d >= Duration::from_secs(1))
                .unwrap_or(Duration::from_secs(1));
            let factor = 1.0 / every.as_secs_f64();
            max_rate *= factor;
            client_max_rate *= factor;
            if every > ttl {
                ttl = every + every / 8;
            }
        }
        let global = (max_rate > 0.0).then(|| {
            let capacity = match cfg.capacity.map(Num::as_u64) {
                Some(c) if c > 0 => c,
                _ => default_capacity(max_rate),
            };
            SharedBucket::new(max_rate, capacity)
        });
        let client = if client_max_rate > 0.0 {
            let capacity = match cfg.client_capacity.map(Num::as_u64) {
                Some(c) if c > 0 => c,
                // KrakenD decides on the global rate here, then takes the client rate
                _ if max_rate < 1.0 => 1,
                _ => client_max_rate as u64,
            };
            let key = cfg.key.clone().unwrap_or_default();
            let strategy = match cfg
                .strategy
                .as_deref()
                .unwrap_or("")
                .to_ascii_lowercase()
                .as_str()
            {
                "ip" => Some(Strategy::Ip((!key.is_empty()).then_some(key))),
                "header" => Some(Strategy::Header(key)),
                "param" => Some(Strategy::Param(key)),
                other => {
                    tracing::warn!(
                        "{NAMESPACE}: unknown strategy {other:?}: the per-client limit is off"
                    );
                    None
                }
            };
            let shards = cfg.num_shards.map(Num::as_u64).unwrap_or(DEFAULT_SHARDS);
            let cleanup = cfg
                .cleanup_period
                .as_ref()
                .map(|v| {
                    duration_field(v)
                        .unwrap_or(Duration::from_secs(60))
                        .max(Duration::from_secs(1))
                })
                .unwrap_or(Duration::from_secs(60));
            strategy.map(|s| {
                (
                    s,
                    ClientStore::new(client_max_rate, capacity, shards, ttl, cleanup, MAX_CLIENTS),
                )
            })
        } else {
            None
        };
        if global.is_none() && client.is_none() {
            return None;
        }
        Some(RouterRateLimit { global, client })
    }

    fn client_key(strategy: &Strategy, req: &GuardRequest<'_>) -> String {
        match strategy {
            Strategy::Ip(None) => req.client_ip.to_string(),
            Strategy::Ip(Some(header)) => {
                let first = req
                    .headers
                    .get(header.as_str())
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .map(str::trim)
                    .unwrap_or("");
                let ip = first.split(':').next().unwrap_or("");
                if !ip.is_empty() && ip.parse::<IpAddr>().is_ok() {
                    ip.to_string()
                } else {
                    req.client_ip.to_string()
                }
            }
            Strategy::Header(name) => req
                .headers
                .get(name.as_str())
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
            Strategy::Param(name) => {
                let mut upper = name.clone();
                if let Some(first) = upper.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                req.params
                    .iter()
                    .find(|(k, _)| *k == upper || k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            }
        }
    }

    /// Decides on one request: `Ok` lets it through, `Err` carries the status.
    pub fn decide(&self, req: &GuardRequest<'_>) -> Result<(), StatusCode> {
        if let Some((strategy, store)) = &self.client {
            let key = Self::client_key(strategy, req);
            if key.is_empty() || !store.allow(&key) {
                return Err(StatusCode::TOO_MANY_REQUESTS);
            }
        }
        if let Some(global) = &self.global {
            if !global.allow() {
                return Err(StatusCode::SERVICE_UNAVAILABLE);
            }
        }
        Ok(())
    }
}

fn rejection(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(empty_body());
    *resp.status_mut() = status;
    resp
}

impl EndpointGuard for RouterRateLimit {
    fn check<'a>(
        &'a self,
        req: &'a GuardRequest<'a>,
    ) -> BoxFuture<'a, Result<GuardEffects, Response<Body>>> {
        let outcome = self.decide(req);
        Box::pin(async move {
            match outcome {
                Ok(()) => Ok(GuardEffects::default()),
                Err(status) => Err(rejection(status)),
            }
        })
    }
}

/// Builds the guard of an endpoint, when it has a usable `qos/ratelimit/router`.
pub fn build(ep: &EndpointConfig) -> Result<Option<RouterRateLimit>> {
    let Some(cfg) = crate::components::typed_config::<RouterRateLimitConfig>(
        &ep.extra_config,
        &ep.json_path,
        NAMESPACE,
    )?
    else {
        return Ok(None);
    };
    Ok(RouterRateLimit::from_config(&cfg))
}

/// The guard as the registry wants it.
pub fn guard(ep: &EndpointConfig) -> Result<Option<Arc<dyn EndpointGuard>>> {
    Ok(build(ep)?.map(|g| Arc::new(g) as Arc<dyn EndpointGuard>))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, Method, Uri};

    fn cfg(json: &str) -> RouterRateLimit {
        let c: RouterRateLimitConfig = serde_json::from_str(json).unwrap();
        RouterRateLimit::from_config(&c).unwrap()
    }

    struct Req {
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        ip: String,
        params: Vec<(String, String)>,
    }

    impl Req {
        fn new(ip: &str) -> Req {
            Req {
                method: Method::GET,
                uri: Uri::from_static("/x"),
                headers: HeaderMap::new(),
                ip: ip.into(),
                params: Vec::new(),
            }
        }
        fn guard(&self) -> GuardRequest<'_> {
            GuardRequest {
                method: &self.method,
                uri: &self.uri,
                headers: &self.headers,
                client_ip: &self.ip,
                params: &self.params,
            }
        }
    }

    fn statuses(rl: &RouterRateLimit, req: &Req, n: usize) -> Vec<u16> {
        (0..n)
            .map(|_| match rl.decide(&req.guard()) {
                Ok(()) => 200,
                Err(s) => s.as_u16(),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_admits_capacity_then_rate_per_every() {
        let rl = cfg(r#"{"max_rate": 2, "capacity": 5, "every": "10s"}"#);
        let req = Req::new("127.0.0.1");
        assert_eq!(statuses(&rl, &req, 6), vec![200, 200, 200, 200, 200, 503]);
        // 2 per 10 s = one token every 5 s
        tokio::time::advance(Duration::from_millis(4999)).await;
        assert_eq!(statuses(&rl, &req, 1), vec![503]);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(statuses(&rl, &req, 2), vec![200, 503]);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(statuses(&rl, &req, 3), vec![200, 200, 503]);
        // a long pause refills up to the capacity (the refilling request itself is free,
        // as in KrakenD)
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(
            statuses(&rl, &req, 7),
            vec![200, 200, 200, 200, 200, 200, 503]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn capacity_defaults_to_the_rate_per_second() {
        let rl = cfg(r#"{"max_rate": 3}"#);
        let req = Req::new("127.0.0.1");
        assert_eq!(statuses(&rl, &req, 4), vec![200, 200, 200, 503]);
        let rl = cfg(r#"{"max_rate": 30, "every": "1m"}"#);
        assert_eq!(statuses(&rl, &req, 2), vec![200, 503]);
    }

    #[tokio::test(start_paused = true)]
    async fn clients_are_isolated_by_ip() {
        let rl = cfg(r#"{"client_max_rate": 2, "client_capacity": 2, "strategy": "ip"}"#);
        let a = Req::new("10.0.0.1");
        let b = Req::new("10.0.0.2");
        assert_eq!(statuses(&rl, &a, 3), vec![200, 200, 429]);
        assert_eq!(statuses(&rl, &b, 3), vec![200, 200, 429]);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(statuses(&rl, &a, 2), vec![200, 429]);
    }

    #[tokio::test(start_paused = true)]
    async fn ip_strategy_with_key_reads_the_header() {
        let rl = cfg(
            r#"{"client_max_rate": 1, "client_capacity": 1, "strategy": "ip", "key": "X-Real-Ip"}"#,
        );
        let mut a = Req::new("127.0.0.1");
        a.headers
            .insert("x-real-ip", HeaderValue::from_static("1.2.3.4, 5.6.7.8"));
        let mut b = Req::new("127.0.0.1");
        b.headers
            .insert("x-real-ip", HeaderValue::from_static("9.9.9.9:1234"));
        assert_eq!(statuses(&rl, &a, 2), vec![200, 429]);
        assert_eq!(statuses(&rl, &b, 2), vec![200, 429]);
        // not an IP: falls back to the connection's
        let mut c = Req::new("127.0.0.9");
        c.headers
            .insert("x-real-ip", HeaderValue::from_static("garbage"));
        assert_eq!(statuses(&rl, &c, 2), vec![200, 429]);
    }

    #[tokio::test(start_paused = true)]
    async fn clients_are_isolated_by_header_and_missing_key_is_429() {
        let rl = cfg(
            r#"{"client_max_rate": 1, "client_capacity": 1, "strategy": "header", "key": "X-Api-Key"}"#,
        );
        let mut a = Req::new("127.0.0.1");
        a.headers.insert("x-api-key", HeaderValue::from_static("a"));
        let mut b = Req::new("127.0.0.1");
        b.headers.insert("x-api-key", HeaderValue::from_static("b"));
        assert_eq!(statuses(&rl, &a, 2), vec![200, 429]);
        assert_eq!(statuses(&rl, &b, 2), vec![200, 429]);
        assert_eq!(statuses(&rl, &Req::new("127.0.0.1"), 1), vec![429]);
    }

    #[tokio::test(start_paused = true)]
    async fn clients_are_isolated_by_param() {
        let rl = cfg(
            r#"{"client_max_rate": 1, "client_capacity": 1, "strategy": "param", "key": "user"}"#,
        );
        let mut a = Req::new("127.0.0.1");
        a.params.push(("User".into(), "alice".into()));
        let mut b = Req::new("127.0.0.1");
        b.params.push(("User".into(), "bob".into()));
        assert_eq!(statuses(&rl, &a, 2), vec![200, 429]);
        assert_eq!(statuses(&rl, &b, 2), vec![200, 429]);
    }

    #[tokio::test(start_paused = true)]
    async fn client_limit_is_checked_before_the_global_one() {
        let rl = cfg(
            r#"{"max_rate": 2, "capacity": 2, "client_max_rate": 1, "client_capacity": 1, "strategy": "ip"}"#,
        );
        assert_eq!(statuses(&rl, &Req::new("1.1.1.1"), 2), vec![200, 429]);
        assert_eq!(statuses(&rl, &Req::new("2.2.2.2"), 1), vec![200]);
        assert_eq!(statuses(&rl, &Req::new("3.3.3.3"), 1), vec![503]);
    }

    #[test]
    fn unknown_strategy_disables_the_client_limit() {
        let c: RouterRateLimitConfig = serde_json::from_str(r#"{"client_max_rate": 1}"#).unwrap();
        assert!(RouterRateLimit::from_config(&c).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_buckets_are_cleaned_and_the_table_is_capped() {
        let store = ClientStore::new(
            1.0,
            1,
            4,
            Duration::from_secs(10),
            Duration::from_secs(1),
            100,
        );
        for i in 0..1000 {
            store.allow(&format!("client-{i}"));
        }
        assert!(store.len() <= 100, "{} buckets held", store.len());
        tokio::time::advance(Duration::from_secs(11)).await;
        // touching every shard sweeps it
        for i in 0..64 {
            store.allow(&format!("late-{i}"));
        }
        assert!(store.len() <= 64, "{} buckets held", store.len());
    }

    #[tokio::test(start_paused = true)]
    async fn guard_answers_with_an_empty_body() {
        use http_body_util::BodyExt;
        let rl = cfg(r#"{"max_rate": 1, "capacity": 1}"#);
        let req = Req::new("127.0.0.1");
        let g = req.guard();
        assert!(rl.check(&g).await.is_ok());
        let resp = match rl.check(&g).await {
            Err(r) => r,
            Ok(_) => panic!("second request let through"),
        };
        assert_eq!(resp.status(), 503);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty());
    }
}
