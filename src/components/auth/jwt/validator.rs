//! `auth/validator`: JWT validation at the endpoint, as KrakenD CE's JOSE validator does.
//!
//! Missing, malformed, badly signed, expired or otherwise invalid tokens get a 401, and
//! tokens without the required roles or scopes a 403, both with an empty body. Valid tokens
//! let the request through with their claims (for CEL/Lua), the `{JWT.claim}` params the
//! backends' `url_pattern` use, and the `propagate_claims` headers.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderName, HeaderValue, COOKIE};
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::jose::{self, Alg};
use super::keys::{KeyIdStrategy, KeySet};
use super::{claim_string, key_set, lookup_claim, parse_config, JwkSourceConfig};
use crate::components::{keys, Build, BuildCx, ComponentSpec, Scope};
use crate::config::EndpointConfig;
use crate::error::{Error, Result};
use crate::hooks::{BoxFuture, EndpointGuard, GuardEffects, GuardRequest};
use crate::vocab::body::{empty_body, Body};

pub const NAMESPACE: &str = "auth/validator";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Service, Scope::Endpoint],
    check_keys,
    &[Build::Guard(20, guard)],
);

/// Default `cache_duration`.
const DEFAULT_CACHE_DURATION: u64 = 900;

/// A list written either as an array or as one space-separated string.
#[derive(Debug, Default, Clone)]
pub struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        Ok(StringList(match Either::deserialize(d)? {
            Either::One(s) => s.split_whitespace().map(str::to_string).collect(),
            Either::Many(v) => v,
        }))
    }
}

/// The `auth/validator` object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ValidatorConfig {
    pub alg: Option<String>,
    /// Read from the same object by `JwkSourceConfig`'s own fields.
    #[serde(skip)]
    pub source: JwkSourceConfig,
    pub cache: bool,
    pub cache_duration: u64,
    pub failed_jwk_key_cooldown: Option<Value>,
    pub issuer: String,
    pub audience: Vec<String>,
    pub roles: Vec<String>,
    pub roles_key: String,
    pub roles_key_is_nested: bool,
    pub scopes: StringList,
    pub scopes_key: String,
    pub scopes_matcher: String,
    pub propagate_claims: Vec<Vec<String>>,
    pub propagate_claims_preserve_array: bool,
    pub cookie_key: String,
    pub auth_header_name: String,
    pub leeway: Option<Value>,
    pub key_identify_strategy: String,
    pub operation_debug: bool,
}

/// Checks the keys of an `auth/validator` object: at the service, the shared JWK cache's
/// (`shared_cache_duration`); at an endpoint, [`ValidatorConfig`]'s and its key source's.
pub fn check_keys(scope: Scope, v: &Value, out: &mut Vec<keys::UnknownKey>) {
    match scope {
        Scope::Service => super::check_service_keys(v, out),
        _ => super::check_keys_with_source::<ValidatorConfig>(v, out),
    }
}

/// A duration written as a Go duration string or as seconds.
fn duration_field(field: &str, v: &Option<Value>) -> Result<Option<Duration>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => crate::config::duration::parse_go_duration(s)
            .map(Some)
            .map_err(|e| Error::invalid(format!("{NAMESPACE}.{field}"), e)),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(secs) if secs >= 0.0 && secs.is_finite() => {
                Ok(Some(Duration::from_secs_f64(secs)))
            }
            _ => Err(Error::other(format!(
                "{NAMESPACE}.{field}: invalid duration {n}"
            ))),
        },
        Some(other) => Err(Error::other(format!(
            "{NAMESPACE}.{field}: invalid duration {other}"
        ))),
    }
}

struct Propagation {
    claim: String,
    header: HeaderName,
}

/// The endpoint guard.
pub struct Validator {
    endpoint: String,
    alg: Alg,
    keys: KeySet,
    issuer: String,
    audience: Vec<String>,
    roles: Vec<String>,
    roles_key: String,
    roles_nested: bool,
    scopes: Vec<String>,
    scopes_key: String,
    scopes_all: bool,
    propagate: Vec<Propagation>,
    preserve_arrays: bool,
    cookie_key: String,
    header: HeaderName,
    leeway: Duration,
    debug: bool,
    /// Claims named by `{JWT.claim}` in the backends' `url_pattern`.
    url_claims: Vec<String>,
}

