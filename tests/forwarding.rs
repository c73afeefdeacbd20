//! What reaches the backend: zero-trust header and query filtering at endpoint and backend
//! level, the forwarding headers, and the request body.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

/// A gateway with one endpoint (extra endpoint fields merged in) over an echo backend.
async fn setup(endpoint_fields: Value, backend_fields: Value) -> (Gw, FakeBackend) {
    let b = echo_backend().await;
    let be = with(
        json!({"url_pattern": "/echo", "host": [b.url]}),
        backend_fields,
    );
    let ep = with(
        json!({"endpoint": "/e", "method": "GET", "backend": [be]}),
        endpoint_fields,
    );
    let gw = endpoint_gateway(ep).await;
    (gw, b)
}

const CLIENT_HEADERS: &[(&str, &str)] = &[
    ("Authorization", "Bearer t0k3n"),
    ("Cookie", "session=abc"),
    ("X-Custom", "one"),
    ("Content-Type", "application/json"),
    ("User-Agent", "my-client/1.0"),
    ("Accept", "text/html"),
];

#[tokio::test]
async fn by_default_only_content_type_is_forwarded() {
    let (gw, b) = setup(json!({}), json!({})).await;
    let r = get_with(&gw.at("/e?a=1&b=2"), CLIENT_HEADERS).await;
    assert_eq!(r.status, 200);
    let rec = b.only();
    let names: Vec<String> = rec.headers.keys().map(|k| canonical(k.as_str())).collect();
    let mut names = names;
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "Accept-Encoding",
            "Content-Type",
            "Host",
            "User-Agent",
            "X-Forwarded-For",
            "X-Forwarded-Host"
        ]
    );
    assert_eq!(rec.header("content-type"), Some("application/json"));
    assert_eq!(rec.header("accept-encoding"), Some("gzip"));
    assert_eq!(rec.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(
        rec.header("x-forwarded-host"),
        Some(gw.addr.to_string().as_str())
    );
    assert_eq!(
        rec.header("user-agent"),
        Some(format!("Tentacle Version {VERSION}").as_str())
    );
    // no query string either
    assert_eq!(rec.uri, "/echo");
}

#[tokio::test]
async fn listed_headers_only_case_insensitive_and_without_implicit_content_type() {
    let (gw, b) = setup(
        json!({"input_headers": ["x-custom", "AUTHORIZATION"]}),
        json!({}),
    )
    .await;
    get_with(&gw.at("/e"), CLIENT_HEADERS).await;
    let rec = b.only();
    assert_eq!(rec.header("authorization"), Some("Bearer t0k3n"));
    assert_eq!(rec.header("x-custom"), Some("one"));
    assert_eq!(rec.header("cookie"), None);
    assert_eq!(rec.header("accept"), None);
    assert_eq!(rec.header("content-type"), None);
    assert_eq!(
        rec.header("user-agent"),
        Some(format!("Tentacle Version {VERSION}").as_str())
    );
    assert_eq!(rec.header("x-forwarded-via"), None);
}

#[tokio::test]
async fn every_value_of_a_listed_header_is_forwarded() {
    let (gw, b) = setup(json!({"input_headers": ["X-Multi"]}), json!({})).await;
    get_with(&gw.at("/e"), &[("X-Multi", "a"), ("X-Multi", "b")]).await;
    assert_eq!(b.only().header_all("x-multi"), ["a", "b"]);
}

#[tokio::test]
async fn wildcard_forwards_every_header() {
    let (gw, b) = setup(json!({"input_headers": ["*"]}), json!({})).await;
    get_with(&gw.at("/e"), CLIENT_HEADERS).await;
    let rec = b.only();
    for (k, v) in CLIENT_HEADERS {
        assert_eq!(rec.header(k), Some(*v), "{k}");
    }
    // the client's User-Agent travels, the gateway's goes to X-Forwarded-Via
    assert_eq!(
        rec.header("x-forwarded-via"),
        Some(format!("Tentacle Version {VERSION}").as_str())
    );
    assert_eq!(rec.header("x-forwarded-for"), Some("127.0.0.1"));
}

