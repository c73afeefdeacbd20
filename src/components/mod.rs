//! The component registry: every `extra_config` namespace Tentacle knows, keyed by its v3
//! name (legacy names are renamed on load, see `config::legacy`), with the scopes it may
//! appear in and whether this build acts on it. Every namespace a configuration has that this
//! build does not act on where it is written (an unknown one, with the closest known name; a
//! known one in the wrong `extra_config`; a KrakenD CE one not implemented; an Enterprise one)
//! gets one warning from `run` and from `check`; `check --lint` fails on all but the
//! Enterprise ones. Inside the namespaces it acts on, every key its component does not read
//! gets one too, and fails `check --lint` (see `keys`).

pub mod auth;
pub mod keys;
pub mod modifier;
pub mod qos;
pub mod security;
pub mod telemetry;
pub mod validation;

use auth::{client_credentials, jwt};
#[cfg(feature = "lua")]
use modifier::lua;
use modifier::martian;
use qos::{breaker, httpcache, ratelimit, ratelimit_proxy};
use security::{botdetector, cors, httpsecure};
use telemetry::metrics;
#[cfg(feature = "cel")]
use validation::cel;
use validation::jsonschema;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::backend::executor::Executor;
use crate::backend::HttpClient;
use crate::config::{BackendConfig, EndpointConfig, ExtraConfig, ServiceConfig};
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

/// One registry entry.
pub struct ComponentSpec {
    pub namespace: &'static str,
    pub scopes: &'static [Scope],
    pub support: Support,
}

use Scope::{Backend as B, Endpoint as E, Service as S};
use Support::{Active, Enterprise, NotImplemented};

/// `validation/cel` is acted on only in builds with the `cel` feature (the default).
#[cfg(feature = "cel")]
const CEL_SUPPORT: Support = Active;
#[cfg(not(feature = "cel"))]
const CEL_SUPPORT: Support = NotImplemented;
/// The Lua modifiers are acted on when the `lua` feature is built in.
const LUA_SUPPORT: Support = if cfg!(feature = "lua") {
    Active
} else {
    NotImplemented
};

