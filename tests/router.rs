//! Routing: `{param}`, methods, 404/405 texts, gin's redirects, the encoded-param check and
//! the `router` options.

mod common;

use common::*;
use serde_json::{json, Value};

fn ep(path: &str, method: &str, host: &str, url_pattern: &str) -> Value {
    json!({"endpoint": path, "method": method,
           "backend": [{"url_pattern": url_pattern, "host": [host]}]})
}

#[tokio::test]
async fn params_are_substituted_into_the_url_pattern() {
    let b = echo_backend().await;
    let gw = endpoint_gateway(ep(
        "/users/{id}/posts/{post_id}",
        "GET",
        &b.url,
        "/u/{id}/p/{post_id}",
    ))
    .await;
    let r = get(&gw.at("/users/42/posts/abc-1")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/u/42/p/abc-1");
    // a value with a space reaches the backend escaped
    let r = get(&gw.at("/users/a%20b/posts/x")).await;
    assert_eq!(r.status, 200);
    assert_eq!(b.requests().last().unwrap().path, "/u/a%20b/p/x");
}

#[tokio::test]
async fn a_param_may_be_used_twice_or_not_at_all() {
    let b = echo_backend().await;
    let gw = gateway(&config(json!([
        ep("/a/{id}", "GET", &b.url, "/x/{id}/{id}"),
        ep("/b/{id}", "GET", &b.url, "/static")
    ])))
    .await;
    assert_eq!(get(&gw.at("/a/7")).await.json()["path"], "/x/7/7");
    assert_eq!(get(&gw.at("/b/7")).await.json()["path"], "/static");
}

#[tokio::test]
async fn one_endpoint_object_per_method() {
    let b = echo_backend().await;
    let gw = gateway(&config(json!([
        ep("/thing", "GET", &b.url, "/get"),
        ep("/thing", "POST", &b.url, "/post"),
        ep("/thing", "delete", &b.url, "/delete")
    ])))
    .await;
    assert_eq!(get(&gw.at("/thing")).await.json()["path"], "/get");
    let r = send("POST", &gw.at("/thing"), &[], "x").await;
    assert_eq!(r.json()["path"], "/post");
    assert_eq!(r.json()["method"], "POST");
    let r = send("DELETE", &gw.at("/thing"), &[], "").await;
    assert_eq!(r.json()["method"], "DELETE");
    let r = send("PUT", &gw.at("/thing"), &[], "x").await;
    assert_eq!(r.status, 405);
}

/// gin keeps one route tree per method: the same path may name its parameter differently on
/// each method, and redirects are looked up in the request method's tree only.
#[tokio::test]
async fn each_method_has_its_own_route_tree() {
    let b = echo_backend().await;
    let gw = gateway(&config(json!([
        ep("/user/{a}", "GET", &b.url, "/x/{a}"),
        ep("/user/{b}", "DELETE", &b.url, "/y/{b}"),
        ep("/only-delete", "DELETE", &b.url, "/d")
    ])))
    .await;
    assert_eq!(get(&gw.at("/user/5")).await.json()["path"], "/x/5");
    let r = send("DELETE", &gw.at("/user/6"), &[], "").await;
    assert_eq!((r.status, r.json()["path"].clone()), (200, json!("/y/6")));
    assert_eq!(send("POST", &gw.at("/user/7"), &[], "").await.status, 405);
    // the trailing-slash and case fixes only look at the request method's tree
    let r = send("DELETE", &gw.at("/only-delete/"), &[], "").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/only-delete"));
    let r = send("DELETE", &gw.at("/ONLY-delete"), &[], "").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/only-delete"));
    assert_eq!(get(&gw.at("/only-delete/")).await.status, 404);
    let r = get(&gw.at("/only-delete")).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (405, "405 method not allowed")
    );
    assert_eq!(b.count(), 2);
}

#[tokio::test]
async fn unknown_path_is_404_page_not_found() {
    let b = echo_backend().await;
    let gw = endpoint_gateway(ep("/a", "GET", &b.url, "/")).await;
    for method in ["GET", "POST", "DELETE"] {
        let r = send(method, &gw.at("/nope/nothing"), &[], "").await;
        assert_eq!(r.status, 404, "{method}");
        assert_eq!(r.text(), "404 page not found");
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.completed(), Some("false"));
        assert_eq!(
            r.header("x-krakend"),
            Some(format!("Version {VERSION}").as_str())
        );
    }
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn wrong_method_is_405_method_not_allowed() {
    let b = echo_backend().await;
    let gw = endpoint_gateway(ep("/a", "GET", &b.url, "/")).await;
    let r = send("POST", &gw.at("/a"), &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.text(), "405 method not allowed");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.completed(), Some("false"));
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn disable_handle_method_not_allowed_gives_404() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/a", "GET", &b.url, "/")]),
        json!({"disable_handle_method_not_allowed": true}),
    )
    .await;
    let r = send("POST", &gw.at("/a"), &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 page not found");
}

