//! The keys inside a namespace: each component names the keys it reads (its config struct's
//! fields, or a list beside a hand-written parser), and every other key of its object is
//! reported, with the closest known key when one is close. KrakenD ignores such keys, so a
//! misspelt `roles` would leave an endpoint checking no role: `run` and `check` warn about each
//! one and `check --lint` fails on it.
//!
//! Keys starting with `@`, `$`, `_` or `#` (`@comment`) are allowed everywhere, as the config
//! loader and KrakenD's schema allow them. Free-form maps (static `data`, Martian values, Lua
//! `md5`, `propagate_claims` pairs) are not looked into.
//!
//! This file also holds the key lists of the namespaces read outside `src/components`
//! (`router`, `proxy`, `backend/http`, `backend/http/client`, `telemetry/logging`).

use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::{Map, Value};

use super::Scope;

/// A key its component does not read, found inside a namespace's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Its JSON path below the namespace: `role`, `static.strategie`, `flatmap_filter[0].tipe`.
    pub path: String,
    pub key: String,
    /// The known key closest to it, when one is close.
    pub suggestion: Option<&'static str>,
}

/// How a component checks the keys of its namespace's value: it pushes what it does not read.
/// Values of the wrong type are left to the component's parser.
pub type KeyCheck = fn(Scope, &Value, &mut Vec<UnknownKey>);

/// Whether a key is a comment or annotation every object may hold (`@comment`, `$schema`, ...).
pub fn is_annotation(key: &str) -> bool {
    key.starts_with(['@', '$', '_', '#'])
}

/// `at.key`, or `key` at the top.
pub fn child(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// Reports the keys of the object `v` (at `at`) that are not in `known`, and returns the object
/// for a look at its nested values; `None` when `v` is not an object.
pub fn object<'v>(
    out: &mut Vec<UnknownKey>,
    at: &str,
    v: &'v Value,
    known: &[&'static str],
) -> Option<&'v Map<String, Value>> {
    let obj = v.as_object()?;
    for key in obj.keys() {
        if known.contains(&key.as_str()) || is_annotation(key) {
            continue;
        }
        out.push(UnknownKey {
            path: child(at, key),
            key: key.clone(),
            suggestion: super::closest(key, known.iter().copied()),
        });
    }
    Some(obj)
}

/// Checks each object of the list `v` (at `at`) with `each`.
pub fn list(
    out: &mut Vec<UnknownKey>,
    at: &str,
    v: &Value,
    mut each: impl FnMut(&mut Vec<UnknownKey>, &str, &Value),
) {
    for (i, item) in v.as_array().into_iter().flatten().enumerate() {
        each(out, &format!("{at}[{i}]"), item);
    }
}

/// The keys a config struct reads: the names (and aliases) its `Deserialize` derive accepts.
/// A struct with a `#[serde(flatten)]` field has no such list: parse its parts separately.
pub fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(FieldNames) {
        Err(FieldsOf(fields)) => fields,
        Ok(_) => &[],
    }
}

/// Reports the keys of `v` that the config struct `T` does not read.
pub fn of_struct<T: DeserializeOwned>(out: &mut Vec<UnknownKey>, at: &str, v: &Value) {
    object(out, at, v, fields::<T>());
}

/// The [`KeyCheck`] of a namespace whose value is the config struct `T`: reports the keys `T`
/// does not read.
pub fn struct_check<T: DeserializeOwned>(_: Scope, v: &Value, out: &mut Vec<UnknownKey>) {
    of_struct::<T>(out, "", v);
}

/// The [`KeyCheck`] of a namespace whose value is one object with the keys of the list
/// `$known` (a `&[&str]` constant): reports the others.
macro_rules! list_check {
    ($known:expr) => {
        |_, v, out| {
            $crate::components::keys::object(out, "", v, $known);
        }
    };
}
pub(crate) use list_check;

/// A deserializer that only learns which fields a struct asks for.
struct FieldNames;

/// What `FieldNames` ends with: the struct's fields (empty for anything but a struct).
#[derive(Debug)]
struct FieldsOf(&'static [&'static str]);

impl std::fmt::Display for FieldsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fields {:?}", self.0)
    }
}

impl std::error::Error for FieldsOf {}

impl de::Error for FieldsOf {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        FieldsOf(&[])
    }
}

