//! Configuration: the typed service/endpoint/backend model with KrakenD's defaults, loaded from
//! JSON or YAML, version 3 or version 2 (mapped onto v3 at load time), `KRAKEND_*` overrides,
//! and errors that say where (`file:line:col`, the JSON path, what was expected), all at once.

pub mod duration;
pub mod legacy;
pub mod position;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

pub use duration::parse_go_duration;
use position::PositionIndex;

/// The default service port.
pub const DEFAULT_PORT: u16 = 8080;
/// The default endpoint timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<(usize, usize)>,
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((l, c)) = self.line {
            write!(f, ":{l}:{c}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every error found in one file.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The `extra_config` of one level, with legacy namespaces renamed to their v3 names.
pub type ExtraConfig = Map<String, Value>;

/// An endpoint path in the route table's syntax: `{param}` and gin's `:param` become
/// `{param}`, any other brace is escaped.
pub fn route_pattern(endpoint: &str) -> String {
    endpoint
        .split('/')
        .map(|seg| {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if !name.is_empty() && !name.contains(['{', '}']) {
                    return format!("{{{name}}}");
                }
            }
            if let Some(name) = seg.strip_prefix(':') {
                if !name.is_empty() {
                    return format!("{{{name}}}");
                }
            }
            seg.replace('{', "{{").replace('}', "}}")
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The strings of a JSON array (other items skipped); empty when `v` is no array.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The default bound on a request's header fields (as Envoy's and hyper's).
pub const DEFAULT_MAX_HEADER_FIELDS: u64 = 100;

/// The whole gateway configuration (the file's root).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The version written in the file (2 or 3).
    pub version: u64,
    pub name: String,
    pub port: u16,
    pub listen_ip: Option<IpAddr>,
    pub host: Vec<String>,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    pub output_encoding: String,
    pub endpoints: Vec<EndpointConfig>,
    pub extra_config: ExtraConfig,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub idle_timeout: Duration,
    pub read_header_timeout: Duration,
    pub max_header_bytes: usize,
    /// The most header fields a request head may carry (`max_header_fields`, a Tentacle
    /// addition; 431 past it).
    pub max_header_fields: usize,
    pub disable_keep_alives: bool,
    pub disable_compression: bool,
    pub max_idle_connections: usize,
    pub max_idle_connections_per_host: usize,
    pub idle_connection_timeout: Duration,
    pub response_header_timeout: Duration,
    pub dialer_timeout: Duration,
    pub dialer_keep_alive: Duration,
    pub use_h2c: bool,
    pub debug_endpoint: bool,
    pub echo_endpoint: bool,
    pub dns_cache_ttl: Duration,
    pub max_shutdown_wait_time: Duration,
    pub tls: Option<Value>,
    pub client_tls: Option<Value>,
    pub allow_insecure_connections: bool,
}

/// One endpoint object (one path + method).
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub endpoint: String,
    pub method: String,
    pub backend: Vec<BackendConfig>,
    pub concurrent_calls: usize,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    pub input_query_strings: Vec<String>,
    pub input_headers: Vec<String>,
    pub output_encoding: String,
    pub extra_config: ExtraConfig,
    /// Where it sits in the file, e.g. `endpoints[3]`.
    pub json_path: String,
}

/// One backend object.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub url_pattern: String,
    pub host: Vec<String>,
    pub disable_host_sanitize: bool,
    pub method: String,
    pub encoding: String,
    pub group: Option<String>,
    pub target: Option<String>,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub mapping: Vec<(String, String)>,
    pub is_collection: bool,
    pub sd: String,
    pub sd_scheme: String,
    pub input_headers: Option<Vec<String>>,
    pub input_query_strings: Option<Vec<String>>,
    pub extra_config: ExtraConfig,
    pub timeout: Duration,
    pub concurrent_calls: usize,
    pub json_path: String,
}

/// A loaded configuration plus what `check` reports without failing.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: ServiceConfig,
    pub warnings: Vec<String>,
}

/// The formats a configuration file may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Json,
        }
    }
}

/// Reads and validates a configuration file.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: name.clone(),
            line: None,
            path: String::new(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    load_str(&text, &name, Format::from_path(path), &|k| {
        std::env::var(k).ok()
    })
}

