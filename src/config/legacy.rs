//! KrakenD 1.x (`"version": 2`) names and the CE alias table: legacy namespaces are accepted in
//! every file, as KrakenD CE does; renamed fields are mapped when the file is version 2.

use serde_json::{Map, Value};

/// Legacy namespace → v3 namespace (contract §1.6).
pub const NAMESPACE_ALIASES: &[(&str, &str)] = &[
    (
        "github_com/devopsfaith/krakend/transport/http/server/handler",
        "plugin/http-server",
    ),
    (
        "github.com/devopsfaith/krakend/transport/http/client/executor",
        "plugin/http-client",
    ),
    (
        "github.com/devopsfaith/krakend/proxy/plugin",
        "plugin/req-resp-modifier",
    ),
    ("github.com/devopsfaith/krakend/proxy", "proxy"),
    ("github_com/luraproject/lura/router/gin", "router"),
    ("github_com/devopsfaith/krakend/router/gin", "router"),
    (
        "github.com/devopsfaith/krakend-ratelimit/juju/router",
        "qos/ratelimit/router",
    ),
    (
        "github.com/devopsfaith/krakend-ratelimit/juju/proxy",
        "qos/ratelimit/proxy",
    ),
    ("github.com/devopsfaith/krakend-httpcache", "qos/http-cache"),
    (
        "github.com/devopsfaith/krakend-circuitbreaker/gobreaker",
        "qos/circuit-breaker",
    ),
    (
        "github.com/devopsfaith/krakend-oauth2-clientcredentials",
        "auth/client-credentials",
    ),
    (
        "github.com/devopsfaith/krakend-jose/validator",
        "auth/validator",
    ),
    ("github.com/devopsfaith/krakend-jose/signer", "auth/signer"),
    ("github_com/devopsfaith/bloomfilter", "auth/revoker"),
    (
        "github_com/devopsfaith/krakend-botdetector",
        "security/bot-detector",
    ),
    ("github_com/devopsfaith/krakend-httpsecure", "security/http"),
    ("github_com/devopsfaith/krakend-cors", "security/cors"),
    ("github.com/devopsfaith/krakend-cel", "validation/cel"),
    (
        "github.com/devopsfaith/krakend-jsonschema",
        "validation/json-schema",
    ),
    ("github.com/devopsfaith/krakend-amqp/agent", "async/amqp"),
    (
        "github.com/devopsfaith/krakend-amqp/consume",
        "backend/amqp/consumer",
    ),
    (
        "github.com/devopsfaith/krakend-amqp/produce",
        "backend/amqp/producer",
    ),
    ("github.com/devopsfaith/krakend-lambda", "backend/lambda"),
    (
        "github.com/devopsfaith/krakend-pubsub/publisher",
        "backend/pubsub/publisher",
    ),
    (
        "github.com/devopsfaith/krakend-pubsub/subscriber",
        "backend/pubsub/subscriber",
    ),
    (
        "github.com/devopsfaith/krakend/transport/http/client/graphql",
        "backend/graphql",
    ),
    ("github.com/devopsfaith/krakend/http", "backend/http"),
    ("github_com/devopsfaith/krakend-gelf", "telemetry/gelf"),
    (
        "github_com/devopsfaith/krakend-gologging",
        "telemetry/logging",
    ),
    (
        "github.com/devopsfaith/krakend-gologging",
        "telemetry/logging",
    ),
    (
        "github_com/devopsfaith/krakend-logstash",
        "telemetry/logstash",
    ),
    (
        "github_com/devopsfaith/krakend-metrics",
        "telemetry/metrics",
    ),
    ("github_com/letgoapp/krakend-influx", "telemetry/influx"),
    ("github_com/devopsfaith/krakend-influx", "telemetry/influx"),
    (
        "github_com/devopsfaith/krakend-opencensus",
        "telemetry/opencensus",
    ),
    (
        "github.com/devopsfaith/krakend-lua/router",
        "modifier/lua-endpoint",
    ),
    (
        "github.com/devopsfaith/krakend-lua/proxy",
        "modifier/lua-proxy",
    ),
    (
        "github.com/devopsfaith/krakend-lua/proxy/backend",
        "modifier/lua-backend",
    ),
    ("github.com/devopsfaith/krakend-martian", "modifier/martian"),
    (
        "github_com/devopsfaith/krakend-swagger",
        "documentation/openapi",
    ),
    ("github_com/devopsfaith/krakend-apikeys", "auth/api-keys"),
    (
        "github_com/devopsfaith/krakend-instana",
        "telemetry/instana",
    ),
    ("github.com/devopsfaith/krakend-websocket", "websocket"),
];

