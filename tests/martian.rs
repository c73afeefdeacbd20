//! `modifier/martian`: request modifiers seen by the backend, response modifiers on `no-op`
//! backends, groups, filters that skip, and refused configurations.

mod common;

use common::*;
use serde_json::{json, Value};

/// A gateway with one endpoint over one backend carrying this Martian configuration.
async fn with_martian(host: &str, endpoint: Value, martian: Value) -> Gw {
    let mut ep = endpoint;
    let backend = json!({
        "url_pattern": "/up",
        "host": [host],
        "extra_config": {"modifier/martian": martian}
    });
    ep["backend"] = json!([backend]);
    gateway(&config(json!([ep]))).await
}

#[tokio::test]
async fn header_modifiers_change_what_the_backend_receives() {
    let b = echo_backend().await;
    let gw = with_martian(
        &b.url,
        json!({"endpoint": "/h", "input_headers": ["X-Src", "X-Drop", "X-Keep"]}),
        json!({"fifo.Group": {"scope": ["request", "response"], "aggregateErrors": true, "modifiers": [
            {"header.Modifier": {"scope": ["request"], "name": "X-Martian", "value": "ouh yeah!"}},
            {"header.Append": {"scope": ["request"], "name": "X-Keep", "value": "second"}},
            {"header.Copy": {"scope": ["request"], "from": "X-Src", "to": "X-Copied"}},
            {"header.Blacklist": {"scope": ["request"], "names": ["X-Drop"]}},
            {"header.Id": {"scope": ["request"]}}
        ]}}),
    )
    .await;
    let r = get_with(
        &gw.at("/h"),
        &[("X-Src", "origin"), ("X-Drop", "bye"), ("X-Keep", "first")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = b.only();
    assert_eq!(seen.header("x-martian"), Some("ouh yeah!"));
    assert_eq!(seen.header_all("x-keep"), ["first", "second"]);
    assert_eq!(seen.header("x-copied"), Some("origin"));
    assert_eq!(seen.header("x-src"), Some("origin"));
    assert!(seen.header("x-drop").is_none());
    let id = seen.header("x-martian-id").unwrap_or_default();
    assert_eq!(id.len(), 16, "{id:?}");
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{id:?}");
    // response-scope header changes are not seen through a JSON backend
    assert!(r.header("x-martian").is_none());
}

#[tokio::test]
async fn body_query_and_cookie_modifiers() {
    let b = echo_backend().await;
    let gw = with_martian(
        &b.url,
        json!({"endpoint": "/b", "input_query_strings": ["a", "z"], "input_headers": ["Cookie"]}),
        json!({"fifo.Group": {"modifiers": [
            {"body.Modifier": {"scope": ["request"], "contentType": "application/json",
                               "body": "eyJtc2ciOiJ5b3Ugcm9jayEifQ=="}},
            {"querystring.Modifier": {"scope": ["request"], "name": "key", "value": "s3cr3t v"}},
            {"querystring.Modifier": {"scope": ["request"], "name": "a", "value": "replaced"}},
            {"cookie.Modifier": {"scope": ["request"], "name": "session", "value": "abc"}}
        ]}}),
    )
    .await;
    let r = get_with(&gw.at("/b?z=last&a=1"), &[("Cookie", "theme=dark")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = b.only();
    assert_eq!(&seen.body[..], br#"{"msg":"you rock!"}"#);
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("content-length"), Some("19"));
    assert_eq!(
        seen.query.as_deref(),
        Some("a=replaced&key=s3cr3t+v&z=last")
    );
    assert_eq!(seen.header("cookie"), Some("theme=dark; session=abc"));
}

#[tokio::test]
async fn url_and_port_modifiers_redirect_the_call() {
    let first = echo_backend().await;
    let second = echo_backend().await;
    let second_host = second.url.trim_start_matches("http://").to_string();
    let second_port: u16 = second_host.rsplit(':').next().unwrap().parse().unwrap();

    let gw = with_martian(
        &first.url,
        json!({"endpoint": "/u"}),
        json!({"url.Modifier": {"scope": ["request"], "host": second_host,
                                "path": "/elsewhere", "query": "fixed=1"}}),
    )
    .await;
    let r = get(&gw.at("/u")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(first.count(), 0);
    assert_eq!(second.only().uri, "/elsewhere?fixed=1");

    let gw = with_martian(
        &first.url,
        json!({"endpoint": "/p"}),
        json!({"port.Modifier": {"scope": ["request"], "port": second_port}}),
    )
    .await;
    let r = get(&gw.at("/p")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(first.count(), 0);
    assert_eq!(second.count(), 2);
    assert_eq!(second.requests()[1].uri, "/up");
}

#[tokio::test]
async fn filters_run_their_modifier_or_skip() {
    let b = echo_backend().await;
    let gw = with_martian(
        &b.url,
        json!({"endpoint": "/f", "input_headers": ["X-Neptunian"], "input_query_strings": ["flag"]}),
        json!({"fifo.Group": {"scope": ["request", "response"], "aggregateErrors": true, "modifiers": [
            {"header.RegexFilter": {"scope": ["request"], "header": "X-Neptunian", "regex": "no!",
                "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Martian-New", "value": "some value"}}}},
            {"querystring.Filter": {"scope": ["request"], "name": "flag", "value": "on",
                "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Flag", "value": "yes"}},
                "else": {"header.Modifier": {"scope": ["request"], "name": "X-Flag", "value": "no"}}}},
            {"url.Filter": {"scope": ["request"], "path": "/up",
                "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Path", "value": "matched"}}}},
            {"url.Filter": {"scope": ["request"], "path": "/other",
                "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Other", "value": "matched"}}}},
            {"url.RegexFilter": {"scope": ["request"], "regex": "flag=on$",
                "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Url-Regex", "value": "matched"}}}},
            {"header.Filter": {"scope": ["request"], "name": "X-Neptunian", "value": "exactly",
                "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Exact", "value": "yes"}}}}
        ]}}),
    )
    .await;

    let r = get_with(&gw.at("/f?flag=on"), &[("X-Neptunian", "oh no! it is")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = b.requests().pop().unwrap();
    assert_eq!(seen.header("x-martian-new"), Some("some value"));
    assert_eq!(seen.header("x-flag"), Some("yes"));
    assert_eq!(seen.header("x-path"), Some("matched"));
    assert_eq!(seen.header("x-url-regex"), Some("matched"));
    assert!(seen.header("x-other").is_none());
    assert!(seen.header("x-exact").is_none());

    let r = get_with(&gw.at("/f?flag=off"), &[("X-Neptunian", "exactly")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = b.requests().pop().unwrap();
    assert!(seen.header("x-martian-new").is_none());
    assert_eq!(seen.header("x-flag"), Some("no"));
    assert!(seen.header("x-url-regex").is_none());
    assert_eq!(seen.header("x-exact"), Some("yes"));
}

#[tokio::test]
async fn priority_groups_run_higher_priorities_first() {
    let b = echo_backend().await;
    let gw = with_martian(
        &b.url,
        json!({"endpoint": "/prio"}),
        json!({"priority.Group": {"scope": ["request"], "modifiers": [
            {"priority": 0, "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Order", "value": "last"}}},
            {"priority": 10, "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Order", "value": "first"}}},
            {"priority": 5, "modifier": {"stash.Modifier": {"scope": ["request"], "headerName": "X-Stash"}}}
        ]}}),
    )
    .await;
    let r = get(&gw.at("/prio")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = b.only();
    assert_eq!(seen.header("x-order"), Some("last"));
    assert_eq!(
        seen.header("x-stash").map(str::to_string),
        Some(format!("{}/up", b.url))
    );
}

