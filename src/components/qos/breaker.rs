//! `qos/circuit-breaker`: a circuit breaker per backend with sony/gobreaker's semantics, as
//! KrakenD configures it.
//!
//! * closed: calls go through; the counts start over every `interval` seconds; more than
//!   `max_errors` consecutive failures open the breaker.
//! * open: calls fail at once with `circuit breaker is open`; after `timeout` seconds the
//!   breaker turns half-open.
//! * half-open: one probe goes through (others fail with `too many requests`); its success
//!   closes the breaker, its failure opens it again.
//!
//! A failure is any backend error: network, timeout, a status other than 200/201 (under
//! `no-op`, statuses are not errors), decoding.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::components::qos::ratelimit::Num;
use crate::components::{keys, Build, ComponentSpec, Scope};
use crate::config::BackendConfig;
use crate::error::Result;
use crate::hooks::BackendStage;
use crate::message::{ProxyError, ProxyRequest, ProxyResponse};

pub const NAMESPACE: &str = "qos/circuit-breaker";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Backend],
    keys::struct_check::<BreakerConfig>,
    &[Build::Backend(20, |b, _| build(b))],
);

/// gobreaker's errors.
pub const ERR_OPEN: &str = "circuit breaker is open";
pub const ERR_TOO_MANY: &str = "too many requests";

/// gobreaker's default timeout when none is set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The `qos/circuit-breaker` object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BreakerConfig {
    /// Seconds after which the closed state's counts start over.
    pub interval: Option<Num>,
    /// Seconds the breaker stays open before it lets a probe through.
    pub timeout: Option<Num>,
    /// Consecutive failures tolerated: one more opens the breaker.
    #[serde(alias = "maxErrors")]
    pub max_errors: Option<Num>,
    pub name: Option<String>,
    #[serde(alias = "logStatusChange")]
    pub log_status_change: bool,
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    HalfOpen,
    Open,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::HalfOpen => "half-open",
            State::Open => "open",
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    requests: u32,
    consecutive_successes: u32,
    consecutive_failures: u32,
}

#[derive(Debug)]
struct Inner {
    state: State,
    generation: u64,
    counts: Counts,
    /// When the current generation ends (closed with an interval, or open).
    expiry: Option<Instant>,
}

/// One breaker.
pub struct Breaker {
    interval: Duration,
    timeout: Duration,
    max_errors: u32,
    max_requests: u32,
    name: String,
    log_status_change: bool,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(cfg: &BreakerConfig, default_name: &str) -> Breaker {
        let secs = |n: Option<Num>| Duration::from_secs(n.map(Num::as_u64).unwrap_or(0));
        let timeout = secs(cfg.timeout);
        let interval = secs(cfg.interval);
        let b = Breaker {
            interval,
            timeout: if timeout.is_zero() {
                DEFAULT_TIMEOUT
            } else {
                timeout
            },
            max_errors: cfg
                .max_errors
                .map(|n| n.as_u64().min(u32::MAX as u64) as u32)
                .unwrap_or(0),
            max_requests: 1,
            name: cfg
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| default_name.to_string()),
            log_status_change: cfg.log_status_change,
            inner: Mutex::new(Inner {
                state: State::Closed,
                generation: 0,
                counts: Counts::default(),
                expiry: None,
            }),
        };
        let now = Instant::now();
        if let Ok(mut inner) = b.inner.lock() {
            b.new_generation(&mut inner, now);
        }
        b
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn new_generation(&self, inner: &mut Inner, now: Instant) {
        inner.generation = inner.generation.wrapping_add(1);
        inner.counts = Counts::default();
        inner.expiry = match inner.state {
            State::Closed if !self.interval.is_zero() => Some(now + self.interval),
            State::Closed | State::HalfOpen => None,
            State::Open => Some(now + self.timeout),
        };
    }

    fn set_state(&self, inner: &mut Inner, state: State, now: Instant) {
        if inner.state == state {
            return;
        }
        let prev = inner.state;
        inner.state = state;
        self.new_generation(inner, now);
        if self.log_status_change {
            tracing::warn!(
                "[CB] Circuit breaker named '{}' went from '{}' to '{}'",
                self.name,
                prev.name(),
                state.name()
            );
        }
    }

    /// The state now (time moves closed generations on and open breakers to half-open).
    fn current(&self, inner: &mut Inner, now: Instant) -> State {
        match inner.state {
            State::Closed => {
                if inner.expiry.is_some_and(|e| e <= now) {
                    self.new_generation(inner, now);
                }
            }
            State::Open => {
                if inner.expiry.is_some_and(|e| e <= now) {
                    self.set_state(inner, State::HalfOpen, now);
                }
            }
            State::HalfOpen => {}
        }
        inner.state
    }

