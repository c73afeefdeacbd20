//! The component registry: every `extra_config` namespace Tentacle knows, keyed by its v3
//! name (legacy names are renamed on load, see `config::legacy`), with the scopes it may
//! appear in, whether this build acts on it, how its keys are checked and what it builds.
//! Every namespace a configuration has that this build does not act on where it is written
//! (an unknown one, with the closest known name; a known one in the wrong `extra_config`; a
//! KrakenD CE one not implemented; an Enterprise one) gets one warning from `run` and from
//! `check`; `check --lint` fails on all but the Enterprise ones. Inside the namespaces it acts
//! on, every key its component does not read gets one too, and fails `check --lint` (see
//! `keys`).
//!
//! # Components
//! One folder per family (`security/`, `auth/`, `qos/`, `validation/`, `modifier/`,
//! `telemetry/`), one file (or folder) per component. A component file holds its
//! `NAMESPACE`, its registry entry (`SPEC`), its key check and its builders; [`REGISTRY`]
//! lists the entry. Each [`Build`] names the hook it plugs into (see `crate::hooks`) and its
//! rank there: KrakenD CE's fixed order, lowest first (outermost):
//!
//! | hook | ranks |
//! |---|---|
//! | service layer | 10 CORS, 20 `security/http`, 30 bot detector, 90 metrics (observes) |
//! | endpoint guard | 10 bot detector, 20 JWT validator, 30 rate limit |
//! | proxy stage | 10 metrics, 20 Lua, 30 CEL, 40 JSON schema, 50 JWT signer |
//! | backend stage | 10 metrics, 20 circuit breaker, 30 rate limit, 40 Lua, 50 CEL; around the HTTP exchange: 60 Martian, 70 HTTP cache, 80 client credentials |
//!
//! A new component is one file and one line in [`REGISTRY`]; for example an endpoint guard
//! that refuses requests without an `X-Tenant` header, in `security/tenant.rs`:
//!
//! ```ignore
//! pub const NAMESPACE: &str = "security/tenant";
//!
//! pub const SPEC: ComponentSpec = ComponentSpec {
//!     namespace: NAMESPACE,
//!     scopes: &[Scope::Endpoint],
//!     support: Support::Active,
//!     keys: None,
//!     builds: &[Build::Guard(15, guard)], // after the bot detector, before JWT
//! };
//!
//! struct Tenant;
//!
//! impl EndpointGuard for Tenant {
//!     fn check<'a>(&'a self, req: &'a GuardRequest<'a>)
//!         -> BoxFuture<'a, Result<GuardEffects, Response<Body>>> {
//!         let found = req.headers.contains_key("x-tenant");
//!         Box::pin(async move {
//!             if found { Ok(GuardEffects::default()) } else { Err(forbidden()) }
//!         })
//!     }
//! }
//!
//! fn guard(ep: &EndpointConfig, _: &BuildCx<'_>) -> Built<dyn EndpointGuard> {
//!     Ok(ep.extra_config.contains_key(NAMESPACE).then(|| Arc::new(Tenant) as _))
//! }
//! ```
//! and `pub mod tenant;` in `security/mod.rs`, `security::tenant::SPEC,` in [`REGISTRY`].

pub mod auth;
pub mod keys;
pub mod modifier;
pub mod qos;
pub mod security;
pub mod telemetry;
pub mod validation;

use auth::{client_credentials, jwt};
use modifier::{lua, martian};
use qos::{breaker, httpcache, ratelimit, ratelimit_proxy};
use security::{botdetector, cors, httpsecure};
use telemetry::metrics;
use validation::{cel, jsonschema};

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::backend::HttpClient;
use crate::config::{BackendConfig, EndpointConfig, ExtraConfig, ServiceConfig};
use crate::error::{Error, Result};
use crate::hooks::{BackendStage, EndpointGuard, ProxyStage, ServiceLayer};
use keys::KeyCheck;

/// Where a namespace may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Service,
    Endpoint,
    Backend,
}