#[tokio::test]
async fn forwarding_the_user_agent_adds_x_forwarded_via() {
    let (gw, b) = setup(json!({"input_headers": ["User-Agent"]}), json!({})).await;
    get_with(&gw.at("/e"), CLIENT_HEADERS).await;
    let rec = b.only();
    assert_eq!(rec.header("user-agent"), Some("my-client/1.0"));
    assert_eq!(
        rec.header("x-forwarded-via"),
        Some(format!("Tentacle Version {VERSION}").as_str())
    );
}

#[tokio::test]
async fn client_forwarding_headers_are_replaced() {
    let (gw, b) = setup(json!({"input_headers": ["*"]}), json!({})).await;
    get_with(
        &gw.at("/e"),
        &[
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Host", "evil.example"),
        ],
    )
    .await;
    let rec = b.only();
    assert_eq!(rec.header_all("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(rec.header_all("x-forwarded-host"), [gw.addr.to_string()]);
}

#[tokio::test]
async fn listed_query_strings_only_all_values_keys_sorted() {
    let (gw, b) = setup(
        json!({"input_query_strings": ["b", "a", "missing"]}),
        json!({}),
    )
    .await;
    get(&gw.at("/e?z=9&b=2&a=1&a=3&A=upper")).await;
    assert_eq!(b.only().uri, "/echo?a=1&a=3&b=2");
}

#[tokio::test]
async fn query_strings_are_appended_to_the_url_pattern_query() {
    let (gw, b) = setup(
        json!({"input_query_strings": ["a"]}),
        json!({"url_pattern": "/echo?fixed=1"}),
    )
    .await;
    get(&gw.at("/e?a=x%20y")).await;
    assert_eq!(b.only().uri, "/echo?fixed=1&a=x+y");
    get(&gw.at("/e")).await;
    assert_eq!(b.requests()[1].uri, "/echo?fixed=1");
}

#[tokio::test]
async fn wildcard_forwards_every_query_string() {
    let (gw, b) = setup(json!({"input_query_strings": ["*"]}), json!({})).await;
    get(&gw.at("/e?z=9&b=2&a=1")).await;
    assert_eq!(b.only().uri, "/echo?a=1&b=2&z=9");
}

#[tokio::test]
async fn backend_level_lists_restrict_further() {
    let (gw, b) = setup(
        json!({"input_headers": ["*"], "input_query_strings": ["a", "b"]}),
        json!({"input_headers": ["X-Custom"], "input_query_strings": ["b"]}),
    )
    .await;
    get_with(&gw.at("/e?a=1&b=2"), CLIENT_HEADERS).await;
    let rec = b.only();
    assert_eq!(rec.uri, "/echo?b=2");
    assert_eq!(rec.header("x-custom"), Some("one"));
    assert_eq!(rec.header("authorization"), None);
    assert_eq!(rec.header("cookie"), None);
    assert_eq!(rec.header("x-forwarded-for"), Some("127.0.0.1"));
}

#[tokio::test]
async fn backend_level_wildcards_keep_what_the_endpoint_lets_through() {
    let (gw, b) = setup(
        json!({"input_headers": ["X-Custom"], "input_query_strings": ["a"]}),
        json!({"input_headers": ["*"], "input_query_strings": ["*"]}),
    )
    .await;
    get_with(&gw.at("/e?a=1&b=2"), CLIENT_HEADERS).await;
    let rec = b.only();
    assert_eq!(rec.uri, "/echo?a=1");
    assert_eq!(rec.header("x-custom"), Some("one"));
    assert_eq!(rec.header("authorization"), None);
}

#[tokio::test]
async fn the_same_filtering_applies_to_each_backend_of_a_merge() {
    let b1 = echo_backend().await;
    let b2 = echo_backend().await;
    let gw = gateway(&config(json!([{
        "endpoint": "/m",
        "input_headers": ["X-Custom", "Authorization"],
        "input_query_strings": ["q"],
        "backend": [
            {"url_pattern": "/one", "host": [b1.url], "group": "one"},
            {"url_pattern": "/two", "host": [b2.url], "group": "two",
             "input_headers": ["Authorization"]}
        ]
    }])))
    .await;
    let r = get_with(&gw.at("/m?q=1&x=2"), CLIENT_HEADERS).await;
    assert_eq!(r.status, 200);
    let (r1, r2) = (b1.only(), b2.only());
    assert_eq!(r1.uri, "/one?q=1");
    assert_eq!(r2.uri, "/two?q=1");
    assert_eq!(r1.header("x-custom"), Some("one"));
    assert_eq!(r2.header("x-custom"), None);
    assert_eq!(r2.header("authorization"), Some("Bearer t0k3n"));
}

#[tokio::test]
async fn empty_post_sends_content_length_zero() {
    let (gw, b) = setup(json!({"endpoint": "/p", "method": "POST"}), json!({})).await;
    let r = send("POST", &gw.at("/p"), &[], "").await;
    assert_eq!(r.status, 200);
    let rec = b.only();
    assert_eq!(rec.method, "POST");
    assert_eq!(rec.header("content-length"), Some("0"));
    assert_eq!(rec.header("transfer-encoding"), None);
    assert!(rec.body.is_empty());
}

#[tokio::test]
async fn request_body_is_passed_through_unchanged() {
    let (gw, b) = setup(json!({"endpoint": "/p", "method": "PUT"}), json!({})).await;
    let body = "{\"name\":\"ünïcode\",\"n\":1.50}";
    let r = send(
        "PUT",
        &gw.at("/p"),
        &[("Content-Type", "application/json")],
        body,
    )
    .await;
    assert_eq!(r.status, 200);
    let rec = b.only();
    assert_eq!(rec.method, "PUT");
    assert_eq!(rec.body, Bytes::from(body));
    assert_eq!(rec.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn request_body_is_streamed_chunked_to_the_backend() {
    let (gw, b) = setup(json!({"endpoint": "/p", "method": "POST"}), json!({})).await;
    let (tx, body) = streamed_body();
    let url = gw.at("/p");
    let call = tokio::spawn(async move { send_body("POST", &url, &[], body).await });
    tx.send(Bytes::from_static(b"first chunk;")).await.unwrap();
    // the backend sees the request before the client has finished sending the body
    b.wait_heads(1).await;
    assert_eq!(
        b.count(),
        0,
        "the body was complete before the client ended it"
    );
    tx.send(Bytes::from_static(b"second chunk")).await.unwrap();
    drop(tx);
    let r = soon(call).await.unwrap();
    assert_eq!(r.status, 200);
    let rec = b.only();
    assert_eq!(rec.body, Bytes::from_static(b"first chunk;second chunk"));
    assert_eq!(rec.header("transfer-encoding"), Some("chunked"));
}

#[tokio::test]
async fn backend_method_may_differ_from_the_endpoint_method() {
    let b = echo_backend().await;
    let gw = gateway(&config(json!([{
        "endpoint": "/p", "method": "POST",
        "backend": [{"url_pattern": "/echo", "host": [b.url], "method": "PUT"}]
    }, {
        "endpoint": "/g",
        "backend": [{"url_pattern": "/echo", "host": [b.url], "method": "delete"}]
    }])))
    .await;
    let r = send("POST", &gw.at("/p"), &[], "data").await;
    assert_eq!(r.json()["method"], "PUT");
    assert_eq!(r.json()["body"], "data");
    let r = get(&gw.at("/g")).await;
    assert_eq!(r.json()["method"], "DELETE");
}

#[tokio::test]
async fn backend_response_headers_are_not_returned() {
    let b = backend(|_| {
        Reply::json(r#"{"a":1}"#)
            .header("X-Backend-Secret", "s")
            .header("Set-Cookie", "a=b")
    })
    .await;
    let gw = single("/a", json!({"url_pattern": "/", "host": [b.url]})).await;
    let r = get(&gw.at("/a")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-backend-secret"), None);
    assert_eq!(r.header("set-cookie"), None);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

/// Lura copies a single forwarded `Content-Length` onto the backend request, so the body
/// then travels with its length instead of chunked.
#[tokio::test]
async fn a_forwarded_content_length_is_kept() {
    for list in [json!(["*"]), json!(["Content-Length", "Content-Type"])] {
        let (gw, b) = setup(
            json!({"endpoint": "/p", "method": "POST", "input_headers": list}),
            json!({}),
        )
        .await;
        let r = send_text("POST", &gw.at("/p"), "hello").await;
        assert_eq!(r.status, 200, "{list}");
        let rec = b.only();
        assert_eq!(rec.body, Bytes::from_static(b"hello"));
        assert_eq!(rec.header("content-length"), Some("5"), "{list}");
        assert_eq!(rec.header("transfer-encoding"), None, "{list}");
    }
}
