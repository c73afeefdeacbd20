//! Lua modifiers (`modifier/lua-proxy`, `modifier/lua-backend`): request and response
//! modification, `custom_error`, runtime errors, `skip_next`, sources and sequential params.
#![cfg(feature = "lua")]

mod common;

use common::*;
use serde_json::{json, Value};

/// An endpoint `path` over one backend at `host` (path `/`) with this `modifier/lua-backend`.
fn lua_backend_endpoint(path: &str, host: &str, lua: Value) -> Value {
    json!({
        "endpoint": path,
        "backend": [{"url_pattern": "/", "host": [host],
                     "extra_config": {"modifier/lua-backend": lua}}]
    })
}

#[tokio::test]
async fn backend_pre_rewrites_the_upstream_request() {
    let b = echo_backend().await;
    let pre = r#"
        local r = request.load()
        r:url(r:url() .. "/" .. r:params("Id") .. "?extra=1")
        r:headers("X-Added", "yes")
        r:headers("X-Drop", nil)
        r:method("POST")
        r:body("from lua")
    "#;
    let gw = endpoint_gateway(json!({
        "endpoint": "/items/{id}",
        "input_headers": ["X-Drop"],
        "backend": [{"url_pattern": "/base", "host": [b.url],
                     "extra_config": {"modifier/lua-backend": {"pre": pre}}}]
    }))
    .await;
    let r = get_with(&gw.at("/items/42"), &[("X-Drop", "gone")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = b.only();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/base/42?extra=1");
    assert_eq!(seen.headers.get("x-added").unwrap(), "yes");
    assert!(seen.headers.get("x-drop").is_none());
    assert_eq!(&seen.body[..], b"from lua");
    assert_eq!(seen.headers.get("content-length").unwrap(), "8");
}

#[tokio::test]
async fn backend_post_and_proxy_post_modify_the_response() {
    let b = json_backend(r#"{"a":1,"items":[{"p":"x"},{"p":"y"}],"secret":"s"}"#).await;
    let backend_post = r#"
        local d = response.load():data()
        d:del("secret")
        d:set("n", d:get("items"):len())
    "#;
    let proxy_post = r#"
        local resp = response.load()
        local d = resp:data()
        local items = d:get("items")
        local ps = {}
        for i = 0, items:len() - 1 do ps[#ps + 1] = items:get(i):get("p") end
        d:set("ps", ps)
        d:set("nested", {list = {"u", "v"}, half = 0.5, flag = true})
        d:del("items")
        d:set("complete", resp:isComplete())
    "#;
    let gw = endpoint_gateway(json!({
        "endpoint": "/r",
        "backend": [{"url_pattern": "/", "host": [b.url],
                     "extra_config": {"modifier/lua-backend": {"post": backend_post}}}],
        "extra_config": {"modifier/lua-proxy": {"post": proxy_post}}
    }))
    .await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text(),
        r#"{"a":1,"complete":true,"n":2,"nested":{"flag":true,"half":0.5,"list":["u","v"]},"ps":{"1":"x","2":"y"}}"#
    );
    assert_eq!(r.completed(), Some("true"));
}

#[tokio::test]
async fn proxy_pre_changes_what_every_backend_gets() {
    let b = echo_backend().await;
    let pre = r#"
        local r = request.load()
        r:params("Id", "7")
        r:headers("X-From-Lua", r:method())
        r:query("q=lua")
    "#;
    let gw = endpoint_gateway(json!({
        "endpoint": "/p/{id}",
        "input_query_strings": ["q"],
        "backend": [{"url_pattern": "/x/{id}", "host": [b.url]}],
        "extra_config": {"modifier/lua-proxy": {"pre": pre}}
    }))
    .await;
    let r = get(&gw.at("/p/1?q=client")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = b.only();
    assert_eq!(seen.uri, "/x/7?q=lua");
    assert_eq!(seen.headers.get("x-from-lua").unwrap(), "GET");
}

#[tokio::test]
async fn custom_error_aborts_with_its_status_and_message() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = router_gateway(
        json!([lua_backend_endpoint(
            "/teapot",
            &b.url,
            json!({"pre": "custom_error('{\"msg\":\"no coffee\"}', 418)"})
        )]),
        json!({"return_error_msg": true}),
    )
    .await;
    get_expect(&gw.at("/teapot"), 418, r#"{"msg":"no coffee"}"#).await;
    assert_eq!(b.count(), 0, "the backend must not be called");
}

/// A proxy `post` script that fails: `custom_error` replaces the response with its status, a
/// script that is not Lua fails the request (500).
#[tokio::test]
async fn a_failing_proxy_post_script_replaces_the_response() {
    for (path, post, status, completed) in [
        ("/denied", "custom_error('nope', 403)", 403, Some("false")),
        ("/syntax", "this is not lua", 500, None),
    ] {
        let b = json_backend(r#"{"a":1}"#).await;
        let gw = endpoint_gateway(json!({
            "endpoint": path,
            "backend": [{"url_pattern": "/", "host": [b.url]}],
            "extra_config": {"modifier/lua-proxy": {"post": post}}
        }))
        .await;
        let r = get(&gw.at(path)).await;
        assert_eq!(r.status, status, "{post}");
        if let Some(completed) = completed {
            assert_eq!(r.completed(), Some(completed), "{post}");
        }
    }
}

#[tokio::test]
async fn a_lua_runtime_error_fails_the_request_and_the_gateway_keeps_serving() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = endpoint_gateway(lua_backend_endpoint(
        "/boom",
        &b.url,
        json!({"pre": "local x = nil; x:explode()"}),
    ))
    .await;
    for _ in 0..3 {
        let r = get(&gw.at("/boom")).await;
        assert_eq!(r.status, 500);
    }
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn skip_next_answers_without_calling_the_backend() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = endpoint_gateway(lua_backend_endpoint(
        "/skip",
        &b.url,
        json!({"skip_next": true,
               "post": "local r = response.load(); r:data():set('local', 'yes'); r:isComplete(true)"}),
    ))
    .await;
    get_expect(&gw.at("/skip"), 200, r#"{"local":"yes"}"#).await;
    assert_eq!(b.count(), 0);
}

#[tokio::test]
async fn sources_define_functions_and_open_libs_are_opt_in() {
    let (_dir, src) = temp_file(
        "helpers.lua",
        "function shout(resp) local d = resp:data(); d:set('a', string.upper(d:get('a'))) end",
    );
    let b = json_backend(r#"{"a":"quiet"}"#).await;
    let ep = |path: &str, open: bool| {
        json!({
            "endpoint": path,
            "backend": [{"url_pattern": "/", "host": [b.url]}],
            "extra_config": {"modifier/lua-proxy": {
                "sources": [src],
                "post": "shout(response.load())",
                "allow_open_libs": open}}
        })
    };
    let gw = gateway(&config(json!([ep("/open", true), ep("/closed", false)]))).await;
    let r = get(&gw.at("/open")).await;
    assert_eq!(r.text(), r#"{"a":"QUIET"}"#);
    let r = get(&gw.at("/closed")).await;
    assert_eq!(
        r.status, 500,
        "string is not available without allow_open_libs"
    );
}

#[tokio::test]
async fn a_missing_source_or_a_wrong_md5_is_a_configuration_error() {
    let b = json_backend(r#"{"a":1}"#).await;
    let cfg = config(json!([{
        "endpoint": "/x",
        "backend": [{"url_pattern": "/", "host": [b.url]}],
        "extra_config": {"modifier/lua-proxy": {"sources": ["/nonexistent/file.lua"]}}
    }]));
    // a missing source is refused
    let err = build_error(&cfg.to_string());
    assert!(err.contains("modifier/lua-proxy"), "{err}");
    assert!(err.contains("/nonexistent/file.lua"), "{err}");

    let (_dir, name) = temp_file("a.lua", "x = 1");
    let mk = |sum: &str| {
        config(json!([lua_backend_endpoint(
            "/x",
            &b.url,
            json!({"sources": [name], "md5": {name.as_str(): sum}})
        )]))
    };
    let good = "d37ffc54b67ce8de1f01efb1f2e33689"; // md5 of "x = 1"
    assert!(build_text(&mk(good).to_string(), Format::Json, false).is_ok());
    // a wrong checksum is refused
    let err = build_error(&mk("0123").to_string());
    assert!(err.contains("md5"), "{err}");
}

#[tokio::test]
async fn sequential_params_reach_lua_including_a_whole_no_op_body() {
    let first =
        backend(|_| Reply::text(200, r#"{"id":5}"#).header("Content-Type", "application/json"))
            .await;
    let second = echo_backend().await;
    let gw = endpoint_gateway(json!({
        "endpoint": "/seq",
        "extra_config": {"proxy": {"sequential": true,
                                   "sequential_propagated_params": ["resp0"]}},
        "backend": [
            {"url_pattern": "/first", "host": [first.url], "encoding": "no-op"},
            {"url_pattern": "/second", "host": [second.url],
             "extra_config": {"modifier/lua-backend": {
                 "pre": "local r = request.load(); r:headers('X-Raw', r:params('Resp0'))"}}}
        ]
    }))
    .await;
    let r = get(&gw.at("/seq")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(second.only().headers.get("x-raw").unwrap(), r#"{"id":5}"#);
}
