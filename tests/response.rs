//! What the client gets back: per-backend manipulation (target, allow, deny, mapping, group,
//! is_collection, flatmap), the JSON writer (numbers, key order, escaping), backend
//! encodings and endpoint renders (no-op included).

mod common;

use common::*;
use serde_json::{json, Value};

/// One endpoint over a backend answering `body` (as `content_type`), with extra backend and
/// endpoint fields.
async fn shaped(body: &str, backend_fields: Value, endpoint_fields: Value) -> (Gw, FakeBackend) {
    served(Reply::json(body), backend_fields, endpoint_fields).await
}

/// One endpoint over a backend answering every request with `reply`, with extra backend and
/// endpoint fields.
async fn served(reply: Reply, backend_fields: Value, endpoint_fields: Value) -> (Gw, FakeBackend) {
    let b = backend(move |_| reply.clone()).await;
    let gw = shaped_on(&b, backend_fields, endpoint_fields).await;
    (gw, b)
}

async fn shaped_on(b: &FakeBackend, backend_fields: Value, endpoint_fields: Value) -> Gw {
    let be = with(json!({"url_pattern": "/", "host": [b.url]}), backend_fields);
    endpoint_gateway(with(
        json!({"endpoint": "/r", "backend": [be]}),
        endpoint_fields,
    ))
    .await
}

