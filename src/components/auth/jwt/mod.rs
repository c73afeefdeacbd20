//! KrakenD CE's JOSE components: `auth/validator` (JWT validation, an endpoint guard) and
//! `auth/signer` (signs parts of the response, a proxy stage), on a pure-Rust JOSE stack.

pub mod jose;
pub mod jwk_client;
pub mod keys;
pub mod secrets;
pub mod signer;
pub mod validator;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::backend::HttpClient;
use crate::components::BuildCx;
use crate::config::{EndpointConfig, ServiceConfig};
use crate::error::{Error, Result};
use crate::hooks::Transport;
use jwk_client::JwkTls;
use keys::{KeyIdStrategy, KeySet, RemoteOptions, SharedCache};

/// Deadline of a JWK download when the endpoint has no timeout.
const DEFAULT_JWK_TIMEOUT: Duration = Duration::from_secs(2);

/// `shared_cache_duration` when the service-level object leaves it out (or sets 0).
const DEFAULT_SHARED_CACHE_DURATION: u64 = 900;

/// Where a validator or signer takes its keys from.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct JwkSourceConfig {
    pub jwk_url: String,
    pub jwk_local_path: String,
    pub disable_jwk_security: bool,
    pub jwk_fingerprints: Vec<String>,
    pub jwk_local_ca: String,
    pub cipher_suites: Vec<u16>,
    pub secret_url: String,
    pub cypher_key: Option<String>,
}

/// The service-level `auth/validator` object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServiceJoseConfig {
    shared_cache_duration: u64,
}

/// What the JOSE components of one gateway share: the second-level JWK cache of the
/// service-level `auth/validator` (`shared_cache_duration`), the JWK clients (one per set of
/// TLS settings) and the bound on start-up fetches.
pub struct JoseShared {
    shared_cache: Option<Duration>,
    caches: Mutex<HashMap<String, Arc<SharedCache>>>,
    clients: Mutex<HashMap<JwkTls, HttpClient>>,
    prefetch: Arc<tokio::sync::Semaphore>,
}

impl Default for JoseShared {
    fn default() -> JoseShared {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        JoseShared {
            shared_cache: None,
            caches: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            prefetch: Arc::new(tokio::sync::Semaphore::new(workers)),
        }
    }
}

impl JoseShared {
    /// Reads the service-level `auth/validator` object, if any.
    pub fn from_service(svc: &ServiceConfig) -> Result<JoseShared> {
        let mut out = JoseShared::default();
        if let Some(raw) = svc.extra_config.get(validator::NAMESPACE) {
            let cfg: ServiceJoseConfig = parse_config(validator::NAMESPACE, raw)?;
            let secs = if cfg.shared_cache_duration == 0 {
                tracing::warn!(
                    "{}: empty shared_cache_duration, using the default ({DEFAULT_SHARED_CACHE_DURATION}s)",
                    validator::NAMESPACE
                );
                DEFAULT_SHARED_CACHE_DURATION
            } else {
                cfg.shared_cache_duration
            };
            out.shared_cache = Some(Duration::from_secs(secs));
        }
        Ok(out)
    }

    /// The shared cache of the set behind `key`, when the service has one.
    fn shared_cache(&self, key: String) -> Option<Arc<SharedCache>> {
        let max_age = self.shared_cache?;
        let mut caches = self.caches.lock().ok()?;
        Some(
            caches
                .entry(key)
                .or_insert_with(|| Arc::new(SharedCache::new(max_age)))
                .clone(),
        )
    }

    /// The JWK client for `tls`, built once per set of settings.
    fn client(&self, ns: &str, tls: &JwkTls, svc: &ServiceConfig) -> Result<HttpClient> {
        if let Some(c) = self.clients.lock().ok().and_then(|m| m.get(tls).cloned()) {
            return Ok(c);
        }
        let client = HttpClient::with_tls(svc, jwk_client::client_config(ns, tls)?);
        if let Ok(mut m) = self.clients.lock() {
            m.insert(tls.clone(), client.clone());
        }
        Ok(client)
    }
}