#[tokio::test]
async fn response_modifiers_reach_the_client_of_a_no_op_endpoint() {
    let b = backend(|_| {
        Reply::text(200, "original")
            .header("X-Upstream", "1")
            .header("X-Secret", "hidden")
    })
    .await;
    let gw = with_martian(
        &b.url,
        json!({"endpoint": "/raw", "output_encoding": "no-op"}),
        json!({"fifo.Group": {"modifiers": [
            {"header.Modifier": {"scope": ["request", "response"], "name": "X-Martian", "value": "ouh yeah!"}},
            {"header.Blacklist": {"scope": ["response"], "names": ["X-Secret"]}},
            {"cookie.Modifier": {"scope": ["response"], "name": "id", "value": "42", "path": "/",
                                 "domain": ".example.com", "expires": "2009-11-10T23:00:00Z",
                                 "maxAge": 60, "httpOnly": true, "secure": true}},
            {"header.Filter": {"scope": ["response"], "name": "X-Upstream", "value": "1",
                "modifier": {"body.Modifier": {"scope": ["response"], "contentType": "application/json",
                                               "body": "eyJtc2ciOiJ5b3Ugcm9jayEifQ=="}}}}
        ]}}),
    )
    .await;
    let r = get(&gw.at("/raw")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-martian"), Some("ouh yeah!"));
    assert_eq!(r.header("x-upstream"), Some("1"));
    assert!(r.header("x-secret").is_none());
    assert_eq!(
        r.header("set-cookie"),
        Some("id=42; Path=/; Domain=example.com; Expires=Tue, 10 Nov 2009 23:00:00 GMT; Max-Age=60; HttpOnly; Secure")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), r#"{"msg":"you rock!"}"#);
    // the request side of the same modifier reached the backend
    assert_eq!(b.only().header("x-martian"), Some("ouh yeah!"));
}

#[tokio::test]
async fn a_response_body_replacement_is_what_gets_decoded() {
    let b = json_backend(r#"{"from":"backend"}"#).await;
    let gw = with_martian(
        &b.url,
        json!({"endpoint": "/decoded"}),
        json!({"body.Modifier": {"scope": ["response"], "contentType": "application/json",
                                 "body": "eyJtc2ciOiJ5b3Ugcm9jayEifQ=="}}),
    )
    .await;
    let r = get(&gw.at("/decoded")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"msg": "you rock!"}));
    // the request was left alone
    assert!(b.only().body.is_empty());
}