#[tokio::test]
async fn custom_error_bodies() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/a", "GET", &b.url, "/")]),
        json!({"error_body": {"404": {"error": "no such route", "code": 404},
                               "405": {"error": "wrong method"}}}),
    )
    .await;
    let r = get(&gw.at("/missing")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), r#"{"code":404,"error":"no such route"}"#);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let r = send("POST", &gw.at("/a"), &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.text(), r#"{"error":"wrong method"}"#);
}

#[tokio::test]
async fn trailing_slash_redirects() {
    let b = echo_backend().await;
    let gw = gateway(&config(json!([
        ep("/get", "GET", &b.url, "/"),
        ep("/post", "POST", &b.url, "/"),
        ep("/slashed/", "GET", &b.url, "/")
    ])))
    .await;
    let r = get(&gw.at("/get/")).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/get"));
    let r = get(&gw.at("/get/?a=1&b=2")).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/get?a=1&b=2"));
    let r = send("POST", &gw.at("/post/"), &[], "body").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/post"));
    let r = get(&gw.at("/slashed")).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/slashed/"));
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn disable_redirect_trailing_slash() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/get", "GET", &b.url, "/")]),
        json!({"disable_redirect_trailing_slash": true}),
    )
    .await;
    let r = get(&gw.at("/get/")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 page not found");
}

#[tokio::test]
async fn case_fix_redirects() {
    let b = echo_backend().await;
    let gw = gateway(&config(json!([
        ep("/static", "GET", &b.url, "/"),
        ep("/users/{id}", "PUT", &b.url, "/u/{id}")
    ])))
    .await;
    let r = get(&gw.at("/StAtic")).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/static"));
    // the param keeps its case
    let r = send("PUT", &gw.at("/USERS/AbC"), &[], "").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/users/AbC"));
    // superfluous elements are cleaned first
    let r = get(&gw.at("/a/../STATIC")).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/static"));
}

#[tokio::test]
async fn disable_redirect_fixed_path() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/static", "GET", &b.url, "/")]),
        json!({"disable_redirect_fixed_path": true}),
    )
    .await;
    assert_eq!(get(&gw.at("/StAtic")).await.status, 404);
    assert_eq!(get(&gw.at("/static")).await.status, 200);
}

#[tokio::test]
async fn encoded_params_are_rejected_with_400() {
    let b = echo_backend().await;
    let gw = endpoint_gateway(ep("/users/{id}", "GET", &b.url, "/u/{id}")).await;
    for path in ["/users/..%252Fadmin", "/users/a%3Fb", "/users/a%23b"] {
        let r = get(&gw.at(path)).await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.text(), "error: encoded url params", "{path}");
    }
    assert_eq!(b.count(), 0);
    assert_eq!(get(&gw.at("/users/plain")).await.status, 200);
}

#[tokio::test]
async fn disable_path_decoding_lets_encoded_params_through() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/users/{id}", "GET", &b.url, "/u/{id}")]),
        json!({"disable_path_decoding": true}),
    )
    .await;
    let r = get(&gw.at("/users/a%253Fb")).await;
    assert_eq!(r.status, 200);
    assert_eq!(b.count(), 1);
}

#[tokio::test]
async fn return_error_msg_writes_the_error_as_body() {
    let b = status_backend(404, "not here").await;
    let gw = router_gateway(
        json!([ep("/a", "GET", &b.url, "/unknown")]),
        json!({"return_error_msg": true}),
    )
    .await;
    let r = get(&gw.at("/a")).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        format!("invalid status code 404 [GET /unknown]: {}/unknown", b.url)
    );
    assert_eq!(r.completed(), Some("false"));
}

#[tokio::test]
async fn without_return_error_msg_the_error_body_is_empty() {
    let b = status_backend(404, "not here").await;
    let gw = endpoint_gateway(ep("/a", "GET", &b.url, "/unknown")).await;
    let r = get(&gw.at("/a")).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "");
    assert_eq!(r.completed(), Some("false"));
    assert_eq!(
        r.header("x-krakend"),
        Some(format!("Version {VERSION}").as_str())
    );
}