/// The keys of a validator's or signer's object: those of its config struct `T` and of its key
/// source, [`JwkSourceConfig`], read from the same object.
pub(crate) fn check_keys_with_source<T: DeserializeOwned>(
    v: &Value,
    out: &mut Vec<crate::components::keys::UnknownKey>,
) {
    use crate::components::keys;
    let known = [keys::fields::<T>(), keys::fields::<JwkSourceConfig>()].concat();
    keys::object(out, "", v, &known);
}

/// The keys of the service-level `auth/validator` object (the shared JWK cache's).
pub(crate) fn check_service_keys(v: &Value, out: &mut Vec<crate::components::keys::UnknownKey>) {
    crate::components::keys::of_struct::<ServiceJoseConfig>(out, "", v);
}

/// Reads a component object; a type error names the offending field.
pub(crate) fn parse_config<T: DeserializeOwned>(ns: &str, raw: &Value) -> Result<T> {
    let Value::Object(obj) = raw else {
        return Err(Error::config(ns, format!("expected an object, got {raw}")));
    };
    serde_json::from_value::<T>(raw.clone()).map_err(|e| {
        for (k, v) in obj {
            let mut one = Map::new();
            one.insert(k.clone(), v.clone());
            if let Err(fe) = serde_json::from_value::<T>(Value::Object(one)) {
                return Error::json(format!("{ns}.{k}"), fe);
            }
        }
        Error::json(ns, e)
    })
}

/// The key set described by `src`. A source that cannot work (an insecure or missing
/// `jwk_url`, an unreadable `jwk_local_path`, a JWK file that does not decrypt, ...) does not
/// stop the gateway, as with KrakenD: it is logged, and the endpoint refuses every request
/// instead of going unchecked. Only what this build cannot do at all (a cloud key keeper in
/// `secret_url`) is an error. A cached remote set is fetched in the background right away.
pub(crate) fn key_set(
    ns: &str,
    src: &JwkSourceConfig,
    strategy: KeyIdStrategy,
    cache: Option<Duration>,
    cooldown: Duration,
    ep: &EndpointConfig,
    cx: &BuildCx<'_>,
) -> Result<KeySet> {
    let local = !src.jwk_local_path.is_empty();
    if local && !src.secret_url.is_empty() {
        secrets::check_url(ns, &src.secret_url)?;
    }
    Ok(
        match try_key_set(ns, src, strategy, cache, cooldown, ep, cx) {
            Ok(k) => {
                k.prefetch(
                    &format!("{ns} of {}", ep.endpoint),
                    cx.jose.prefetch.clone(),
                );
                k
            }
            Err(e) => {
                tracing::error!(
                    "{} {e}: every request to this endpoint is refused",
                    ep.endpoint
                );
                KeySet::broken(e.to_string())
            }
        },
    )
}

