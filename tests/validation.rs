//! Black-box tests of the validation components: `validation/cel` (endpoint and backend
//! scope) and `validation/json-schema`.

mod common;

use common::*;
use serde_json::{json, Value};

fn error_msgs(endpoints: Value) -> Value {
    with(
        config(endpoints),
        json!({"extra_config": {"router": {"return_error_msg": true}}}),
    )
}

#[cfg(feature = "cel")]
mod cel {
    use super::*;

    /// KrakenD's own `/cel/req-resp/{id}` fixture, over two fake backends.
    async fn req_resp() -> (Gw, FakeBackend, FakeBackend) {
        let b1 = json_backend(r#"{"message":"one"}"#).await;
        let b2 = json_backend(r#"{"message":"two"}"#).await;
        let gw = gateway(&error_msgs(json!([{
            "endpoint": "/cel/req-resp/{id}",
            "input_headers": ["X-Header"],
            "backend": [
                {"host": [b1.url], "url_pattern": "/1/{id}", "group": "backend1",
                 "extra_config": {"validation/cel": [{"check_expr": "int(req_params.Id) % 3 == 0"}]}},
                {"host": [b2.url], "url_pattern": "/2/{id}", "group": "backend2",
                 "extra_config": {"validation/cel": [{"check_expr": "int(req_params.Id) % 5 == 0"}]}}
            ],
            "extra_config": {"validation/cel": [
                {"check_expr": "'something' in req_headers['X-Header']"},
                {"check_expr": "int(req_params.Id) % 2 == 0"}
            ]}
        }])))
        .await;
        (gw, b1, b2)
    }

    #[tokio::test]
    async fn a_false_endpoint_check_aborts_with_its_number() {
        let (gw, b1, b2) = req_resp().await;
        let r = get_with(&gw.at("/cel/req-resp/1"), &[("X-Header", "something")]).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.text(), "request aborted by evaluator #1");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.completed(), Some("false"));
        assert_eq!(r.header("cache-control"), None);
        // a missing header fails the first check
        let r = get(&gw.at("/cel/req-resp/30")).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.text(), "request aborted by evaluator #0");
        assert_eq!(b1.count() + b2.count(), 0, "no backend was called");
    }

    #[tokio::test]
    async fn a_false_backend_check_skips_that_backend() {
        let (gw, b1, b2) = req_resp().await;
        let h = [("X-Header", "something")];
        let r = get_with(&gw.at("/cel/req-resp/10"), &h).await;
        r.assert_is(200, r#"{"backend2":{"message":"two"}}"#, "false");
        let r = get_with(&gw.at("/cel/req-resp/6"), &h).await;
        assert_eq!(r.text(), r#"{"backend1":{"message":"one"}}"#);
        assert_eq!(r.completed(), Some("false"));
        let r = get_with(&gw.at("/cel/req-resp/30"), &h).await;
        assert_eq!(
            r.text(),
            r#"{"backend1":{"message":"one"},"backend2":{"message":"two"}}"#
        );
        assert_eq!(r.completed(), Some("true"));
        assert_eq!(b1.count(), 2);
        assert_eq!(b2.count(), 2);
        assert_eq!(b2.requests()[0].path, "/2/10");
    }

    #[tokio::test]
    async fn without_return_error_msg_the_body_is_empty() {
        let b = json_backend(r#"{"a":1}"#).await;
        let gw = gateway(&config(json!([{
            "endpoint": "/m",
            "backend": [{"host": [b.url], "url_pattern": "/"}],
            "extra_config": {"validation/cel": [{"check_expr": "req_method == 'POST'"}]}
        }])))
        .await;
        let r = get(&gw.at("/m")).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.text(), "");
        assert_eq!(b.count(), 0);
    }

    #[tokio::test]
    async fn query_strings_paths_and_responses() {
        let b = json_backend(r#"{"role":"admin","n":3}"#).await;
        let gw = gateway(&error_msgs(json!([{
            "endpoint": "/q/{id}",
            "input_query_strings": ["tag"],
            "backend": [{"host": [b.url], "url_pattern": "/items/{id}",
                "extra_config": {"validation/cel": [
                    {"check_expr": "req_path == '/items/' + req_params.Id"},
                    {"check_expr": "resp_data.n == 3"}
                ]}}],
            "extra_config": {"validation/cel": [
                {"check_expr": "'a' in req_querystring.tag && req_path == '/q/7'"},
                {"check_expr": "resp_data.role == 'admin' && resp_completed"}
            ]}
        }])))
        .await;
        let r = get(&gw.at("/q/7?tag=a&tag=b")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.text(), r#"{"n":3,"role":"admin"}"#);
        let r = get(&gw.at("/q/7?tag=b")).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.text(), "request aborted by evaluator #0");
        assert_eq!(b.count(), 1);
    }

    #[tokio::test]
    async fn a_false_response_check_fails_the_pipe() {
        let b = json_backend(r#"{"role":"guest"}"#).await;
        let gw = gateway(&error_msgs(json!([{
            "endpoint": "/r",
            "backend": [{"host": [b.url], "url_pattern": "/"}],
            "extra_config": {"validation/cel": [
                {"check_expr": "resp_data.role == 'admin'"}
            ]}
        }])))
        .await;
        let r = get(&gw.at("/r")).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.text(), "request aborted by evaluator #0");
        assert_eq!(b.count(), 1);
    }

    #[test]
    fn a_bad_expression_fails_the_configuration() {
        let text = config(json!([{
            "endpoint": "/x",
            "backend": [{"host": ["http://127.0.0.1:8080"], "url_pattern": "/",
                "extra_config": {"validation/cel": [
                    {"check_expr": "req_method == 'GET'"},
                    {"check_expr": "req_params.Id == ("}
                ]}}]
        }]))
        .to_string();
        let err = build_error(&text);
        assert!(
            err.contains("endpoints[0].backend[0].extra_config.validation/cel[1].check_expr"),
            "{err}"
        );
    }
}

#[cfg(not(feature = "cel"))]
#[test]
fn without_the_cel_feature_cel_is_listed_as_not_implemented() {
    let loaded = tentacle::config::load_str(
        &config(json!([{"endpoint": "/x",
            "backend": [{"host": ["http://127.0.0.1:8080"], "url_pattern": "/"}],
            "extra_config": {"validation/cel": [{"check_expr": "req_method == 'GET'"}]}}]))
        .to_string(),
        "test.json",
        Format::Json,
        &|_| None,
    )
    .expect("config");
    let list = tentacle::components::unsupported(&loaded.config);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].namespace, "validation/cel");
}

