//! Configuration: v3 and v2 files, YAML, Go durations, defaults, `KRAKEND_*` overrides, error
//! reporting and init errors. Loading goes through `tentacle::config::load_str`; behaviour is
//! checked on a running gateway.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tentacle::config::{load_str, Format};

fn load(text: &str) -> Result<tentacle::config::Loaded, String> {
    load_str(text, "krakend.json", Format::Json, &|_| None).map_err(|e| e.to_string())
}

#[test]
fn defaults() {
    let l = load(r#"{"version":3,"endpoints":[{"endpoint":"/a","backend":[{"url_pattern":"/x","host":["h:8000"]}]}]}"#)
        .unwrap();
    let c = l.config;
    assert_eq!(c.port, 8080);
    assert_eq!(c.timeout, Duration::from_secs(2));
    assert_eq!(c.cache_ttl, Duration::ZERO);
    assert_eq!(c.output_encoding, "json");
    assert_eq!(c.max_idle_connections_per_host, 250);
    let ep = &c.endpoints[0];
    assert_eq!(ep.method, "GET");
    assert_eq!(ep.concurrent_calls, 1);
    assert_eq!(ep.timeout, Duration::from_secs(2));
    assert!(ep.input_headers.is_empty() && ep.input_query_strings.is_empty());
    let b = &ep.backend[0];
    assert_eq!(b.method, "GET");
    assert_eq!(b.encoding, "json");
    assert_eq!(b.host, ["http://h:8000"]);
}

#[test]
fn go_durations() {
    for (text, want) in [
        ("300ms", Duration::from_millis(300)),
        ("1.5s", Duration::from_millis(1500)),
        ("1m30s", Duration::from_secs(90)),
        ("2h", Duration::from_secs(7200)),
        ("1h2m3s4ms", Duration::from_millis(3_723_004)),
        ("250us", Duration::from_micros(250)),
        ("250µs", Duration::from_micros(250)),
        ("10ns", Duration::from_nanos(10)),
    ] {
        let l = load(&format!(
            r#"{{"version":3,"timeout":"{text}","cache_ttl":"{text}"}}"#
        ))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(l.config.timeout, want, "{text}");
        assert_eq!(l.config.cache_ttl, want, "{text}");
    }
    for bad in ["5", "1 s", "s", "1d", "-", "1.2.3s"] {
        let e = load(&format!(r#"{{"version":3,"timeout":"{bad}"}}"#))
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(e.contains("timeout"), "{bad}: {e}");
    }
}

#[test]
fn endpoint_and_backend_inherit_service_values() {
    let l = load(r#"{"version":3,"timeout":"7s","cache_ttl":"1m","output_encoding":"string","host":["http://svc:1234"],
        "endpoints":[{"endpoint":"a","concurrent_calls":2,"backend":[{"url_pattern":"x"}]},
                     {"endpoint":"/b","timeout":"1s","cache_ttl":"0s","backend":[{"url_pattern":"/y","host":["other:80"]}]}]}"#)
        .unwrap();
    let (a, b) = (&l.config.endpoints[0], &l.config.endpoints[1]);
    assert_eq!(a.endpoint, "/a");
    assert_eq!(a.timeout, Duration::from_secs(7));
    assert_eq!(a.cache_ttl, Duration::from_secs(60));
    assert_eq!(a.output_encoding, "string");
    assert_eq!(a.backend[0].url_pattern, "/x");
    assert_eq!(a.backend[0].host, ["http://svc:1234"]);
    assert_eq!(a.backend[0].concurrent_calls, 2);
    assert_eq!(a.backend[0].timeout, Duration::from_secs(7));
    assert_eq!(b.timeout, Duration::from_secs(1));
    assert_eq!(b.cache_ttl, Duration::ZERO);
    assert_eq!(b.backend[0].host, ["http://other:80"]);
}

#[test]
fn env_overrides_root_keys_present_in_the_file() {
    let env = |k: &str| match k {
        "KRAKEND_PORT" => Some("9911".to_string()),
        "KRAKEND_TIMEOUT" => Some("750ms".to_string()),
        "KRAKEND_NAME" => Some("from env".to_string()),
        "KRAKEND_CACHE_TTL" => Some("1h".to_string()),
        _ => None,
    };
    let l = load_str(
        r#"{"version":3,"port":8080,"timeout":"3s","name":"file"}"#,
        "f.json",
        Format::Json,
        &env,
    )
    .unwrap();
    assert_eq!(l.config.port, 9911);
    assert_eq!(l.config.timeout, Duration::from_millis(750));
    assert_eq!(l.config.name, "from env");
    // cache_ttl is not in the file: the variable is ignored
    assert_eq!(l.config.cache_ttl, Duration::ZERO);
}

#[tokio::test]
async fn krakend_timeout_applies_to_a_running_gateway() {
    let slow = slow_backend(Duration::from_secs(5), r#"{"a":1}"#).await;
    let text = json!({"version": 3, "timeout": "30s", "endpoints": [
        {"endpoint": "/a", "backend": [{"url_pattern": "/", "host": [slow.url]}]}]})
    .to_string();
    let env = |k: &str| (k == "KRAKEND_TIMEOUT").then(|| "200ms".to_string());
    let gw = build_text_env(&text, Format::Json, false, &env).unwrap();
    let (l, _) = listener().await;
    let gw = serve_gateway(gw, l);
    let r = get(&gw.at("/a")).await;
    assert_eq!(r.status, 500, "the 30s timeout of the file was used");
    gw.stop().await;
}

#[tokio::test]
async fn yaml_configs_run_like_json() {
    let b = echo_backend().await;
    let text = format!(
        r#"
version: 3
timeout: 3s
extra_config:
  router:
    return_error_msg: true
endpoints:
  - endpoint: /users/{{id}}
    input_query_strings: ["q"]
    backend:
      - url_pattern: /u/{{id}}
        host:
          - {}
        allow: [path, query]
"#,
        b.url
    );
    let gw = gateway_text(&text, Format::Yaml).await;
    let r = get(&gw.at("/users/9?q=1&z=2")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"path":"/u/9","query":"q=1"}"#);
}

#[test]
fn yaml_errors_have_positions() {
    let e = load_str(
        "version: 3\nendpoints: [\n  - a\n",
        "k.yaml",
        Format::Yaml,
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("k.yaml:"), "{e}");
}

#[tokio::test]
async fn version_2_configs_run_with_legacy_names() {
    let b = echo_backend().await;
    let missing = status_backend(404, "").await;
    let text = json!({"version": 2, "extra_config": {
        "github_com/luraproject/lura/router/gin": {"return_error_msg": true}},
    "endpoints": [
        {"endpoint": "/v2", "headers_to_pass": ["X-A"], "querystring_params": ["q"],
         "backend": [{"url_pattern": "/echo", "host": [b.url],
                      "whitelist": ["path", "query", "headers.X-A"]}]},
        {"endpoint": "/static",
         "extra_config": {"github.com/devopsfaith/krakend/proxy": {"static": {"strategy": "always", "data": {"s": 1}}}},
         "backend": [{"url_pattern": "/fail", "host": [closed_url()]}]},
        {"endpoint": "/err", "backend": [{"url_pattern": "/x", "host": [missing.url]}]}
    ]});
    let gw = gateway(&text).await;
    let r = get_with(&gw.at("/v2?q=1&z=2"), &[("X-A", "a"), ("X-B", "b")]).await;
    assert_eq!(
        r.text(),
        r#"{"headers":{"X-A":["a"]},"path":"/echo","query":"q=1"}"#
    );
    assert_eq!(get(&gw.at("/static")).await.text(), r#"{"s":1}"#);
    // the legacy router namespace is honoured: the error message is written
    let r = get(&gw.at("/err")).await;
    assert_eq!(r.status, 500);
    assert!(
        r.text().starts_with("invalid status code 404"),
        "{}",
        r.text()
    );
}

#[test]
fn unsupported_versions_are_rejected() {
    for (text, needle) in [
        (r#"{"version":1}"#, "version"),
        (r#"{"version":4}"#, "version"),
        (r#"{"version":"3"}"#, "version"),
        (r#"{"endpoints":[]}"#, "version"),
    ] {
        let e = load(text)
            .err()
            .unwrap_or_else(|| panic!("{text} accepted"));
        assert!(e.contains(needle), "{text}: {e}");
    }
}

#[test]
fn unknown_keys_are_ignored_and_at_keys_allowed() {
    let l = load(r#"{"version":3,"@comment":"x","whatever":1,"endpoints":[{"endpoint":"/a","$ref":"y","unknown":true,
        "backend":[{"url_pattern":"/","host":["h:80"],"nope":1}]}]}"#)
    .unwrap();
    assert_eq!(l.config.endpoints.len(), 1);
    let w = l.warnings.join("\n");
    assert!(
        w.contains("whatever") && w.contains("unknown") && w.contains("nope"),
        "{w}"
    );
    assert!(!w.contains("@comment") && !w.contains("$ref"), "{w}");
}

/// The warning about each namespace this build does not act on: where it is, the closest known
/// namespace when one is close (a misspelling), and what runs without it.
#[test]
fn namespace_warnings_name_the_place_and_the_closest_namespace() {
    let endpoint = |extra: serde_json::Value| {
        json!({"endpoint": "/a/{id}", "method": "POST", "extra_config": extra,
               "backend": [{"url_pattern": "/b", "host": ["h:80"]}]})
    };
    let warning = |ns: &str| {
        let l = load(&config(json!([endpoint(json!({ns: {}}))])).to_string()).unwrap();
        let all = tentacle::components::unsupported(&l.config);
        assert_eq!(all.len(), 1, "{ns}: {all:?}");
        all[0].to_string()
    };
    for (ns, close) in [
        ("auth/validatr", "\"auth/validator\""),
        ("Auth/Validator", "\"auth/validator\""),
        ("qos/ratelimit/routr", "\"qos/ratelimit/router\""),
        ("security/bot_detector", "\"security/bot-detector\""),
        (
            "github.com/devopsfaith/krakend-jose/validatr",
            "\"github.com/devopsfaith/krakend-jose/validator\", the KrakenD 1.x name of \"auth/validator\"",
        ),
    ] {
        let w = warning(ns);
        assert_eq!(
            w,
            format!(
                "endpoint POST /a/{{id}} (endpoints[0].extra_config): unknown namespace {ns:?} \
                 (did you mean {close}?): ignored, the endpoint runs without it"
            )
        );
    }
    // nothing close: no guess
    for ns in ["telemetry", "auth/jwt", "x-company/quota", "cors"] {
        let w = warning(ns);
        assert!(!w.contains("did you mean"), "{w}");
        assert!(w.contains("the endpoint runs without it"), "{w}");
    }
    // a KrakenD 1.x name of a known namespace is no unknown namespace
    let l = load(
        &config(json!([endpoint(
            json!({"github.com/devopsfaith/krakend-jose/validator": {"alg": "HS256"}})
        )]))
        .to_string(),
    )
    .unwrap();
    assert!(tentacle::components::unsupported(&l.config).is_empty());
}

#[test]
fn all_errors_are_reported_at_once_with_positions_and_paths() {
    let text = "{\n  \"version\": 3,\n  \"port\": \"8080\",\n  \"endpoints\": [\n    {\"endpoint\": \"/a/{id}\", \"timeout\": \"soon\",\n     \"backend\": [{\"url_pattern\": \"/x/{nope}\", \"host\": [\"http://bad host\"]}]},\n    {\"endpoint\": \"/b\", \"concurrent_calls\": \"1\", \"backend\": [{\"url_pattern\": \"/\", \"host\": \"h\"}]}\n  ]\n}";
    let e = load(text).unwrap_err();
    for needle in [
        "krakend.json:3:",
        "port",
        "endpoints[0].timeout",
        "endpoints[0].backend[0].url_pattern",
        "endpoints[0].backend[0].host[0]",
        "endpoints[1].concurrent_calls",
        "endpoints[1].backend[0].host",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }
    assert!(e.lines().count() >= 6, "{e}");
}

#[test]
fn syntax_errors_name_line_and_column() {
    let e = load("{\n  \"version\": 3,\n  \"port\": 8080,,\n}").unwrap_err();
    assert!(e.starts_with("krakend.json:3:"), "{e}");
    assert!(e.contains("syntax"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// init errors: the config parses but cannot be served
// ---------------------------------------------------------------------------------------------

fn build_err(endpoints: serde_json::Value) -> String {
    build_error(&config(endpoints).to_string())
}

#[test]
fn an_endpoint_without_backends_is_an_error() {
    let e = build_err(json!([{"endpoint": "/a", "backend": []}]));
    assert!(
        e.contains("endpoints[0].backend") && e.contains("0 backends"),
        "{e}"
    );
    let e = build_err(json!([{"endpoint": "/a"}]));
    assert!(e.contains("endpoints[0].backend"), "{e}");
}

#[test]
fn an_undefined_param_is_an_error() {
    let e = build_err(json!([{"endpoint": "/a/{id}",
        "backend": [{"url_pattern": "/x/{id}/{other}", "host": ["h:80"]}]}]));
    assert!(
        e.contains("endpoints[0].backend[0].url_pattern") && e.contains("other"),
        "{e}"
    );
    // sequential and JWT placeholders are fine
    let text = config(
        json!([{"endpoint": "/a", "extra_config": {"proxy": {"sequential": true}},
        "backend": [{"url_pattern": "/x", "host": ["h:80"]},
                    {"url_pattern": "/y/{resp0_id}/{JWT.sub}", "host": ["h:80"]}]}]),
    )
    .to_string();
    assert!(build_text(&text, Format::Json, false).is_ok());
}

#[test]
fn no_op_with_several_backends_is_an_error() {
    let e = build_err(json!([{"endpoint": "/a", "output_encoding": "no-op",
        "backend": [{"url_pattern": "/x", "host": ["h:80"]}, {"url_pattern": "/y", "host": ["h:80"]}]}]));
    assert!(
        e.contains("can not use NoOp encoding with more than one backends"),
        "{e}"
    );
}

#[test]
fn duplicate_routes_are_an_error() {
    let e = build_err(json!([
        {"endpoint": "/a", "backend": [{"url_pattern": "/x", "host": ["h:80"]}]},
        {"endpoint": "/a", "method": "GET", "backend": [{"url_pattern": "/y", "host": ["h:80"]}]}
    ]));
    assert!(e.contains("endpoints[1]") && e.contains("/a"), "{e}");
}

#[test]
fn conflicting_routes_are_an_error() {
    let e = build_err(json!([
        {"endpoint": "/user/{a}", "backend": [{"url_pattern": "/x", "host": ["h:80"]}]},
        {"endpoint": "/user/{b}/x", "backend": [{"url_pattern": "/y", "host": ["h:80"]}]}
    ]));
    assert!(e.contains("endpoints[1]"), "{e}");
}

/// gin keeps one tree per method: different parameter names on different methods coexist.
#[test]
fn different_param_names_on_different_methods_are_fine() {
    let text = config(json!([
        {"endpoint": "/user/{a}", "backend": [{"url_pattern": "/x/{a}", "host": ["h:80"]}]},
        {"endpoint": "/user/{b}", "method": "DELETE", "backend": [{"url_pattern": "/y/{b}", "host": ["h:80"]}]}
    ]))
    .to_string();
    if let Err(e) = build_text(&text, Format::Json, false) {
        panic!("refused: {e}");
    }
}

#[test]
fn unsupported_methods_are_an_error() {
    let e = load(
        &config(json!([{"endpoint": "/a", "method": "TRACE",
        "backend": [{"url_pattern": "/x", "host": ["h:80"]}]}]))
        .to_string(),
    )
    .unwrap_err();
    assert!(e.contains("endpoints[0].method"), "{e}");
}

#[test]
fn invalid_input_never_panics() {
    let cases = [
        "", "null", "[]", "3", "\"x\"", "{", "{\"version\":3,\"endpoints\":{}}",
        "{\"version\":3,\"endpoints\":[null,1,\"x\",[]]}",
        "{\"version\":3,\"endpoints\":[{\"endpoint\":null,\"backend\":[null]}]}",
        "{\"version\":3,\"endpoints\":[{\"endpoint\":\"/a\",\"backend\":[{\"url_pattern\":7,\"host\":[1]}]}]}",
        "{\"version\":3,\"endpoints\":[{\"endpoint\":\"/a\",\"extra_config\":{\"proxy\":{\"static\":{\"data\":[1]},\"flatmap_filter\":\"x\"}},\"backend\":[{\"url_pattern\":\"/\",\"host\":[\"h:80\"]}]}]}",
        "{\"version\":3,\"extra_config\":{\"router\":{\"trusted_proxies\":[\"not an ip\"]}}}",
        "{\"version\":3,\"endpoints\":[{\"endpoint\":\"/{\",\"backend\":[{\"url_pattern\":\"/{}\",\"host\":[\"h:80\"]}]}]}",
        "{\"version\":3,\"endpoints\":[{\"endpoint\":\"/a/*/b\",\"backend\":[{\"url_pattern\":\"/\",\"host\":[\"h:80\"]}]}]}",
        "{\"version\":3,\"port\":99999999,\"timeout\":-1,\"max_header_bytes\":-5}",
    ];
    for text in cases {
        let outcome = std::panic::catch_unwind(|| build_text(text, Format::Json, false).is_ok());
        assert!(outcome.is_ok(), "panicked on {text:?}");
    }
}

/// The key warnings of a configuration, as `run` and `check` write them after the position.
fn key_warnings(cfg: &serde_json::Value) -> Vec<String> {
    let l = load(&cfg.to_string()).unwrap();
    tentacle::components::unknown_keys(&l.config)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Every key KrakenD documents for the namespaces this build acts on, at every depth it reads
/// them, is known: a warning on one of them would be a mistake in a component's key list.
#[test]
fn every_documented_key_is_known() {
    let validator = json!({
        "alg": "RS256", "jwk_url": "https://idp/jwks", "jwk_local_path": "k.json",
        "secret_url": "base64key://x", "cypher_key": "k", "disable_jwk_security": false,
        "jwk_fingerprints": [], "jwk_local_ca": "ca.pem", "cipher_suites": [49199],
        "cache": true, "cache_duration": 900, "failed_jwk_key_cooldown": "10s",
        "issuer": "i", "audience": ["a"], "roles": ["r"], "roles_key": "roles",
        "roles_key_is_nested": false, "scopes": ["s"], "scopes_key": "scope",
        "scopes_matcher": "any", "propagate_claims": [["sub", "X-User"]],
        "propagate_claims_preserve_array": true, "cookie_key": "c",
        "auth_header_name": "X-Auth", "leeway": "1s", "key_identify_strategy": "kid",
        "operation_debug": true, "@comment": "every key"
    });
    let signer = json!({
        "alg": "HS256", "kid": "k", "keys_to_sign": ["t"], "full": false, "leeway": "1s",
        "jwk_url": "https://idp/jwk", "jwk_local_path": "k.json", "secret_url": "base64key://x",
        "cypher_key": "k", "disable_jwk_security": true, "jwk_fingerprints": [],
        "jwk_local_ca": "ca.pem", "cipher_suites": [49199]
    });
    let cors = json!({
        "allow_origins": ["*"], "allow_methods": ["GET"], "allow_headers": ["A"],
        "expose_headers": ["B"], "allow_credentials": true, "max_age": "12h",
        "options_passthrough": false, "options_success_status": 204,
        "allow_private_network": false, "debug": false
    });
    let bots = json!({
        "allow": ["a"], "deny": ["d"], "patterns": ["p.*"], "cache_size": 10,
        "empty_user_agent_is_bot": true
    });
    let martian = json!({"fifo.Group": {"scope": ["request", "response"], "aggregateErrors": true,
    "modifiers": [
        {"header.Modifier": {"scope": ["request"], "name": "A", "value": "1"}},
        {"header.Append": {"scope": ["request"], "name": "A", "value": "2"}},
        {"header.Copy": {"scope": ["request"], "from": "A", "to": "B"}},
        {"header.Blacklist": {"scope": ["response"], "names": ["A"]}},
        {"header.Id": {"scope": ["request"], "header": "X-Id"}},
        {"body.Modifier": {"scope": ["request"], "body": "e30=", "contentType": "application/json"}},
        {"querystring.Modifier": {"scope": ["request"], "name": "q", "value": "1"}},
        {"url.Modifier": {"scope": ["request"], "scheme": "http", "host": "h", "path": "/p", "query": "a=1"}},
        {"cookie.Modifier": {"scope": ["request"], "name": "c", "value": "v", "path": "/",
            "domain": "d", "expires": "2030-01-01T00:00:00Z", "secure": true,
            "httpOnly": true, "maxAge": 10}},
        {"port.Modifier": {"scope": ["request"], "port": 8080}},
        {"port.Modifier": {"scope": ["request"], "defaultForScheme": true}},
        {"port.Modifier": {"scope": ["request"], "remove": true}},
        {"stash.Modifier": {"scope": ["request"], "headerName": "X-Stash"}},
        {"header.Filter": {"scope": ["request"], "name": "A", "value": "1",
            "modifier": {"header.Modifier": {"name": "B", "value": "1"}},
            "else": {"header.Modifier": {"name": "B", "value": "2"}}}},
        {"header.RegexFilter": {"scope": ["request"], "header": "A", "regex": ".*",
            "modifier": {"header.Modifier": {"name": "B", "value": "1"}}}},
        {"querystring.Filter": {"scope": ["request"], "name": "q", "value": "1",
            "modifier": {"header.Modifier": {"name": "B", "value": "1"}}}},
        {"url.Filter": {"scope": ["request"], "scheme": "http", "host": "h", "path": "/",
            "query": "a=1", "modifier": {"header.Modifier": {"name": "B", "value": "1"}}}},
        {"url.RegexFilter": {"scope": ["request"], "regex": ".*",
            "modifier": {"header.Modifier": {"name": "B", "value": "1"}}}},
        {"cookie.Filter": {"scope": ["request"], "name": "c", "value": "v",
            "modifier": {"header.Modifier": {"name": "B", "value": "1"}}}},
        {"port.Filter": {"scope": ["request"], "port": 80,
            "modifier": {"header.Modifier": {"name": "B", "value": "1"}}}},
        {"priority.Group": {"scope": ["request"], "modifiers": [
            {"priority": 1, "modifier": {"header.Modifier": {"name": "B", "value": "1"}}}]}}
    ]}});
    let cfg = json!({
        "version": 3,
        "extra_config": {
            "router": {
                "app_engine": false, "auto_options": true, "decompress_gzip": 0,
                "disable_access_log": false, "disable_gzip": false,
                "disable_handle_method_not_allowed": false, "disable_health": false,
                "disable_path_decoding": false, "disable_redirect_fixed_path": false,
                "disable_redirect_trailing_slash": false,
                "error_body": {"404": {"any": "body"}, "405": {}},
                "forwarded_by_client_ip": false, "health_path": "/health",
                "hide_version_header": false, "logger_skip_paths": [],
                "max_multipart_memory": 1, "max_payload": 0, "remote_ip_headers": [],
                "remove_extra_slash": false, "return_error_msg": true, "trusted_proxies": []
            },
            "telemetry/logging": {
                "level": "INFO", "prefix": "[GW]", "stdout": true, "syslog": false,
                "syslog_facility": "local3", "format": "default", "custom_format": "%{message}",
                "access_log_format": "json", "access_log_custom_format": "",
                "access_log_missing_key_marker": "-", "backend": {}
            },
            "telemetry/metrics": {
                "collection_time": "60s", "listen_address": ":8090", "proxy_disabled": false,
                "router_disabled": false, "backend_disabled": false, "endpoint_disabled": false
            },
            "auth/validator": {"shared_cache_duration": 900},
            "security/cors": cors,
            "security/http": {
                "allowed_hosts": [], "allowed_hosts_are_regex": false, "host_proxy_headers": [],
                "ssl_redirect": false, "ssl_host": "", "ssl_proxy_headers": {"X-Forwarded-Proto": "https"},
                "sts_seconds": 0, "sts_include_subdomains": false, "force_sts_header": false,
                "frame_deny": true, "custom_frame_options_value": "", "content_type_nosniff": true,
                "browser_xss_filter": true, "content_security_policy": "", "referrer_policy": "",
                "hpkp_public_key": "", "is_development": false
            },
            "security/bot-detector": bots
        },
        "endpoints": [{
            "endpoint": "/a/{id}",
            "extra_config": {
                "auth/validator": validator,
                "auth/signer": signer,
                "security/bot-detector": bots,
                "qos/ratelimit/router": {
                    "max_rate": 10, "capacity": 10, "every": "1s", "client_max_rate": 1,
                    "client_capacity": 1, "strategy": "header", "key": "X-Id",
                    "num_shards": 2048, "cleanup_period": "1m", "cleanup_threads": 1
                },
                "proxy": {
                    "sequential": true, "sequential_propagated_params": ["resp0_id"],
                    "static": {"strategy": "always", "data": {"free": {"form": 1}}},
                    "flatmap_filter": [{"type": "del", "args": ["a"]}],
                    "combiner": "c", "decompress_gzip": false, "max_payload": 0
                },
                "validation/cel": [{"check_expr": "true"}],
                "validation/json-schema": {"type": "object", "anything": "goes"},
                "modifier/lua-proxy": {"sources": [], "pre": "", "post": "", "live": false,
                                       "allow_open_libs": false, "skip_next": false,
                                       "md5": {"file.lua": "abc"}}
            },
            "backend": [{
                "url_pattern": "/b", "host": ["h:80"],
                "extra_config": {
                    "proxy": {"shadow": false, "flatmap_filter": [{"type": "move", "args": ["a", "b"]}]},
                    "backend/http": {"return_error_code": true, "return_error_details": "b"},
                    "backend/http/client": {"send_body_on_redirect": true, "no_redirect": false,
                                            "client_tls": {}, "proxy_address": "http://p:1"},
                    "qos/ratelimit/proxy": {"max_rate": 1, "capacity": 1, "every": "1s"},
                    "qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 1,
                                            "name": "cb", "log_status_change": true},
                    "qos/http-cache": {"shared": true, "max_items": 10, "max_size": 1024},
                    "auth/client-credentials": {"client_id": "i", "client_secret": "s",
                        "token_url": "http://idp/token", "scopes": "a,b",
                        "endpoint_params": {"audience": ["free"]}},
                    "validation/cel": [{"check_expr": "true"}],
                    "modifier/lua-backend": {"sources": [], "pre": "", "post": "", "live": false,
                                             "allow_open_libs": false, "skip_next": true,
                                             "md5": {}},
                    "modifier/martian": martian
                }
            }]
        }]
    });
    assert_eq!(key_warnings(&cfg), Vec::<String>::new());
    // the KrakenD 1.x spellings: renamed fields, camelCase aliases, legacy namespaces
    let v2 = json!({
        "version": 2,
        "extra_config": {
            "github_com/devopsfaith/krakend-gologging": {"level": "INFO", "syslog": false, "stdout": true},
            "github_com/devopsfaith/krakend-cors": {"allow_origins": ["*"], "max_age": "1h"}
        },
        "endpoints": [{
            "endpoint": "/a",
            "extra_config": {
                "github.com/devopsfaith/krakend-jose/validator": {
                    "alg": "RS256", "jwk-url": "https://idp/jwks", "propagate-claims": [["sub", "X"]]
                },
                "github.com/devopsfaith/krakend-ratelimit/juju/router": {"maxRate": 1, "clientMaxRate": 1},
                "github_com/devopsfaith/krakend-botdetector": {"denylist": [], "allowlist": [], "cacheSize": 1},
                "github.com/devopsfaith/krakend/proxy": {"sequential": true}
            },
            "backend": [{"url_pattern": "/", "host": ["h:80"], "extra_config": {
                "github.com/devopsfaith/krakend-circuitbreaker/gobreaker": {
                    "interval": 60, "timeout": 10, "maxErrors": 1, "logStatusChange": true},
                "github.com/devopsfaith/krakend-ratelimit/juju/proxy": {"maxRate": 1, "capacity": 1},
                "github.com/devopsfaith/krakend/http": {"return_error_details": "b"}
            }}]
        }]
    });
    assert_eq!(key_warnings(&v2), Vec::<String>::new());
}

/// Each unknown key is named with its JSON path, its namespace and the closest known key.
#[test]
fn unknown_keys_are_named_with_their_path_and_the_closest_key() {
    let endpoint = |extra: serde_json::Value, backend_extra: serde_json::Value| {
        config(json!([{"endpoint": "/a", "extra_config": extra,
            "backend": [{"url_pattern": "/b", "host": ["h:80"], "extra_config": backend_extra}]}]))
    };
    let one = |cfg: serde_json::Value| {
        let w = key_warnings(&cfg);
        assert_eq!(w.len(), 1, "{w:?}");
        w[0].clone()
    };
    for (ns, value, path, suggestion) in [
        (
            "auth/validator",
            json!({"alg": "HS256", "role": ["a"]}),
            "role",
            Some("roles"),
        ),
        (
            "auth/validator",
            json!({"alg": "HS256", "jwk_ur": "x"}),
            "jwk_ur",
            Some("jwk_url"),
        ),
        (
            "auth/signer",
            json!({"alg": "HS256", "keys_to_sing": []}),
            "keys_to_sing",
            Some("keys_to_sign"),
        ),
        (
            "qos/ratelimit/router",
            json!({"max_rate": 1, "clientMaxRte": 1}),
            "clientMaxRte",
            Some("clientMaxRate"),
        ),
        (
            "security/bot-detector",
            json!({"denny": []}),
            "denny",
            Some("deny"),
        ),
        (
            "validation/cel",
            json!([{"check_expr": "true"}, {"check_exp": "x"}]),
            "[1].check_exp",
            Some("check_expr"),
        ),
        (
            "modifier/lua-proxy",
            json!({"source": []}),
            "source",
            Some("sources"),
        ),
        (
            "proxy",
            json!({"sequental": true}),
            "sequental",
            Some("sequential"),
        ),
        (
            "proxy",
            json!({"flatmap_filter": [{"type": "del", "argss": []}]}),
            "flatmap_filter[0].argss",
            Some("args"),
        ),
    ] {
        let w = one(endpoint(json!({ns: value}), json!({})));
        let dot = if path.starts_with('[') { "" } else { "." };
        let key = path.rsplit(['.', ']']).next().unwrap();
        let mean = suggestion
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default();
        assert_eq!(
            w,
            format!(
                "endpoint GET /a (endpoints[0].extra_config.{ns}{dot}{path}): unknown key \
                 {key:?} in {ns:?}{mean}: ignored"
            )
        );
    }
    for (ns, value, path) in [
        ("qos/circuit-breaker", json!({"max_error": 1}), "max_error"),
        ("qos/http-cache", json!({"share": true}), "share"),
        ("qos/ratelimit/proxy", json!({"max_rat": 1}), "max_rat"),
        (
            "auth/client-credentials",
            json!({"client_id": "i", "client_secret": "s", "token_url": "t", "scope": "a"}),
            "scope",
        ),
        (
            "backend/http",
            json!({"return_error_detail": "x"}),
            "return_error_detail",
        ),
        (
            "backend/http/client",
            json!({"send_body_on_redirects": true}),
            "send_body_on_redirects",
        ),
        (
            "proxy",
            json!({"static": {"strategy": "always", "data": {}}}),
            "static",
        ),
        (
            "modifier/martian",
            json!({"header.Filter": {"name": "a", "else": {"header.Modifier": {"nam": "b"}}}}),
            "header.Filter.else.header.Modifier.nam",
        ),
    ] {
        let w = one(endpoint(json!({}), json!({ns: value})));
        assert!(
            w.starts_with(&format!(
                "backend 0 (/b) of endpoint GET /a (endpoints[0].backend[0].extra_config.{ns}.{path}): unknown key"
            )),
            "{w}"
        );
    }
    // service scope: the service-level validator only knows the shared cache
    for (ns, value, path) in [
        ("auth/validator", json!({"alg": "RS256"}), "alg"),
        ("security/http", json!({"frame_denny": true}), "frame_denny"),
        ("telemetry/logging", json!({"levle": "INFO"}), "levle"),
        (
            "telemetry/metrics",
            json!({"listen_adress": ":1"}),
            "listen_adress",
        ),
        (
            "router",
            json!({"return_error_message": true}),
            "return_error_message",
        ),
    ] {
        let w = one(with(
            endpoint(json!({}), json!({})),
            json!({"extra_config": {ns: value}}),
        ));
        assert!(
            w.starts_with(&format!("service (extra_config.{ns}.{path}): unknown key")),
            "{w}"
        );
    }
}

/// Only the namespaces this build acts on where they are written have their keys checked: a
/// misplaced or not implemented one gets its own warning, and the value of `validation/json-schema`
/// is a schema, whose keywords are the user's.
#[test]
fn keys_are_checked_only_where_a_component_reads_them() {
    let cfg = config(json!([{"endpoint": "/a",
        "extra_config": {"validation/json-schema": {"type": "object", "propertie": {}},
                         "auth/revoker": {"whatever": 1}},
        "backend": [{"url_pattern": "/b", "host": ["h:80"],
                     "extra_config": {"auth/validator": {"role": []}}}]}]));
    assert_eq!(key_warnings(&cfg), Vec::<String>::new());
}
