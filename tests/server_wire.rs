//! The gateway's HTTP/1.1 server on the wire: keep-alive, pipelining, request body framings,
//! `Expect: 100-continue`, HTTP/1.0, response framing, unread bodies, bad heads and shutdown.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

async fn echo_gateway() -> (FakeBackend, Gw) {
    let b = echo_backend().await;
    let gw = gateway(&config(json!([
        {"endpoint": "/echo", "method": "POST",
         "backend": [{"url_pattern": "/e", "host": [b.url]}]},
        {"endpoint": "/a", "backend": [{"url_pattern": "/a", "host": [b.url]}]}
    ])))
    .await;
    (b, gw)
}

/// `GET /a` over a backend answering `{}`, with these service options.
async fn options_gateway(options: serde_json::Value) -> (FakeBackend, Gw) {
    let b = json_backend("{}").await;
    let endpoints =
        json!([{"endpoint": "/a", "backend": [{"url_pattern": "/a", "host": [b.url]}]}]);
    let gw = gateway(&with(config(endpoints), options)).await;
    (b, gw)
}

#[tokio::test]
async fn keep_alive_and_pipelined_requests_are_answered_in_order() {
    let (b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /a?n=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    for _ in 0..2 {
        let r = c.response("GET").await;
        assert_eq!((r.version.as_str(), r.status), ("HTTP/1.1", 200));
        assert!(r.header("date").is_some());
        assert_eq!(r.header("connection"), None);
    }
    // and the same connection serves a third request
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
    assert_eq!(b.count(), 3);
    assert_eq!(b.connections(), 1);
}

#[tokio::test]
async fn a_chunked_request_body_reaches_the_backend() {
    let (b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
          Content-Type: application/json\r\n\r\n5\r\n{\"a\":\r\n3;x=y\r\n 1}\r\n0\r\n\r\n",
    )
    .await;
    let r = c.response("POST").await;
    assert_eq!(r.status, 200);
    assert_eq!(b.only().body.as_ref(), b"{\"a\": 1}");
    // the connection is still usable
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
}

#[tokio::test]
async fn a_body_that_arrives_later_is_streamed_in() {
    let (b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n{\"a\":")
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.send(b" 1}").await;
    assert_eq!(c.response("POST").await.status, 200);
    assert_eq!(b.only().body.as_ref(), b"{\"a\": 1}");
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body() {
    let (b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n")
        .await;
    let interim = c.response("POST").await;
    assert_eq!(interim.status, 100);
    c.send(b"{\"b\":2}").await;
    let r = c.response("POST").await;
    assert_eq!(r.status, 200);
    assert_eq!(b.only().body.as_ref(), b"{\"b\":2}");
}

#[tokio::test]
async fn http_1_0_closes_unless_asked_to_keep_alive() {
    let (_b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a HTTP/1.0\r\n\r\n").await;
    let r = c.response("GET").await;
    assert_eq!((r.version.as_str(), r.status), ("HTTP/1.0", 200));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed().await);

    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let r = c.response("GET").await;
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    assert_eq!(c.response("GET").await.status, 200);
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let (_b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let r = c.response("GET").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed().await);
}

#[tokio::test]
async fn an_unread_request_body_is_drained_and_the_connection_reused() {
    let (b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    // no such route: the body is never read by a handler
    let body = "x".repeat(100 * 1024);
    let req = format!(
        "POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    c.send(req.as_bytes()).await;
    assert_eq!(c.response("POST").await.status, 404);
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
    assert_eq!(b.count(), 1);
}

#[tokio::test]
async fn a_large_passthrough_body_keeps_its_exact_length() {
    let big = "y".repeat(200 * 1024);
    let big_body = big.clone();
    let b = backend(move |r| {
        if r.path == "/big" {
            Reply::text(200, big_body.clone())
        } else {
            Reply::json("{}")
        }
    })
    .await;
    let gw = endpoint_gateway(no_op_endpoint("/big", "/big", &b.url)).await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = c.response("GET").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("204800"));
    assert_eq!(r.body, big.as_bytes());
}

#[tokio::test]
async fn bad_heads_get_go_statuses_and_close() {
    let (_b, gw) = echo_gateway().await;
    for (req, status) in [
        (
            &b"GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
            501,
        ),
        (
            b"GET /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        (b"GET /a HTTP/3.0\r\n\r\n", 505),
        (b"G\x01T /a HTTP/1.1\r\n\r\n", 400),
        (b"GET /a HTTP/1.1\r\n\r\n", 400),
        (b"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ] {
        let (r, _c) = closing_answer(gw.addr, req, "GET", status).await;
        assert!(
            String::from_utf8_lossy(&r.body).starts_with(&status.to_string()),
            "{:?}",
            r.body
        );
    }
}

#[tokio::test]
async fn stopping_closes_idle_connections_at_once() {
    let (_b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
    // the connection is idle: stopping does not wait for it
    soon(gw.stop()).await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn a_response_of_unknown_length_goes_out_chunked() {
    // a raw backend answering every request with a chunked body, in two writes
    let b = raw_backend(vec![ScriptedAnswer::paced(
        &[
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
             Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
            "2\r\nde\r\n0\r\n\r\n",
        ],
        Duration::from_millis(20),
    )])
    .await;
    let gw = endpoint_gateway(no_op_endpoint("/s", "/s", &b.url)).await;
    let mut c = RawConn::open(gw.addr).await;
    for _ in 0..2 {
        c.send(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let r = c.response("GET").await;
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.body, b"abcde");
    }
    // HTTP/1.0 has no chunked coding: the body runs to the end of the connection
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /s HTTP/1.0\r\n\r\n").await;
    let r = c.response("GET").await;
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.body, b"abcde");
}

#[tokio::test]
async fn a_head_answer_carries_no_body() {
    let (_b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    // whatever the route table answers to HEAD, no body bytes follow the head: the next
    // response on the connection parses cleanly
    c.send(b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let head = c.response("HEAD").await;
    assert!(head.status >= 200, "{head:?}");
    let r = c.response("GET").await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.starts_with(b"{"),
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
}

#[tokio::test]
async fn a_long_unread_body_ends_the_connection_after_the_answer() {
    let (_b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    let body = vec![b'z'; 600 * 1024];
    let head = format!(
        "POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes()).await;
    // the body goes out while the answer comes back
    let answer = c.send_reading_to_close(&body).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 404 "), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
}

#[tokio::test]
async fn an_http_1_1_request_names_its_host_once() {
    let (_b, gw) = echo_gateway().await;
    for (req, text) in [
        (
            &b"GET /a HTTP/1.1\r\n\r\n"[..],
            "400 Bad Request: missing required Host header",
        ),
        (
            b"GET /a HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
            "400 Bad Request: too many Host headers",
        ),
    ] {
        let mut c = RawConn::open(gw.addr).await;
        c.send(req).await;
        let r = c.response("GET").await;
        assert_eq!(r.status, 400);
        assert_eq!(String::from_utf8_lossy(&r.body), text);
        assert!(c.closed().await);
    }
    // HTTP/1.0 needs none
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a HTTP/1.0\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
}

#[tokio::test]
async fn response_header_names_are_written_as_go_writes_them() {
    let (_b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = c.response("GET").await;
    let head = r.head.trim_end();
    for name in [
        "Content-Type",
        "X-Krakend",
        "X-Krakend-Completed",
        "Date",
        "Content-Length",
    ] {
        assert!(head.contains(&format!("\r\n{name}: ")), "{name} in {head}");
    }
    // every name: upper case at the start and after each `-`, lower case elsewhere
    for line in head.lines().skip(1) {
        let (name, _) = line.split_once(':').unwrap();
        let mut upper = true;
        for ch in name.chars() {
            if ch.is_ascii_alphabetic() {
                assert_eq!(ch.is_ascii_uppercase(), upper, "{name}");
            }
            upper = ch == '-';
        }
    }
}

#[tokio::test]
async fn an_answer_ready_after_the_write_timeout_is_not_sent() {
    // Go's WriteTimeout: from the end of the request head to the end of the answer's writes
    let slow = slow_backend(Duration::from_millis(800), r#"{"late":true}"#).await;
    let fast = json_backend(r#"{"fast":true}"#).await;
    let gw = gateway(&with(
        config(json!([
            {"endpoint": "/slow", "timeout": "5s",
             "backend": [{"url_pattern": "/s", "host": [slow.url]}]},
            {"endpoint": "/fast", "backend": [{"url_pattern": "/f", "host": [fast.url]}]}
        ])),
        json!({"write_timeout": "300ms"}),
    ))
    .await;
    // the deadline starts again with each request: a connection may live longer than it
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let first = c.response("GET").await;
    assert_eq!(
        (first.status, first.body.as_slice()),
        (200, &br#"{"fast":true}"#[..])
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    c.send(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
    // the backend answers after the deadline: the client gets no byte, the connection closes
    c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        c.closed().await,
        "{:?}",
        String::from_utf8_lossy(c.buffered())
    );
    slow.wait_requests(1).await;
}

#[tokio::test]
async fn without_a_write_timeout_a_slow_answer_is_sent() {
    let slow = slow_backend(Duration::from_millis(800), r#"{"late":true}"#).await;
    let gw = gateway(&config(json!([
        {"endpoint": "/slow", "timeout": "5s",
         "backend": [{"url_pattern": "/s", "host": [slow.url]}]}
    ])))
    .await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = c.response("GET").await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &br#"{"late":true}"#[..])
    );
}

#[tokio::test]
async fn a_head_not_ended_within_read_header_timeout_closes_without_an_answer() {
    let (b, gw) = options_gateway(json!({"read_header_timeout": "300ms"})).await;
    // a whole head in time is answered
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
    // half a head, and nothing more: as Go's server, no answer, the connection closes
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n").await;
    assert!(
        c.closed().await,
        "{:?}",
        String::from_utf8_lossy(c.buffered())
    );
    assert_eq!(b.count(), 1);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_after_idle_timeout() {
    let (_b, gw) = options_gateway(json!({"idle_timeout": "300ms"})).await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
    // a request within the idle time is served on the same connection
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
    // then nothing: the server closes it
    assert!(c.closed().await);
}

/// A request with both `Content-Length` and `Transfer-Encoding: chunked` (either order) is
/// framed by the coding, and the connection closes after its answer: the bytes after the
/// chunked body never run as a second request (RFC 9112 §6.1).
#[tokio::test]
async fn length_beside_chunked_closes_after_the_answer() {
    let (b, gw) = echo_gateway().await;
    for fields in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
    ] {
        let before = b.count();
        let mut c = RawConn::open(gw.addr).await;
        let req = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\n{fields}\r\n3\r\nabc\r\n0\r\n\r\n\
             GET /a?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        c.send(req.as_bytes()).await;
        let r = c.response("POST").await;
        assert_eq!(r.status, 200, "{fields}");
        assert_eq!(r.header("connection"), Some("close"), "{fields}");
        assert!(c.closed().await, "{fields}");
        // one request reached the backend, with the chunked body and no Content-Length
        assert_eq!(b.count(), before + 1, "{fields}");
        let seen = b.requests().pop().unwrap();
        assert_eq!(seen.body.as_ref(), b"abc");
        assert!(!seen.uri.contains("smuggled"));
    }
}

/// Transfer codings the gateway does not apply are refused (501), and so is any coding on
/// an HTTP/1.0 request (400): the body is never read as something else.
#[tokio::test]
async fn transfer_codings_other_than_chunked_alone_are_refused() {
    let (b, gw) = echo_gateway().await;
    for (req, status) in [
        (
            &b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..],
            501,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\xc2\xa0\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            501,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            b"POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
    ] {
        let (_r, mut c) = closing_answer(gw.addr, req, "POST", status).await;
        assert!(c.closed().await, "{:?}", String::from_utf8_lossy(req));
    }
    assert_eq!(b.count(), 0);
}

/// Chunk sizes are `1*HEXDIG` and the framing's lines end in CRLF: a sign, a space before the
/// digits or a bare LF is a broken body, never a body of another length.
#[tokio::test]
async fn chunk_sizes_with_a_sign_or_a_space_are_refused() {
    let (b, gw) = echo_gateway().await;
    for body in [
        &b"+0\r\n\r\n"[..],
        b" 0\r\n\r\n",
        b"+3\r\nabc\r\n0\r\n\r\n",
        b"3\nabc\r\n0\r\n\r\n",
        b"3\r\nabc\n0\r\n\r\n",
    ] {
        let mut c = RawConn::open(gw.addr).await;
        let mut req =
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(body);
        req.extend_from_slice(b"GET /a?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        c.send(&req).await;
        let r = c.response("POST").await;
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert!(c.closed().await);
    }
    // a streamed body may have started upstream before its framing broke; nothing after it
    // ran as a request
    assert!(b.requests().iter().all(|r| !r.uri.contains("smuggled")));
}

/// A `Host` that is not a host (a `/`, `@`, a space) is refused as Go's server refuses it
/// (400, `malformed Host header`): it never becomes `X-Forwarded-Host`.
#[tokio::test]
async fn a_malformed_host_is_refused() {
    let (b, gw) = echo_gateway().await;
    for host in ["a/b", "a@b", "a b", "x?y"] {
        let mut c = RawConn::open(gw.addr).await;
        c.send(format!("GET /a HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await;
        let r = c.response("GET").await;
        assert_eq!(r.status, 400, "{host}");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            "400 Bad Request: malformed Host header"
        );
    }
    // a host with a port, an IP literal: served
    for host in ["example.com:8080", "[::1]:80", "127.0.0.1"] {
        let mut c = RawConn::open(gw.addr).await;
        c.send(format!("GET /a HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await;
        assert_eq!(c.response("GET").await.status, 200, "{host}");
    }
    assert_eq!(b.count(), 3);
}

/// A `%` in the path that does not start a valid escape is refused with Go's 400, never
/// decoded into something else (`%+0` is not `%00`).
#[tokio::test]
async fn invalid_escapes_in_the_path_are_refused() {
    let b = echo_backend().await;
    let gw = gateway(&config(json!([
        {"endpoint": "/a/{x}", "backend": [{"url_pattern": "/x/{x}", "host": [b.url]}]}
    ])))
    .await;
    for path in ["/a/%+0x", "/a/%zz", "/a/%2", "/a/x%"] {
        let mut c = RawConn::open(gw.addr).await;
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await;
        let r = c.response("GET").await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(String::from_utf8_lossy(&r.body), "400 Bad Request");
    }
    assert_eq!(b.count(), 0);
}

/// Bytes that cannot start a request line (a TLS handshake on the plain port) get 400 at
/// once, not after the header timeout.
#[tokio::test]
async fn a_tls_handshake_on_the_plain_port_gets_400_at_once() {
    let (_b, gw) = echo_gateway().await;
    let mut c = RawConn::open(gw.addr).await;
    // the start of a ClientHello: record type 0x16, TLS 1.0, no line feed anywhere
    c.send(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .await;
    let r = c.response("GET").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    // a method with a byte no token holds, before any line feed
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GE{T /a HTTP/1.1").await;
    assert_eq!(c.response("GET").await.status, 400);
}

/// The number of header fields is bounded (100 by default, `max_header_fields`): past it,
/// 431, and nothing is forwarded.
#[tokio::test]
async fn too_many_header_fields_get_431() {
    let b = echo_backend().await;
    let endpoints =
        json!([{"endpoint": "/a", "backend": [{"url_pattern": "/a", "host": [b.url]}]}]);
    let head = |n: usize| {
        let mut req = String::from("GET /a HTTP/1.1\r\nHost: x\r\n");
        for i in 0..n {
            req.push_str(&format!("X-F{i}: v\r\n"));
        }
        req + "\r\n"
    };
    let gw = gateway(&config(endpoints.clone())).await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(head(99).as_bytes()).await;
    assert_eq!(c.response("GET").await.status, 200);
    let mut c = RawConn::open(gw.addr).await;
    c.send(head(10_000).as_bytes()).await;
    let r = c.response("GET").await;
    assert_eq!(r.status, 431);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "431 Request Header Fields Too Large"
    );
    assert_eq!(b.count(), 1);
    // a configured bound
    let gw = gateway(&with(config(endpoints), json!({"max_header_fields": 10}))).await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(head(10).as_bytes()).await;
    assert_eq!(c.response("GET").await.status, 431);
    let mut c = RawConn::open(gw.addr).await;
    c.send(head(9).as_bytes()).await;
    assert_eq!(c.response("GET").await.status, 200);
}

/// The same heads are refused on the hyper-served listener (TLS, h2c): a gateway with
/// `use_h2c` serves HTTP/1.1 on hyper.
#[tokio::test]
async fn the_hyper_listener_refuses_the_same_heads() {
    let b = echo_backend().await;
    let gw = gateway(&with(
        config(json!([
            {"endpoint": "/echo", "method": "POST", "backend": [{"url_pattern": "/e", "host": [b.url]}]},
            {"endpoint": "/a/{x}", "backend": [{"url_pattern": "/a", "host": [b.url]}]}
        ])),
        json!({"use_h2c": true}),
    ))
    .await;
    let mut many = String::from("GET /a/b HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-F{i}: v\r\n"));
    }
    many.push_str("\r\n");
    for (req, status) in [
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            501,
        ),
        (
            "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        ("GET /a/b HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        ("GET /a/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (many.as_str(), 431),
    ] {
        let answer = raw(gw.addr, req.as_bytes(), Duration::from_millis(500)).await;
        assert_eq!(raw_status(&answer), Some(status), "{req:.60}");
    }
    // Content-Length beside chunked: served, then the connection closes
    let mut c = RawConn::open(gw.addr).await;
    c.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n0\r\n\r\nGET /a/smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(c.response("POST").await.status, 200);
    assert!(c.closed().await);
    assert!(b.requests().iter().all(|r| !r.uri.contains("smuggled")));
}

/// A request target with a fragment (`#`) is refused: no target form holds one (RFC 9112
/// §3.2), and what follows it would be cut off unseen. A bare CR before the request line is
/// no empty line (RFC 9112 §2.2): refused too, where whole empty lines are skipped.
#[tokio::test]
async fn fragments_and_bare_carriage_returns_are_refused() {
    let (b, gw) = echo_gateway().await;
    for req in [
        &b"GET /a#/../echo HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET /#\xff HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\rGET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\r\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        closing_answer(gw.addr, req, "GET", 400).await;
    }
    assert_eq!(b.count(), 0);
    // whole empty lines before the request line are still skipped
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"\r\n\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response("GET").await.status, 200);
}

/// The service's `tls` with the fixture certificate for 127.0.0.1.
fn tls_options(extra: serde_json::Value) -> serde_json::Value {
    let mut tls = json!({
        "public_key": "tests/fixtures/jwt/tls/chain.pem",
        "private_key": "tests/fixtures/jwt/tls/server.key"
    });
    if let (Some(t), serde_json::Value::Object(e)) = (tls.as_object_mut(), extra) {
        t.extend(e);
    }
    json!({ "tls": tls })
}

/// HTTP/1.1 over TLS is served by the same connection loop as plain HTTP/1.1: keep-alive
/// answers written out whole (TLS records flushed), a fragment in the target refused, a
/// `gzip, chunked` body refused, whatever ALPN the client offered (`http/1.1` or none).
#[tokio::test]
async fn http1_over_tls_gets_the_plain_listeners_loop() {
    let b = echo_backend().await;
    let endpoints = json!([
        {"endpoint": "/echo", "method": "POST", "backend": [{"url_pattern": "/e", "host": [b.url]}]},
        {"endpoint": "/a", "backend": [{"url_pattern": "/a", "host": [b.url]}]}
    ]);
    let gw = gateway(&with(config(endpoints), tls_options(json!({})))).await;
    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let mut c = RawConn::open_tls(gw.addr, alpn).await;
        assert_eq!(c.alpn.as_deref(), alpn.first().copied());
        for _ in 0..3 {
            let r = c.exchange("GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
            assert_eq!(r.status, 200);
            assert_eq!(r.header("X-Krakend-Completed"), Some("true"));
        }
        let r = c
            .exchange("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            .await;
        assert_eq!(r.status, 200);
        assert!(r.text().contains("abc"), "{}", r.text());
        let mut c = RawConn::open_tls(gw.addr, alpn).await;
        let r = c
            .exchange("GET /a#/../echo HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        assert_eq!(r.status, 400);
        assert!(c.closed().await);
        let mut c = RawConn::open_tls(gw.addr, alpn).await;
        let r = c
            .exchange(
                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            )
            .await;
        assert_eq!(r.status, 501);
    }
    assert!(b.requests().iter().all(|r| r.uri != "/echo#/../echo"));
}

/// `write_timeout` bounds HTTP/1.1 answers over TLS too: an answer not written by then is not
/// sent, and the connection closes.
#[tokio::test]
async fn write_timeout_applies_over_tls() {
    let b = slow_backend(Duration::from_millis(600), r#"{"late":true}"#).await;
    let endpoints =
        json!([{"endpoint": "/slow", "backend": [{"url_pattern": "/", "host": [b.url]}]}]);
    let gw = gateway(&with(
        with(config(endpoints), tls_options(json!({}))),
        json!({"write_timeout": "200ms", "timeout": "5s"}),
    ))
    .await;
    let mut c = RawConn::open_tls(gw.addr, &[b"http/1.1"]).await;
    c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (answer, closed) = c.read_to_close(Duration::from_secs(3)).await;
    assert!(closed);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
}

/// A client that asks for `h2` by ALPN still gets HTTP/2 (on hyper).
#[tokio::test]
async fn h2_over_tls_is_still_served() {
    let b = json_backend(r#"{"over":"h2"}"#).await;
    let endpoints =
        json!([{"endpoint": "/a", "backend": [{"url_pattern": "/a", "host": [b.url]}]}]);
    let gw = gateway(&with(config(endpoints), tls_options(json!({})))).await;
    let c = RawConn::open_tls(gw.addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(c.alpn.as_deref(), Some(&b"h2"[..]));
    // the HTTP/2 connection preface and an empty SETTINGS: the server's SETTINGS come back
    let mut c = c;
    c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await;
    let (answer, _) = c.read_to_close(Duration::from_millis(500)).await;
    assert!(answer.len() >= 9, "{answer:?}");
    assert_eq!(answer[3], 4, "a SETTINGS frame first: {answer:?}");
}

/// A client that opens a TLS connection and never finishes the handshake is let go within
/// the head's timeout (`read_header_timeout`), as Go's server bounds it.
#[tokio::test]
async fn an_unfinished_tls_handshake_is_closed_within_the_header_timeout() {
    let b = json_backend("{}").await;
    let endpoints =
        json!([{"endpoint": "/a", "backend": [{"url_pattern": "/a", "host": [b.url]}]}]);
    let gw = gateway(&with(
        with(config(endpoints), tls_options(json!({}))),
        json!({"read_header_timeout": "300ms"}),
    ))
    .await;
    let mut c = RawConn::open(gw.addr).await;
    // the first bytes of a ClientHello, and nothing after them
    c.send(b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03")
        .await;
    let (_, closed) = c.read_to_close(Duration::from_secs(5)).await;
    assert!(closed, "the connection is still open after 5 s");
}
