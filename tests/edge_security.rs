//! Black-box tests of the edge security components (`security/cors`, `security/http`,
//! `security/bot-detector`): a gateway on 127.0.0.1 driven with raw HTTP/1.1 requests.

mod common;

use common::*;

/// Starts a gateway (its debug endpoints on) with `extra` as the service `extra_config` and
/// `endpoints`, where `{port}` is the gateway's own port (its `/__debug/` endpoint serves as
/// the backend).
async fn start(extra: &str, endpoints: &str) -> Gw {
    let text = |port: u16| {
        format!(
            r#"{{"version": 3, "port": {port}, "extra_config": {extra}, "endpoints": {}}}"#,
            endpoints.replace("{port}", &port.to_string())
        )
    };
    gateway_on_own_port(text, true).await
}

/// One request on a new connection with `Connection: close` (and `Host: localhost:PORT`
/// unless `headers` name a host); its answer, after which the gateway must close the
/// connection with nothing more written.
async fn send(gw: &Gw, method: &str, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: localhost:{}\r\n", gw.addr.port()));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut c = RawConn::open(gw.addr).await;
    let r = c.exchange(&req).await;
    let rest = String::from_utf8_lossy(c.buffered()).into_owned();
    assert!(
        c.closed().await,
        "{method} {path}: after the answer: {rest:?}"
    );
    r
}

const CORS_AND_BOTS: &str = r#"{
    "security/cors": {
        "allow_origins": ["*"],
        "allow_methods": ["POST", "GET"],
        "allow_headers": ["Origin", "Authorization", "Content-Type"],
        "expose_headers": ["Content-Length"],
        "max_age": "12h"
    },
    "security/bot-detector": {
        "deny": ["a", "b"],
        "allow": ["c", "Pingdom.com_bot_version_1.1"],
        "patterns": ["(Pingdom.com_bot_version_).*", "(facebookexternalhit)/.*"],
        "cache_size": 16
    },
    "security/http": {
        "frame_deny": true,
        "content_type_nosniff": true,
        "sts_seconds": 300,
        "ssl_proxy_headers": {"X-Forwarded-Proto": "https"}
    }
}"#;

const ENDPOINTS: &str = r#"[
    {"endpoint": "/ping", "backend": [{"host": ["http://127.0.0.1:{port}"], "url_pattern": "/__debug/"}]},
    {"endpoint": "/guarded",
     "extra_config": {"security/bot-detector": {"deny": ["endpoint-bot"], "empty_user_agent_is_bot": true}},
     "backend": [{"host": ["http://127.0.0.1:{port}"], "url_pattern": "/__debug/"}]}
]"#;

#[tokio::test]
async fn preflight_is_answered_before_routing() {
    let gw = start(CORS_AND_BOTS, ENDPOINTS).await;
    // No OPTIONS route exists, and the second path exists nowhere.
    for path in ["/ping", "/nowhere/at/all"] {
        let r = send(
            &gw,
            "OPTIONS",
            path,
            &[
                ("User-Agent", "some"),
                ("Origin", "http://foo.example"),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "content-type,origin"),
            ],
        )
        .await;
        assert_eq!(r.status, 204, "{path}");
        assert!(r.body.is_empty());
        assert_eq!(r.header_all("access-control-allow-origin"), ["*"]);
        assert_eq!(r.header_all("access-control-allow-methods"), ["GET"]);
        assert_eq!(
            r.header_all("access-control-allow-headers"),
            ["content-type,origin"]
        );
        assert_eq!(r.header_all("access-control-max-age"), ["43200"]);
        assert_eq!(
            r.header_all("vary"),
            ["Origin, Access-Control-Request-Method, Access-Control-Request-Headers"]
        );
        for absent in [
            "content-type",
            "content-length",
            "cache-control",
            "x-krakend",
            "x-krakend-completed",
            // The preflight never reaches the router's middlewares.
            "x-frame-options",
        ] {
            assert!(!r.has(absent), "{path}: {absent}");
        }
    }
}

