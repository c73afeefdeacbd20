//! Routing: `{param}`, methods, 404/405 texts, gin's redirects, the encoded-param check and
//! the `router` options.

mod common;

use common::*;
use serde_json::{json, Value};

fn ep(path: &str, method: &str, host: &str, url_pattern: &str) -> Value {
    json!({"endpoint": path, "method": method,
           "backend": [{"url_pattern": url_pattern, "host": [host]}]})
}

/// An echo backend and a gateway routing each `"METHOD PATH URL_PATTERN"` to it, under these
/// `router` options (`null`: none).
async fn echo_routes(routes: &[&str], router: Value) -> (FakeBackend, Gw) {
    let b = echo_backend().await;
    let endpoints: Vec<Value> = routes
        .iter()
        .map(|route| match route.split(' ').collect::<Vec<_>>()[..] {
            [method, path, url_pattern] => ep(path, method, &b.url, url_pattern),
            _ => panic!("not METHOD PATH URL_PATTERN: {route}"),
        })
        .collect();
    let gw = if router.is_null() {
        gateway(&config(json!(endpoints))).await
    } else {
        router_gateway(json!(endpoints), router).await
    };
    (b, gw)
}

/// Each `(method, path, status, location)`: the gateway redirects there.
async fn assert_redirects(gw: &Gw, cases: &[(&str, &str, u16, &str)]) {
    for (method, path, status, location) in cases {
        let r = send(method, &gw.at(path), &[], "").await;
        assert_eq!(r.status, *status, "{method} {path}");
        assert_eq!(r.header("location"), Some(*location), "{method} {path}");
    }
}

/// The router's own plain-text answer: `status` with `text`, not completed.
fn assert_router_error(r: &Resp, status: u16, text: &str, case: &str) {
    assert_eq!(r.status, status, "{case}");
    assert_eq!(r.text(), text, "{case}");
    assert_eq!(r.header("content-type"), Some("text/plain"), "{case}");
    assert_eq!(r.completed(), Some("false"), "{case}");
}

#[tokio::test]
async fn params_are_substituted_into_the_url_pattern() {
    let (b, gw) = echo_routes(
        &["GET /users/{id}/posts/{post_id} /u/{id}/p/{post_id}"],
        Value::Null,
    )
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
    let (_b, gw) = echo_routes(
        &["GET /a/{id} /x/{id}/{id}", "GET /b/{id} /static"],
        Value::Null,
    )
    .await;
    assert_eq!(get(&gw.at("/a/7")).await.json()["path"], "/x/7/7");
    assert_eq!(get(&gw.at("/b/7")).await.json()["path"], "/static");
}

#[tokio::test]
async fn one_endpoint_object_per_method() {
    let (_b, gw) = echo_routes(
        &[
            "GET /thing /get",
            "POST /thing /post",
            "delete /thing /delete",
        ],
        Value::Null,
    )
    .await;
    // each method reaches its own backend path, with its method
    for (method, body, path) in [
        ("GET", "", "/get"),
        ("POST", "x", "/post"),
        ("DELETE", "", "/delete"),
    ] {
        let seen = send(method, &gw.at("/thing"), &[], body).await.json();
        assert_eq!(
            (seen["method"].as_str(), seen["path"].as_str()),
            (Some(method), Some(path))
        );
    }
    let r = send("PUT", &gw.at("/thing"), &[], "x").await;
    assert_eq!(r.status, 405);
}