/// What this build does with a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Read and acted on.
    Active,
    /// A KrakenD CE namespace this build accepts but does not act on yet.
    NotImplemented,
    /// A KrakenD Enterprise-only namespace: accepted and ignored, as KrakenD CE does.
    Enterprise,
}

/// What a component builds, each at its rank in KrakenD CE's fixed order for that hook (lower
/// runs first, outermost): see the table in the module doc.
#[derive(Clone, Copy)]
pub enum Build {
    /// A service layer, from the service's configuration.
    Service(u8, fn(&BuildCx<'_>) -> Built<dyn ServiceLayer>),
    /// An endpoint guard.
    Guard(
        u8,
        fn(&EndpointConfig, &BuildCx<'_>) -> Built<dyn EndpointGuard>,
    ),
    /// A proxy stage around the endpoint's pipe.
    Proxy(
        u8,
        fn(&EndpointConfig, &BuildCx<'_>) -> Built<dyn ProxyStage>,
    ),
    /// A stage around each call of a backend (and its HTTP exchange).
    Backend(
        u8,
        fn(&BackendConfig, &BuildCx<'_>) -> Built<dyn BackendStage>,
    ),
}

/// A built component, or `None` where its configuration asks for nothing.
pub type Built<T> = Result<Option<Arc<T>>>;

/// One registry entry: the namespace, where it may be written, what this build does with it,
/// how its keys are checked and what it builds.
pub struct ComponentSpec {
    pub namespace: &'static str,
    pub scopes: &'static [Scope],
    pub support: Support,
    /// The keys its component reads (`None`: any, e.g. a JSON schema's own keywords).
    pub keys: Option<KeyCheck>,
    pub builds: &'static [Build],
}

impl ComponentSpec {
    /// A namespace this build reads and acts on: its key check and what it builds.
    pub const fn active(
        namespace: &'static str,
        scopes: &'static [Scope],
        keys: KeyCheck,
        builds: &'static [Build],
    ) -> ComponentSpec {
        ComponentSpec {
            namespace,
            scopes,
            support: Active,
            keys: Some(keys),
            builds,
        }
    }

    /// A namespace this build accepts and ignores (`support` says why).
    const fn ignored(
        namespace: &'static str,
        scopes: &'static [Scope],
        support: Support,
    ) -> ComponentSpec {
        ComponentSpec {
            namespace,
            scopes,
            support,
            keys: None,
            builds: &[],
        }
    }

    /// A namespace the core reads itself (router, proxy, backend options): nothing to build.
    const fn core(namespace: &'static str, scopes: &'static [Scope], keys: KeyCheck) -> Self {
        Self::active(namespace, scopes, keys, &[])
    }
}

use Scope::{Backend as B, Endpoint as E, Service as S};
use Support::{Active, Enterprise, NotImplemented};

/// Every namespace Tentacle knows.
pub const REGISTRY: &[ComponentSpec] = &[
    ComponentSpec::core("router", &[S], keys::list_check!(keys::ROUTER)),
    ComponentSpec::core("proxy", &[E, B], keys::proxy),
    ComponentSpec::core("backend/http", &[B], keys::list_check!(keys::BACKEND_HTTP)),
    ComponentSpec::core(
        "backend/http/client",
        &[B],
        keys::list_check!(keys::BACKEND_HTTP_CLIENT),
    ),
    ComponentSpec::core(
        "telemetry/logging",
        &[S],
        keys::list_check!(keys::TELEMETRY_LOGGING),
    ),
    jwt::validator::SPEC,
    jwt::signer::SPEC,
    client_credentials::SPEC,
    cors::SPEC,
    httpsecure::SPEC,
    botdetector::SPEC,
    ratelimit::SPEC,
    ratelimit_proxy::SPEC,
    breaker::SPEC,
    httpcache::SPEC,
    cel::SPEC,
    jsonschema::SPEC,
    lua::PROXY_SPEC,
    lua::BACKEND_SPEC,
    martian::SPEC,
    metrics::SPEC,
    ComponentSpec::ignored("auth/revoker", &[S], NotImplemented),
    ComponentSpec::ignored("modifier/lua-endpoint", &[S, E], NotImplemented),
    ComponentSpec::ignored("telemetry/opentelemetry", &[S, E, B], NotImplemented),
    ComponentSpec::ignored("telemetry/opencensus", &[S, E, B], NotImplemented),
    ComponentSpec::ignored("telemetry/influx", &[S], NotImplemented),
    ComponentSpec::ignored("telemetry/gelf", &[S], NotImplemented),
    ComponentSpec::ignored("telemetry/logstash", &[S], NotImplemented),
    ComponentSpec::ignored("plugin/http-server", &[S], NotImplemented),
    ComponentSpec::ignored("plugin/http-client", &[B], NotImplemented),
    ComponentSpec::ignored("plugin/req-resp-modifier", &[E, B], NotImplemented),
    ComponentSpec::ignored("backend/graphql", &[B], NotImplemented),
    ComponentSpec::ignored("backend/amqp/consumer", &[B], NotImplemented),
    ComponentSpec::ignored("backend/amqp/producer", &[B], NotImplemented),
    ComponentSpec::ignored("backend/lambda", &[B], NotImplemented),
    ComponentSpec::ignored("backend/pubsub/publisher", &[B], NotImplemented),
    ComponentSpec::ignored("backend/pubsub/subscriber", &[B], NotImplemented),
    ComponentSpec::ignored("async/amqp", &[S], NotImplemented),
    ComponentSpec::ignored("documentation/openapi", &[S, E], Enterprise),
    ComponentSpec::ignored("auth/api-keys", &[S, E], Enterprise),
    ComponentSpec::ignored("auth/basic", &[E], Enterprise),
    ComponentSpec::ignored("telemetry/instana", &[S], Enterprise),
    ComponentSpec::ignored("telemetry/newrelic", &[S], Enterprise),
    ComponentSpec::ignored("telemetry/moesif", &[S], Enterprise),
    ComponentSpec::ignored("websocket", &[E], Enterprise),
    ComponentSpec::ignored("modifier/jmespath", &[E, B], Enterprise),
    ComponentSpec::ignored("modifier/response-body", &[E, B], Enterprise),
    ComponentSpec::ignored("modifier/request-body-generator", &[E, B], Enterprise),
    ComponentSpec::ignored("modifier/response-headers", &[E], Enterprise),
    ComponentSpec::ignored("validation/response-json-schema", &[E, B], Enterprise),
    ComponentSpec::ignored("qos/ratelimit/router/redis", &[E], Enterprise),
    ComponentSpec::ignored("qos/ratelimit/service", &[S], Enterprise),
    ComponentSpec::ignored("qos/ratelimit/tiered", &[E], Enterprise),
    ComponentSpec::ignored("security/policies", &[S, E, B], Enterprise),
    ComponentSpec::ignored("server/static-filesystem", &[S, E], Enterprise),
    ComponentSpec::ignored("server/virtualhost", &[S], Enterprise),
    ComponentSpec::ignored("backend/grpc", &[B], Enterprise),
    ComponentSpec::ignored("backend/soap", &[B], Enterprise),
    ComponentSpec::ignored("grpc", &[S], Enterprise),
];

pub fn find(namespace: &str) -> Option<&'static ComponentSpec> {
    REGISTRY.iter().find(|c| c.namespace == namespace)
}

/// Why this build does not act on a namespace where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Neglect {
    /// Not a namespace KrakenD knows (a misspelling, most often), with the closest known one
    /// when one is close.
    Unknown { suggestion: Option<String> },
    /// A KrakenD CE namespace this build accepts but does not act on.
    NotImplemented,
    /// A KrakenD Enterprise-only namespace: accepted and ignored, as KrakenD CE does.
    Enterprise,
    /// A known namespace written where its component never reads it.
    WrongScope { read_in: &'static [Scope] },
}

/// One namespace occurrence that this build does not act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub namespace: String,
    /// The `extra_config` holding it, as a JSON path (`endpoints[0].extra_config`).
    pub path: String,
    /// Where that is, as a reader of the file names it (`endpoint GET /users/{id}`).
    pub place: String,
    /// What runs without it.
    pub scope: Scope,
    pub neglect: Neglect,
}

impl Unsupported {
    /// Whether `check --lint` fails on it: everything but an Enterprise namespace, which
    /// KrakenD CE accepts and ignores too.
    pub fn fails_lint(&self) -> bool {
        self.neglect != Neglect::Enterprise
    }
}

fn scope_names(scopes: &[Scope]) -> String {
    let names: Vec<&str> = scopes
        .iter()
        .map(|s| match s {
            Scope::Service => "the service's",
            Scope::Endpoint => "an endpoint's",
            Scope::Backend => "a backend's",
        })
        .collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runs_without = match self.scope {
            Scope::Service => "the gateway runs without it",
            Scope::Endpoint => "the endpoint runs without it",
            Scope::Backend => "the backend is called without it",
        };
        let (place, path, ns) = (&self.place, &self.path, &self.namespace);
        write!(f, "{place} ({path}): ")?;
        match &self.neglect {
            Neglect::Unknown { suggestion } => {
                write!(f, "unknown namespace {ns:?}")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean {s}?)")?;
                }
                write!(f, ": ignored, {runs_without}")
            }
            Neglect::NotImplemented => write!(
                f,
                "{ns:?} is a KrakenD CE component this build does not implement yet: accepted and ignored, {runs_without}"
            ),
            Neglect::Enterprise => write!(
                f,
                "{ns:?} is a KrakenD Enterprise component: accepted and ignored as KrakenD CE does, {runs_without}"
            ),
            Neglect::WrongScope { read_in } => write!(
                f,
                "{ns:?} is only read in {} extra_config: ignored here, {runs_without}",
                scope_names(read_in)
            ),
        }
    }
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diag
            } else {
                1 + diag.min(above).min(row[j])
            };
            diag = above;
        }
    }
    row[b.len()]
}