/// Builds the guard when the endpoint has an `auth/validator` object.
pub fn build(ep: &EndpointConfig, cx: &BuildCx<'_>) -> Result<Option<Validator>> {
    let Some(raw) = ep.extra_config.get(NAMESPACE) else {
        return Ok(None);
    };
    let mut cfg: ValidatorConfig = parse_config(NAMESPACE, raw)?;
    cfg.source = parse_config(NAMESPACE, raw)?;
    let alg_name = cfg.alg.clone().unwrap_or_else(|| "RS256".into());
    let alg = Alg::parse(&alg_name).map_err(|e| Error::invalid(format!("{NAMESPACE}.alg"), e))?;
    let strategy = KeyIdStrategy::parse(&cfg.key_identify_strategy);
    let cache = cfg.cache.then(|| {
        Duration::from_secs(if cfg.cache_duration == 0 {
            DEFAULT_CACHE_DURATION
        } else {
            cfg.cache_duration
        })
    });
    let cooldown = duration_field("failed_jwk_key_cooldown", &cfg.failed_jwk_key_cooldown)?
        .unwrap_or(Duration::ZERO);
    let keys = key_set(NAMESPACE, &cfg.source, strategy, cache, cooldown, ep, cx)?;
    // KrakenD's floor for the leeway is one second
    let leeway = duration_field("leeway", &cfg.leeway)?
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_secs(1));
    let header = if cfg.auth_header_name.is_empty() {
        http::header::AUTHORIZATION
    } else {
        HeaderName::from_bytes(cfg.auth_header_name.as_bytes()).map_err(|_| {
            Error::other(format!(
                "{NAMESPACE}.auth_header_name: invalid header name {:?}",
                cfg.auth_header_name
            ))
        })?
    };
    let forwards_all = ep.input_headers.iter().any(|h| h == "*");
    let mut propagate = Vec::new();
    for (i, pair) in cfg.propagate_claims.iter().enumerate() {
        let [claim, header] = pair.as_slice() else {
            tracing::warn!(
                "JOSE: validator for {}: invalid number of claims to propagate: {pair:?}",
                ep.endpoint
            );
            continue;
        };
        let name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
            Error::other(format!(
                "{NAMESPACE}.propagate_claims[{i}]: invalid header name {header:?}"
            ))
        })?;
        // the claim header replaces the client's in the request itself, as KrakenD sets it:
        // the rate limit after this guard reads it, and the endpoint's input_headers decide
        // whether it reaches the backends
        if !forwards_all
            && !ep
                .input_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(header))
        {
            tracing::warn!(
                "JOSE: validator for {}: the claim header {header:?} is not in input_headers: it does not reach the backends",
                ep.endpoint
            );
        }
        propagate.push(Propagation {
            claim: claim.clone(),
            header: name,
        });
    }
    let mut url_claims = Vec::new();
    for b in &ep.backend {
        for p in crate::config::placeholders(&b.url_pattern) {
            if let Some(claim) = p.strip_prefix("JWT.") {
                if !url_claims.iter().any(|c| c == claim) {
                    url_claims.push(claim.to_string());
                }
            }
        }
    }
    Ok(Some(Validator {
        endpoint: ep.endpoint.clone(),
        alg,
        keys,
        issuer: cfg.issuer,
        audience: cfg.audience,
        roles: cfg.roles,
        roles_nested: cfg.roles_key_is_nested
            && cfg.roles_key.contains('.')
            && !cfg.roles_key.starts_with("http"),
        roles_key: if cfg.roles_key.is_empty() {
            "roles".into()
        } else {
            cfg.roles_key
        },
        scopes_all: cfg.scopes_matcher == "all",
        scopes: if cfg.scopes_key.is_empty() {
            Vec::new()
        } else {
            cfg.scopes.0
        },
        scopes_key: cfg.scopes_key,
        propagate,
        preserve_arrays: cfg.propagate_claims_preserve_array,
        cookie_key: if cfg.cookie_key.is_empty() {
            "access_token".into()
        } else {
            cfg.cookie_key
        },
        header,
        leeway,
        debug: cfg.operation_debug,
        url_claims,
    }))
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Unauthorized(String),
    Forbidden(String),
}