async fn body_of(body: &str, backend_fields: Value) -> String {
    let (gw, _b) = shaped(body, backend_fields, json!({})).await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

const USER: &str = r#"{"data":{"user":{"id":1,"name":"Ann","email":"a@x","address":{"city":"Oslo","zip":"0150"}},"meta":{"v":2}},"status":"ok"}"#;

#[tokio::test]
async fn target_extracts_a_nested_object() {
    assert_eq!(
        body_of(USER, json!({"target": "data.user"})).await,
        r#"{"address":{"city":"Oslo","zip":"0150"},"email":"a@x","id":1,"name":"Ann"}"#
    );
}

#[tokio::test]
async fn a_missing_or_non_object_target_gives_an_empty_object() {
    assert_eq!(body_of(USER, json!({"target": "data.nope"})).await, "{}");
    assert_eq!(body_of(USER, json!({"target": "status"})).await, "{}");
}

#[tokio::test]
async fn allow_keeps_only_the_listed_paths() {
    assert_eq!(
        body_of(
            USER,
            json!({"allow": ["status", "data.user.name", "data.user.address.city", "data.none"]})
        )
        .await,
        r#"{"data":{"user":{"address":{"city":"Oslo"},"name":"Ann"}},"status":"ok"}"#
    );
}

#[tokio::test]
async fn version_2_whitelist_and_blacklist() {
    let b = json_backend(USER).await;
    let text = json!({"version": 2, "endpoints": [
        {"endpoint": "/w", "backend": [{"url_pattern": "/", "host": [b.url], "whitelist": ["status"]}]},
        {"endpoint": "/b", "backend": [{"url_pattern": "/", "host": [b.url], "blacklist": ["data"]}]}
    ]});
    let gw = gateway(&text).await;
    assert_eq!(get(&gw.at("/w")).await.text(), r#"{"status":"ok"}"#);
    assert_eq!(get(&gw.at("/b")).await.text(), r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn deny_removes_the_listed_paths() {
    assert_eq!(
        body_of(
            USER,
            json!({"deny": ["status", "data.user.address", "data.user.email", "nothing.here"]})
        )
        .await,
        r#"{"data":{"meta":{"v":2},"user":{"id":1,"name":"Ann"}}}"#
    );
}

#[tokio::test]
async fn allow_wins_over_deny() {
    assert_eq!(
        body_of(USER, json!({"allow": ["status"], "deny": ["status"]})).await,
        r#"{"status":"ok"}"#
    );
}

#[tokio::test]
async fn mapping_renames_top_level_keys_only() {
    assert_eq!(
        body_of(
            r#"{"a":1,"b":2,"c":{"d":3}}"#,
            json!({"mapping": {"a": "alpha", "b": "beta.gamma", "d": "delta"}})
        )
        .await,
        r#"{"alpha":1,"beta":2,"c":{"d":3}}"#
    );
}

#[tokio::test]
async fn group_wraps_the_response() {
    assert_eq!(
        body_of(r#"{"a":1}"#, json!({"group": "g"})).await,
        r#"{"g":{"a":1}}"#
    );
}

#[tokio::test]
async fn operations_apply_in_order_target_allow_mapping_group() {
    assert_eq!(
        body_of(
            USER,
            json!({"target": "data.user", "allow": ["id", "name"], "mapping": {"id": "user_id"}, "group": "who"})
        )
        .await,
        r#"{"who":{"name":"Ann","user_id":1}}"#
    );
}

#[tokio::test]
async fn is_collection_wraps_an_array() {
    assert_eq!(
        body_of(r#"[{"id":1},{"id":2}]"#, json!({"is_collection": true})).await,
        r#"{"collection":[{"id":1},{"id":2}]}"#
    );
    assert_eq!(
        body_of(
            r#"[1,2]"#,
            json!({"is_collection": true, "mapping": {"collection": "items"}})
        )
        .await,
        r#"{"items":[1,2]}"#
    );
}

#[tokio::test]
async fn an_array_without_is_collection_is_an_error() {
    let (gw, _b) = shaped("[1,2,3]", json!({}), json!({})).await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.completed(), Some("false"));
}

#[tokio::test]
async fn backend_flatmap_move_and_del_with_indices_and_wildcards() {
    let body = r#"{"items":[{"id":1,"name":"a","secret":"x"},{"id":2,"name":"b","secret":"y"}],"meta":{"total":2,"page":1,"size":10}}"#;
    assert_eq!(
        body_of(
            body,
            json!({"extra_config": {"proxy": {"flatmap_filter": [
                {"type": "del", "args": ["items.*.secret", "meta.page"]},
                {"type": "move", "args": ["items.0.name", "first_name"]},
                {"type": "move", "args": ["items.*.id", "items.*.key"]},
                {"type": "move", "args": ["meta.total", "total"]},
                {"type": "del", "args": ["items.1"]}
            ]}}})
        )
        .await,
        r#"{"first_name":"a","items":[{"key":1}],"meta":{"size":10},"total":2}"#
    );
}

#[tokio::test]
async fn backend_flatmap_append_concatenates_lists() {
    let out = body_of(
        r#"{"a":[1,2],"b":[3,4]}"#,
        json!({"extra_config": {"proxy": {"flatmap_filter": [
            {"type": "append", "args": ["b", "a"]}
        ]}}}),
    )
    .await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["a"], json!([1, 2, 3, 4]), "{out}");
}

#[tokio::test]
async fn backend_flatmap_replaces_allow_deny_and_mapping_but_not_target_or_group() {
    assert_eq!(
        body_of(
            USER,
            json!({"target": "data", "allow": ["nothing"], "deny": ["user"], "mapping": {"user": "u"},
                   "group": "g",
                   "extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["meta"]}]}}})
        )
        .await,
        r#"{"g":{"user":{"address":{"city":"Oslo","zip":"0150"},"email":"a@x","id":1,"name":"Ann"}}}"#
    );
}

#[tokio::test]
async fn flatmap_on_a_collection() {
    assert_eq!(
        body_of(
            r#"[{"i":0,"path":"/a"},{"i":1,"path":"/b"}]"#,
            json!({"is_collection": true, "extra_config": {"proxy": {"flatmap_filter": [
                {"type": "move", "args": ["collection", "paths"]},
                {"type": "del", "args": ["paths.*.i"]},
                {"type": "move", "args": ["paths.*.path", "paths.*.url"]}
            ]}}})
        )
        .await,
        r#"{"paths":[{"url":"/a"},{"url":"/b"}]}"#
    );
}

/// KrakenD's flatmap works on a tree: an object emptied by `del` has no value left and is
/// written as `null`.
#[tokio::test]
async fn flatmap_del_that_empties_an_object_leaves_null() {
    assert_eq!(
        body_of(
            r#"{"items":[{"s":1},{"a":1,"s":2}]}"#,
            json!({"extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["items.*.s"]}]}}})
        )
        .await,
        r#"{"items":[null,{"a":1}]}"#
    );
}

/// KrakenD's flatmap `move` between paths of the same length only renames the last segment
/// where the source is (`a.x` → `b.y` gives `a.y`).
#[tokio::test]
async fn flatmap_move_of_same_length_relabels_in_place() {
    assert_eq!(
        body_of(
            r#"{"a":{"x":1,"k":2}}"#,
            json!({"extra_config": {"proxy": {"flatmap_filter": [{"type": "move", "args": ["a.x", "b.y"]}]}}})
        )
        .await,
        r#"{"a":{"k":2,"y":1}}"#
    );
}

#[tokio::test]
async fn numbers_are_written_exactly_as_the_backend_sent_them() {
    assert_eq!(
        body_of(
            r#"{"price":1.50,"big":12345678901234567890,"neg":-0.0,"small":0.000001,"list":[1.0,2.10],"huge":-123456789012345678901234567890.123456789}"#,
            json!({})
        )
        .await,
        r#"{"big":12345678901234567890,"huge":-123456789012345678901234567890.123456789,"list":[1.0,2.10],"neg":-0.0,"price":1.50,"small":0.000001}"#
    );
}

/// Go writes a `json.Number` as the literal it was decoded from.
#[tokio::test]
async fn numbers_with_exponents_are_kept_as_sent() {
    assert_eq!(
        body_of(r#"{"a":1e3,"b":2E-2,"c":5e+1}"#, json!({})).await,
        r#"{"a":1e3,"b":2E-2,"c":5e+1}"#
    );
}

#[tokio::test]
async fn keys_are_sorted_at_every_level_and_no_whitespace_is_added() {
    assert_eq!(
        body_of(
            r#"{ "z": 1, "a": { "y": [ {"d":1, "c":2} ], "b": null }, "m": true }"#,
            json!({})
        )
        .await,
        r#"{"a":{"b":null,"y":[{"c":2,"d":1}]},"m":true,"z":1}"#
    );
}

#[tokio::test]
async fn strings_are_escaped_as_go_does() {
    assert_eq!(
        body_of(
            r#"{"html":"<a href=\"x\">&amp;</a>","ls":"a\u2028b\u2029c","ctl":"tab\tnl\n\u0001","uni":"ünï ✓ 😀","slash":"a/b"}"#,
            json!({})
        )
        .await,
        r#"{"ctl":"tab\tnl\n\u0001","html":"\u003ca href=\"x\"\u003e\u0026amp;\u003c/a\u003e","ls":"a\u2028b\u2029c","slash":"a/b","uni":"ünï ✓ 😀"}"#
    );
}

// ---------------------------------------------------------------------------------------------
// backend encodings
// ---------------------------------------------------------------------------------------------

async fn decoded(body: &str, content_type: &str, encoding: &str) -> Resp {
    let reply = Reply::typed(content_type, body.to_string());
    let (gw, _b) = served(reply, json!({"encoding": encoding}), json!({})).await;
    get(&gw.at("/r")).await
}

#[tokio::test]
async fn safejson_accepts_objects_arrays_and_scalars() {
    assert_eq!(
        decoded(r#"{"a":1}"#, "application/json", "safejson")
            .await
            .text(),
        r#"{"a":1}"#
    );
    assert_eq!(
        decoded("[1,2]", "application/json", "safejson")
            .await
            .text(),
        r#"{"collection":[1,2]}"#
    );
    assert_eq!(
        decoded(r#""hi""#, "application/json", "safejson")
            .await
            .text(),
        r#"{"content":"hi"}"#
    );
    assert_eq!(
        decoded("42", "application/json", "safejson").await.text(),
        r#"{"content":42}"#
    );
}

#[tokio::test]
async fn string_encoding_wraps_the_body() {
    let r = decoded("plain <text> & more", "text/plain", "string").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        r#"{"content":"plain \u003ctext\u003e \u0026 more"}"#
    );
}

#[tokio::test]
async fn unknown_encodings_fall_back_to_json() {
    assert_eq!(
        decoded(r#"{"a":1}"#, "application/json", "something")
            .await
            .text(),
        r#"{"a":1}"#
    );
}

const XML_DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<user type="admin">
  <name>Elliot</name>
  <social>
    <facebook>https://facebook.com</facebook>
    <twitter>https://twitter.com</twitter>
  </social>
</user>"#;

#[tokio::test]
async fn xml_backends_are_decoded() {
    let r = decoded(XML_DOC, "application/xml; charset=utf-8", "xml").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        r#"{"user":{"-type":"admin","name":"Elliot","social":{"facebook":"https://facebook.com","twitter":"https://twitter.com"}}}"#
    );
}

#[tokio::test]
async fn malformed_json_from_a_backend_is_500() {
    for body in ["{\"a\":", "not json", "", "<html></html>"] {
        let r = decoded(body, "application/json", "json").await;
        assert_eq!((r.status, r.text().as_str()), (500, ""), "{body:?}");
        assert_eq!(r.completed(), Some("false"));
    }
}

#[tokio::test]
async fn malformed_json_from_one_of_two_backends_is_a_partial_answer() {
    let good = json_backend(r#"{"good":1}"#).await;
    let bad = json_backend("{oops").await;
    let gw = gateway(&config(json!([{"endpoint": "/m", "backend": [
        {"url_pattern": "/", "host": [good.url]},
        {"url_pattern": "/", "host": [bad.url]}
    ]}])))
    .await;
    let r = get(&gw.at("/m")).await;
    assert_eq!((r.status, r.text().as_str()), (200, r#"{"good":1}"#));
    assert_eq!(r.completed(), Some("false"));
}

// ---------------------------------------------------------------------------------------------
// endpoint renders
// ---------------------------------------------------------------------------------------------

async fn rendered(body: &str, backend_fields: Value, output: &str, accept: Option<&str>) -> Resp {
    let (gw, _b) = shaped(body, backend_fields, json!({"output_encoding": output})).await;
    match accept {
        Some(a) => get_with(&gw.at("/r"), &[("Accept", a)]).await,
        None => get(&gw.at("/r")).await,
    }
}

#[tokio::test]
async fn json_render() {
    let r = rendered(r#"{"b":1,"a":2}"#, json!({}), "json", None).await;
    assert_eq!(r.text(), r#"{"a":2,"b":1}"#);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[tokio::test]
async fn json_collection_render() {
    let r = rendered(
        r#"[{"a":1},{"b":2}]"#,
        json!({"is_collection": true}),
        "json-collection",
        None,
    )
    .await;
    assert_eq!(r.text(), r#"[{"a":1},{"b":2}]"#);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    // without a collection the body is an empty list
    let r = rendered(r#"{"a":1}"#, json!({}), "json-collection", None).await;
    assert_eq!((r.status, r.text().as_str()), (200, "[]"));
}

#[tokio::test]
async fn string_render() {
    let b = backend(|_| Reply::text(200, "hello <world>")).await;
    let gw = shaped_on(
        &b,
        json!({"encoding": "string"}),
        json!({"output_encoding": "string"}),
    )
    .await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.text(), "hello <world>");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    // no content: empty body
    let r = rendered(r#"{"a":1}"#, json!({}), "string", None).await;
    assert_eq!((r.status, r.text().as_str()), (200, ""));
}

#[tokio::test]
async fn xml_render() {
    let r = rendered(r#"{"foo":42,"list":{"b":"x"}}"#, json!({}), "xml", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/xml"));
    assert_eq!(r.text(), "<doc><foo>42</foo><list><b>x</b></list></doc>");
}

#[tokio::test]
async fn xml_to_xml_round_trip() {
    let (gw, _b) = served(
        Reply::typed("application/xml", XML_DOC),
        json!({"encoding": "xml"}),
        json!({"output_encoding": "xml"}),
    )
    .await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(
        r.text(),
        r#"<user type="admin"><name>Elliot</name><social><facebook>https://facebook.com</facebook><twitter>https://twitter.com</twitter></social></user>"#
    );
}

#[tokio::test]
async fn yaml_render() {
    let r = rendered(r#"{"b":{"c":[1,2]},"a":"x"}"#, json!({}), "yaml", None).await;
    assert_eq!(
        r.header("content-type"),
        Some("application/yaml; charset=utf-8")
    );
    assert_eq!(r.text(), "a: x\nb:\n  c:\n  - 1\n  - 2\n");
}

#[tokio::test]
async fn negotiate_render_follows_accept() {
    let body = r#"{"a":1}"#;
    let r = rendered(body, json!({}), "negotiate", None).await;
    assert_eq!(
        (r.header("content-type"), r.text().as_str()),
        (Some("application/json; charset=utf-8"), body)
    );
    let r = rendered(body, json!({}), "negotiate", Some("application/json")).await;
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let r = rendered(body, json!({}), "negotiate", Some("application/xml")).await;
    assert_eq!(
        (r.header("content-type"), r.text().as_str()),
        (Some("application/xml"), "<a>1</a>")
    );
    let r = rendered(body, json!({}), "negotiate", Some("text/plain")).await;
    assert_eq!(
        (r.header("content-type"), r.text().as_str()),
        (Some("application/yaml; charset=utf-8"), "a: 1\n")
    );
    let r = rendered(body, json!({}), "negotiate", Some("application/x-yaml")).await;
    assert_eq!(
        r.header("content-type"),
        Some("application/yaml; charset=utf-8")
    );
    let r = rendered(body, json!({}), "negotiate", Some("*/*")).await;
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[tokio::test]
async fn service_output_encoding_is_the_default() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = gateway(&with(
        config(json!([{"endpoint": "/r", "backend": [{"url_pattern": "/", "host": [b.url]}]}])),
        json!({"output_encoding": "xml"}),
    ))
    .await;
    // a single key is the XML root, several go under <doc>
    assert_eq!(get(&gw.at("/r")).await.text(), "<a>1</a>");
}

#[tokio::test]
async fn no_op_passes_status_headers_and_body_untouched() {
    let b = backend(|r| {
        Reply::new(201)
            .header("Content-Type", "application/vnd.custom+json")
            .header("Set-Cookie", "test1=test1")
            .header("Set-Cookie", "test2=test2")
            .header("X-Backend", "here")
            .body(format!(
                "{{ \"z\":1,  \"a\":1.50, \"path\":\"{}\" }}",
                r.uri
            ))
    })
    .await;
    let gw = shaped_on(
        &b,
        json!({"target": "z", "group": "g"}),
        json!({"output_encoding": "no-op", "method": "POST", "cache_ttl": "1h", "input_query_strings": ["q"]}),
    )
    .await;
    let r = send_text("POST", &gw.at("/r?q=1&x=2"), "raw body").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), r#"{ "z":1,  "a":1.50, "path":"/?q=1" }"#);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.custom+json")
    );
    assert_eq!(r.header_all("set-cookie"), ["test1=test1", "test2=test2"]);
    assert_eq!(r.header("x-backend"), Some("here"));
    assert_eq!(r.completed(), Some("false"));
    assert_eq!(r.header("cache-control"), None);
    assert_eq!(b.only().body, "raw body");
}

#[tokio::test]
async fn no_op_passes_error_statuses_through() {
    let b = backend(|_| {
        Reply::new(404)
            .header("Content-Type", "text/plain")
            .body("404 page not found")
    })
    .await;
    let gw = shaped_on(&b, json!({}), json!({"output_encoding": "no-op"})).await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 page not found");
    assert_eq!(r.header("content-type"), Some("text/plain"));
}

#[tokio::test]
async fn no_op_with_an_unreachable_backend_is_500() {
    let gw = gateway(&config(
        json!([{"endpoint": "/r", "output_encoding": "no-op",
        "backend": [{"url_pattern": "/", "host": [closed_url()]}]}]),
    ))
    .await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.status, 500);
}

#[tokio::test]
async fn no_op_backend_encoding_streams_the_body() {
    let (gw, _b) = served(
        Reply::typed("image/png", vec![0u8, 159, 146, 150, 255]),
        json!({"encoding": "no-op"}),
        json!({"output_encoding": "no-op"}),
    )
    .await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.body.as_ref(), &[0u8, 159, 146, 150, 255]);
    assert_eq!(r.header("content-type"), Some("image/png"));
}