/// The candidate closest to an unknown name, when it is close: at most three edits, and at most
/// one edit in four characters (case ignored).
pub fn closest<'a>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = unknown.to_lowercase();
    let (name, d) = candidates
        .into_iter()
        .map(|c| (c, edit_distance(&lower, &c.to_lowercase())))
        .min_by_key(|(_, d)| *d)?;
    (d <= 3 && d * 4 <= unknown.chars().count()).then_some(name)
}

/// The known namespace closest to an unknown one, when it is close (see [`closest`]). A
/// KrakenD 1.x name is given with its v3 name.
pub fn closest_namespace(unknown: &str) -> Option<String> {
    let v3 = REGISTRY.iter().map(|c| c.namespace);
    let legacy = crate::config::legacy::NAMESPACE_ALIASES
        .iter()
        .map(|(old, _)| *old);
    let name = closest(unknown, v3.chain(legacy))?;
    Some(match crate::config::legacy::canonical_namespace(name) {
        v3_name if v3_name != name => {
            format!("{name:?}, the KrakenD 1.x name of {v3_name:?}")
        }
        _ => format!("{name:?}"),
    })
}

fn scan(extra: &ExtraConfig, scope: Scope, place: &str, path: &str, out: &mut Vec<Unsupported>) {
    for ns in extra.keys() {
        let neglect = match find(ns) {
            Some(c) => match c.support {
                Active if c.scopes.contains(&scope) => continue,
                Active => Neglect::WrongScope { read_in: c.scopes },
                NotImplemented => Neglect::NotImplemented,
                Enterprise => Neglect::Enterprise,
            },
            None => Neglect::Unknown {
                suggestion: closest_namespace(ns),
            },
        };
        out.push(Unsupported {
            namespace: ns.clone(),
            path: format!("{path}extra_config"),
            place: place.to_string(),
            scope,
            neglect,
        });
    }
}