fn unauthorized(msg: impl Into<String>) -> Refusal {
    Refusal::Unauthorized(msg.into())
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn numeric_date(claims: &Map<String, Value>, k: &str) -> Result<Option<f64>> {
    match claims.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|f| Some(f.trunc()))
            .ok_or_else(|| Error::other(format!("invalid {k} claim"))),
        Some(_) => Err(Error::other(format!(
            "json: cannot unmarshal {k} into a NumericDate"
        ))),
    }
}

/// The registered claims check of Go's JOSE library: issuer, every audience, `nbf`, `exp`
/// and `iat` against `now` (Unix seconds) with `leeway` seconds of tolerance.
pub fn validate_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &[String],
    now: f64,
    leeway: f64,
) -> Result<()> {
    for k in ["iss", "sub", "jti"] {
        if let Some(v) = claims.get(k) {
            if !v.is_string() && !v.is_null() {
                return Err(Error::other(format!(
                    "json: cannot unmarshal {k} into a string"
                )));
            }
        }
    }
    let aud: Vec<&str> = match claims.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().ok_or_else(|| Error::other("invalid aud claim")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Error::other("invalid aud claim")),
    };
    let nbf = numeric_date(claims, "nbf")?;
    let exp = numeric_date(claims, "exp")?;
    let iat = numeric_date(claims, "iat")?;
    if !issuer.is_empty() && claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(Error::other(
            "validation failed, invalid issuer claim (iss)",
        ));
    }
    if audience.iter().any(|a| !aud.contains(&a.as_str())) {
        return Err(Error::other(
            "validation failed, invalid audience claim (aud)",
        ));
    }
    if nbf.is_some_and(|nbf| now + leeway < nbf) {
        return Err(Error::other("validation failed, token not valid yet (nbf)"));
    }
    if exp.is_some_and(|exp| now - leeway > exp) {
        return Err(Error::other("validation failed, token is expired (exp)"));
    }
    if iat.is_some_and(|iat| now + leeway < iat) {
        return Err(Error::other(
            "validation field, token issued in the future (iat)",
        ));
    }
    Ok(())
}

/// `roles`: any of the required roles, in an array claim or a space-separated string.
fn has_any_role(claim: Option<&Value>, required: &[String]) -> bool {
    if required.is_empty() {
        return true;
    }
    match claim {
        Some(Value::Array(have)) => required
            .iter()
            .any(|r| have.iter().any(|h| h.as_str() == Some(r))),
        Some(Value::String(s)) => {
            let have: Vec<&str> = s.split(' ').collect();
            required.iter().any(|r| have.contains(&r.as_str()))
        }
        _ => false,
    }
}

/// `scopes`: a claim holding any (or all, with `scopes_matcher: "all"`) of the required
/// scopes, as krakend-jose matches them: a non-empty JSON array of strings (`["read",
/// "write"]`) or one string split on single spaces (`"read write"`). Anything else (an empty
/// array, a number, an object) holds no scope.
fn has_scopes(claim: Option<&Value>, required: &[String], all: bool) -> bool {
    if required.is_empty() {
        return true;
    }
    let have: Vec<&str> = match claim {
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().filter_map(Value::as_str).collect()
        }
        Some(Value::String(s)) => s.split(' ').collect(),
        _ => return false,
    };
    if all {
        required.iter().all(|r| have.contains(&r.as_str()))
    } else {
        required.iter().any(|r| have.contains(&r.as_str()))
    }
}

/// The value of a cookie, as Go's `Request.Cookie` finds it.
fn cookie<'a>(req: &'a GuardRequest<'_>, name: &str) -> Option<&'a str> {
    for h in req.headers.get_all(COOKIE) {
        let Ok(h) = h.to_str() else { continue };
        for part in h.split(';') {
            let part = part.trim();
            if let Some((k, v)) = part.split_once('=') {
                if k == name {
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v);
                    return Some(v);
                }
            }
        }
    }
    None
}