impl<'de> de::Deserializer<'de> for FieldNames {
    type Error = FieldsOf;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, FieldsOf> {
        Err(FieldsOf(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, FieldsOf> {
        Err(FieldsOf(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

// ---------------------------------------------------------------------------------------------
// namespaces read outside src/components
// ---------------------------------------------------------------------------------------------

/// `router` (src/router/options.rs reads it): KrakenD's router options, the Enterprise ones
/// included (`error_body` maps status codes to free-form bodies).
pub const ROUTER: &[&str] = &[
    "app_engine",
    "auto_options",
    "decompress_gzip",
    "disable_access_log",
    "disable_gzip",
    "disable_handle_method_not_allowed",
    "disable_health",
    "disable_path_decoding",
    "disable_redirect_fixed_path",
    "disable_redirect_trailing_slash",
    "error_body",
    "forwarded_by_client_ip",
    "health_path",
    "hide_version_header",
    "logger_skip_paths",
    "max_multipart_memory",
    "max_payload",
    "remote_ip_headers",
    "remove_extra_slash",
    "return_error_msg",
    "trusted_proxies",
];

/// An endpoint's `proxy` (src/router/mod.rs reads it); `combiner`, `decompress_gzip` and
/// `max_payload` are custom-build and Enterprise options.
const PROXY_ENDPOINT: &[&str] = &[
    "combiner",
    "decompress_gzip",
    "flatmap_filter",
    "max_payload",
    "sequential",
    "sequential_propagated_params",
    "static",
];
/// A backend's `proxy` (src/backend/mod.rs reads it).
const PROXY_BACKEND: &[&str] = &["flatmap_filter", "shadow"];
/// `proxy.static` (its `data` is free-form).
const PROXY_STATIC: &[&str] = &["data", "strategy"];
/// One `flatmap_filter` operation.
const FLATMAP_OPERATION: &[&str] = &["type", "args"];

pub fn proxy(scope: Scope, v: &Value, out: &mut Vec<UnknownKey>) {
    let known = match scope {
        Scope::Backend => PROXY_BACKEND,
        _ => PROXY_ENDPOINT,
    };
    let Some(obj) = object(out, "", v, known) else {
        return;
    };
    if scope != Scope::Backend {
        if let Some(s) = obj.get("static") {
            object(out, "static", s, PROXY_STATIC);
        }
    }
    if let Some(ops) = obj.get("flatmap_filter") {
        list(out, "flatmap_filter", ops, |out, at, op| {
            object(out, at, op, FLATMAP_OPERATION);
        });
    }
}

/// `backend/http` (src/backend/mod.rs reads it).
pub const BACKEND_HTTP: &[&str] = &["return_error_code", "return_error_details"];

/// `backend/http/client` (`components::executor` reads it); `client_tls` and
/// `proxy_address` are Enterprise options.
pub const BACKEND_HTTP_CLIENT: &[&str] = &[
    "client_tls",
    "no_redirect",
    "proxy_address",
    "send_body_on_redirect",
];

/// `telemetry/logging` (src/telemetry.rs reads it), with its Enterprise access-log options.
pub const TELEMETRY_LOGGING: &[&str] = &[
    "access_log_custom_format",
    "access_log_format",
    "access_log_missing_key_marker",
    "backend",
    "custom_format",
    "format",
    "level",
    "prefix",
    "stdout",
    "syslog",
    "syslog_facility",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        #[serde(alias = "maxRate")]
        max_rate: u64,
        #[serde(skip)]
        skipped: u64,
        every: Option<Value>,
    }

    #[test]
    fn a_struct_names_its_fields_and_aliases() {
        let mut f = fields::<Sample>().to_vec();
        f.sort_unstable();
        assert_eq!(f, ["every", "maxRate", "max_rate"]);
        assert!(fields::<Vec<Sample>>().is_empty());
    }

    #[test]
    fn unknown_keys_get_the_closest_known_one() {
        let mut out = Vec::new();
        of_struct::<Sample>(
            &mut out,
            "",
            &json!({"max_rate": 1, "evry": "1s", "@comment": "x", "zzz": 1}),
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            (out[0].path.as_str(), out[0].suggestion),
            ("evry", Some("every"))
        );
        assert_eq!((out[1].path.as_str(), out[1].suggestion), ("zzz", None));
    }

    #[test]
    fn proxy_keys_depend_on_where_it_is() {
        let v = json!({"static": {"strategy": "always", "data": {"free": 1}, "strategie": "x"},
                       "shadow": true,
                       "flatmap_filter": [{"type": "del", "args": [], "arg": []}]});
        let mut out = Vec::new();
        proxy(Scope::Endpoint, &v, &mut out);
        let paths: Vec<&str> = out.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(
            paths,
            ["shadow", "static.strategie", "flatmap_filter[0].arg"]
        );
        let mut out = Vec::new();
        proxy(Scope::Backend, &v, &mut out);
        let paths: Vec<&str> = out.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(paths, ["static", "flatmap_filter[0].arg"]);
    }
}