/// Calls `f` with every `extra_config` of the configuration: its scope, where it is as a
/// reader of the file names it (`endpoint GET /users/{id}`) and its JSON path prefix
/// (`endpoints[0].`, empty for the service).
fn each_extra_config(cfg: &ServiceConfig, mut f: impl FnMut(&ExtraConfig, Scope, &str, &str)) {
    f(&cfg.extra_config, S, "service", "");
    for ep in &cfg.endpoints {
        let place = format!("endpoint {} {}", ep.method, ep.endpoint);
        f(&ep.extra_config, E, &place, &format!("{}.", ep.json_path));
        for (i, b) in ep.backend.iter().enumerate() {
            let place = format!(
                "backend {i} ({}) of endpoint {} {}",
                b.url_pattern, ep.method, ep.endpoint
            );
            f(&b.extra_config, B, &place, &format!("{}.", b.json_path));
        }
    }
}

/// Every namespace in the configuration that this build does not act on where it is written:
/// unknown ones, known ones in the wrong place, and the ones accepted but not acted on.
pub fn unsupported(cfg: &ServiceConfig) -> Vec<Unsupported> {
    let mut out = Vec::new();
    each_extra_config(cfg, |extra, scope, place, path| {
        scan(extra, scope, place, path, &mut out)
    });
    out
}