impl Validator {
    /// The token: the auth header (an optional `Bearer ` prefix removed), else the cookie.
    fn token<'a>(&self, req: &'a GuardRequest<'_>) -> Result<&'a str, Refusal> {
        if let Some(v) = req.headers.get(&self.header) {
            let raw = v
                .to_str()
                .map_err(|_| unauthorized("the token header is not valid text"))?;
            let raw = match raw.get(..7) {
                Some(p) if raw.len() > 7 && p.eq_ignore_ascii_case("bearer ") => &raw[7..],
                _ => raw,
            };
            if !raw.is_empty() {
                return Ok(raw);
            }
        }
        match cookie(req, &self.cookie_key) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(unauthorized("Token not found")),
        }
    }

    /// Validates the request's token; the claims on success.
    pub async fn validate(&self, req: &GuardRequest<'_>) -> Result<Map<String, Value>, Refusal> {
        let token = self.token(req)?;
        let jws = jose::parse_compact(token).map_err(unauthorized)?;
        if jws.header_str("alg") != self.alg.name() {
            return Err(unauthorized("algorithm is invalid"));
        }
        let id = self.keys.strategy().token_id(&jws);
        let key = self.keys.get(&id).await.map_err(unauthorized)?;
        jose::verify(
            self.alg,
            &key.key,
            jws.signing_input.as_bytes(),
            &jws.signature,
        )
        .map_err(unauthorized)?;
        let claims: Map<String, Value> = serde_json::from_slice(&jws.payload)
            .map_err(|e| unauthorized(format!("invalid claims: {e}")))?;
        validate_claims(
            &claims,
            &self.issuer,
            &self.audience,
            now_secs(),
            self.leeway.as_secs_f64(),
        )
        .map_err(unauthorized)?;
        let roles = if self.roles_nested {
            lookup_claim(&claims, &self.roles_key, true)
        } else {
            claims.get(&self.roles_key)
        };
        if !has_any_role(roles, &self.roles) {
            return Err(Refusal::Forbidden("the token has none of the roles".into()));
        }
        if !self.scopes.is_empty() {
            let nested = self.scopes_key.contains('.');
            let scopes = lookup_claim(&claims, &self.scopes_key, nested);
            if !has_scopes(scopes, &self.scopes, self.scopes_all) {
                return Err(Refusal::Forbidden("the token lacks the scopes".into()));
            }
        }
        Ok(claims)
    }

    fn effects(&self, claims: Map<String, Value>) -> GuardEffects {
        let mut fx = GuardEffects::default();
        for c in &self.url_claims {
            let v = claims
                .get(c)
                .or_else(|| lookup_claim(&claims, c, c.contains('.')));
            if let Some(v) = v {
                fx.params.push((format!("JWT.{c}"), claim_string(v)));
            }
        }
        for p in &self.propagate {
            let nested = p.claim.contains('.') && !p.claim.starts_with("http");
            let v = lookup_claim(&claims, &p.claim, nested);
            let values = match v {
                Some(Value::Array(items)) if self.preserve_arrays => {
                    items.iter().map(super::go_print).collect()
                }
                Some(v) => vec![claim_string(v)],
                // the token lacks the claim: the client's header of that name goes all the same
                None => Vec::new(),
            };
            let mut set = false;
            for v in values {
                match HeaderValue::from_str(&v) {
                    Ok(hv) => {
                        fx.headers.push((p.header.clone(), hv));
                        set = true;
                    }
                    Err(_) => tracing::warn!(
                        "JOSE: validator for {}: claim {:?} cannot be sent as a header",
                        self.endpoint,
                        p.claim
                    ),
                }
            }
            if !set {
                fx.removed_headers.push(p.header.clone());
            }
        }
        fx.claims = Some(claims);
        fx
    }
}

fn refusal_response(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty_body());
    *r.status_mut() = status;
    r
}

