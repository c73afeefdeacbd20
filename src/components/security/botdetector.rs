//! `security/bot-detector`: refuses requests whose `User-Agent` looks like a bot, for the
//! whole service (before routing) or for one endpoint.
//!
//! The decision, in KrakenD's order: an exact `allow` entry lets the request through, an
//! exact `deny` entry refuses it, then any of the `patterns` (regular expressions, matched
//! anywhere in the value) refuses it. An empty or missing `User-Agent` is a bot only with
//! `empty_user_agent_is_bot`. A bot gets `403` with an empty body and no `Content-Type`.
//! With `cache_size`, decisions are remembered per user agent in a bounded LRU cache.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use regex::Regex;
use serde_json::Value;

use crate::components::{config_object, field, keys, Build, BuildCx, Built, ComponentSpec, Scope};
use crate::error::{Error, Result};
use crate::hooks::{
    BoxFuture, EndpointGuard, GuardEffects, GuardRequest, RequestHead, ServiceLayer,
};
use crate::vocab::body::{empty_body, Body};

pub const NAMESPACE: &str = "security/bot-detector";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Service, Scope::Endpoint],
    keys::list_check!(KEYS),
    &[Build::Service(30, service_layer), Build::Guard(10, guard)],
);

fn service_layer(cx: &BuildCx<'_>) -> Built<dyn ServiceLayer> {
    crate::components::service_namespace(cx, NAMESPACE, build)
}

fn guard(ep: &crate::config::EndpointConfig, _: &BuildCx<'_>) -> Built<dyn EndpointGuard> {
    let Some(v) = ep.extra_config.get(NAMESPACE) else {
        return Ok(None);
    };
    let detector = build(v).map_err(|e| e.within(format!("{}: ", ep.json_path)))?;
    Ok(Some(std::sync::Arc::new(detector)))
}

/// The keys of a `security/bot-detector` object, as KrakenD documents them: the ones the
/// parser below reads.
const KEYS: &[&str] = &[
    "allow",
    "cache_size",
    "deny",
    "empty_user_agent_is_bot",
    "patterns",
];

/// The typed `security/bot-detector` object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BotDetectorConfig {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub patterns: Vec<String>,
    pub cache_size: usize,
    pub empty_user_agent_is_bot: bool,
}

impl BotDetectorConfig {
    pub fn from_value(v: &Value) -> Result<BotDetectorConfig> {
        let obj = config_object(NAMESPACE, v)?;
        let cache_size = field::<i64>(NAMESPACE, obj, "cache_size")?.unwrap_or(0);
        let cache_size = usize::try_from(cache_size).map_err(|_| {
            Error::config(
                NAMESPACE,
                format!("cache_size: {cache_size} must not be negative"),
            )
        })?;
        Ok(BotDetectorConfig {
            allow: field(NAMESPACE, obj, "allow")?.unwrap_or_default(),
            deny: field(NAMESPACE, obj, "deny")?.unwrap_or_default(),
            patterns: field(NAMESPACE, obj, "patterns")?.unwrap_or_default(),
            cache_size,
            empty_user_agent_is_bot: field(NAMESPACE, obj, "empty_user_agent_is_bot")?
                .unwrap_or(false),
        })
    }
}

/// A least-recently-used map from user agent to decision, holding at most `cap` entries.
#[derive(Debug)]
struct Lru {
    cap: usize,
    tick: u64,
    entries: HashMap<String, (bool, u64)>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, String>,
}