    pub fn state(&self) -> State {
        let mut inner = self.lock();
        self.current(&mut inner, Instant::now())
    }

    /// Before a call: the generation it belongs to, or gobreaker's error.
    pub fn before_request(&self) -> Result<u64, &'static str> {
        let now = Instant::now();
        let mut inner = self.lock();
        match self.current(&mut inner, now) {
            State::Open => return Err(ERR_OPEN),
            State::HalfOpen if inner.counts.requests >= self.max_requests => {
                return Err(ERR_TOO_MANY)
            }
            _ => {}
        }
        inner.counts.requests = inner.counts.requests.saturating_add(1);
        Ok(inner.generation)
    }

    /// After a call of generation `generation`.
    pub fn after_request(&self, generation: u64, success: bool) {
        let now = Instant::now();
        let mut inner = self.lock();
        let state = self.current(&mut inner, now);
        if inner.generation != generation {
            return;
        }
        if success {
            inner.counts.consecutive_successes =
                inner.counts.consecutive_successes.saturating_add(1);
            inner.counts.consecutive_failures = 0;
            if state == State::HalfOpen && inner.counts.consecutive_successes >= self.max_requests {
                self.set_state(&mut inner, State::Closed, now);
            }
        } else {
            inner.counts.consecutive_failures = inner.counts.consecutive_failures.saturating_add(1);
            inner.counts.consecutive_successes = 0;
            match state {
                State::Closed if inner.counts.consecutive_failures > self.max_errors => {
                    self.set_state(&mut inner, State::Open, now)
                }
                State::HalfOpen => self.set_state(&mut inner, State::Open, now),
                _ => {}
            }
        }
    }
}

/// The backend stage around a breaker: each call's generation travels as its ticket.
pub struct BreakerStage {
    breaker: Breaker,
}