/// Every namespace Tentacle knows.
pub const REGISTRY: &[ComponentSpec] = &[
    ComponentSpec {
        namespace: "router",
        scopes: &[S],
        support: Active,
    },
    ComponentSpec {
        namespace: "proxy",
        scopes: &[E, B],
        support: Active,
    },
    ComponentSpec {
        namespace: "backend/http",
        scopes: &[B],
        support: Active,
    },
    ComponentSpec {
        namespace: "telemetry/logging",
        scopes: &[S],
        support: Active,
    },
    ComponentSpec {
        namespace: "auth/validator",
        scopes: &[S, E],
        support: Active,
    },
    ComponentSpec {
        namespace: "auth/signer",
        scopes: &[E],
        support: Active,
    },
    ComponentSpec {
        namespace: "auth/revoker",
        scopes: &[S],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "auth/client-credentials",
        scopes: &[B],
        support: Active,
    },
    ComponentSpec {
        namespace: "security/cors",
        scopes: &[S, E],
        support: Active,
    },
    ComponentSpec {
        namespace: "security/http",
        scopes: &[S],
        support: Active,
    },
    ComponentSpec {
        namespace: "security/bot-detector",
        scopes: &[S, E],
        support: Active,
    },
    ComponentSpec {
        namespace: "qos/ratelimit/router",
        scopes: &[E],
        support: Active,
    },
    ComponentSpec {
        namespace: "qos/ratelimit/proxy",
        scopes: &[B],
        support: Active,
    },
    ComponentSpec {
        namespace: "qos/circuit-breaker",
        scopes: &[B],
        support: Active,
    },
    ComponentSpec {
        namespace: "qos/http-cache",
        scopes: &[B],
        support: Active,
    },
    ComponentSpec {
        namespace: "validation/cel",
        scopes: &[E, B],
        support: CEL_SUPPORT,
    },
    ComponentSpec {
        namespace: "validation/json-schema",
        scopes: &[E],
        support: Active,
    },
    ComponentSpec {
        namespace: "modifier/lua-endpoint",
        scopes: &[S, E],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "modifier/lua-proxy",
        scopes: &[E],
        support: LUA_SUPPORT,
    },
    ComponentSpec {
        namespace: "modifier/lua-backend",
        scopes: &[B],
        support: LUA_SUPPORT,
    },
    ComponentSpec {
        namespace: "modifier/martian",
        scopes: &[B],
        support: Active,
    },
    ComponentSpec {
        namespace: "telemetry/metrics",
        scopes: &[S],
        support: Active,
    },
    ComponentSpec {
        namespace: "telemetry/opentelemetry",
        scopes: &[S, E, B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "telemetry/opencensus",
        scopes: &[S, E, B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "telemetry/influx",
        scopes: &[S],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "telemetry/gelf",
        scopes: &[S],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "telemetry/logstash",
        scopes: &[S],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "plugin/http-server",
        scopes: &[S],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "plugin/http-client",
        scopes: &[B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "plugin/req-resp-modifier",
        scopes: &[E, B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "backend/graphql",
        scopes: &[B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "backend/amqp/consumer",
        scopes: &[B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "backend/amqp/producer",
        scopes: &[B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "backend/lambda",
        scopes: &[B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "backend/pubsub/publisher",
        scopes: &[B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "backend/pubsub/subscriber",
        scopes: &[B],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "backend/http/client",
        scopes: &[B],
        support: Active,
    },
    ComponentSpec {
        namespace: "async/amqp",
        scopes: &[S],
        support: NotImplemented,
    },
    ComponentSpec {
        namespace: "documentation/openapi",
        scopes: &[S, E],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "auth/api-keys",
        scopes: &[S, E],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "auth/basic",
        scopes: &[E],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "telemetry/instana",
        scopes: &[S],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "telemetry/newrelic",
        scopes: &[S],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "telemetry/moesif",
        scopes: &[S],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "websocket",
        scopes: &[E],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "modifier/jmespath",
        scopes: &[E, B],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "modifier/response-body",
        scopes: &[E, B],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "modifier/request-body-generator",
        scopes: &[E, B],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "modifier/response-headers",
        scopes: &[E],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "validation/response-json-schema",
        scopes: &[E, B],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "qos/ratelimit/router/redis",
        scopes: &[E],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "qos/ratelimit/service",
        scopes: &[S],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "qos/ratelimit/tiered",
        scopes: &[E],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "security/policies",
        scopes: &[S, E, B],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "server/static-filesystem",
        scopes: &[S, E],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "server/virtualhost",
        scopes: &[S],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "backend/grpc",
        scopes: &[B],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "backend/soap",
        scopes: &[B],
        support: Enterprise,
    },
    ComponentSpec {
        namespace: "grpc",
        scopes: &[S],
        support: Enterprise,
    },
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

/// How the keys of each namespace this build acts on are checked: by the component that reads
/// it, from its config struct or the key list beside its parser (see `keys`).
fn key_check(namespace: &str) -> Option<KeyCheck> {
    let check: KeyCheck = match namespace {
        "router" => keys::router,
        "proxy" => keys::proxy,
        "backend/http" => keys::backend_http,
        "backend/http/client" => keys::backend_http_client,
        "telemetry/logging" => keys::telemetry_logging,
        jwt::validator::NAMESPACE => jwt::validator::check_keys,
        jwt::signer::NAMESPACE => jwt::signer::check_keys,
        client_credentials::NAMESPACE => client_credentials::check_keys,
        cors::NAMESPACE => cors::check_keys,
        httpsecure::NAMESPACE => httpsecure::check_keys,
        botdetector::NAMESPACE => botdetector::check_keys,
        ratelimit::NAMESPACE => ratelimit::check_keys,
        ratelimit_proxy::NAMESPACE => ratelimit_proxy::check_keys,
        breaker::NAMESPACE => breaker::check_keys,
        httpcache::NAMESPACE => httpcache::check_keys,
        #[cfg(feature = "cel")]
        cel::NAMESPACE => cel::check_keys,
        #[cfg(feature = "lua")]
        lua::PROXY_NAMESPACE | lua::BACKEND_NAMESPACE => lua::check_keys,
        martian::NAMESPACE => martian::check_keys,
        metrics::NAMESPACE => metrics::check_keys,
        // the value is a JSON schema: its keywords are the user's
        _ => return None,
    };
    Some(check)
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
            let Some(check) = key_check(ns) else { continue };
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
pub fn config_object<'a>(namespace: &str, v: &'a Value) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{namespace}: the configuration must be an object"))
}

/// One field of a component's configuration object: `None` when absent or `null`, an error
/// naming the namespace and the field when it has the wrong type.
pub fn field<T: DeserializeOwned>(
    namespace: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v)
            .map(Some)
            .map_err(|e| format!("{namespace}: {key}: {e}")),
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

/// Service-scope components, outermost first: CORS wraps the whole router, then the gin
/// middlewares in KrakenD CE's order (HTTP security, bot detector), then the router metrics
/// (they only observe).
pub fn service_layers(
    cfg: &ServiceConfig,
    cx: &BuildCx<'_>,
) -> Result<Vec<Arc<dyn ServiceLayer>>, String> {
    let mut layers: Vec<Arc<dyn ServiceLayer>> = Vec::new();
    if let Some(v) = cfg.extra_config.get(cors::NAMESPACE) {
        layers.push(Arc::new(cors::build(v)?));
    }
    if let Some(v) = cfg.extra_config.get(httpsecure::NAMESPACE) {
        layers.push(Arc::new(httpsecure::build(v)?));
    }
    if let Some(v) = cfg.extra_config.get(botdetector::NAMESPACE) {
        layers.push(Arc::new(botdetector::build(v)?));
    }
    layers.extend(metrics::service_layer(&cx.metrics));
    Ok(layers)
}

/// Endpoint guards in KrakenD CE's order (bot detector, JWT, rate limit).
pub fn endpoint_guards(
    ep: &EndpointConfig,
    cx: &BuildCx<'_>,
) -> Result<Vec<Arc<dyn EndpointGuard>>, String> {
    let mut guards: Vec<Arc<dyn EndpointGuard>> = Vec::new();
    if let Some(v) = ep.extra_config.get(botdetector::NAMESPACE) {
        guards.push(Arc::new(
            botdetector::build(v).map_err(|e| format!("{}: {e}", ep.json_path))?,
        ));
    }
    guards.extend(jwt::validator::guard(ep, cx)?);
    guards.extend(ratelimit::guard(ep)?);
    Ok(guards)
}

/// Proxy stages around the pipe, outermost first, in KrakenD CE's order (metrics, Lua, CEL,
/// JSON schema).
pub fn proxy_stages(
    ep: &EndpointConfig,
    cx: &BuildCx<'_>,
) -> Result<Vec<Arc<dyn ProxyStage>>, String> {
    let mut stages: Vec<Arc<dyn ProxyStage>> = Vec::new();
    stages.extend(metrics::proxy_stage(&cx.metrics, ep));
    #[cfg(feature = "lua")]
    if let Some(v) = ep.extra_config.get(lua::PROXY_NAMESPACE) {
        stages.push(Arc::new(
            lua::build_proxy(v).map_err(|e| format!("{}.extra_config.{e}", ep.json_path))?,
        ));
    }
    #[cfg(feature = "cel")]
    if let Some(v) = ep.extra_config.get(cel::NAMESPACE) {
        if let Some(stage) = cel::build_endpoint(ep, v)? {
            stages.push(Arc::new(stage));
        }
    }
    if let Some(v) = ep.extra_config.get(jsonschema::NAMESPACE) {
        stages.push(Arc::new(
            jsonschema::build(v).map_err(|e| format!("{}.extra_config.{e}", ep.json_path))?,
        ));
    }
    stages.extend(jwt::signer::stage(ep, cx)?);
    Ok(stages)
}

/// Backend stages around each call, outermost first: KrakenD CE wraps the metrics around the
/// circuit breaker, that around the rate limit, and both around Lua and CEL.
pub fn backend_stages(
    b: &BackendConfig,
    cx: &BuildCx<'_>,
) -> Result<Vec<Arc<dyn BackendStage>>, String> {
    let mut stages: Vec<Arc<dyn BackendStage>> = Vec::new();
    stages.extend(metrics::backend_stage(&cx.metrics, b));
    stages.extend(breaker::build(b)?);
    stages.extend(ratelimit_proxy::build(b)?);
    #[cfg(feature = "lua")]
    if let Some(v) = b.extra_config.get(lua::BACKEND_NAMESPACE) {
        stages.push(Arc::new(
            lua::build_backend(v).map_err(|e| format!("{}.extra_config.{e}", b.json_path))?,
        ));
    }
    #[cfg(feature = "cel")]
    if let Some(v) = b.extra_config.get(cel::NAMESPACE) {
        if let Some(stage) = cel::build_backend(b, v)? {
            stages.push(Arc::new(stage));
        }
    }
    Ok(stages)
}

/// The HTTP executor of a backend: the shared client, wrapped by executor components (the
/// HTTP cache outside the client credentials, and the Martian modifiers around both, as
/// KrakenD CE stacks them).
pub fn executor(b: &BackendConfig, cx: &BuildCx<'_>) -> Result<Arc<dyn Executor>, String> {
    let mut client = cx.client.clone();
    if let Some(opts) = b.extra_config.get("backend/http/client") {
        let Some(opts) = opts.as_object() else {
            return Err(format!(
                "{}.extra_config.backend/http/client: expected an object",
                b.json_path
            ));
        };
        for (key, value) in opts {
            let flag = match key.as_str() {
                "send_body_on_redirect" => &mut client.send_body_on_redirect,
                "no_redirect" => &mut client.follow_redirects,
                _ => continue,
            };
            let Some(on) = value.as_bool() else {
                return Err(format!(
                    "{}.extra_config.backend/http/client.{key}: expected true or false",
                    b.json_path
                ));
            };
            *flag = if key == "no_redirect" { !on } else { on };
        }
    }
    let exec: Arc<dyn Executor> = Arc::new(client);
    let exec = client_credentials::wrap(b, exec)?;
    let exec = httpcache::wrap(b, exec)?;
    let exec = martian::wrap(b, exec)?;
    Ok(exec)
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