impl Lru {
    fn new(cap: usize) -> Lru {
        Lru {
            cap,
            tick: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    fn get(&mut self, key: &str) -> Option<bool> {
        self.tick += 1;
        let tick = self.tick;
        let (decision, used) = self.entries.get_mut(key)?;
        let old = std::mem::replace(used, tick);
        let decision = *decision;
        if let Some(k) = self.order.remove(&old) {
            self.order.insert(tick, k);
        }
        Some(decision)
    }

    fn put(&mut self, key: &str, decision: bool) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((d, used)) = self.entries.get_mut(key) {
            *d = decision;
            let old = std::mem::replace(used, tick);
            if let Some(k) = self.order.remove(&old) {
                self.order.insert(tick, k);
            }
            return;
        }
        while self.entries.len() >= self.cap {
            match self.order.pop_first() {
                Some((_, oldest)) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
        self.entries.insert(key.to_string(), (decision, tick));
        self.order.insert(tick, key.to_string());
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The detector, usable as a service layer and as an endpoint guard.
#[derive(Debug)]
pub struct BotDetector {
    allow: HashSet<String>,
    deny: HashSet<String>,
    patterns: Vec<Regex>,
    empty_is_bot: bool,
    cache: Option<Mutex<Lru>>,
}

/// Builds the detector from the namespace's value.
pub fn build(v: &Value) -> Result<BotDetector> {
    BotDetector::new(&BotDetectorConfig::from_value(v)?)
}

impl BotDetector {
    pub fn new(cfg: &BotDetectorConfig) -> Result<BotDetector> {
        let mut patterns = Vec::with_capacity(cfg.patterns.len());
        for p in &cfg.patterns {
            patterns.push(Regex::new(p).map_err(|e| {
                Error::invalid(
                    format!("{NAMESPACE}: patterns: {p:?} is not a valid regular expression"),
                    e,
                )
            })?);
        }
        Ok(BotDetector {
            allow: cfg.allow.iter().cloned().collect(),
            deny: cfg.deny.iter().cloned().collect(),
            patterns,
            empty_is_bot: cfg.empty_user_agent_is_bot,
            cache: (cfg.cache_size > 0).then(|| Mutex::new(Lru::new(cfg.cache_size))),
        })
    }

    fn decide(&self, ua: &str) -> bool {
        if ua.is_empty() {
            return self.empty_is_bot;
        }
        if self.allow.contains(ua) {
            return false;
        }
        if self.deny.contains(ua) {
            return true;
        }
        self.patterns.iter().any(|p| p.is_match(ua))
    }

    /// Whether the user agent (the first `User-Agent` value) is a bot.
    pub fn is_bot(&self, ua: Option<&HeaderValue>) -> bool {
        let ua = ua
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .unwrap_or_default();
        let Some(cache) = &self.cache else {
            return self.decide(&ua);
        };
        let mut lru = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = lru.get(&ua) {
            return d;
        }
        let d = self.decide(&ua);
        lru.put(&ua, d);
        d
    }

    /// How many decisions the cache holds.
    pub fn cached(&self) -> usize {
        self.cache
            .as_ref()
            .map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).len())
            .unwrap_or(0)
    }
}

/// The answer to a bot: 403, empty body, no `Content-Type`.
fn rejection() -> Response<Body> {
    let mut r = Response::new(empty_body());
    *r.status_mut() = StatusCode::FORBIDDEN;
    r
}

impl ServiceLayer for BotDetector {
    fn request(&self, req: &RequestHead<'_>) -> Option<Response<Body>> {
        self.is_bot(req.headers.get(header::USER_AGENT))
            .then(rejection)
    }
}

impl EndpointGuard for BotDetector {
    fn check<'a>(
        &'a self,
        req: &'a GuardRequest<'a>,
    ) -> BoxFuture<'a, Result<GuardEffects, Response<Body>>> {
        let bot = self.is_bot(req.headers.get(header::USER_AGENT));
        Box::pin(async move {
            if bot {
                Err(rejection())
            } else {
                Ok(GuardEffects::default())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, Method, Uri};
    use http_body_util::BodyExt;
    use serde_json::json;

    fn fixture() -> BotDetector {
        build(&json!({
            "deny": ["a", "b"],
            "allow": ["c", "Pingdom.com_bot_version_1.1"],
            "patterns": ["(Pingdom.com_bot_version_).*", "(facebookexternalhit)/.*"]
        }))
        .expect("valid config")
    }

    fn ua(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).expect("value")
    }

    async fn layer_answer(
        d: &BotDetector,
        agent: Option<&str>,
    ) -> Option<(StatusCode, HeaderMap, bytes::Bytes)> {
        let mut h = HeaderMap::new();
        if let Some(a) = agent {
            h.insert(header::USER_AGENT, ua(a));
        }
        let uri = Uri::from_static("/x");
        let head = RequestHead {
            method: &Method::GET,
            uri: &uri,
            headers: &h,
            client_ip: "127.0.0.1",
            tls: false,
        };
        let r = d.request(&head)?;
        let (parts, body) = r.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        Some((parts.status, parts.headers, bytes))
    }

    #[tokio::test]
    async fn deny_allow_patterns() {
        let d = fixture();
        for bot in [
            "a",
            "b",
            "Pingdom.com_bot_version_1.14",
            "facebookexternalhit/1.2.3",
            "x facebookexternalhit/1",
        ] {
            let (status, headers, body) = layer_answer(&d, Some(bot)).await.expect(bot);
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert!(body.is_empty());
            assert!(headers.get("content-type").is_none());
        }
        for human in [
            "c",
            "Pingdom.com_bot_version_1.1",
            "Mozilla/5.0",
            "A",
            "facebookexternalhit",
        ] {
            assert!(layer_answer(&d, Some(human)).await.is_none(), "{human}");
        }
        // Empty or missing user agents are not bots by default.
        assert!(layer_answer(&d, Some("")).await.is_none());
        assert!(layer_answer(&d, None).await.is_none());
    }

    #[tokio::test]
    async fn allow_wins_over_deny_and_patterns() {
        let d = build(&json!({"allow": ["evilbot/1"], "deny": ["evilbot/1"], "patterns": ["bot"]}))
            .expect("config");
        assert!(layer_answer(&d, Some("evilbot/1")).await.is_none());
        assert!(layer_answer(&d, Some("evilbot/2")).await.is_some());
    }

    #[tokio::test]
    async fn empty_user_agent_is_bot() {
        let d = build(&json!({"empty_user_agent_is_bot": true, "cache_size": 10})).expect("config");
        assert_eq!(
            layer_answer(&d, None).await.map(|r| r.0),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            layer_answer(&d, Some("")).await.map(|r| r.0),
            Some(StatusCode::FORBIDDEN)
        );
        assert!(layer_answer(&d, Some("curl/8")).await.is_none());
    }

    #[tokio::test]
    async fn endpoint_guard() {
        let d = fixture();
        let uri = Uri::from_static("/x");
        let mut h = HeaderMap::new();
        h.insert(header::USER_AGENT, ua("a"));
        let g = GuardRequest {
            method: &Method::GET,
            uri: &uri,
            headers: &h,
            client_ip: "127.0.0.1",
            params: &[],
        };
        let Err(r) = d.check(&g).await else {
            panic!("a bot must be refused");
        };
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers().get("content-type").is_none());
        let body = r.into_body().collect().await.expect("body").to_bytes();
        assert!(body.is_empty());

        h.insert(header::USER_AGENT, ua("c"));
        let g = GuardRequest {
            method: &Method::GET,
            uri: &uri,
            headers: &h,
            client_ip: "127.0.0.1",
            params: &[],
        };
        let ok = d.check(&g).await.expect("not a bot");
        assert!(ok.params.is_empty() && ok.headers.is_empty() && ok.claims.is_none());
    }

    #[test]
    fn cache_is_bounded_and_keeps_decisions() {
        let d = build(&json!({"deny": ["bad"], "patterns": ["^crawler-"], "cache_size": 50}))
            .expect("config");
        for i in 0..10_000 {
            let agent = if i % 2 == 0 {
                format!("crawler-{i}")
            } else {
                format!("Mozilla/{i}")
            };
            assert_eq!(d.is_bot(Some(&ua(&agent))), i % 2 == 0, "{agent}");
            assert!(d.cached() <= 50);
        }
        assert_eq!(d.cached(), 50);
        // Decisions stay right for entries in and out of the cache.
        assert!(d.is_bot(Some(&ua("bad"))));
        assert!(d.is_bot(Some(&ua("bad"))));
        assert!(!d.is_bot(Some(&ua("Mozilla/9999"))));
        assert!(d.is_bot(Some(&ua("crawler-0"))));
        assert_eq!(d.cached(), 50);
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut l = Lru::new(2);
        l.put("a", true);
        l.put("b", false);
        assert_eq!(l.get("a"), Some(true));
        l.put("c", true);
        assert_eq!(l.get("b"), None);
        assert_eq!(l.get("a"), Some(true));
        assert_eq!(l.get("c"), Some(true));
        assert_eq!(l.len(), 2);
        assert_eq!(l.order.len(), 2);
    }

    #[test]
    fn bad_config_names_the_field() {
        let e = build(&json!({"patterns": ["("]})).unwrap_err().to_string();
        assert!(
            e.contains("security/bot-detector") && e.contains("patterns"),
            "{e}"
        );
        let e = build(&json!({"deny": "a"})).unwrap_err().to_string();
        assert!(e.contains("deny"), "{e}");
        let e = build(&json!({"cache_size": -1})).unwrap_err().to_string();
        assert!(e.contains("cache_size"), "{e}");
    }
}