/// A key inside a namespace that its component does not read: KrakenD ignores it, and so does
/// the gateway, but a misspelt `roles` leaves an endpoint checking no role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNamespaceKey {
    /// The v3 name of the namespace.
    pub namespace: String,
    /// The namespace's name as the file writes it (a KrakenD 1.x name, maybe), for the path.
    pub written: String,
    /// The `extra_config` holding it, as a JSON path (`endpoints[0].extra_config`).
    pub extra_config: String,
    /// Where that is, as a reader of the file names it.
    pub place: String,
    pub key: keys::UnknownKey,
}

impl UnknownNamespaceKey {
    /// The key's JSON path in the file (`endpoints[0].extra_config.auth/validator.role`).
    pub fn path(&self) -> String {
        let dot = if self.key.path.starts_with('[') {
            ""
        } else {
            "."
        };
        format!(
            "{}.{}{dot}{}",
            self.extra_config, self.written, self.key.path
        )
    }
}

impl std::fmt::Display for UnknownNamespaceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): unknown key {:?} in {:?}",
            self.place,
            self.path(),
            self.key.key,
            self.namespace
        )?;
        if let Some(s) = self.key.suggestion {
            write!(f, " (did you mean {s:?}?)")?;
        }
        write!(f, ": ignored")
    }
}

/// Every key, inside the namespaces this build acts on where they are written, that their
/// component does not read.
pub fn unknown_keys(cfg: &ServiceConfig) -> Vec<UnknownNamespaceKey> {
    let mut out = Vec::new();
    each_extra_config(cfg, |extra, scope, place, path| {
        for (ns, v) in extra {
            let Some(spec) = find(ns) else { continue };
            if spec.support != Active || !spec.scopes.contains(&scope) {
                continue;
            }
            let Some(check) = spec.keys else { continue };
            let mut found = Vec::new();
            check(scope, v, &mut found);
            out.extend(found.into_iter().map(|key| UnknownNamespaceKey {
                namespace: ns.clone(),
                written: ns.clone(),
                extra_config: format!("{path}extra_config"),
                place: place.to_string(),
                key,
            }));
        }
    });
    out
}

/// The object of a component's namespace, or an error naming the namespace.
pub fn config_object<'a>(namespace: &str, v: &'a Value) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| Error::config(namespace, "the configuration must be an object"))
}

/// One field of a component's configuration object: `None` when absent or `null`, an error
/// naming the namespace and the field when it has the wrong type.
pub fn field<T: DeserializeOwned>(
    namespace: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v)
            .map(Some)
            .map_err(|e| Error::json(format!("{namespace}: {key}"), e)),
    }
}

/// The object of `namespace` in an `extra_config` at `json_path`, read into its typed config:
/// `None` when the namespace is absent, an error naming its path when it does not fit.
pub fn typed_config<T: DeserializeOwned>(
    extra: &ExtraConfig,
    json_path: &str,
    namespace: &str,
) -> Result<Option<T>> {
    let Some(raw) = extra.get(namespace) else {
        return Ok(None);
    };
    T::deserialize(raw)
        .map(Some)
        .map_err(|e| Error::json(format!("{json_path}.extra_config.{namespace}"), e))
}