/// Field renames inside a namespace's own object (v2 camelCase and dashed names).
const FIELD_RENAMES: &[(&str, &str, &str)] = &[
    ("auth/validator", "propagate-claims", "propagate_claims"),
    ("auth/validator", "jwk-url", "jwk_url"),
    ("auth/signer", "jwk-url", "jwk_url"),
    ("auth/signer", "keys-to-sign", "keys_to_sign"),
    ("qos/circuit-breaker", "maxErrors", "max_errors"),
    (
        "qos/circuit-breaker",
        "logStatusChange",
        "log_status_change",
    ),
    ("qos/ratelimit/router", "maxRate", "max_rate"),
    ("qos/ratelimit/router", "clientMaxRate", "client_max_rate"),
    ("qos/ratelimit/proxy", "maxRate", "max_rate"),
    ("security/bot-detector", "denylist", "deny"),
    ("security/bot-detector", "allowlist", "allow"),
    ("security/bot-detector", "cacheSize", "cache_size"),
    ("auth/revoker", "HashName", "hash_name"),
    ("auth/revoker", "TokenKeys", "token_keys"),
];

/// Endpoint and backend field renames of version 2 files.
pub const V2_FIELD_RENAMES: &[(&str, &str)] = &[
    ("headers_to_pass", "input_headers"),
    ("querystring_params", "input_query_strings"),
    ("whitelist", "allow"),
    ("blacklist", "deny"),
];

/// The v3 name of a namespace (itself when it is not a legacy name).
pub fn canonical_namespace(ns: &str) -> &str {
    NAMESPACE_ALIASES
        .iter()
        .find(|(legacy, _)| *legacy == ns)
        .map(|(_, v3)| *v3)
        .unwrap_or(ns)
}

/// Renames legacy namespaces of one `extra_config` object; with `v2`, also the fields inside.
pub fn normalize_extra_config(extra: &mut Map<String, Value>, v2: bool) {
    let keys: Vec<String> = extra.keys().cloned().collect();
    for key in keys {
        let canonical = canonical_namespace(&key).to_string();
        if canonical != key {
            if let Some(value) = extra.remove(&key) {
                // the v3 spelling wins when both are present
                extra.entry(canonical.clone()).or_insert(value);
            }
        }
    }
    for (ns, old, new) in FIELD_RENAMES {
        if let Some(Value::Object(obj)) = extra.get_mut(*ns) {
            if !v2 && obj.contains_key(*new) {
                continue;
            }
            if let Some(v) = obj.remove(*old) {
                obj.entry(new.to_string()).or_insert(v);
            }
        }
    }
}

/// Applies the version-2 field renames to one endpoint or backend object.
pub fn rename_v2_fields(obj: &mut Map<String, Value>) {
    for (old, new) in V2_FIELD_RENAMES {
        if let Some(v) = obj.remove(*old) {
            obj.entry(new.to_string()).or_insert(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renames_legacy_namespaces_and_fields() {
        let mut extra = json!({
            "github.com/devopsfaith/krakend-circuitbreaker/gobreaker": {"maxErrors": 3, "interval": 60},
            "github.com/devopsfaith/krakend/proxy": {"sequential": true}
        })
        .as_object()
        .unwrap()
        .clone();
        normalize_extra_config(&mut extra, true);
        assert_eq!(extra["qos/circuit-breaker"]["max_errors"], json!(3));
        assert_eq!(extra["proxy"]["sequential"], json!(true));
        assert!(!extra.contains_key("github.com/devopsfaith/krakend/proxy"));
    }
}