#[tokio::test]
async fn hide_version_header() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = router_gateway(
        json!([ep("/a", "GET", &b.url, "/")]),
        json!({"hide_version_header": true}),
    )
    .await;
    let r = get(&gw.at("/a")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-krakend"), Some("Version undefined"));
    let r = get(&gw.at("/missing")).await;
    assert_eq!(r.header("x-krakend"), Some("Version undefined"));
}

#[tokio::test]
async fn version_header_by_default() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = endpoint_gateway(ep("/a", "GET", &b.url, "/")).await;
    let r = get(&gw.at("/a")).await;
    assert_eq!(
        r.header("x-krakend"),
        Some(format!("Version {VERSION}").as_str())
    );
    assert_eq!(r.completed(), Some("true"));
}

#[tokio::test]
async fn auto_options_lists_the_methods_of_the_path() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([
            ep("/thing", "POST", &b.url, "/"),
            ep("/thing", "GET", &b.url, "/"),
            ep("/other/{id}", "DELETE", &b.url, "/")
        ]),
        json!({"auto_options": true}),
    )
    .await;
    let r = send("OPTIONS", &gw.at("/thing"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    assert_eq!(
        r.header("x-krakend"),
        Some(format!("Version {VERSION}").as_str())
    );
    let r = send("OPTIONS", &gw.at("/other/12"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("allow"), Some("DELETE"));
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn without_auto_options_options_is_405() {
    let b = echo_backend().await;
    let gw = endpoint_gateway(ep("/thing", "GET", &b.url, "/")).await;
    let r = send("OPTIONS", &gw.at("/thing"), &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), None);
}

#[tokio::test]
async fn remove_extra_slash() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/users/{id}", "GET", &b.url, "/u/{id}")]),
        json!({"remove_extra_slash": true}),
    )
    .await;
    let r = get(&gw.at("//users//42")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/u/42");
}

#[tokio::test]
async fn extra_slashes_are_redirected_by_default() {
    let b = echo_backend().await;
    let gw = endpoint_gateway(ep("/users/{id}", "GET", &b.url, "/u/{id}")).await;
    let r = get(&gw.at("/users//42")).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/users/42"));
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn forwarded_by_client_ip_takes_the_client_address_from_headers() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/a", "GET", &b.url, "/")]),
        json!({"forwarded_by_client_ip": true, "trusted_proxies": ["127.0.0.1"]}),
    )
    .await;
    let r = get_with(&gw.at("/a"), &[("X-Forwarded-For", "203.0.113.9")]).await;
    assert_eq!(
        r.json()["headers"]["X-Forwarded-For"],
        json!(["203.0.113.9"])
    );
    let r = get_with(&gw.at("/a"), &[("X-Real-Ip", "198.51.100.7")]).await;
    assert_eq!(
        r.json()["headers"]["X-Forwarded-For"],
        json!(["198.51.100.7"])
    );
}

#[tokio::test]
async fn forwarded_by_client_ip_with_custom_headers() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/a", "GET", &b.url, "/")]),
        json!({"forwarded_by_client_ip": true, "remote_ip_headers": ["X-Client"],
               "trusted_proxies": ["127.0.0.0/8"]}),
    )
    .await;
    let r = get_with(
        &gw.at("/a"),
        &[
            ("X-Client", "192.0.2.44"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
    )
    .await;
    assert_eq!(
        r.json()["headers"]["X-Forwarded-For"],
        json!(["192.0.2.44"])
    );
}

#[tokio::test]
async fn client_ip_headers_are_ignored_unless_enabled() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/a", "GET", &b.url, "/")]),
        json!({"forwarded_by_client_ip": false}),
    )
    .await;
    let r = get_with(&gw.at("/a"), &[("X-Forwarded-For", "203.0.113.9")]).await;
    assert_eq!(r.json()["headers"]["X-Forwarded-For"], json!(["127.0.0.1"]));
}

#[tokio::test]
async fn untrusted_proxies_are_not_believed() {
    let b = echo_backend().await;
    let gw = router_gateway(
        json!([ep("/a", "GET", &b.url, "/")]),
        json!({"forwarded_by_client_ip": true, "trusted_proxies": ["10.0.0.0/8"]}),
    )
    .await;
    let r = get_with(&gw.at("/a"), &[("X-Forwarded-For", "203.0.113.9")]).await;
    assert_eq!(r.json()["headers"]["X-Forwarded-For"], json!(["127.0.0.1"]));
}