fn try_key_set(
    ns: &str,
    src: &JwkSourceConfig,
    strategy: KeyIdStrategy,
    cache: Option<Duration>,
    cooldown: Duration,
    ep: &EndpointConfig,
    cx: &BuildCx<'_>,
) -> Result<KeySet> {
    let mut pins = Vec::with_capacity(src.jwk_fingerprints.len());
    for (i, f) in src.jwk_fingerprints.iter().enumerate() {
        pins.push(
            jose::b64_decode(f)
                .map_err(|e| Error::invalid(format!("{ns}.jwk_fingerprints[{i}]"), e))?,
        );
    }
    if !src.jwk_local_path.is_empty() {
        let mut data = std::fs::read(&src.jwk_local_path).map_err(|e| {
            Error::io(
                format!("{ns}.jwk_local_path: cannot read {:?}", src.jwk_local_path),
                e,
            )
        })?;
        if !src.secret_url.is_empty() {
            let cypher_key = secrets::decode_cypher_key(src.cypher_key.as_deref().unwrap_or(""))
                .map_err(|e| Error::invalid(format!("{ns}.cypher_key"), e))?;
            data = secrets::decrypt(&src.secret_url, &cypher_key, &data)
                .map_err(|e| e.within(format!("{ns}.")))?;
        }
        return KeySet::local(&data, strategy)
            .map_err(|e| Error::invalid(format!("{ns}.jwk_local_path"), e));
    }
    let url = src.jwk_url.trim();
    if url.is_empty() {
        return Err(Error::config(ns, "jwk_url or jwk_local_path is required"));
    }
    if !src.secret_url.is_empty() {
        tracing::warn!(
            "{ns} of {}: secret_url only applies to jwk_local_path: ignored",
            ep.endpoint
        );
    }
    let https = url.len() > 8 && url[..8].eq_ignore_ascii_case("https://");
    if !https && !src.disable_jwk_security {
        return Err(Error::other(format!(
            "{ns}.jwk_url: JWK client is using an insecure connection to the JWK service \
             ({url}); use https or set disable_jwk_security"
        )));
    }
    let tls = JwkTls {
        insecure: src.disable_jwk_security,
        local_ca: src.jwk_local_ca.clone(),
        pins,
        cipher_suites: src.cipher_suites.clone(),
    };
    let exec: Arc<dyn Transport> = Arc::new(cx.jose.client(ns, &tls, cx.service)?);
    let timeout = if ep.timeout.is_zero() {
        DEFAULT_JWK_TIMEOUT
    } else {
        ep.timeout
    };
    // one second-level cache per set: the same URL read the same way
    let shared = cache.and_then(|_| {
        cx.jose
            .shared_cache(format!("{url}\n{strategy:?}\n{tls:?}"))
    });
    Ok(KeySet::remote_shared(
        RemoteOptions {
            url: url.to_string(),
            timeout,
            cache,
            cooldown,
        },
        exec,
        strategy,
        shared,
    ))
}

/// A claim by name; with `nested`, `a.b.c` walks into objects.
pub(crate) fn lookup_claim<'a>(
    claims: &'a Map<String, Value>,
    key: &str,
    nested: bool,
) -> Option<&'a Value> {
    if !nested {
        return claims.get(key);
    }
    let mut parts = key.split('.');
    let first = parts.next()?;
    let mut cur = claims.get(first)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn number_string(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let r = f.round();
    if (f - r).abs() <= 1e-6 && r.abs() < 9.2e18 {
        format!("{}", r as i64)
    } else {
        format!("{f:.6}")
    }
}

/// A claim as text, as KrakenD writes it into params and headers: numbers without
/// decimals when whole, arrays joined with commas, objects as JSON.
pub(crate) fn claim_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => number_string(n),
        Value::Array(items) => items.iter().map(go_print).collect::<Vec<_>>().join(","),
        other => String::from_utf8_lossy(&crate::encoding::json::to_vec(other)).into_owned(),
    }
}

/// A JSON value as Go's `%v` prints a decoded `interface{}`.
pub(crate) fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                n.to_string()
            } else {
                n.as_f64().map(|f| f.to_string()).unwrap_or_default()
            }
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_print).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_as_text() {
        assert_eq!(claim_string(&json!("x")), "x");
        assert_eq!(claim_string(&json!(12)), "12");
        assert_eq!(claim_string(&json!(12.0)), "12");
        assert_eq!(claim_string(&json!(1.5)), "1.500000");
        assert_eq!(claim_string(&json!(["a", 1, true])), "a,1,true");
        assert_eq!(
            claim_string(&json!({"b":1,"a":"<"})),
            r#"{"a":"\u003c","b":1}"#
        );
        assert_eq!(claim_string(&json!(true)), "true");
    }

    #[test]
    fn nested_lookup() {
        let c = json!({"a":{"b":{"c":1}},"x.y":2});
        let c = c.as_object().unwrap();
        assert_eq!(lookup_claim(c, "a.b.c", true), Some(&json!(1)));
        assert_eq!(lookup_claim(c, "a.b.d", true), None);
        assert_eq!(lookup_claim(c, "x.y", false), Some(&json!(2)));
    }

    #[test]
    fn config_errors_name_the_field() {
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        struct C {
            #[allow(dead_code)]
            cache: bool,
        }
        let e = parse_config::<C>("auth/validator", &json!({"cache":"yes"}))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("auth/validator.cache:"), "{e}");
        assert!(parse_config::<C>("auth/validator", &json!([])).is_err());
    }
}
