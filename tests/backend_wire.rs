//! The backend client on the wire: what it writes, and how it reads every framing a backend
//! may answer with (chunked, length, until close), with scripted raw TCP backends.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn chunked_answers_are_decoded_and_the_connection_reused() {
    let b = raw_backend(vec![ScriptedAnswer::new(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;ext=1\r\n{\"a\":\r\n3\r\n1,\"\r\n9\r\nb\":[1,2]}\r\n0\r\nX-Trailer: t\r\n\r\n",
    )])
    .await;
    let gw = single("/c", json!({"url_pattern": "/", "host": [b.url]})).await;
    for _ in 0..3 {
        get_expect(&gw.at("/c"), 200, r#"{"a":1,"b":[1,2]}"#).await;
    }
    assert_eq!(b.connections(), 1);
}

#[tokio::test]
async fn a_body_split_across_writes_streams_through_no_op() {
    let body: String = (0..100_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let pieces = vec![
        head.into_bytes(),
        body.as_bytes()[..7].to_vec(),
        body.as_bytes()[7..70_000].to_vec(),
        body.as_bytes()[70_000..].to_vec(),
    ];
    let b = raw_backend(vec![ScriptedAnswer::in_pieces(pieces)]).await;
    let gw = endpoint_gateway(no_op_endpoint("/n", "/", &b.url)).await;
    for _ in 0..2 {
        get_expect(&gw.at("/n"), 200, &body).await;
    }
    assert_eq!(b.connections(), 1);
}

#[tokio::test]
async fn a_body_delimited_by_close_is_read_whole_and_the_connection_not_reused() {
    let b = raw_backend(vec![ScriptedAnswer::closing(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"until\":\"close\"}",
    )])
    .await;
    let gw = single("/e", json!({"url_pattern": "/", "host": [b.url]})).await;
    for _ in 0..2 {
        get_expect(&gw.at("/e"), 200, r#"{"until":"close"}"#).await;
    }
    assert_eq!(b.connections(), 2);
}

#[tokio::test]
async fn a_pooled_connection_the_backend_closed_is_replaced() {
    // keep-alive answers, but the backend closes the connection after each one
    let b = raw_backend(vec![ScriptedAnswer::closing(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"ok\":1}",
    )])
    .await;
    let gw = single("/s", json!({"url_pattern": "/", "host": [b.url]})).await;
    for i in 0..3 {
        let r = get(&gw.at("/s")).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.text(), r#"{"ok":1}"#);
        b.wait_closed().await;
    }
    assert_eq!(b.count(), 3);
}

#[tokio::test]
async fn a_truncated_body_is_a_backend_error() {
    let b = raw_backend(vec![ScriptedAnswer::closing(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"short\":",
    )])
    .await;
    let gw = single("/t", json!({"url_pattern": "/", "host": [b.url]})).await;
    let r = get(&gw.at("/t")).await;
    assert_eq!(r.status, 500);
}

#[tokio::test]
async fn no_content_and_head_answers_have_no_body() {
    let b = raw_backend(vec![
        ScriptedAnswer::new("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"),
        ScriptedAnswer::new("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"ok\":2}"),
    ])
    .await;
    let gw = gateway(&config(json!([
        no_op_endpoint("/none", "/", &b.url),
        {"endpoint": "/after", "backend": [{"url_pattern": "/", "host": [b.url]}]}
    ])))
    .await;
    let r = get(&gw.at("/none")).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("x-a"), Some("1"));
    assert_eq!(r.text(), "");
    // the next answer is read from the same connection, so nothing was taken for a body
    let r = get(&gw.at("/after")).await;
    assert_eq!(r.text(), r#"{"ok":2}"#);
    assert_eq!(b.connections(), 1);
}

#[tokio::test]
async fn interim_answers_are_skipped_and_many_headers_kept() {
    let mut head = String::from("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n");
    for i in 0..150 {
        head.push_str(&format!("X-H{i}: v{i}\r\n"));
    }
    head.push_str("Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
    let b = raw_backend(vec![ScriptedAnswer::new(&head)]).await;
    let gw = single("/h", json!({"url_pattern": "/", "host": [b.url]})).await;
    let r = get(&gw.at("/h")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"ok":true}"#);
}

#[tokio::test]
async fn the_request_goes_out_with_host_first_and_go_header_names() {
    let b = raw_backend(vec![ScriptedAnswer::new(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    )])
    .await;
    let gw = gateway(&config(json!([{
        "endpoint": "/p", "method": "POST", "input_headers": ["X-Custom-Thing", "Content-Type", "Content-Length"],
        "backend": [{"url_pattern": "/up?q=1", "host": [b.url], "method": "POST"}]
    }, {
        "endpoint": "/chunked", "method": "POST",
        "backend": [{"url_pattern": "/up", "host": [b.url], "method": "POST"}]
    }])))
    .await;
    let r = send(
        "POST",
        &gw.at("/p"),
        &[
            ("x-custom-thing", "yes"),
            ("content-type", "application/json"),
        ],
        r#"{"n":1}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = b.requests()[0].clone();
    let host = b.url.trim_start_matches("http://");
    assert!(
        seen.starts_with(&format!("POST /up?q=1 HTTP/1.1\r\nHost: {host}\r\n")),
        "{seen}"
    );
    assert!(seen.contains("\r\nX-Custom-Thing: yes\r\n"), "{seen}");
    assert!(seen.contains("\r\nContent-Length: 7\r\n"), "{seen}");
    assert!(seen.ends_with("\r\n\r\n{\"n\":1}"), "{seen}");
    // without Content-Length among the forwarded headers the body streams chunked, as Lura's
    // does
    let r = send("POST", &gw.at("/chunked"), &[], r#"{"n":2}"#).await;
    assert_eq!(r.status, 200);
    let seen = b.requests()[1].clone();
    assert!(
        seen.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{seen}"
    );
    assert!(!seen.contains("Content-Length"), "{seen}");
    assert!(
        seen.ends_with("\r\n\r\n7\r\n{\"n\":2}\r\n0\r\n\r\n"),
        "{seen}"
    );
}

#[tokio::test]
async fn a_malformed_answer_is_a_backend_error_not_a_crash() {
    let b = raw_backend(vec![ScriptedAnswer::closing("NOT HTTP AT ALL\r\n\r\n")]).await;
    let gw = single("/m", json!({"url_pattern": "/", "host": [b.url]})).await;
    assert_eq!(get(&gw.at("/m")).await.status, 500);
    assert_eq!(get(&gw.at("/m")).await.status, 500);
}

#[tokio::test]
async fn a_streamed_body_never_goes_on_a_connection_the_backend_closed() {
    let b = raw_backend(vec![ScriptedAnswer::closing(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"ok\":1}",
    )])
    .await;
    let gw = gateway(&config(json!([{
        "endpoint": "/up", "method": "POST", "output_encoding": "no-op",
        "backend": [{"url_pattern": "/", "host": [b.url], "method": "POST", "encoding": "no-op"}]
    }])))
    .await;
    for i in 0..3 {
        let r = send("POST", &gw.at("/up"), &[], &format!("{{\"n\":{i}}}")).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.text(), r#"{"ok":1}"#);
        b.wait_closed().await;
    }
    let seen = b.requests();
    assert_eq!(seen.len(), 3);
    assert!(seen[2].contains("{\"n\":2}"), "{}", seen[2]);
}

#[tokio::test]
async fn a_modest_body_arriving_in_pieces_is_answered_whole() {
    let body: String = (0..20_000)
        .map(|i| (b'0' + (i % 10) as u8) as char)
        .collect();
    let json = format!("{{\"blob\":\"{body}\"}}");
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        json.len()
    );
    let b = raw_backend(vec![ScriptedAnswer::in_pieces(vec![
        head.into_bytes(),
        json.as_bytes()[..10].to_vec(),
        json.as_bytes()[10..].to_vec(),
    ])])
    .await;
    let gw = gateway(&config(json!([
        no_op_endpoint("/n", "/", &b.url),
        {"endpoint": "/j", "backend": [{"url_pattern": "/", "host": [b.url]}]}
    ])))
    .await;
    let r = get(&gw.at("/n")).await;
    assert_eq!(r.text(), json);
    assert_eq!(
        r.header("content-length"),
        Some(json.len().to_string().as_str())
    );
    let r = get(&gw.at("/j")).await;
    assert_eq!(r.json()["blob"], body);
    assert_eq!(b.connections(), 1);
}

#[tokio::test]
async fn a_no_op_answer_keeps_the_backend_header_lines_as_written() {
    let b = raw_backend(vec![ScriptedAnswer::new(
        "HTTP/1.1 201 Created\r\nServer: raw\r\ncontent-type: application/json\r\n\
         Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Multi: 1\r\nX-Multi: 2\r\n\
         Content-Length: 8\r\nset-cookie: a=1; Path=/\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n\r\n{\"ok\":1}",
    )])
    .await;
    let gw = endpoint_gateway(no_op_endpoint("/n", "/", &b.url)).await;
    for _ in 0..2 {
        let RawResponse { head, body, .. } =
            raw_exchange(gw.addr, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 201 Created\r\n"), "{head}");
        // the backend's lines in its order and spelling; the hop's own fields are gone
        assert!(
            head.contains(
                "Server: raw\r\ncontent-type: application/json\r\nX-Multi: 1\r\nX-Multi: 2\r\n\
                 set-cookie: a=1; Path=/\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n"
            ),
            "{head}"
        );
        assert_eq!(lines_named(&head, "connection"), 0, "{head}");
        assert_eq!(lines_named(&head, "keep-alive"), 0, "{head}");
        assert_eq!(lines_named(&head, "date"), 1, "{head}");
        assert_eq!(lines_named(&head, "content-length"), 1, "{head}");
        assert_eq!(lines_named(&head, "x-krakend-completed"), 1, "{head}");
        assert_eq!(lines_named(&head, "x-krakend"), 1, "{head}");
        assert_eq!(body, b"{\"ok\":1}");
    }
    assert_eq!(b.connections(), 1);
}

#[tokio::test]
async fn a_no_op_answer_that_needs_a_map_still_gets_every_rule() {
    let b = raw_backend(vec![
        // the gateway's own header from the backend: replaced, not doubled
        ScriptedAnswer::new(
            "HTTP/1.1 200 OK\r\nX-Krakend: Version 9\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n{}",
        ),
        // a control byte in a value: that field is dropped, the rest kept
        ScriptedAnswer::new(
            "HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nX-Good: c\r\nContent-Length: 2\r\n\r\n{}",
        ),
        // lines ended by a bare LF
        ScriptedAnswer::new("HTTP/1.1 200 OK\nX-Lf: 1\nContent-Length: 2\n\n{}"),
    ])
    .await;
    let gw = endpoint_gateway(no_op_endpoint("/n", "/", &b.url)).await;
    let RawResponse { head, .. } =
        raw_exchange(gw.addr, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(lines_named(&head, "x-krakend"), 1, "{head}");
    assert!(!head.contains("Version 9"), "{head}");
    assert_eq!(lines_named(&head, "x-a"), 1, "{head}");
    let RawResponse { head, .. } =
        raw_exchange(gw.addr, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(lines_named(&head, "x-bad"), 0, "{head}");
    assert_eq!(lines_named(&head, "x-good"), 1, "{head}");
    let RawResponse { head, body, .. } =
        raw_exchange(gw.addr, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(lines_named(&head, "x-lf"), 1, "{head}");
    assert_eq!(body, b"{}");
}

#[tokio::test]
async fn a_no_op_answer_that_goes_through_a_map_keeps_its_headers() {
    let b = raw_backend(vec![ScriptedAnswer::new(
        "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
    )])
    .await;
    for (extra, added) in [
        // a service layer sees (and here adds to) the response headers
        (
            json!({"extra_config": {"security/http": {"frame_deny": true}}}),
            Some("x-frame-options"),
        ),
        // h2c connections (HTTP/1.1 too) are served by hyper, which writes the map
        (json!({"use_h2c": true}), None),
    ] {
        let gw = gateway(&with(
            config(json!([no_op_endpoint("/n", "/", &b.url)])),
            extra,
        ))
        .await;
        let RawResponse { head, body, .. } =
            raw_exchange(gw.addr, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(lines_named(&head, "x-a"), 2, "{head}");
        assert_eq!(lines_named(&head, "content-type"), 1, "{head}");
        assert_eq!(lines_named(&head, "x-krakend"), 1, "{head}");
        if let Some(name) = added {
            assert_eq!(lines_named(&head, name), 1, "{head}");
        }
        assert_eq!(body, b"hi");
    }
}

#[tokio::test]
async fn the_gateway_lines_follow_a_no_op_answers_own_lines() {
    let own = "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n{}";
    let version = env!("CARGO_PKG_VERSION");
    for (extra, krakend, h2c) in [
        (json!({}), format!("Version {version}"), false),
        (
            json!({"extra_config": {"router": {"hide_version_header": true}}}),
            "Version undefined".to_string(),
            false,
        ),
        // hyper writes the map: the same fields with the same values
        (json!({"use_h2c": true}), format!("Version {version}"), true),
    ] {
        let b = raw_backend(vec![ScriptedAnswer::new(own), ScriptedAnswer::new(own)]).await;
        let gw = gateway(&with(
            config(json!([no_op_endpoint("/n", "/", &b.url)])),
            extra,
        ))
        .await;
        for _ in 0..2 {
            let RawResponse { head, body, .. } =
                raw_exchange(gw.addr, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n").await;
            let lines: Vec<&str> = head.lines().collect();
            if h2c {
                let lower: Vec<String> = lines.iter().map(|l| l.to_ascii_lowercase()).collect();
                assert!(
                    lower.contains(&"x-krakend-completed: false".into()),
                    "{head}"
                );
                assert!(
                    lower.contains(&format!("x-krakend: {}", krakend.to_ascii_lowercase())),
                    "{head}"
                );
            } else {
                // the backend's line, then the gateway's two, as an endpoint writes them
                assert_eq!(
                    lines[1..4],
                    [
                        "X-A: 1",
                        "X-Krakend-Completed: false",
                        &format!("X-Krakend: {krakend}")
                    ],
                    "{head}"
                );
            }
            assert_eq!(lines_named(&head, "x-krakend"), 1, "{head}");
            assert_eq!(lines_named(&head, "x-krakend-completed"), 1, "{head}");
            assert_eq!(body, b"{}");
        }
    }
}

#[tokio::test]
async fn the_transport_asks_for_gzip_once_on_every_hop_and_a_forwarded_ask_replaces_it() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    let moved = "HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n";
    let b = raw_backend(vec![
        ScriptedAnswer::new(moved),
        ScriptedAnswer::new(ok),
        ScriptedAnswer::new(ok),
    ])
    .await;
    let gw = gateway(&config(json!([
        {"endpoint": "/r", "backend": [{"url_pattern": "/", "host": [b.url]}]},
        {"endpoint": "/f", "input_headers": ["Accept-Encoding"],
         "backend": [{"url_pattern": "/", "host": [b.url]}]}
    ])))
    .await;
    let RawResponse { head, .. } =
        raw_exchange(gw.addr, "GET /r HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let RawResponse { head, .. } = raw_exchange(
        gw.addr,
        "GET /f HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let requests = b.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    for hop in &requests[..2] {
        // the transport's own field, once, after the forwarded ones (Go's extra headers)
        assert_eq!(lines_named(hop, "accept-encoding"), 1, "{hop}");
        assert!(hop.ends_with("\r\nAccept-Encoding: gzip\r\n\r\n"), "{hop}");
    }
    assert!(requests[1].contains("\r\nReferer: "), "{}", requests[1]);
    assert_eq!(
        lines_named(&requests[2], "accept-encoding"),
        1,
        "{}",
        requests[2]
    );
    assert!(
        requests[2].contains("\r\nAccept-Encoding: identity\r\n"),
        "{}",
        requests[2]
    );
}

/// Requests served one after another on a keep-alive connection each get their own
/// endpoint's deadline, whatever deadlines the requests before them had and however long the
/// connection was idle in between.
#[tokio::test]
async fn each_request_on_a_connection_gets_its_own_deadline() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    let fast = raw_backend(vec![ScriptedAnswer::new(ok)]).await;
    let late = |ms: u64| slow_backend(std::time::Duration::from_millis(ms), "{}");
    let b250 = late(250).await;
    let b600 = late(600).await;
    let no_op = |path: &str, url: &str, timeout: &str| {
        with(no_op_endpoint(path, "/", url), json!({"timeout": timeout}))
    };
    let gw = gateway(&config(json!([
        no_op("/fast", &fast.url, "300ms"),
        no_op("/fast-long", &fast.url, "5s"),
        no_op("/slow250", &b250.url, "300ms"),
        no_op("/slow600", &b600.url, "300ms"),
        no_op("/slow600-short", &b600.url, "100ms"),
    ])))
    .await;
    let mut conn = RawConn::open(gw.addr).await;
    let ms = std::time::Duration::from_millis;
    // one request on the connection: its status and how long it took
    let mut timed = async |path: &str| {
        let started = std::time::Instant::now();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let status = conn.exchange(&request).await.status;
        (status, started.elapsed())
    };

    // a quick request with a 300ms deadline, then, 200ms later, one that takes 250ms of its
    // own 300ms: it is answered, not cut at the earlier request's deadline
    assert_eq!(timed("/fast").await.0, 200);
    tokio::time::sleep(ms(200)).await;
    let (status, took) = timed("/slow250").await;
    assert_eq!(status, 200);
    assert!(took >= ms(240), "{took:?}");

    // after an idle pause longer than any deadline, the next deadline still holds
    tokio::time::sleep(ms(400)).await;
    let (status, took) = timed("/slow600").await;
    assert_eq!(status, 500);
    assert!(took >= ms(290) && took < ms(550), "{took:?}");

    // after a request with a 5s deadline, a 100ms one is cut at 100ms
    assert_eq!(timed("/fast-long").await.0, 200);
    let (status, took) = timed("/slow600-short").await;
    assert_eq!(status, 500);
    assert!(took >= ms(90) && took < ms(450), "{took:?}");
}

/// A backend that answers the n-th request on any connection with `r<n>` (a 2-byte
/// `Content-Length` body) and then, 150 ms later, writes a second answer nobody asked for on
/// the same connection: `intrude`.
async fn intruding_backend() -> RawBackend {
    let script = (1..=32)
        .map(|n| {
            let ok = format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr{n}");
            let extra = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nintrude";
            ScriptedAnswer::paced(&[&ok, extra], Duration::from_millis(150))
        })
        .collect();
    raw_backend(script).await
}

/// A pooled connection is reused only when it is clean: a backend that wrote an answer
/// nobody asked for while the connection was idle never has it read as the next client's
/// answer (the queue would stay shifted by one for every client after). For every method.
#[tokio::test]
async fn an_answer_nobody_asked_for_never_reaches_the_next_client() {
    let b = intruding_backend().await;
    let mut endpoints = Vec::new();
    for method in ["GET", "POST", "PUT", "DELETE"] {
        endpoints.push(json!({
            "endpoint": format!("/{}", method.to_lowercase()), "method": method,
            "output_encoding": "no-op",
            "backend": [{"url_pattern": "/", "host": [b.url], "encoding": "no-op", "method": method}]
        }));
    }
    let gw = gateway(&config(json!(endpoints))).await;
    for round in 0..2 {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let path = gw.at(&format!("/{}", method.to_lowercase()));
            let r = send(method, &path, &[], "").await;
            let n = b.count();
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), format!("r{n}"), "{method}, round {round}");
            // the backend's extra answer arrives while the connection sits in the pool
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// An answer with both `Content-Length` and `Transfer-Encoding: chunked` is framed by the
/// coding; the received length never reaches the client (RFC 9112 §6.3), and the connection
/// is not reused.
#[tokio::test]
async fn a_length_beside_chunked_in_an_answer_is_removed() {
    let raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\
               Transfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n";
    let b = raw_backend(vec![ScriptedAnswer::new(raw)]).await;
    let gw = gateway(&config(json!([
        no_op_endpoint("/n", "/", &b.url),
        {"endpoint": "/j", "backend": [{"url_pattern": "/", "host": [b.url]}]}
    ])))
    .await;
    for path in ["/n", "/j", "/n"] {
        let RawResponse { head, .. } = raw_exchange(
            gw.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(!head.contains("Content-Length: 3"), "{path}: {head}");
        let r = get(&gw.at(path)).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.text(), r#"{"a":1}"#, "{path}");
    }
    // every answer was on a connection of its own
    assert_eq!(b.connections(), b.count());
}

/// Transfer codings other than `chunked` alone, a coding on an HTTP/1.0 answer, a `101` the
/// gateway never asked for, and more than five interim answers: each is a broken backend
/// answer (KrakenD's 500), never a body read some other way, and the connection is dropped.
#[tokio::test]
async fn answers_with_ambiguous_framing_are_backend_errors() {
    for raw in [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nabc",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n\
         HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n\
         HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
    ] {
        let b = raw_backend(vec![ScriptedAnswer::new(raw)]).await;
        let gw = gateway(&config(json!([
            no_op_endpoint("/n", "/", &b.url),
            {"endpoint": "/j", "backend": [{"url_pattern": "/", "host": [b.url]}]}
        ])))
        .await;
        let r = get(&gw.at("/j")).await;
        assert_eq!(r.status, 500, "{raw}");
        // a streamed answer may be cut short: what came of its body is all there is
        let mut c = RawConn::open(gw.addr).await;
        c.send(b"GET /n HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let r = c.read_response("GET").await;
        assert!(
            r.head.starts_with("HTTP/1.1 500") || !r.body.ends_with(b"abc"),
            "{raw}: {}",
            r.head
        );
        assert_eq!(b.connections(), 2, "{raw}");
    }
}

/// The endpoint's `timeout` covers a streamed `no-op` answer whole: a backend that trickles
/// its body past it has the answer cut off (no last chunk) and the connection closed.
#[tokio::test]
async fn a_trickled_no_op_body_is_cut_at_the_endpoint_timeout() {
    let mut pieces = vec!["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"];
    pieces.extend(std::iter::repeat_n("1\r\nx\r\n", 40));
    pieces.push("0\r\n\r\n");
    let b = raw_backend(vec![ScriptedAnswer::paced(
        &pieces,
        Duration::from_millis(250),
    )])
    .await;
    let gw = endpoint_gateway(with(
        no_op_endpoint("/slow", "/", &b.url),
        json!({"timeout": "1s"}),
    ))
    .await;
    let mut c = RawConn::open(gw.addr).await;
    c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // the whole trickle takes ten seconds; the connection must end well before
    let (got, ended) = c.read_to_close(Duration::from_secs(5)).await;
    assert!(ended, "still streaming: {}", String::from_utf8_lossy(&got));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\r\n1\r\nx\r\n"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "{text}");
}

/// An idle pooled connection the backend closes is closed by the gateway too, without
/// waiting for the next request to that host (no socket left in CLOSE-WAIT).
#[tokio::test]
async fn an_idle_connection_the_backend_closed_is_closed_soon() {
    // the backend ends the keep-alive connection, then waits for the gateway's end
    let b = raw_backend(vec![ScriptedAnswer::new(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    )
    .then(AfterAnswer::HalfClose(Duration::from_millis(100)))])
    .await;
    let gw = single("/a", json!({"url_pattern": "/", "host": [b.url]})).await;
    assert_eq!(get(&gw.at("/a")).await.status, 200);
    b.wait_closed().await;
    let rest = b.after_half_close().concat();
    assert_eq!(b.after_half_close().len(), 1);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

/// A `no-op` answer whose head ends in a bare LF still reaches the client with every header
/// line ended by CRLF (its lines are not written through as they came).
#[tokio::test]
async fn a_head_ended_by_a_bare_line_feed_is_not_written_through() {
    let b = raw_backend(vec![ScriptedAnswer::new(
        "HTTP/1.1 200 OK\r\nX-A: b\r\nContent-Length: 2\r\n\n{}",
    )])
    .await;
    let gw = gateway(&config(json!([no_op_endpoint("/n", "/", &b.url)]))).await;
    let r = raw_exchange(gw.addr, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"{}");
    let head = r.head.as_bytes();
    for (i, byte) in head.iter().enumerate() {
        if *byte == b'\r' {
            assert_eq!(head.get(i + 1), Some(&b'\n'), "bare CR in {:?}", r.head);
        }
    }
    assert!(r.head.contains("\r\nX-A: b\r\n"), "{}", r.head);
}
