//! Hostile or broken input: oversized headers, garbage on the wire, clients that go away.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn oversized_request_headers_get_431() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = gateway(&with(
        config(json!([{"endpoint": "/a", "backend": [{"url_pattern": "/", "host": [b.url]}]}])),
        json!({"max_header_bytes": 4096}),
    ))
    .await;
    let big = "x".repeat(64 * 1024);
    let req = format!("GET /a HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n");
    let answer = raw(gw.addr, req.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(
        raw_status(&answer),
        Some(431),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(b.count(), 0);
    // the server is still there
    assert_eq!(get(&gw.at("/a")).await.status, 200);
}

#[tokio::test]
async fn garbage_does_not_kill_the_server() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = single("/a", json!({"url_pattern": "/", "host": [b.url]})).await;
    let garbage: &[&[u8]] = &[
        b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\r\n",
        b"\r\n\r\n\r\n",
    ];
    for g in garbage {
        let answer = raw(gw.addr, g, Duration::from_millis(500)).await;
        if let Some(status) = raw_status(&answer) {
            assert!(
                (400..500).contains(&status) || status == 505,
                "{:?} -> {status}",
                String::from_utf8_lossy(g)
            );
        }
    }
    let r = get(&gw.at("/a")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"a":1}"#);
}

#[tokio::test]
async fn odd_but_valid_requests_are_answered() {
    let b = echo_backend().await;
    let gw = gateway(&config(
        json!([{"endpoint": "/a/{id}", "input_query_strings": ["*"],
        "input_headers": ["*"],
        "backend": [{"url_pattern": "/e/{id}", "host": [b.url]}]}]),
    ))
    .await;
    for path in [
        "/a/%E2%9C%93?q=%ZZ&&=&x",
        "/a/x?%00=%00",
        "/a/%C3%28",
        "/a/..",
        "/a/x;y",
    ] {
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Bin: \x7f\r\nConnection: close\r\n\r\n");
        let answer = raw(gw.addr, req.as_bytes(), Duration::from_secs(5)).await;
        let status = raw_status(&answer);
        assert!(status.is_some(), "{path}: no answer");
    }
    assert_eq!(get(&gw.at("/a/ok")).await.status, 200);
}

/// A client that goes away cancels the backend call: the backend sees its connection closed
/// long before its own deadline.
#[tokio::test]
async fn a_client_that_disconnects_cancels_its_backend_call() {
    let (url, closed) = hanging_backend(Duration::from_secs(20)).await;
    let gw = gateway(&config(json!([{"endpoint": "/hang", "timeout": "60s",
        "backend": [{"url_pattern": "/", "host": [url]}]}])))
    .await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // let the request reach the backend, then hang up
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(c);
    let cancelled = tokio::time::timeout(Duration::from_secs(30), closed)
        .await
        .expect("backend never reported")
        .unwrap();
    assert!(
        cancelled,
        "the backend call was not cancelled when the client left"
    );
}

#[tokio::test]
async fn many_concurrent_clients() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = single("/a", json!({"url_pattern": "/", "host": [b.url]})).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let url = gw.at("/a");
        tasks.push(tokio::spawn(async move { get(&url).await.status }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
}