impl EndpointGuard for Validator {
    fn check<'a>(
        &'a self,
        req: &'a GuardRequest<'a>,
    ) -> BoxFuture<'a, Result<GuardEffects, Response<Body>>> {
        Box::pin(async move {
            match self.validate(req).await {
                Ok(claims) => Ok(self.effects(claims)),
                Err(refusal) => {
                    let (status, msg) = match refusal {
                        Refusal::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
                        Refusal::Forbidden(m) => (StatusCode::FORBIDDEN, m),
                    };
                    if self.debug {
                        tracing::error!("JOSE: validator for {}: {msg}", self.endpoint);
                    } else {
                        tracing::debug!("JOSE: validator for {}: {msg}", self.endpoint);
                    }
                    Err(refusal_response(status))
                }
            }
        })
    }
}

/// Shared by the guard builder in `components::endpoint_guards`.
pub fn guard(ep: &EndpointConfig, cx: &BuildCx<'_>) -> Result<Option<Arc<dyn EndpointGuard>>> {
    Ok(build(ep, cx)?.map(|v| Arc::new(v) as Arc<dyn EndpointGuard>))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn registered_claims() {
        let now = 1_700_000_000.0;
        let c = claims(json!({"iss":"me","aud":["a","b"],"exp":1_700_000_100,"nbf":1_699_999_000}));
        assert!(validate_claims(&c, "me", &["a".into(), "b".into()], now, 1.0).is_ok());
        assert!(validate_claims(&c, "you", &[], now, 1.0).is_err());
        assert!(validate_claims(&c, "", &["a".into(), "c".into()], now, 1.0).is_err());
        // expired, with the leeway as tolerance
        let c = claims(json!({"exp": 1_700_000_000 - 5}));
        assert!(validate_claims(&c, "", &[], now, 1.0).is_err());
        assert!(validate_claims(&c, "", &[], now, 10.0).is_ok());
        // not yet valid
        let c = claims(json!({"nbf": 1_700_000_060}));
        assert!(validate_claims(&c, "", &[], now, 1.0).is_err());
        assert!(validate_claims(&c, "", &[], now, 120.0).is_ok());
        // issued in the future
        let c = claims(json!({"iat": 1_700_000_060}));
        assert!(validate_claims(&c, "", &[], now, 1.0).is_err());
        // a single audience string
        let c = claims(json!({"aud": "a"}));
        assert!(validate_claims(&c, "", &["a".into()], now, 1.0).is_ok());
        // wrong types
        assert!(validate_claims(&claims(json!({"exp":"soon"})), "", &[], now, 1.0).is_err());
        assert!(validate_claims(&claims(json!({"iss":1})), "", &[], now, 1.0).is_err());
        assert!(validate_claims(&claims(json!({"aud":[1]})), "", &[], now, 1.0).is_err());
    }

    #[test]
    fn roles_and_scopes() {
        let r = |v: Value, req: &[&str]| {
            has_any_role(
                Some(&v),
                &req.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
        };
        assert!(r(json!(["a", "b"]), &["c", "b"]));
        assert!(!r(json!(["a", "b"]), &["c"]));
        assert!(r(json!("a b"), &["b"]));
        assert!(!r(json!(1), &["b"]));
        assert!(has_any_role(None, &[]));
        let s = |v: Value, req: &[&str], all: bool| {
            has_scopes(
                Some(&v),
                &req.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                all,
            )
        };
        assert!(s(json!("read write"), &["write", "x"], false));
        assert!(!s(json!("read write"), &["write", "x"], true));
        assert!(s(json!("read write"), &["write", "read"], true));
        // a JSON array of scopes, with either matcher
        assert!(s(json!(["write", "read"]), &["read"], false));
        assert!(s(json!(["write", "read"]), &["read", "x"], false));
        assert!(s(json!(["write", "read"]), &["read", "write"], true));
        assert!(!s(json!(["write", "read"]), &["read", "x"], true));
        assert!(!s(json!(["write"]), &["read"], false));
        // what holds no scope
        assert!(!s(json!([]), &["read"], false));
        assert!(!s(json!([1, {"read": true}]), &["read"], false));
        assert!(!s(json!({"read": true}), &["read"], false));
    }
}