#[tokio::test]
async fn refused_preflights_get_204_and_only_vary() {
    let gw = start(CORS_AND_BOTS, ENDPOINTS).await;
    let cases: [&[(&str, &str)]; 2] = [
        &[
            ("Origin", "http://foo.example.tld"),
            ("Access-Control-Request-Method", "PUT"),
        ],
        &[
            ("Origin", "http://foo.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "X-PINGOTHER"),
        ],
    ];
    for headers in cases {
        let r = send(&gw, "OPTIONS", "/ping", headers).await;
        assert_eq!(r.status, 204);
        assert!(r.body.is_empty());
        assert!(!r.has("access-control-allow-origin"));
        assert!(!r.has("access-control-allow-methods"));
        assert!(!r.has("access-control-allow-headers"));
        assert!(!r.has("content-type"));
        assert_eq!(
            r.header_all("vary"),
            ["Origin, Access-Control-Request-Method, Access-Control-Request-Headers"]
        );
    }
}

#[tokio::test]
async fn actual_requests_carry_cors_and_security_headers() {
    let gw = start(CORS_AND_BOTS, ENDPOINTS).await;
    let r = send(
        &gw,
        "GET",
        "/ping",
        &[("User-Agent", "some"), ("Origin", "http://foo.example.tld")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, br#"{"message":"pong"}"#);
    assert_eq!(r.header_all("vary"), ["Origin"]);
    assert_eq!(r.header_all("access-control-allow-origin"), ["*"]);
    assert_eq!(
        r.header_all("access-control-expose-headers"),
        ["Content-Length"]
    );
    assert_eq!(r.header_all("x-krakend-completed"), ["true"]);
    assert_eq!(r.header_all("x-frame-options"), ["DENY"]);
    assert_eq!(r.header_all("x-content-type-options"), ["nosniff"]);
    // Plain HTTP: no HSTS.
    assert!(!r.has("strict-transport-security"));

    // Behind a TLS proxy: HSTS.
    let r = send(
        &gw,
        "GET",
        "/ping",
        &[("User-Agent", "some"), ("X-Forwarded-Proto", "https")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header_all("strict-transport-security"), ["max-age=300"]);
    assert_eq!(r.header_all("vary"), ["Origin"]);
    assert!(!r.has("access-control-allow-origin"));

    // Router errors get them too.
    let r = send(&gw, "GET", "/missing", &[("Origin", "http://x.test")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header_all("vary"), ["Origin"]);
    assert_eq!(r.header_all("access-control-allow-origin"), ["*"]);
    assert_eq!(r.header_all("x-frame-options"), ["DENY"]);
}

#[tokio::test]
async fn bots_get_an_empty_403() {
    let gw = start(CORS_AND_BOTS, ENDPOINTS).await;
    for ua in [
        "a",
        "b",
        "Pingdom.com_bot_version_1.14",
        "facebookexternalhit/1.2.3",
    ] {
        // Twice: the second answer comes from the cache.
        for _ in 0..2 {
            let r = send(&gw, "GET", "/ping", &[("User-Agent", ua)]).await;
            assert_eq!(r.status, 403, "{ua}");
            assert!(r.body.is_empty(), "{ua}");
            assert!(!r.has("content-type"), "{ua}");
            assert!(!r.has("x-krakend-completed"), "{ua}");
            assert_eq!(r.header_all("content-length"), ["0"]);
            // Set by the layers that run before the bot detector.
            assert_eq!(r.header_all("vary"), ["Origin"]);
            assert_eq!(r.header_all("x-frame-options"), ["DENY"]);
        }
    }
    for ua in ["c", "Pingdom.com_bot_version_1.1", "Mozilla/5.0"] {
        let r = send(&gw, "GET", "/ping", &[("User-Agent", ua)]).await;
        assert_eq!(r.status, 200, "{ua}");
        assert_eq!(r.body, br#"{"message":"pong"}"#);
    }
    // No User-Agent: not a bot for the service-level detector.
    let r = send(&gw, "GET", "/ping", &[]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn endpoint_level_detector() {
    let gw = start("{}", ENDPOINTS).await;
    let r = send(&gw, "GET", "/guarded", &[("User-Agent", "endpoint-bot")]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.is_empty());
    assert!(!r.has("content-type"));
    assert!(!r.has("x-krakend-completed"));
    let r = send(&gw, "GET", "/guarded", &[]).await;
    assert_eq!(r.status, 403);
    let r = send(&gw, "GET", "/guarded", &[("User-Agent", "Mozilla/5.0")]).await;
    assert_eq!(r.status, 200);
    // Other endpoints are not guarded.
    let r = send(&gw, "GET", "/ping", &[("User-Agent", "endpoint-bot")]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn allowed_hosts_and_ssl_redirect_over_the_wire() {
    let gw = start(
        r#"{"security/http": {"allowed_hosts": ["api.example.com"], "frame_deny": true}}"#,
        ENDPOINTS,
    )
    .await;
    let r = send(&gw, "GET", "/ping", &[("Host", "evil.test")]).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, b"Bad Host\n");
    assert_eq!(r.header_all("content-type"), ["text/plain; charset=utf-8"]);
    assert_eq!(r.header_all("x-content-type-options"), ["nosniff"]);
    assert!(!r.has("x-frame-options"));
    assert!(!r.has("x-krakend-completed"));

    let gw = start(
        r#"{"security/http": {"ssl_redirect": true, "ssl_host": "secure.example.com"}}"#,
        ENDPOINTS,
    )
    .await;
    let r = send(&gw, "GET", "/ping?a=1", &[]).await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header_all("location"),
        ["https://secure.example.com/ping?a=1"]
    );
    assert_eq!(
        r.body,
        b"<a href=\"https://secure.example.com/ping?a=1\">Moved Permanently</a>.\n\n"
    );
}

#[test]
fn bad_configs_are_refused_with_the_field_named() {
    let text =
        r#"{"version": 3, "extra_config": {"security/cors": {"max_age": 12}}, "endpoints": []}"#;
    let err = build_error(text);
    assert!(
        err.lines()
            .any(|e| e.contains("security/cors") && e.contains("max_age")),
        "{err}"
    );
}