/// The service's object of `namespace`, when it has one, built into a service layer.
pub fn service_namespace<T: ServiceLayer + 'static>(
    cx: &BuildCx<'_>,
    namespace: &str,
    build: fn(&Value) -> Result<T>,
) -> Built<dyn ServiceLayer> {
    match cx.service.extra_config.get(namespace) {
        Some(v) => Ok(Some(Arc::new(build(v)?))),
        None => Ok(None),
    }
}

/// What component builders may use.
pub struct BuildCx<'a> {
    pub service: &'a ServiceConfig,
    pub client: &'a HttpClient,
    /// The metrics registry, when `telemetry/metrics` is configured.
    pub metrics: Option<Arc<metrics::Registry>>,
    /// State shared by the JOSE components (service-level `auth/validator`).
    pub jose: &'a jwt::JoseShared,
}

/// The builders of one hook, from every registry entry, in their rank's order.
fn ranked<F: Copy>(pick: impl Fn(&Build) -> Option<(u8, F)>) -> Vec<F> {
    let mut found: Vec<(u8, F)> = REGISTRY
        .iter()
        .flat_map(|c| c.builds)
        .filter_map(pick)
        .collect();
    found.sort_by_key(|(rank, _)| *rank);
    found.into_iter().map(|(_, f)| f).collect()
}

/// Every `Some` of `built`, in order; the first error stops.
fn collect<T: ?Sized>(built: impl Iterator<Item = Built<T>>) -> Result<Vec<Arc<T>>> {
    let mut out = Vec::new();
    for b in built {
        out.extend(b?);
    }
    Ok(out)
}

/// Service-scope components, outermost first.
pub fn service_layers(cx: &BuildCx<'_>) -> Result<Vec<Arc<dyn ServiceLayer>>> {
    let builders = ranked(|b| match *b {
        Build::Service(rank, f) => Some((rank, f)),
        _ => None,
    });
    collect(builders.into_iter().map(|f| f(cx)))
}

/// An endpoint's guards, in KrakenD CE's order.
pub fn endpoint_guards(
    ep: &EndpointConfig,
    cx: &BuildCx<'_>,
) -> Result<Vec<Arc<dyn EndpointGuard>>> {
    let builders = ranked(|b| match *b {
        Build::Guard(rank, f) => Some((rank, f)),
        _ => None,
    });
    collect(builders.into_iter().map(|f| f(ep, cx)))
}

/// The proxy stages around an endpoint's pipe, outermost first.
pub fn proxy_stages(ep: &EndpointConfig, cx: &BuildCx<'_>) -> Result<Vec<Arc<dyn ProxyStage>>> {
    let builders = ranked(|b| match *b {
        Build::Proxy(rank, f) => Some((rank, f)),
        _ => None,
    });
    collect(builders.into_iter().map(|f| f(ep, cx)))
}

/// The stages around each call of a backend, outermost first.
pub fn backend_stages(b: &BackendConfig, cx: &BuildCx<'_>) -> Result<Vec<Arc<dyn BackendStage>>> {
    let builders = ranked(|build| match *build {
        Build::Backend(rank, f) => Some((rank, f)),
        _ => None,
    });
    collect(builders.into_iter().map(|f| f(b, cx)))
}

#[cfg(test)]
mod lua_registry_tests {
    use super::*;

    /// The Lua namespaces are acted on only in builds with the `lua` feature; without it
    /// `check` lists them as not implemented.
    #[test]
    fn lua_support_follows_the_feature() {
        let want = if cfg!(feature = "lua") {
            Active
        } else {
            NotImplemented
        };
        for ns in ["modifier/lua-proxy", "modifier/lua-backend"] {
            assert_eq!(find(ns).map(|c| c.support), Some(want), "{ns}");
        }
        assert_eq!(
            find("modifier/lua-endpoint").map(|c| c.support),
            Some(NotImplemented)
        );
    }
}
