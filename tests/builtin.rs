//! The gateway's own endpoints: `/__health`, `/__debug/`, `/__echo/`, and the KrakenD 1.x
//! health-check seed config.

mod common;

use common::*;
use serde_json::{json, Value};

fn minimal() -> Value {
    config(json!([{"endpoint": "/x", "backend": [{"url_pattern": "/", "host": [closed_url()]}]}]))
}

/// Go's `time.Now().String()`: `2022-01-19 18:38:38.084402465 +0100 CET m=+30.674738658`.
fn looks_like_go_time(s: &str) -> bool {
    let parts: Vec<&str> = s.split(' ').collect();
    if parts.len() != 5 {
        return false;
    }
    let date_ok = parts[0].len() == 10
        && parts[0].chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    let time_ok = parts[1].len() >= 8
        && parts[1][..8].chars().enumerate().all(|(i, c)| {
            if i == 2 || i == 5 {
                c == ':'
            } else {
                c.is_ascii_digit()
            }
        });
    let zone_ok = (parts[2].starts_with('+') || parts[2].starts_with('-')) && parts[2].len() == 5;
    let mono_ok = parts[4].starts_with("m=+") || parts[4].starts_with("m=-");
    date_ok && time_ok && zone_ok && mono_ok
}

#[tokio::test]
async fn health_answers_with_krakend_2_shape() {
    let gw = gateway(&minimal()).await;
    let r = get(&gw.at("/__health")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let v = r.json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["agents", "now", "status"]);
    assert_eq!(v["agents"], json!({}));
    assert_eq!(v["status"], "ok");
    let now = v["now"].as_str().unwrap();
    assert!(looks_like_go_time(now), "now = {now:?}");
    // keys in Go's order, no spaces
    assert!(
        r.text().starts_with("{\"agents\":{},\"now\":\""),
        "{}",
        r.text()
    );
    assert!(r.text().ends_with("\",\"status\":\"ok\"}"), "{}", r.text());
}

#[tokio::test]
async fn health_is_get_only() {
    let gw = gateway(&minimal()).await;
    let r = send("POST", &gw.at("/__health"), &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.text(), "405 method not allowed");
}

#[tokio::test]
async fn health_path_can_be_renamed() {
    let cfg = with(
        minimal(),
        json!({"extra_config": {"router": {"health_path": "/healthz"}}}),
    );
    let gw = gateway(&cfg).await;
    let r = get(&gw.at("/healthz")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(get(&gw.at("/__health")).await.status, 404);
}

#[tokio::test]
async fn health_can_be_disabled() {
    let cfg = with(
        minimal(),
        json!({"extra_config": {"router": {"disable_health": true}}}),
    );
    let gw = gateway(&cfg).await;
    let r = get(&gw.at("/__health")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 page not found");
}

#[tokio::test]
async fn debug_endpoint_is_off_by_default() {
    let gw = gateway(&minimal()).await;
    assert_eq!(get(&gw.at("/__debug/")).await.status, 404);
    assert_eq!(get(&gw.at("/__debug/some/path")).await.status, 404);
}

#[tokio::test]
async fn debug_endpoint_with_the_config_flag_answers_pong_to_any_method() {
    let gw = gateway(&with(minimal(), json!({"debug_endpoint": true}))).await;
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        for path in ["/__debug/", "/__debug/some/deep/path?x=1"] {
            let r = send_text(method, &gw.at(path), "body").await;
            assert_eq!(r.status, 200, "{method} {path}");
            assert_eq!(r.text(), r#"{"message":"pong"}"#, "{method} {path}");
            assert_eq!(
                r.header("content-type"),
                Some("application/json; charset=utf-8")
            );
        }
    }
}

#[tokio::test]
async fn debug_endpoint_with_the_run_flag() {
    let gw = gateway_on_own_port(|_| minimal().to_string(), true).await;
    get_expect(&gw.at("/__debug/anything"), 200, r#"{"message":"pong"}"#).await;
}

#[tokio::test]
async fn echo_endpoint_is_off_by_default() {
    let gw = gateway(&minimal()).await;
    assert_eq!(get(&gw.at("/__echo/")).await.status, 404);
}

#[tokio::test]
async fn echo_endpoint_describes_the_request() {
    let gw = gateway(&with(minimal(), json!({"echo_endpoint": true}))).await;
    let r = send(
        "POST",
        &gw.at("/__echo/some/thing?a=1&b=two&a=3"),
        &[("X-Custom", "yes"), ("Content-Type", "text/plain")],
        "hello body",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let v = r.json();
    assert_eq!(v["req_uri"], "/__echo/some/thing?a=1&b=two&a=3");
    assert_eq!(v["req_method"], "POST");
    assert_eq!(v["req_body"], "hello body");
    assert_eq!(v["req_querystring"], json!({"a": ["1", "3"], "b": ["two"]}));
    assert_eq!(v["req_uri_details"]["path"], "/__echo/some/thing");
    assert_eq!(v["req_uri_details"]["query"], "a=1&b=two&a=3");
    assert_eq!(v["req_uri_details"]["host"], gw.addr.to_string());
    assert_eq!(v["req_headers"]["X-Custom"], json!(["yes"]));
    assert_eq!(v["req_headers"]["Content-Type"], json!(["text/plain"]));
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "req_body",
            "req_headers",
            "req_method",
            "req_querystring",
            "req_uri",
            "req_uri_details"
        ]
    );
}

#[tokio::test]
async fn builtin_paths_cannot_be_used_by_endpoints() {
    for path in ["/__health", "/__debug/x", "/__echo/"] {
        let cfg = config(
            json!([{"endpoint": path, "backend": [{"url_pattern": "/", "host": [closed_url()]}]}]),
        );
        let err = build_error(&cfg.to_string());
        assert!(err.contains("endpoints[0].endpoint"), "{path}: {err}");
    }
}

/// The KrakenD 1.x health check recipe, verbatim (only the port differs): the static data
/// answers even though the backend host does not resolve.
#[tokio::test]
async fn krakend_1_health_seed_config_answers_ok() {
    let text = |port: u16| {
        format!(
            r#"{{"version": 2, "port": {port}, "endpoints": [{{"endpoint": "/health", "extra_config": {{"github.com/devopsfaith/krakend/proxy": {{"static": {{"data": {{"status": "OK"}}, "strategy": "always"}}}}}}, "backend": [{{"url_pattern": "/", "host": ["http://fake-backend"]}}]}}]}}"#
        )
    };
    let gw = gateway_on_own_port(text, false).await;
    for _ in 0..2 {
        let r = get(&gw.at("/health")).await;
        r.assert_is(200, r#"{"status":"OK"}"#, "false");
        assert_eq!(r.header("content-type"), Some(JSON_UTF8));
        assert_eq!(r.header("cache-control"), None);
    }
    // the built-in health endpoint of 2.x is there too
    assert_eq!(get(&gw.at("/__health")).await.json()["status"], "ok");
}
