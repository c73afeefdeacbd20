//! The endpoint pipe: parallel merge, partial responses, failures, cache headers, deadlines,
//! concurrent calls, the static proxy, the sequential proxy, shadow backends, endpoint
//! flatmap and `backend/http` error handling.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::sync::Barrier;

fn be(host: &str, url_pattern: &str) -> Value {
    json!({"url_pattern": url_pattern, "host": [host]})
}

fn grouped(host: &str, group: &str) -> Value {
    json!({"url_pattern": "/", "host": [host], "group": group})
}

/// Two backends that only answer once both have been called: a sequential pipe would
/// never get the first answer.
#[tokio::test]
async fn backends_are_called_in_parallel_and_merged() {
    let barrier = Arc::new(Barrier::new(2));
    let mk = |body: &'static str| {
        let barrier = barrier.clone();
        backend_async(move |_| {
            let barrier = barrier.clone();
            async move {
                match tokio::time::timeout(Duration::from_secs(5), barrier.wait()).await {
                    Ok(_) => Reply::json(body),
                    Err(_) => Reply::text(500, "called alone"),
                }
            }
        })
    };
    let a = mk(r#"{"a":1,"shared":"x"}"#).await;
    let b = mk(r#"{"b":2}"#).await;
    let gw = endpoint_gateway(json!({"endpoint": "/m", "timeout": "20s",
                             "backend": [be(&a.url, "/"), be(&b.url, "/")]}))
    .await;
    let r = get(&gw.at("/m")).await;
    r.assert_is(200, r#"{"a":1,"b":2,"shared":"x"}"#, "true");
}

#[tokio::test]
async fn colliding_keys_the_last_arrival_wins() {
    let fast = json_backend(r#"{"k":"fast","f":1}"#).await;
    let slow = slow_backend(Duration::from_millis(500), r#"{"k":"slow","s":1}"#).await;
    // the slow backend is listed first: arrival order decides, not config order
    let gw = endpoint_gateway(json!({"endpoint": "/m", "timeout": "20s",
                             "backend": [be(&slow.url, "/"), be(&fast.url, "/")]}))
    .await;
    let r = get(&gw.at("/m")).await;
    assert_eq!(r.text(), r#"{"f":1,"k":"slow","s":1}"#);
}

#[tokio::test]
async fn a_failing_backend_gives_a_partial_200_without_cache_control() {
    let ok = json_backend(r#"{"ok":true}"#).await;
    let bad = status_backend(500, "boom").await;
    let gw = endpoint_gateway(json!({"endpoint": "/m", "cache_ttl": "1h",
        "backend": [grouped(&ok.url, "good"), grouped(&bad.url, "bad")]}))
    .await;
    let r = get(&gw.at("/m")).await;
    r.assert_is(200, r#"{"good":{"ok":true}}"#, "false");
    assert_eq!(r.header("cache-control"), None);
}

#[tokio::test]
async fn a_slow_backend_gives_a_partial_200() {
    let ok = json_backend(r#"{"ok":true}"#).await;
    let slow = slow_backend(Duration::from_secs(5), r#"{"late":true}"#).await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/m", "timeout": "300ms", "cache_ttl": "10s",
        "backend": [grouped(&ok.url, "first"), grouped(&slow.url, "second")]}),
    )
    .await;
    let r = get(&gw.at("/m")).await;
    r.assert_is(200, r#"{"first":{"ok":true}}"#, "false");
    assert_eq!(r.header("cache-control"), None);
}

#[tokio::test]
async fn nothing_back_is_500_with_an_empty_body() {
    let bad1 = status_backend(503, "down").await;
    let bad2 = status_backend(404, "missing").await;
    let gw = endpoint_gateway(json!({"endpoint": "/m", "cache_ttl": "1h",
        "backend": [grouped(&bad1.url, "a"), grouped(&bad2.url, "b")]}))
    .await;
    let r = get(&gw.at("/m")).await;
    r.assert_is(500, "", "false");
    assert_eq!(r.header("cache-control"), None);
    r.assert_version_header();
}

#[tokio::test]
async fn cache_ttl_sets_cache_control_when_complete() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = gateway(&with(
        config(json!([
            {"endpoint": "/own", "cache_ttl": "1h", "backend": [be(&b.url, "/")]},
            {"endpoint": "/inherited", "backend": [be(&b.url, "/")]}
        ])),
        json!({"cache_ttl": "90s"}),
    ))
    .await;
    let r = get(&gw.at("/own")).await;
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    assert_eq!(r.completed(), Some("true"));
    let r = get(&gw.at("/inherited")).await;
    assert_eq!(r.header("cache-control"), Some("public, max-age=90"));
}

#[tokio::test]
async fn no_cache_control_without_cache_ttl() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = single("/a", be(&b.url, "/")).await;
    let r = get(&gw.at("/a")).await;
    assert_eq!(r.header("cache-control"), None);
}

#[tokio::test]
async fn an_empty_object_is_200_but_not_completed() {
    let b = json_backend("{}").await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/a", "cache_ttl": "1h", "backend": [be(&b.url, "/")]}),
    )
    .await;
    let r = get(&gw.at("/a")).await;
    r.assert_is(200, "{}", "false");
    assert_eq!(r.header("cache-control"), None);
}

/// The merge gives up at 85 % of the endpoint timeout: a backend answering between 85 % and
/// 100 % is left out.
#[tokio::test]
async fn the_merge_deadline_is_85_percent_of_the_timeout() {
    let ok = json_backend(r#"{"ok":1}"#).await;
    // timeout 4s: merge deadline 3.4s, the late backend answers at 3.7s
    let late = slow_backend(Duration::from_millis(3700), r#"{"late":1}"#).await;
    let gw = endpoint_gateway(json!({"endpoint": "/m", "timeout": "4s",
        "backend": [grouped(&ok.url, "a"), grouped(&late.url, "b")]}))
    .await;
    let r = get(&gw.at("/m")).await;
    r.assert_is(200, r#"{"a":{"ok":1}}"#, "false");
}

#[tokio::test]
async fn endpoint_timeout_with_nothing_back_is_500() {
    let slow = slow_backend(Duration::from_secs(5), r#"{"late":1}"#).await;
    let gw = router_gateway(
        json!([{"endpoint": "/a", "timeout": "200ms", "backend": [be(&slow.url, "/")]}]),
        json!({"return_error_msg": true}),
    )
    .await;
    let r = get(&gw.at("/a")).await;
    r.assert_is(500, "context deadline exceeded", "false");
}

#[tokio::test]
async fn service_timeout_is_the_default_endpoint_timeout() {
    let slow = slow_backend(Duration::from_secs(5), r#"{"late":1}"#).await;
    let gw = gateway(&with(
        config(json!([{"endpoint": "/a", "backend": [be(&slow.url, "/")]}])),
        json!({"timeout": "200ms"}),
    ))
    .await;
    let r = get(&gw.at("/a")).await;
    assert_eq!(r.status, 500);
}

#[tokio::test]
async fn concurrent_calls_fire_the_request_n_times() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/a", "concurrent_calls": 3, "backend": [be(&b.url, "/")]}),
    )
    .await;
    let r = get(&gw.at("/a")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"a":1}"#);
    b.wait_requests(3).await;
    assert_eq!(b.count(), 3);
}

#[tokio::test]
async fn concurrent_calls_the_first_complete_answer_wins() {
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    // the first two calls fail at once, the third succeeds a little later
    let b = backend(move |_| match counter.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => Reply::text(500, "fail"),
        _ => Reply::json(r#"{"winner":true}"#).delay(Duration::from_millis(100)),
    })
    .await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/a", "concurrent_calls": 3, "timeout": "10s",
                             "backend": [be(&b.url, "/")]}),
    )
    .await;
    let r = get(&gw.at("/a")).await;
    r.assert_is(200, r#"{"winner":true}"#, "true");
}

// ---------------------------------------------------------------------------------------------
// static proxy
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Situation {
    Ok,
    Failed,
    Partial,
}

async fn static_case(strategy: &str, situation: Situation) -> Resp {
    let ok = json_backend(r#"{"real":1,"over":"backend"}"#).await;
    let bad = status_backend(500, "x").await;
    let backends = match situation {
        Situation::Ok => json!([be(&ok.url, "/")]),
        Situation::Failed => json!([be(&bad.url, "/")]),
        Situation::Partial => json!([be(&ok.url, "/"), be(&bad.url, "/")]),
    };
    let gw = endpoint_gateway(json!({"endpoint": "/s", "backend": backends,
        "extra_config": {"proxy": {"static": {"strategy": strategy,
            "data": {"static": true, "over": "static"}}}}}))
    .await;
    get(&gw.at("/s")).await
}

/// Each strategy in each situation: the status, the body and `X-Krakend-Completed` (`None`:
/// not looked at).
#[tokio::test]
async fn static_strategies() {
    let (ok, failed, partial) = (Situation::Ok, Situation::Failed, Situation::Partial);
    let both = Some(r#"{"over":"static","real":1,"static":true}"#);
    let real = Some(r#"{"over":"backend","real":1}"#);
    let data = Some(r#"{"over":"static","static":true}"#);
    let (yes, no) = (Some("true"), Some("false"));
    let cases = [
        ("always", ok, 200, both, yes),
        ("always", failed, 200, data, no),
        ("always", partial, 200, both, no),
        ("success", ok, 200, both, None),
        ("success", failed, 500, Some(""), None),
        ("success", partial, 200, real, None),
        ("complete", ok, 200, both, yes),
        ("complete", failed, 500, None, None),
        ("complete", partial, 200, real, None),
        ("errored", ok, 200, real, yes),
        ("errored", failed, 200, data, no),
        ("errored", partial, 200, both, None),
        ("incomplete", ok, 200, real, None),
        ("incomplete", failed, 200, data, no),
        ("incomplete", partial, 200, both, None),
    ];
    for (strategy, situation, status, body, completed) in cases {
        let r = static_case(strategy, situation).await;
        let case = format!("{strategy}, {situation:?}");
        assert_eq!(r.status, status, "{case}");
        if let Some(body) = body {
            assert_eq!(r.text(), body, "{case}");
        }
        if let Some(completed) = completed {
            assert_eq!(r.completed(), Some(completed), "{case}");
        }
    }
}

#[tokio::test]
async fn static_without_or_with_an_unknown_strategy_is_always() {
    for strategy in [Value::Null, json!("whatever")] {
        let bad = status_backend(500, "x").await;
        let mut st = json!({"data": {"s": 1}});
        if !strategy.is_null() {
            st["strategy"] = strategy.clone();
        }
        let gw = endpoint_gateway(json!({"endpoint": "/s", "backend": [be(&bad.url, "/")],
            "extra_config": {"proxy": {"static": st}}}))
        .await;
        let r = get(&gw.at("/s")).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, r#"{"s":1}"#),
            "{strategy}"
        );
    }
}

#[tokio::test]
async fn static_data_with_cache_ttl_when_complete() {
    let ok = json_backend(r#"{"real":1}"#).await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/s", "cache_ttl": "3600s", "backend": [be(&ok.url, "/")],
        "extra_config": {"proxy": {"static": {"strategy": "always", "data": {"foo": 42}}}}}),
    )
    .await;
    let r = get(&gw.at("/s")).await;
    assert_eq!(r.text(), r#"{"foo":42,"real":1}"#);
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
}

// ---------------------------------------------------------------------------------------------
// sequential proxy
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sequential_uses_values_of_earlier_responses() {
    let first = json_backend(r#"{"id":7,"nested":{"slug":"abc"},"tags":["x","y"]}"#).await;
    let second = echo_backend().await;
    let third = echo_backend().await;
    let gw = endpoint_gateway(json!({"endpoint": "/seq/{who}", "extra_config": {"proxy": {"sequential": true}},
        "backend": [
            {"url_pattern": "/first/{who}", "host": [first.url]},
            {"url_pattern": "/items/{resp0_id}/{resp0_nested.slug}", "host": [second.url], "group": "second"},
            {"url_pattern": "/more?ids={resp0_tags}&who={who}&p={resp1_second.path}", "host": [third.url], "group": "third"}
        ]}))
    .await;
    let r = get(&gw.at("/seq/me")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.completed(), Some("true"));
    assert_eq!(first.only().path, "/first/me");
    assert_eq!(second.only().path, "/items/7/abc");
    assert_eq!(third.only().uri, "/more?ids=x,y&who=me&p=/items/7/abc");
    let v = r.json();
    assert_eq!(v["id"], 7);
    assert_eq!(v["second"]["path"], "/items/7/abc");
    assert_eq!(v["third"]["path"], "/more");
}

/// Values are read from the formatted response: a grouped backend is read through its group.
#[tokio::test]
async fn sequential_reads_through_the_group() {
    let first = json_backend(r#"{"id":7}"#).await;
    let second = echo_backend().await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/seq", "extra_config": {"proxy": {"sequential": true}},
        "backend": [
            {"url_pattern": "/a", "host": [first.url], "group": "g"},
            {"url_pattern": "/b/{resp0_g.id}", "host": [second.url], "group": "b"}
        ]}),
    )
    .await;
    assert_eq!(get(&gw.at("/seq")).await.status, 200);
    assert_eq!(second.only().path, "/b/7");
}

#[tokio::test]
async fn sequential_first_backend_failure_fails_the_request() {
    let first = status_backend(500, "x").await;
    let second = echo_backend().await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/seq", "extra_config": {"proxy": {"sequential": true}},
        "backend": [be(&first.url, "/first"), be(&second.url, "/second/{resp0_id}")]}),
    )
    .await;
    let r = get(&gw.at("/seq")).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.completed(), Some("false"));
    assert_eq!(second.count(), 0);
}

#[tokio::test]
async fn sequential_later_failure_stops_the_chain_with_partial_data() {
    let first = json_backend(r#"{"id":1}"#).await;
    let second = status_backend(404, "x").await;
    let third = echo_backend().await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/seq", "extra_config": {"proxy": {"sequential": true}},
        "backend": [
            {"url_pattern": "/a", "host": [first.url], "group": "a"},
            {"url_pattern": "/b/{resp0_id}", "host": [second.url], "group": "b"},
            {"url_pattern": "/c/{resp0_id}", "host": [third.url], "group": "c"}
        ]}),
    )
    .await;
    let r = get(&gw.at("/seq")).await;
    r.assert_is(200, r#"{"a":{"id":1}}"#, "false");
    assert_eq!(second.count(), 1);
    assert_eq!(third.count(), 0);
}

#[tokio::test]
async fn without_sequential_the_second_backend_does_not_wait_for_the_first() {
    let first = slow_backend(Duration::from_secs(5), r#"{"id":1}"#).await;
    let second = echo_backend().await;
    let gw = endpoint_gateway(json!({"endpoint": "/p", "timeout": "300ms",
        "backend": [be(&first.url, "/a"), {"url_pattern": "/b/{resp0_id}", "host": [second.url], "group": "b"}]}))
    .await;
    let r = get(&gw.at("/p")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.completed(), Some("false"));
    assert_eq!(second.count(), 1);
}

// ---------------------------------------------------------------------------------------------
// shadow backends, endpoint flatmap
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn shadow_backends_are_called_but_ignored() {
    let main = json_backend(r#"{"main":1}"#).await;
    let shadow = json_backend(r#"{"shadow":1}"#).await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/s", "input_query_strings": ["q"], "backend": [
            be(&main.url, "/main"),
            {"url_pattern": "/shadow", "host": [shadow.url],
             "extra_config": {"proxy": {"shadow": true}}}
        ]}),
    )
    .await;
    let r = get(&gw.at("/s?q=1")).await;
    r.assert_is(200, r#"{"main":1}"#, "true");
    shadow.wait_requests(1).await;
    assert_eq!(shadow.only().uri, "/shadow?q=1");
}

#[tokio::test]
async fn a_failing_shadow_backend_does_not_matter() {
    let main = json_backend(r#"{"main":1}"#).await;
    let shadow = status_backend(500, "x").await;
    let gw = endpoint_gateway(json!({"endpoint": "/s", "backend": [
        be(&main.url, "/main"),
        {"url_pattern": "/shadow", "host": [shadow.url],
         "extra_config": {"github.com/devopsfaith/krakend/proxy": {"shadow": true}}}
    ]}))
    .await;
    let r = get(&gw.at("/s")).await;
    assert_eq!((r.status, r.text().as_str()), (200, r#"{"main":1}"#));
    assert_eq!(r.completed(), Some("true"));
}

#[tokio::test]
async fn endpoint_flatmap_runs_after_the_merge() {
    let a = json_backend(r#"{"a":{"x":1,"y":2}}"#).await;
    let b = json_backend(r#"{"b":[{"id":1,"n":"one"},{"id":2,"n":"two"}]}"#).await;
    let gw = endpoint_gateway(
        json!({"endpoint": "/f", "backend": [be(&a.url, "/"), be(&b.url, "/")],
        "extra_config": {"proxy": {"flatmap_filter": [
            {"type": "move", "args": ["a.x", "ax"]},
            {"type": "del", "args": ["a", "b.*.n"]}
        ]}}}),
    )
    .await;
    let r = get(&gw.at("/f")).await;
    assert_eq!(r.text(), r#"{"ax":1,"b":[{"id":1},{"id":2}]}"#);
}

#[tokio::test]
async fn endpoint_flatmap_is_ignored_with_a_single_backend() {
    let a = json_backend(r#"{"a":{"x":1}}"#).await;
    let gw = endpoint_gateway(json!({"endpoint": "/f", "backend": [be(&a.url, "/")],
        "extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["a"]}]}}}))
    .await;
    assert_eq!(get(&gw.at("/f")).await.text(), r#"{"a":{"x":1}}"#);
}

// ---------------------------------------------------------------------------------------------
// backend/http
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn return_error_details_puts_the_failure_in_the_data() {
    let ok = json_backend(r#"{"foo":42}"#).await;
    let bad = status_backend(404, "404 page not found\n").await;
    let gw = endpoint_gateway(json!({"endpoint": "/d", "backend": [
        be(&ok.url, "/"),
        {"url_pattern": "/missing", "host": [bad.url],
         "extra_config": {"backend/http": {"return_error_details": "backend_b"}}}
    ]}))
    .await;
    let r = get(&gw.at("/d")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.completed(), Some("false"));
    assert_eq!(
        r.json(),
        json!({"foo": 42, "error_backend_b": {"http_status_code": 404,
            "http_body": "404 page not found\n",
            "http_body_encoding": "text/plain; charset=utf-8"}})
    );
}

#[tokio::test]
async fn return_error_details_with_a_single_backend() {
    let bad = backend(|_| {
        Reply::new(503)
            .header("Content-Type", "application/json")
            .body(r#"{"e":1}"#)
    })
    .await;
    let gw = endpoint_gateway(json!({"endpoint": "/d", "backend": [
        {"url_pattern": "/", "host": [bad.url],
         "extra_config": {"github.com/devopsfaith/krakend/http": {"return_error_details": "x"}}}
    ]}))
    .await;
    let r = get(&gw.at("/d")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.completed(), Some("false"));
    assert_eq!(
        r.text(),
        r#"{"error_x":{"http_body":"{\"e\":1}","http_body_encoding":"application/json","http_status_code":503}}"#
    );
}

#[tokio::test]
async fn return_error_code_passes_the_status_with_an_empty_body() {
    let bad = backend(|_| {
        Reply::new(418)
            .header("Content-Type", "application/problem+json")
            .header("X-Backend", "yes")
            .body(r#"{"teapot":true}"#)
    })
    .await;
    let gw = endpoint_gateway(json!({"endpoint": "/c", "backend": [
        {"url_pattern": "/", "host": [bad.url],
         "extra_config": {"backend/http": {"return_error_code": true}}}
    ]}))
    .await;
    let r = get(&gw.at("/c")).await;
    assert_eq!(r.status, 418);
    assert_eq!(r.text(), "");
    assert_eq!(r.header("x-backend"), None);
    assert_eq!(r.completed(), Some("false"));
}

#[tokio::test]
async fn return_error_code_with_return_error_msg_writes_the_backend_body() {
    let bad = backend(|_| {
        Reply::new(422)
            .header("Content-Type", "application/problem+json")
            .body(r#"{"invalid":"name"}"#)
    })
    .await;
    let gw = router_gateway(
        json!([{"endpoint": "/c", "backend": [
            {"url_pattern": "/", "host": [bad.url],
             "extra_config": {"backend/http": {"return_error_code": true}}}
        ]}]),
        json!({"return_error_msg": true}),
    )
    .await;
    let r = get(&gw.at("/c")).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.text(), r#"{"invalid":"name"}"#);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
}

#[tokio::test]
async fn return_error_details_wins_over_return_error_code() {
    let bad = status_backend(400, "bad").await;
    let gw = endpoint_gateway(json!({"endpoint": "/c", "backend": [
        {"url_pattern": "/", "host": [bad.url],
         "extra_config": {"backend/http": {"return_error_code": true, "return_error_details": "b"}}}
    ]}))
    .await;
    let r = get(&gw.at("/c")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["error_b"]["http_status_code"], 400);
}