async fn schema_gateway(return_error_msg: bool) -> (Gw, FakeBackend) {
    let b = backend(|r| Reply::json(echo_json(r).to_string())).await;
    let endpoints = json!([{
        "endpoint": "/address",
        "method": "POST",
        "backend": [{"host": [b.url], "url_pattern": "/"}],
        "extra_config": {"validation/json-schema": {
            "type": "object",
            "required": ["number", "street_name"],
            "properties": {
                "number": {"type": "integer"},
                "street_name": {"type": "string"}
            }
        }}
    }, {
        "endpoint": "/number",
        "method": "POST",
        "backend": [{"host": [b.url], "url_pattern": "/"}],
        "extra_config": {"validation/json-schema": {"type": "number"}}
    }]);
    let cfg = if return_error_msg {
        error_msgs(endpoints)
    } else {
        config(endpoints)
    };
    (gateway(&cfg).await, b)
}

#[tokio::test]
async fn a_valid_body_reaches_the_backend_unchanged() {
    let (gw, b) = schema_gateway(false).await;
    let body = r#"{"number": 1, "street_name": "Main"}"#;
    let r = send(
        "POST",
        &gw.at("/address"),
        &[("Content-Type", "application/json")],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(b.count(), 1);
    assert_eq!(b.only().body, body.as_bytes());
}

#[tokio::test]
async fn an_invalid_body_is_a_400_and_no_backend_call() {
    let (gw, b) = schema_gateway(false).await;
    let r = send("POST", &gw.at("/number"), &[], r#"{"foo": 42}"#).await;
    r.assert_is(400, "", "false");
    let r = send("POST", &gw.at("/address"), &[], r#"{"number": "1"}"#).await;
    assert_eq!(r.status, 400);
    let r = send("POST", &gw.at("/address"), &[], "not json").await;
    assert_eq!(r.status, 400);
    let r = send("POST", &gw.at("/address"), &[], "").await;
    assert_eq!(r.status, 400);
    assert_eq!(b.count(), 0);
    let r = send("POST", &gw.at("/number"), &[], "42.5").await;
    assert_eq!(r.status, 200);
    assert_eq!(b.count(), 1);
}

#[tokio::test]
async fn with_return_error_msg_the_failures_are_listed() {
    let (gw, _b) = schema_gateway(true).await;
    let r = send("POST", &gw.at("/address"), &[], r#"{"number": "1"}"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        r.text(),
        "- (root): street_name is required\n- number: Invalid type. Expected: integer, given: string"
    );
    let r = send("POST", &gw.at("/number"), &[], "{").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "could not validate a malformed body");
}

#[tokio::test]
async fn a_streamed_body_is_validated_and_forwarded() {
    let (gw, b) = schema_gateway(false).await;
    let (tx, body) = streamed_body();
    let url = gw.at("/number");
    let call = tokio::spawn(async move { send_body("POST", &url, &[], body).await });
    tx.send(bytes::Bytes::from_static(b"4"))
        .await
        .expect("send");
    tx.send(bytes::Bytes::from_static(b"2"))
        .await
        .expect("send");
    drop(tx);
    let r = call.await.expect("join");
    assert_eq!(r.status, 200);
    assert_eq!(&b.only().body[..], b"42");
}

#[test]
fn a_bad_schema_fails_the_configuration() {
    let text = config(json!([{
        "endpoint": "/x",
        "method": "POST",
        "backend": [{"host": ["http://127.0.0.1:8080"], "url_pattern": "/"}],
        "extra_config": {"validation/json-schema": {"type": "string", "pattern": "(["}}
    }]))
    .to_string();
    let err = build_error(&text);
    assert!(
        err.contains("endpoints[0].extra_config.validation/json-schema"),
        "{err}"
    );
}

#[test]
fn a_schema_keyword_the_validator_would_ignore_fails_the_configuration() {
    let text = config(json!([{
        "endpoint": "/x",
        "method": "POST",
        "backend": [{"host": ["http://127.0.0.1:8080"], "url_pattern": "/"}],
        "extra_config": {"validation/json-schema": {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "unevaluatedProperties": false
        }}
    }]))
    .to_string();
    let err = build_error(&text);
    assert!(
        err.contains("validation/json-schema") && err.contains("unevaluatedProperties"),
        "{err}"
    );
}