#[tokio::test]
async fn an_empty_group_changes_nothing() {
    let b = echo_backend().await;
    let gw = with_martian(
        &b.url,
        json!({"endpoint": "/empty"}),
        json!({"fifo.Group": {"scope": ["request", "response"], "aggregateErrors": true}}),
    )
    .await;
    let r = get(&gw.at("/empty")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/up");
}

#[test]
fn bad_configurations_fail_at_start_up() {
    let cfg = |martian: Value| {
        config(json!([{"endpoint": "/x", "backend": [{
            "url_pattern": "/", "host": ["http://127.0.0.1:8000"],
            "extra_config": {"modifier/martian": martian}}]}]))
        .to_string()
    };
    // an unknown modifier is refused
    let err = build_error(&cfg(
        json!({"fifo.Group": {"modifiers": [{"header.Martian": {"scope": ["request"]}}]}}),
    ));
    assert!(
        err.contains("modifier/martian") && err.contains("header.Martian"),
        "{err}"
    );
    // so is a response scope on a request-only modifier
    let err = build_error(&cfg(
        json!({"url.Modifier": {"scope": ["response"], "path": "/p"}}),
    ));
    assert!(
        err.contains("url.Modifier") && err.contains("invalid scope"),
        "{err}"
    );
}

#[tokio::test]
async fn cookie_and_port_filters() {
    let b = echo_backend().await;
    let port: u16 = b.url.rsplit(':').next().unwrap().parse().unwrap();
    let gw = with_martian(
        &b.url,
        json!({"endpoint": "/c", "input_headers": ["Cookie"]}),
        json!({"fifo.Group": {"modifiers": [
            {"cookie.Filter": {"scope": ["request"], "name": "beta", "value": "1",
                "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Beta", "value": "on"}},
                "else": {"header.Modifier": {"scope": ["request"], "name": "X-Beta", "value": "off"}}}},
            {"port.Filter": {"scope": ["request"], "port": port,
                "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Port", "value": "matched"}}}},
            {"port.Filter": {"scope": ["request"], "port": 443,
                "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Tls", "value": "matched"}}}}
        ]}}),
    )
    .await;
    let r = get_with(&gw.at("/c"), &[("Cookie", "a=b; beta=1")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = b.requests().pop().unwrap();
    assert_eq!(seen.header("x-beta"), Some("on"));
    assert_eq!(seen.header("x-port"), Some("matched"));
    assert!(seen.header("x-tls").is_none());

    let r = get_with(&gw.at("/c"), &[("Cookie", "beta=2")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(b.requests().pop().unwrap().header("x-beta"), Some("off"));
}
