//! `qos/ratelimit/proxy`: a token bucket in front of one backend (`max_rate` per `every`,
//! `capacity`). Over the limit the backend is not called and fails with KrakenD's error, so the
//! endpoint answers as for any failed backend (partial response, or 500 when nothing is left).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::components::qos::ratelimit::{default_capacity, Num, SharedBucket};
use crate::components::{keys, Build, ComponentSpec, Scope};
use crate::config::duration::parse_go_duration;
use crate::config::BackendConfig;
use crate::error::Result;
use crate::hooks::BackendStage;
use crate::message::{ProxyError, ProxyRequest};

pub const NAMESPACE: &str = "qos/ratelimit/proxy";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Backend],
    keys::struct_check::<ProxyRateLimitConfig>,
    &[Build::Backend(30, |b, _| build(b))],
);

/// KrakenD's error when the limit is hit.
pub const ERR_LIMITED: &str = "rate limit exceded";

/// The `qos/ratelimit/proxy` object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyRateLimitConfig {
    #[serde(alias = "maxRate")]
    pub max_rate: Option<Num>,
    pub capacity: Option<Num>,
    pub every: Option<Value>,
}

/// The backend rate limit stage.
pub struct ProxyRateLimit {
    bucket: SharedBucket,
}

impl ProxyRateLimit {
    pub fn from_config(cfg: &ProxyRateLimitConfig) -> Option<ProxyRateLimit> {
        let mut rate = cfg.max_rate.map(Num::as_f64).unwrap_or(0.0);
        if let Some(v) = &cfg.every {
            let every = match v {
                Value::String(s) => parse_go_duration(s).unwrap_or(Duration::from_secs(1)),
                _ => Duration::from_secs(1),
            };
            let every = every.max(Duration::from_nanos(1));
            rate /= every.as_secs_f64();
        }
        if rate <= 0.0 || rate.is_nan() {
            return None;
        }
        let capacity = match cfg.capacity.map(Num::as_u64) {
            Some(c) if c > 0 => c,
            _ => default_capacity(rate),
        };
        Some(ProxyRateLimit {
            bucket: SharedBucket::new(rate, capacity),
        })
    }
}

impl BackendStage for ProxyRateLimit {
    fn admit(&self, _req: &ProxyRequest) -> Result<u64, ProxyError> {
        if self.bucket.allow() {
            Ok(0)
        } else {
            Err(ProxyError::Backend(ERR_LIMITED.into()))
        }
    }

    fn reads_data(&self) -> bool {
        false
    }
}

/// Builds the stage of a backend, when it has a usable `qos/ratelimit/proxy`.
pub fn build(b: &BackendConfig) -> Result<Option<Arc<dyn BackendStage>>> {
    let Some(cfg) = crate::components::typed_config::<ProxyRateLimitConfig>(
        &b.extra_config,
        &b.json_path,
        NAMESPACE,
    )?
    else {
        return Ok(None);
    };
    Ok(ProxyRateLimit::from_config(&cfg).map(|s| Arc::new(s) as Arc<dyn BackendStage>))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ProxyRequest {
        ProxyRequest {
            method: http::Method::GET,
            params: Vec::new(),
            query: Arc::new(Vec::new()),
            headers: Arc::new(http::HeaderMap::new()),
            body: crate::message::RequestBody::Empty,
            forwards_user_agent: false,
            claims: None,
        }
    }

    fn outcomes(s: &ProxyRateLimit, n: usize) -> Vec<bool> {
        (0..n).map(|_| s.admit(&req()).is_ok()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn admits_capacity_then_the_rate() {
        let cfg: ProxyRateLimitConfig =
            serde_json::from_str(r#"{"max_rate": 1, "capacity": 3, "every": "2s"}"#).unwrap();
        let s = ProxyRateLimit::from_config(&cfg).unwrap();
        assert_eq!(outcomes(&s, 4), vec![true, true, true, false]);
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert_eq!(outcomes(&s, 1), vec![false]);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(outcomes(&s, 2), vec![true, false]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_error_is_krakends() {
        let cfg: ProxyRateLimitConfig = serde_json::from_str(r#"{"max_rate": 1}"#).unwrap();
        let s = ProxyRateLimit::from_config(&cfg).unwrap();
        assert!(s.admit(&req()).is_ok());
        let err = s.admit(&req()).unwrap_err();
        assert_eq!(err.to_string(), "rate limit exceded");
        assert_eq!(err.status(), 500);
    }

    #[test]
    fn zero_rate_is_no_limit() {
        let cfg: ProxyRateLimitConfig = serde_json::from_str(r#"{"capacity": 1}"#).unwrap();
        assert!(ProxyRateLimit::from_config(&cfg).is_none());
    }

    #[test]
    fn bad_types_are_reported() {
        let b = BackendConfig {
            extra_config: serde_json::from_str(r#"{"qos/ratelimit/proxy": {"max_rate": "x"}}"#)
                .unwrap(),
            json_path: "endpoints[0].backend[0]".into(),
            ..test_backend()
        };
        let err = build(&b).err().unwrap().to_string();
        assert!(err.contains("qos/ratelimit/proxy"), "{err}");
    }

    fn test_backend() -> BackendConfig {
        BackendConfig {
            url_pattern: "/".into(),
            host: vec![],
            disable_host_sanitize: false,
            method: "GET".into(),
            encoding: "json".into(),
            group: None,
            target: None,
            allow: vec![],
            deny: vec![],
            mapping: vec![],
            is_collection: false,
            sd: String::new(),
            sd_scheme: String::new(),
            input_headers: None,
            input_query_strings: None,
            extra_config: Default::default(),
            timeout: Duration::from_secs(1),
            concurrent_calls: 1,
            json_path: String::new(),
        }
    }
}