/// Parses and validates configuration text. `env` looks up `KRAKEND_*` overrides.
pub fn load_str(
    text: &str,
    file: &str,
    format: Format,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigErrors> {
    let syntax_error = |line: Option<(usize, usize)>, message: String| {
        ConfigErrors(vec![ConfigError {
            file: file.to_string(),
            line,
            path: String::new(),
            message,
        }])
    };
    let (mut root, positions) = match format {
        Format::Json => {
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            let v: Value = serde_json::from_str(text).map_err(|e| {
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                syntax_error(Some((e.line(), e.column())), format!("syntax error: {msg}"))
            })?;
            (v, PositionIndex::build(text))
        }
        Format::Yaml => {
            let v: Value = serde_norway::from_str(text).map_err(|e| {
                let pos = e.location().map(|l| (l.line(), l.column()));
                syntax_error(pos, format!("syntax error: {e}"))
            })?;
            (v, PositionIndex::default())
        }
    };
    let mut cx = Cx {
        file: file.to_string(),
        positions,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let Some(obj) = root.as_object_mut() else {
        cx.error("", "expected a JSON object at the root of the file");
        return Err(ConfigErrors(cx.errors));
    };
    apply_env_overrides(obj, env);
    let config = parse_service(obj, &mut cx);
    if cx.errors.is_empty() {
        Ok(Loaded {
            config,
            warnings: cx.warnings,
        })
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

/// `KRAKEND_<KEY>` replaces a root scalar that the file already has (KrakenD's rule).
fn apply_env_overrides(root: &mut Map<String, Value>, env: &dyn Fn(&str) -> Option<String>) {
    for (key, value) in root.iter_mut() {
        if matches!(value, Value::Object(_) | Value::Array(_)) {
            continue;
        }
        let var = format!("KRAKEND_{}", key.to_ascii_uppercase());
        let Some(raw) = env(&var) else { continue };
        *value = match value {
            Value::Number(_) => raw
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or(Value::String(raw)),
            Value::Bool(_) => match raw.as_str() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => Value::String(raw),
            },
            _ => Value::String(raw),
        };
    }
}

/// Error collection with the file's positions.
pub(crate) struct Cx {
    file: String,
    positions: PositionIndex,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
}

impl Cx {
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line: self.positions.find(path),
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub(crate) fn warn(&mut self, path: &str, message: impl fmt::Display) {
        let at = match self.positions.find(path) {
            Some((l, c)) => format!("{}:{l}:{c}: ", self.file),
            None => format!("{}: ", self.file),
        };
        let path = if path.is_empty() {
            String::new()
        } else {
            format!("{path}: ")
        };
        self.warnings.push(format!("{at}{path}{message}"));
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Typed reads from one JSON object, remembering which keys were read so that the rest can be
/// reported as unknown.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    path: String,
    seen: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(obj: &'a Map<String, Value>, path: &str) -> Self {
        Fields {
            obj,
            path: path.to_string(),
            seen: Vec::new(),
        }
    }

    fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.seen.push(key);
        match self.obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn string(&mut self, cx: &mut Cx, key: &'static str) -> Option<String> {
        match self.raw(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                cx.error(
                    &self.at(key),
                    format!("expected a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, cx: &mut Cx, key: &'static str) -> bool {
        match self.raw(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                cx.error(
                    &self.at(key),
                    format!("expected true or false, found {}", type_name(other)),
                );
                false
            }
        }
    }

    fn uint(&mut self, cx: &mut Cx, key: &'static str, max: u64) -> Option<u64> {
        let v = self.raw(key)?;
        match v.as_u64() {
            Some(n) if n <= max => Some(n),
            _ => {
                let found = match v {
                    Value::Number(n) => format!("{n}"),
                    other => type_name(other).to_string(),
                };
                cx.error(
                    &self.at(key),
                    format!("expected a whole number from 0 to {max}, found {found}"),
                );
                None
            }
        }
    }

    /// A Go duration string; KrakenD also reads a bare number as nanoseconds.
    fn duration(&mut self, cx: &mut Cx, key: &'static str) -> Option<Duration> {
        match self.raw(key)? {
            Value::String(s) => match parse_go_duration(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    cx.error(
                        &self.at(key),
                        format!("expected a duration such as \"2s\" or \"300ms\": {e}"),
                    );
                    None
                }
            },
            Value::Number(n) => match n.as_u64() {
                Some(ns) => Some(Duration::from_nanos(ns)),
                None => {
                    cx.error(&self.at(key), "expected a duration such as \"2s\"");
                    None
                }
            },
            other => {
                cx.error(
                    &self.at(key),
                    format!(
                        "expected a duration such as \"2s\", found {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    fn string_list(&mut self, cx: &mut Cx, key: &'static str) -> Option<Vec<String>> {
        let v = self.raw(key)?;
        let Value::Array(items) = v else {
            cx.error(
                &self.at(key),
                format!("expected a list of strings, found {}", type_name(v)),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => cx.error(
                    &format!("{}[{i}]", self.at(key)),
                    format!("expected a string, found {}", type_name(other)),
                ),
            }
        }
        Some(out)
    }

    fn object(&mut self, cx: &mut Cx, key: &'static str) -> Option<&'a Map<String, Value>> {
        match self.raw(key)? {
            Value::Object(o) => Some(o),
            other => {
                cx.error(
                    &self.at(key),
                    format!("expected an object, found {}", type_name(other)),
                );
                None
            }
        }
    }

    fn extra_config(&mut self, cx: &mut Cx, v2: bool) -> ExtraConfig {
        let mut extra = self.object(cx, "extra_config").cloned().unwrap_or_default();
        legacy::normalize_extra_config(&mut extra, v2);
        extra
    }

    /// Reports keys nobody read (KrakenD ignores them; `check` shows them).
    fn finish(self, cx: &mut Cx) {
        for key in self.obj.keys() {
            if self.seen.contains(&key.as_str()) || key.starts_with(['@', '$', '_', '#']) {
                continue;
            }
            let hint = legacy::V2_FIELD_RENAMES
                .iter()
                .find(|(old, _)| old == key)
                .map(|(_, new)| format!(" (a version 2 name: version 3 calls it {new:?})"))
                .unwrap_or_default();
            cx.warn(&self.at(key), format!("unknown key, ignored{hint}"));
        }
    }
}

fn parse_service(root: &mut Map<String, Value>, cx: &mut Cx) -> ServiceConfig {
    let version = match root.get("version") {
        None => {
            cx.error("version", "missing: expected \"version\": 3");
            3
        }
        Some(Value::Number(n)) if n.as_u64() == Some(3) => 3,
        Some(Value::Number(n)) if n.as_u64() == Some(2) => 2,
        Some(Value::Number(n)) => {
            cx.error(
                "version",
                format!("unsupported version: {n} (want: 3, or 2 for KrakenD 1.x files)"),
            );
            3
        }
        Some(other) => {
            cx.error(
                "version",
                format!("expected the number 3 (or 2), found {}", type_name(other)),
            );
            3
        }
    };
    let v2 = version == 2;
    if v2 {
        if let Some(Value::Array(eps)) = root.get_mut("endpoints") {
            for ep in eps.iter_mut().filter_map(Value::as_object_mut) {
                legacy::rename_v2_fields(ep);
                if let Some(Value::Array(bes)) = ep.get_mut("backend") {
                    for be in bes.iter_mut().filter_map(Value::as_object_mut) {
                        legacy::rename_v2_fields(be);
                    }
                }
            }
        }
    }
    let root: &Map<String, Value> = root;
    let mut f = Fields::new(root, "");
    f.raw("version");
    let name = f.string(cx, "name").unwrap_or_default();
    let port = f
        .uint(cx, "port", 65535)
        .map(|p| p as u16)
        .unwrap_or(DEFAULT_PORT);
    let port = if port == 0 { DEFAULT_PORT } else { port };
    let listen_ip = f.string(cx, "listen_ip").and_then(|s| {
        if s.is_empty() {
            return None;
        }
        match s.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                cx.error("listen_ip", format!("invalid ip address {s}"));
                None
            }
        }
    });
    let host = f.string_list(cx, "host").unwrap_or_default();
    let timeout = f
        .duration(cx, "timeout")
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_TIMEOUT);
    let cache_ttl = f.duration(cx, "cache_ttl").unwrap_or_default();
    let output_encoding = f
        .string(cx, "output_encoding")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "json".into());
    let extra_config = f.extra_config(cx, v2);
    let dur = |f: &mut Fields, cx: &mut Cx, k: &'static str| f.duration(cx, k).unwrap_or_default();
    let mut svc = ServiceConfig {
        version,
        name,
        port,
        listen_ip,
        host,
        timeout,
        cache_ttl,
        output_encoding,
        endpoints: Vec::new(),
        extra_config,
        read_timeout: dur(&mut f, cx, "read_timeout"),
        write_timeout: dur(&mut f, cx, "write_timeout"),
        idle_timeout: dur(&mut f, cx, "idle_timeout"),
        read_header_timeout: dur(&mut f, cx, "read_header_timeout"),
        max_header_bytes: f
            .uint(cx, "max_header_bytes", u32::MAX as u64)
            .filter(|n| *n > 0)
            .unwrap_or(1 << 20) as usize,
        max_header_fields: f
            .uint(cx, "max_header_fields", u32::MAX as u64)
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_MAX_HEADER_FIELDS) as usize,
        disable_keep_alives: f.boolean(cx, "disable_keep_alives"),
        disable_compression: f.boolean(cx, "disable_compression"),
        max_idle_connections: f
            .uint(cx, "max_idle_connections", u32::MAX as u64)
            .unwrap_or(0) as usize,
        max_idle_connections_per_host: f
            .uint(cx, "max_idle_connections_per_host", u32::MAX as u64)
            .filter(|n| *n > 0)
            .unwrap_or(250) as usize,
        idle_connection_timeout: dur(&mut f, cx, "idle_connection_timeout"),
        response_header_timeout: dur(&mut f, cx, "response_header_timeout"),
        dialer_timeout: dur(&mut f, cx, "dialer_timeout"),
        dialer_keep_alive: dur(&mut f, cx, "dialer_keep_alive"),
        use_h2c: f.boolean(cx, "use_h2c"),
        debug_endpoint: f.boolean(cx, "debug_endpoint"),
        echo_endpoint: f.boolean(cx, "echo_endpoint"),
        dns_cache_ttl: f
            .duration(cx, "dns_cache_ttl")
            .filter(|d| *d >= Duration::from_secs(1))
            .unwrap_or(Duration::from_secs(30)),
        max_shutdown_wait_time: dur(&mut f, cx, "max_shutdown_wait_time"),
        tls: f.raw("tls").cloned(),
        client_tls: f.raw("client_tls").cloned(),
        allow_insecure_connections: f.boolean(cx, "allow_insecure_connections"),
    };
    // Read but not acted on here: documented in `check`.
    for key in [
        "expect_continue_timeout",
        "dialer_fallback_delay",
        "disable_rest",
        "plugin",
        "sequential_start",
        "async_agent",
    ] {
        f.raw(key);
    }
    if let Some(v) = f.raw("endpoints") {
        match v {
            Value::Array(eps) => {
                for (i, ep) in eps.iter().enumerate() {
                    let path = format!("endpoints[{i}]");
                    match ep {
                        Value::Object(o) => {
                            if let Some(e) = parse_endpoint(o, &path, &svc, v2, cx) {
                                svc.endpoints.push(e);
                            }
                        }
                        other => cx.error(
                            &path,
                            format!("expected an endpoint object, found {}", type_name(other)),
                        ),
                    }
                }
            }
            other => cx.error(
                "endpoints",
                format!("expected a list of endpoints, found {}", type_name(other)),
            ),
        }
    }
    f.finish(cx);
    svc
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

fn parse_endpoint(
    obj: &Map<String, Value>,
    path: &str,
    svc: &ServiceConfig,
    v2: bool,
    cx: &mut Cx,
) -> Option<EndpointConfig> {
    let mut f = Fields::new(obj, path);
    let endpoint = match f.string(cx, "endpoint") {
        Some(e) if !e.is_empty() => {
            if e.starts_with('/') {
                e
            } else {
                format!("/{e}")
            }
        }
        Some(_) => {
            cx.error(&f.at("endpoint"), "expected a path such as \"/users/{id}\"");
            String::new()
        }
        None => {
            if !obj.contains_key("endpoint") {
                cx.error(
                    &f.at("endpoint"),
                    "missing: every endpoint needs an \"endpoint\" path",
                );
            }
            String::new()
        }
    };
    if is_reserved_path(&endpoint) {
        cx.error(
            &f.at("endpoint"),
            format!("{endpoint} is reserved for the gateway's own endpoints"),
        );
    }
    if let Some(pos) = endpoint.find('*') {
        if pos + 1 < endpoint.len() || !endpoint.ends_with("/*") {
            cx.error(
                &f.at("endpoint"),
                "a '*' may only end the path (wildcard endpoints)",
            );
        }
    }
    let method = f
        .string(cx, "method")
        .map(|m| m.to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "GET".into());
    if !METHODS.contains(&method.as_str()) {
        cx.error(
            &f.at("method"),
            format!("unsupported method {method}: expected one of GET, POST, PUT, PATCH, DELETE"),
        );
    }
    let concurrent_calls = f
        .uint(cx, "concurrent_calls", 1000)
        .filter(|n| *n > 0)
        .unwrap_or(1) as usize;
    let timeout = f
        .duration(cx, "timeout")
        .filter(|d| !d.is_zero())
        .unwrap_or(svc.timeout);
    let cache_ttl = f.duration(cx, "cache_ttl").unwrap_or(svc.cache_ttl);
    let input_query_strings = f.string_list(cx, "input_query_strings").unwrap_or_default();
    let input_headers = f.string_list(cx, "input_headers").unwrap_or_default();
    let output_encoding = f
        .string(cx, "output_encoding")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| svc.output_encoding.clone());
    let extra_config = f.extra_config(cx, v2);
    let mut ep = EndpointConfig {
        endpoint,
        method,
        backend: Vec::new(),
        concurrent_calls,
        timeout,
        cache_ttl,
        input_query_strings,
        input_headers,
        output_encoding,
        extra_config,
        json_path: path.to_string(),
    };
    match f.raw("backend") {
        Some(Value::Array(bes)) => {
            for (i, be) in bes.iter().enumerate() {
                let bpath = format!("{path}.backend[{i}]");
                match be {
                    Value::Object(o) => {
                        if let Some(b) = parse_backend(o, &bpath, svc, &ep, v2, cx) {
                            ep.backend.push(b);
                        }
                    }
                    other => cx.error(
                        &bpath,
                        format!("expected a backend object, found {}", type_name(other)),
                    ),
                }
            }
        }
        Some(other) => cx.error(
            &f.at("backend"),
            format!("expected a list of backends, found {}", type_name(other)),
        ),
        None => {}
    }
    if ep.backend.is_empty() && obj.get("backend").is_none_or(|b| b.is_array()) {
        cx.error(
            &f.at("backend"),
            format!(
                "the '{} {}' endpoint has 0 backends defined: expected at least one backend",
                ep.method, ep.endpoint
            ),
        );
    }
    if ep.output_encoding == "no-op" {
        if ep.backend.len() > 1 {
            cx.error(
                &f.at("output_encoding"),
                "can not use NoOp encoding with more than one backends connected to the same endpoint",
            );
        }
        for b in &mut ep.backend {
            b.encoding = "no-op".into();
        }
    }
    validate_params(&ep, cx);
    f.finish(cx);
    Some(ep)
}

fn is_reserved_path(p: &str) -> bool {
    ["/__debug", "/__echo", "/__health"]
        .iter()
        .any(|r| p == *r || p.starts_with(&format!("{r}/")))
}

/// Placeholders (`{name}`) of a path or url_pattern.
pub fn placeholders(pattern: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + len];
        if !name.is_empty() {
            out.push(name);
        }
        rest = &rest[start + len + 1..];
    }
    out
}

/// Endpoint path parameters: whole `{name}` (or gin's `:name`) segments.
pub fn endpoint_params(endpoint: &str) -> Vec<&str> {
    endpoint
        .split('/')
        .filter_map(|seg| {
            seg.strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .or_else(|| seg.strip_prefix(':'))
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn is_sequential_or_jwt(name: &str) -> bool {
    if name.starts_with("JWT.") {
        return true;
    }
    let Some(rest) = name.strip_prefix("resp") else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (rest[digits..].starts_with('_') || digits == rest.len())
}

fn validate_params(ep: &EndpointConfig, cx: &mut Cx) {
    let params = endpoint_params(&ep.endpoint);
    for b in &ep.backend {
        for name in placeholders(&b.url_pattern) {
            if is_sequential_or_jwt(name) {
                continue;
            }
            if !params.iter().any(|p| p.eq_ignore_ascii_case(name)) {
                cx.error(
                    &format!("{}.url_pattern", b.json_path),
                    format!(
                        "undefined output param '{name}': the endpoint {} has no {{{name}}}",
                        ep.endpoint
                    ),
                );
            }
        }
    }
}

const ENCODINGS: &[&str] = &["json", "safejson", "xml", "rss", "string", "no-op"];

fn parse_backend(
    obj: &Map<String, Value>,
    path: &str,
    svc: &ServiceConfig,
    ep: &EndpointConfig,
    v2: bool,
    cx: &mut Cx,
) -> Option<BackendConfig> {
    let mut f = Fields::new(obj, path);
    let url_pattern = match f.string(cx, "url_pattern") {
        Some(u) if u.starts_with('/') || u.is_empty() => {
            if u.is_empty() {
                "/".to_string()
            } else {
                u
            }
        }
        Some(u) => format!("/{u}"),
        None => {
            if !obj.contains_key("url_pattern") {
                cx.warn(
                    path,
                    "no \"url_pattern\": KrakenD uses \"/\" (the schema requires one)",
                );
            }
            "/".to_string()
        }
    };
    let disable_host_sanitize = f.boolean(cx, "disable_host_sanitize");
    let sd = f
        .string(cx, "sd")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "static".into());
    let sd_scheme = f
        .string(cx, "sd_scheme")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "http".into());
    let raw_hosts = f
        .string_list(cx, "host")
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| svc.host.clone());
    let mut host = Vec::with_capacity(raw_hosts.len());
    for (i, h) in raw_hosts.iter().enumerate() {
        if disable_host_sanitize || sd == "dns" {
            host.push(h.trim_end_matches('/').to_string());
            continue;
        }
        match sanitize_host(h) {
            Some(clean) => host.push(clean),
            None => cx.error(
                &format!("{path}.host[{i}]"),
                format!("host {h} not valid: invalid host (expected scheme://name[:port])"),
            ),
        }
    }
    let method = f
        .string(cx, "method")
        .map(|m| m.to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| ep.method.clone());
    let encoding = match f.string(cx, "encoding") {
        Some(e) if ENCODINGS.contains(&e.as_str()) => e,
        Some(e) if e.is_empty() => "json".into(),
        Some(e) => {
            cx.warn(
                &f.at("encoding"),
                format!(
                    "unknown encoding {e:?}: KrakenD falls back to \"json\" (expected one of {})",
                    ENCODINGS.join(", ")
                ),
            );
            "json".into()
        }
        None => "json".into(),
    };
    let group = f.string(cx, "group").filter(|s| !s.is_empty());
    let target = f.string(cx, "target").filter(|s| !s.is_empty());
    let allow = f.string_list(cx, "allow").unwrap_or_default();
    let deny = f.string_list(cx, "deny").unwrap_or_default();
    let mut mapping = Vec::new();
    if let Some(m) = f.object(cx, "mapping") {
        for (k, v) in m {
            match v {
                Value::String(s) => mapping.push((k.clone(), s.clone())),
                other => cx.error(
                    &format!("{path}.mapping.{k}"),
                    format!(
                        "expected the new name as a string, found {}",
                        type_name(other)
                    ),
                ),
            }
        }
    }
    let is_collection = f.boolean(cx, "is_collection");
    let input_headers = f.string_list(cx, "input_headers");
    let input_query_strings = f.string_list(cx, "input_query_strings");
    let extra_config = f.extra_config(cx, v2);
    let timeout = f
        .duration(cx, "timeout")
        .filter(|d| !d.is_zero())
        .unwrap_or(ep.timeout);
    f.raw("concurrent_calls");
    f.finish(cx);
    Some(BackendConfig {
        url_pattern,
        host,
        disable_host_sanitize,
        method,
        encoding,
        group,
        target,
        allow,
        deny,
        mapping,
        is_collection,
        sd,
        sd_scheme,
        input_headers,
        input_query_strings,
        extra_config,
        timeout,
        concurrent_calls: ep.concurrent_calls,
        json_path: path.to_string(),
    })
}

/// Lura's host sanitiser: `(https?://)?(name)(:port)?/?`; a missing scheme becomes `http://`.
pub fn sanitize_host(raw: &str) -> Option<String> {
    let h = raw.trim();
    let (scheme, rest) = if let Some(r) = h.strip_prefix("http://") {
        ("http://", r)
    } else if let Some(r) = h.strip_prefix("https://") {
        ("https://", r)
    } else {
        ("http://", h)
    };
    let rest = rest.trim_end_matches('/');
    let (name, port) = match rest.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (rest, None),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let port_ok =
        port.is_none_or(|p| (2..=6).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    if name_ok && port_ok {
        Some(format!("{scheme}{rest}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, ConfigErrors> {
        load_str(text, "krakend.json", Format::Json, &|_| None)
    }

    #[test]
    fn defaults_cascade() {
        let l = load(r#"{"version":3,"endpoints":[{"endpoint":"/a","backend":[{"url_pattern":"/x","host":["localhost:9000"]}]}]}"#).unwrap();
        let c = l.config;
        assert_eq!(c.port, 8080);
        assert_eq!(c.timeout, Duration::from_secs(2));
        let ep = &c.endpoints[0];
        assert_eq!(ep.method, "GET");
        assert_eq!(ep.output_encoding, "json");
        assert_eq!(
            ep.backend[0].host,
            vec!["http://localhost:9000".to_string()]
        );
        assert_eq!(ep.backend[0].timeout, Duration::from_secs(2));
    }

    #[test]
    fn errors_name_the_path_and_position() {
        let text = "{\n \"version\": 3,\n \"endpoints\": [{\"endpoint\": \"/a/{id}\", \"concurrent_calls\": \"1\",\n  \"backend\": [{\"url_pattern\": \"/x/{other}\"}]}]}";
        let errs = load(text).unwrap_err();
        let all = errs.to_string();
        assert!(all.contains("endpoints[0].concurrent_calls"), "{all}");
        assert!(all.contains("endpoints[0].backend[0].url_pattern"), "{all}");
        assert!(all.contains("krakend.json:3:"), "{all}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let errs = load("{\n  \"version\": 3,\n  \"port\": ,\n}").unwrap_err();
        assert!(
            errs.to_string()
                .starts_with("krakend.json:3:11: syntax error"),
            "{errs}"
        );
    }

    #[test]
    fn version_two_fields_are_mapped() {
        let l = load(r#"{"version":2,"endpoints":[{"endpoint":"/a","headers_to_pass":["X-A"],"querystring_params":["q"],"backend":[{"url_pattern":"/x","host":["http://h"],"whitelist":["a"]}]}]}"#).unwrap();
        let ep = &l.config.endpoints[0];
        assert_eq!(ep.input_headers, vec!["X-A".to_string()]);
        assert_eq!(ep.input_query_strings, vec!["q".to_string()]);
        assert_eq!(ep.backend[0].allow, vec!["a".to_string()]);
    }

    #[test]
    fn env_overrides_existing_root_keys() {
        let text = r#"{"version":3,"port":8080,"timeout":"1s"}"#;
        let env = |k: &str| match k {
            "KRAKEND_PORT" => Some("9999".to_string()),
            "KRAKEND_TIMEOUT" => Some("5s".to_string()),
            _ => None,
        };
        let l = load_str(text, "f", Format::Json, &env).unwrap();
        assert_eq!(l.config.port, 9999);
        assert_eq!(l.config.timeout, Duration::from_secs(5));
    }

    #[test]
    fn host_sanitizer() {
        assert_eq!(
            sanitize_host("http://showrss.info/").as_deref(),
            Some("http://showrss.info")
        );
        assert_eq!(
            sanitize_host("backend:8000").as_deref(),
            Some("http://backend:8000")
        );
        assert_eq!(sanitize_host("http://bad host"), None);
    }
}