impl BreakerStage {
    pub fn new(breaker: Breaker) -> BreakerStage {
        BreakerStage { breaker }
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl BackendStage for BreakerStage {
    fn admit(&self, _req: &ProxyRequest) -> Result<u64, ProxyError> {
        self.breaker
            .before_request()
            .map_err(|e| ProxyError::Backend(e.to_string()))
    }

    fn outcome(&self, ticket: u64, result: &Result<ProxyResponse, ProxyError>) {
        self.breaker.after_request(ticket, succeeded(result));
    }

    fn reads_data(&self) -> bool {
        false
    }
}

/// Whether a backend call counts as a success. A failed status reported through
/// `backend/http.return_error_details` is an incomplete response without passthrough: KrakenD
/// sees it as the backend's error too.
fn succeeded(result: &Result<ProxyResponse, ProxyError>) -> bool {
    match result {
        Ok(resp) => resp.is_complete || resp.is_raw(),
        Err(_) => false,
    }
}

/// Builds the stage of a backend, when it has `qos/circuit-breaker`.
pub fn build(b: &BackendConfig) -> Result<Option<Arc<dyn BackendStage>>> {
    let Some(cfg) =
        crate::components::typed_config::<BreakerConfig>(&b.extra_config, &b.json_path, NAMESPACE)?
    else {
        return Ok(None);
    };
    let default_name = format!("cb-{}", b.url_pattern);
    Ok(Some(Arc::new(BreakerStage::new(Breaker::new(
        &cfg,
        &default_name,
    )))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(json: &str) -> Breaker {
        Breaker::new(&serde_json::from_str(json).unwrap(), "test")
    }

    fn call(b: &Breaker, ok: bool) -> Result<(), &'static str> {
        let g = b.before_request()?;
        b.after_request(g, ok);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_more_than_max_errors_consecutive_failures() {
        let b = breaker(r#"{"interval": 60, "timeout": 10, "max_errors": 2}"#);
        assert!(call(&b, false).is_ok());
        assert!(call(&b, false).is_ok());
        assert_eq!(b.state(), State::Closed);
        // a success resets the streak
        assert!(call(&b, true).is_ok());
        assert!(call(&b, false).is_ok());
        assert!(call(&b, false).is_ok());
        assert_eq!(b.state(), State::Closed);
        assert!(call(&b, false).is_ok());
        assert_eq!(b.state(), State::Open);
        assert_eq!(call(&b, true), Err(ERR_OPEN));
    }

    #[tokio::test(start_paused = true)]
    async fn half_opens_after_timeout_with_one_probe_and_closes_on_success() {
        let b = breaker(r#"{"interval": 60, "timeout": 10, "max_errors": 0}"#);
        assert!(call(&b, false).is_ok());
        assert_eq!(b.state(), State::Open);
        tokio::time::advance(Duration::from_millis(9999)).await;
        assert_eq!(call(&b, true), Err(ERR_OPEN));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(b.state(), State::HalfOpen);
        let probe = b.before_request().unwrap();
        // a second caller while the probe is in flight
        assert_eq!(b.before_request(), Err(ERR_TOO_MANY));
        b.after_request(probe, true);
        assert_eq!(b.state(), State::Closed);
        assert!(call(&b, true).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_again() {
        let b = breaker(r#"{"interval": 60, "timeout": 5, "max_errors": 0}"#);
        assert!(call(&b, false).is_ok());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(call(&b, false).is_ok());
        assert_eq!(b.state(), State::Open);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(call(&b, true), Err(ERR_OPEN));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(call(&b, true).is_ok());
        assert_eq!(b.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn counts_start_over_every_interval() {
        let b = breaker(r#"{"interval": 10, "timeout": 5, "max_errors": 1}"#);
        assert!(call(&b, false).is_ok());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(call(&b, false).is_ok());
        assert_eq!(b.state(), State::Closed);
        assert!(call(&b, false).is_ok());
        assert_eq!(b.state(), State::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn outcomes_of_an_older_generation_are_ignored() {
        let b = breaker(r#"{"interval": 10, "timeout": 5, "max_errors": 0}"#);
        let slow = b.before_request().unwrap();
        tokio::time::advance(Duration::from_secs(10)).await;
        b.after_request(slow, false);
        assert_eq!(b.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn stage_fails_fast_with_krakends_error() {
        let stage = BreakerStage::new(breaker(
            r#"{"interval": 60, "timeout": 10, "max_errors": 0}"#,
        ));
        let req = ProxyRequest {
            method: http::Method::GET,
            params: Vec::new(),
            query: Arc::new(Vec::new()),
            headers: Arc::new(http::HeaderMap::new()),
            body: crate::message::RequestBody::Empty,
            forwards_user_agent: false,
            claims: None,
        };
        let t = stage.admit(&req).unwrap();
        stage.outcome(t, &Err(ProxyError::Backend("boom".into())));
        let err = stage.admit(&req).unwrap_err();
        assert_eq!(err.to_string(), "circuit breaker is open");
        assert_eq!(err.status(), 500);
        tokio::time::advance(Duration::from_secs(10)).await;
        let t = stage.admit(&req).unwrap();
        stage.outcome(t, &Ok(ProxyResponse::complete(Default::default())));
        assert_eq!(stage.breaker().state(), State::Closed);
        // a failed status reported as details still counts as a failure
        let t = stage.admit(&req).unwrap();
        stage.outcome(t, &Ok(ProxyResponse::default()));
        assert_eq!(stage.breaker().state(), State::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_cut_by_the_deadline_counts_as_a_failure() {
        // a backend that accepts connections and never answers
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        let text = format!(
            r#"{{"version":3,"endpoints":[{{"endpoint":"/a","backend":[{{"host":["http://127.0.0.1:{port}"],"url_pattern":"/x","extra_config":{{"qos/circuit-breaker":{{"interval":60,"timeout":10,"max_errors":0}}}}}}]}}]}}"#
        );
        let cfg = crate::config::load_str(&text, "k.json", crate::config::Format::Json, &|_| None)
            .unwrap()
            .config;
        let client = crate::backend::HttpClient::new(&cfg).unwrap();
        let cx = crate::components::BuildCx {
            service: &cfg,
            client: &client,
            metrics: None,
            jose: &Default::default(),
        };
        let b = &cfg.endpoints[0].backend[0];
        let backend = crate::backend::Backend::build(
            b,
            cfg.dns_cache_ttl,
            client.for_backend(b).unwrap(),
            crate::components::backend_stages(b, &cx).unwrap(),
        )
        .unwrap();
        let req = || ProxyRequest {
            method: http::Method::GET,
            params: Vec::new(),
            query: Arc::new(Vec::new()),
            headers: Arc::new(http::HeaderMap::new()),
            body: crate::message::RequestBody::Empty,
            forwards_user_agent: false,
            claims: None,
        };
        let first = tokio::time::timeout(Duration::from_secs(1), backend.call(req())).await;
        assert!(first.is_err(), "the backend never answers");
        match tokio::time::timeout(Duration::from_secs(1), backend.call(req())).await {
            Ok(Err(e)) => assert_eq!(e.to_string(), ERR_OPEN),
            _ => panic!("the breaker let a call through"),
        }
    }
}