/// gin keeps one route tree per method: the same path may name its parameter differently on
/// each method, and redirects are looked up in the request method's tree only.
#[tokio::test]
async fn each_method_has_its_own_route_tree() {
    let (b, gw) = echo_routes(
        &[
            "GET /user/{a} /x/{a}",
            "DELETE /user/{b} /y/{b}",
            "DELETE /only-delete /d",
        ],
        Value::Null,
    )
    .await;
    assert_eq!(get(&gw.at("/user/5")).await.json()["path"], "/x/5");
    let r = send("DELETE", &gw.at("/user/6"), &[], "").await;
    assert_eq!((r.status, r.json()["path"].clone()), (200, json!("/y/6")));
    assert_eq!(send("POST", &gw.at("/user/7"), &[], "").await.status, 405);
    // the trailing-slash and case fixes only look at the request method's tree
    assert_redirects(
        &gw,
        &[
            ("DELETE", "/only-delete/", 307, "/only-delete"),
            ("DELETE", "/ONLY-delete", 307, "/only-delete"),
        ],
    )
    .await;
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
    let (b, gw) = echo_routes(&["GET /a /"], Value::Null).await;
    for method in ["GET", "POST", "DELETE"] {
        let r = send(method, &gw.at("/nope/nothing"), &[], "").await;
        assert_router_error(&r, 404, "404 page not found", method);
        r.assert_version_header();
    }
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn wrong_method_is_405_method_not_allowed() {
    let (b, gw) = echo_routes(&["GET /a /"], Value::Null).await;
    let r = send("POST", &gw.at("/a"), &[], "").await;
    assert_router_error(&r, 405, "405 method not allowed", "POST /a");
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn disable_handle_method_not_allowed_gives_404() {
    let (_b, gw) = echo_routes(
        &["GET /a /"],
        json!({"disable_handle_method_not_allowed": true}),
    )
    .await;
    let r = send("POST", &gw.at("/a"), &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 page not found");
}

#[tokio::test]
async fn custom_error_bodies() {
    let (_b, gw) = echo_routes(
        &["GET /a /"],
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
    let (b, gw) = echo_routes(
        &["GET /get /", "POST /post /", "GET /slashed/ /"],
        Value::Null,
    )
    .await;
    assert_redirects(
        &gw,
        &[
            ("GET", "/get/", 301, "/get"),
            ("GET", "/get/?a=1&b=2", 301, "/get?a=1&b=2"),
            ("GET", "/slashed", 301, "/slashed/"),
        ],
    )
    .await;
    // a request with a body is redirected as well
    let r = send("POST", &gw.at("/post/"), &[], "body").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/post"));
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn disable_redirect_trailing_slash() {
    let (_b, gw) = echo_routes(
        &["GET /get /"],
        json!({"disable_redirect_trailing_slash": true}),
    )
    .await;
    let r = get(&gw.at("/get/")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 page not found");
}

#[tokio::test]
async fn case_fix_redirects() {
    let (_b, gw) = echo_routes(&["GET /static /", "PUT /users/{id} /u/{id}"], Value::Null).await;
    assert_redirects(
        &gw,
        &[
            ("GET", "/StAtic", 301, "/static"),
            // the param keeps its case
            ("PUT", "/USERS/AbC", 307, "/users/AbC"),
            // superfluous elements are cleaned first
            ("GET", "/a/../STATIC", 301, "/static"),
        ],
    )
    .await;
}

#[tokio::test]
async fn disable_redirect_fixed_path() {
    let (_b, gw) = echo_routes(
        &["GET /static /"],
        json!({"disable_redirect_fixed_path": true}),
    )
    .await;
    assert_eq!(get(&gw.at("/StAtic")).await.status, 404);
    assert_eq!(get(&gw.at("/static")).await.status, 200);
}

#[tokio::test]
async fn encoded_params_are_rejected_with_400() {
    let (b, gw) = echo_routes(&["GET /users/{id} /u/{id}"], Value::Null).await;
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
    let (b, gw) = echo_routes(
        &["GET /users/{id} /u/{id}"],
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
    r.assert_is(500, "", "false");
    r.assert_version_header();
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
    r.assert_version_header();
    assert_eq!(r.completed(), Some("true"));
}

#[tokio::test]
async fn auto_options_lists_the_methods_of_the_path() {
    let (b, gw) = echo_routes(
        &["POST /thing /", "GET /thing /", "DELETE /other/{id} /"],
        json!({"auto_options": true}),
    )
    .await;
    let r = send("OPTIONS", &gw.at("/thing"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    r.assert_version_header();
    let r = send("OPTIONS", &gw.at("/other/12"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("allow"), Some("DELETE"));
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn without_auto_options_options_is_405() {
    let (_b, gw) = echo_routes(&["GET /thing /"], Value::Null).await;
    let r = send("OPTIONS", &gw.at("/thing"), &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), None);
}

#[tokio::test]
async fn remove_extra_slash() {
    let (_b, gw) = echo_routes(
        &["GET /users/{id} /u/{id}"],
        json!({"remove_extra_slash": true}),
    )
    .await;
    let r = get(&gw.at("//users//42")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/u/42");
}

#[tokio::test]
async fn extra_slashes_are_redirected_by_default() {
    let (b, gw) = echo_routes(&["GET /users/{id} /u/{id}"], Value::Null).await;
    assert_redirects(&gw, &[("GET", "/users//42", 301, "/users/42")]).await;
    assert_eq!(b.count(), 0);
}

/// Which address reaches the backend in `X-Forwarded-For`, by the `router` options and the
/// client's headers: the client's own (127.0.0.1) unless the options trust the proxy.
#[tokio::test]
async fn the_client_address_comes_from_headers_only_when_enabled_and_trusted() {
    for (case, router, headers, forwarded) in [
        (
            "forwarded_by_client_ip takes X-Forwarded-For",
            json!({"forwarded_by_client_ip": true, "trusted_proxies": ["127.0.0.1"]}),
            &[("X-Forwarded-For", "203.0.113.9")][..],
            "203.0.113.9",
        ),
        (
            "forwarded_by_client_ip takes X-Real-Ip",
            json!({"forwarded_by_client_ip": true, "trusted_proxies": ["127.0.0.1"]}),
            &[("X-Real-Ip", "198.51.100.7")],
            "198.51.100.7",
        ),
        (
            "remote_ip_headers names the header",
            json!({"forwarded_by_client_ip": true, "remote_ip_headers": ["X-Client"],
                   "trusted_proxies": ["127.0.0.0/8"]}),
            &[
                ("X-Client", "192.0.2.44"),
                ("X-Forwarded-For", "203.0.113.9"),
            ],
            "192.0.2.44",
        ),
        (
            "headers are ignored unless enabled",
            json!({"forwarded_by_client_ip": false}),
            &[("X-Forwarded-For", "203.0.113.9")],
            "127.0.0.1",
        ),
        (
            "untrusted proxies are not believed",
            json!({"forwarded_by_client_ip": true, "trusted_proxies": ["10.0.0.0/8"]}),
            &[("X-Forwarded-For", "203.0.113.9")],
            "127.0.0.1",
        ),
    ] {
        let (_b, gw) = echo_routes(&["GET /a /"], router).await;
        let r = get_with(&gw.at("/a"), headers).await;
        assert_eq!(
            r.json()["headers"]["X-Forwarded-For"],
            json!([forwarded]),
            "{case}"
        );
    }
}
