//! The backend HTTP client: host balancing, redirects, gzip, which statuses count as success.

mod common;

use common::*;
use serde_json::json;

/// A backend answering `/start` with a `code` redirect to `location`, anything else with
/// `then`.
async fn redirecting(
    code: u16,
    location: &str,
    then: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> FakeBackend {
    let location = location.to_string();
    backend(move |r| match r.path.as_str() {
        "/start" => Reply::new(code).header("Location", &location),
        _ => then(r),
    })
    .await
}

/// A backend echoing whatever does not go to `/start`, which redirects with `code` to
/// `/final`.
async fn redirecting_echo(code: u16) -> FakeBackend {
    redirecting(code, "/final", |r| Reply::json(echo_json(r).to_string())).await
}

#[tokio::test]
async fn several_hosts_share_the_load() {
    let a = json_backend(r#"{"from":"a"}"#).await;
    let b = json_backend(r#"{"from":"b"}"#).await;
    let gw = single("/lb", json!({"url_pattern": "/", "host": [a.url, b.url]})).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let r = get(&gw.at("/lb")).await;
        assert_eq!(r.status, 200);
        seen.insert(r.json()["from"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), 2, "only one host was used: {seen:?}");
    assert_eq!(a.count() + b.count(), 20);
}

#[tokio::test]
async fn service_hosts_are_the_default_for_backends() {
    let a = json_backend(r#"{"from":"service host"}"#).await;
    let gw = gateway(&with(
        config(json!([{"endpoint": "/d", "backend": [{"url_pattern": "/x"}]}])),
        json!({"host": [a.url]}),
    ))
    .await;
    let r = get(&gw.at("/d")).await;
    assert_eq!(r.text(), r#"{"from":"service host"}"#);
    assert_eq!(a.only().path, "/x");
}

#[tokio::test]
async fn hosts_without_scheme_get_http() {
    let a = json_backend(r#"{"ok":1}"#).await;
    let host = a.url.trim_start_matches("http://").to_string() + "/";
    let gw = single("/d", json!({"url_pattern": "x", "host": [host]})).await;
    let r = get(&gw.at("/d")).await;
    assert_eq!(r.status, 200);
    assert_eq!(a.only().path, "/x");
}

#[tokio::test]
async fn redirects_are_followed_with_referer() {
    for code in [301u16, 302, 303, 307, 308] {
        let b = redirecting(code, "/final?x=1", |_| Reply::json(r#"{"arrived":true}"#)).await;
        let gw = single("/r", json!({"url_pattern": "/start", "host": [b.url]})).await;
        let r = get(&gw.at("/r")).await;
        assert_eq!(r.status, 200, "{code}");
        assert_eq!(r.text(), r#"{"arrived":true}"#, "{code}");
        let reqs = b.requests();
        assert_eq!(reqs.len(), 2, "{code}");
        assert_eq!(reqs[1].uri, "/final?x=1");
        let referer = format!("{}/start", b.url);
        assert_eq!(reqs[1].header("referer"), Some(referer.as_str()), "{code}");
    }
}

#[tokio::test]
async fn a_post_redirected_with_303_becomes_a_get_without_body() {
    let b = redirecting_echo(303).await;
    let gw = single_method(
        "POST",
        "/r",
        json!({"url_pattern": "/start", "host": [b.url]}),
    )
    .await;
    let r = send_text("POST", &gw.at("/r"), "payload").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["body"], "");
    assert_eq!(v["path"], "/final");
}

#[tokio::test]
async fn redirects_to_another_host() {
    let target = json_backend(r#"{"other":true}"#).await;
    let location = format!("{}/there", target.url);
    let b = backend(move |_| Reply::new(302).header("Location", &location)).await;
    let gw = single("/r", json!({"url_pattern": "/", "host": [b.url]})).await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.text(), r#"{"other":true}"#);
    assert_eq!(target.only().path, "/there");
}

#[tokio::test]
async fn endless_redirects_fail() {
    let b = backend(|_| Reply::new(302).header("Location", "/again")).await;
    let gw = single("/r", json!({"url_pattern": "/", "host": [b.url]})).await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.status, 500);
    assert!(b.count() <= 12, "{} requests", b.count());
}

#[tokio::test]
async fn gzip_answers_are_decoded() {
    let body = json!({"compressed": true, "text": "x".repeat(2000)}).to_string();
    let zipped = gzip(body.as_bytes());
    let b = backend(move |r| {
        if r.header("accept-encoding") == Some("gzip") {
            Reply::json("")
                .header("Content-Encoding", "gzip")
                .body(zipped.clone())
        } else {
            Reply::text(400, "no gzip asked")
        }
    })
    .await;
    let gw = single("/z", json!({"url_pattern": "/", "host": [b.url]})).await;
    let r = get(&gw.at("/z")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["compressed"], true);
    assert_eq!(r.json()["text"].as_str().unwrap().len(), 2000);
    assert_eq!(r.header("content-encoding"), None);
}

#[tokio::test]
async fn only_200_and_201_are_success() {
    for (status, ok) in [
        (200u16, true),
        (201, true),
        (202, false),
        (204, false),
        (206, false),
        (400, false),
        (401, false),
        (404, false),
        (500, false),
        (503, false),
    ] {
        let b = backend(move |_| Reply::json(r#"{"a":1}"#).status(status)).await;
        let gw = single("/s", json!({"url_pattern": "/", "host": [b.url]})).await;
        let r = get(&gw.at("/s")).await;
        if ok {
            assert_eq!(
                (r.status, r.text().as_str()),
                (200, r#"{"a":1}"#),
                "{status}"
            );
        } else {
            assert_eq!((r.status, r.text().as_str()), (500, ""), "{status}");
        }
    }
}

#[tokio::test]
async fn a_redirect_without_location_is_an_invalid_status() {
    let b = backend(|_| Reply::new(302)).await;
    let gw = router_gateway(
        json!([{"endpoint": "/s", "backend": [{"url_pattern": "/loc", "host": [b.url]}]}]),
        json!({"return_error_msg": true}),
    )
    .await;
    let r = get(&gw.at("/s")).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        format!("invalid status code 302 [GET /loc]: {}/loc", b.url)
    );
}

#[tokio::test]
async fn an_unreachable_backend_is_500() {
    let gw = single("/u", json!({"url_pattern": "/", "host": [closed_url()]})).await;
    let r = get(&gw.at("/u")).await;
    r.assert_is(500, "", "false");
}

#[tokio::test]
async fn backend_connections_are_reused() {
    let b = json_backend(r#"{"a":1}"#).await;
    let gw = single("/k", json!({"url_pattern": "/", "host": [b.url]})).await;
    for _ in 0..5 {
        assert_eq!(get(&gw.at("/k")).await.status, 200);
    }
    assert_eq!(b.count(), 5);
    assert_eq!(
        b.connections(),
        1,
        "one pooled connection for sequential calls"
    );
}

/// A POST answered with 307: KrakenD CE does not send the body twice unless
/// `backend/http/client.send_body_on_redirect` says so; then the body reaches the new URL.
#[tokio::test]
async fn a_307_resends_the_body_only_with_send_body_on_redirect() {
    for resend in [false, true] {
        let b = redirecting_echo(307).await;
        let mut backend_cfg = json!({"url_pattern": "/start", "host": [b.url]});
        if resend {
            backend_cfg["extra_config"] =
                json!({"backend/http/client": {"send_body_on_redirect": true}});
        }
        let gw = gateway(&config(json!([{"endpoint": "/r", "method": "POST",
            "input_headers": ["Content-Type", "Content-Length"], "backend": [backend_cfg]}])))
        .await;
        let r = send_text("POST", &gw.at("/r"), "payload").await;
        if resend {
            assert_eq!(r.status, 200);
            let v = r.json();
            assert_eq!(v["method"], "POST");
            assert_eq!(v["body"], "payload");
            assert_eq!(v["path"], "/final");
        } else {
            // the 307 itself comes back: not a success for a json backend
            assert_eq!(r.status, 500);
            assert_eq!(b.count(), 1);
        }
    }
}

/// `no_redirect` hands a redirect to the client of a no-op endpoint untouched.
#[tokio::test]
async fn no_redirect_passes_the_redirect_through() {
    let b = redirecting(302, "/final", |_| Reply::json(r#"{"followed":true}"#)).await;
    let gw = gateway(&config(
        json!([{"endpoint": "/r", "output_encoding": "no-op",
        "backend": [{"url_pattern": "/start", "host": [b.url], "encoding": "no-op",
            "extra_config": {"backend/http/client": {"no_redirect": true}}}]}]),
    ))
    .await;
    let r = get(&gw.at("/r")).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/final"));
    assert_eq!(b.requests().len(), 1);
}

#[tokio::test]
async fn http_client_options_are_checked() {
    let text = json!({"version": 3, "endpoints": [{"endpoint": "/r", "backend": [
        {"url_pattern": "/", "host": ["http://127.0.0.1:19"],
         "extra_config": {"backend/http/client": {"no_redirect": "yes"}}}]}]})
    .to_string();
    let err = build_error(&text);
    assert!(err.contains("backend/http/client.no_redirect"), "{err}");
}

/// An endpoint `/t` over `https://127.0.0.1:PORT/x`, with these `client_tls` options.
async fn https_gateway(tls: &TcpServer, client_tls: serde_json::Value) -> Gw {
    let host = format!("https://127.0.0.1:{}", tls.addr.port());
    gateway(&with(
        config(json!([{"endpoint": "/t", "backend": [{"url_pattern": "/x", "host": [host]}]}])),
        json!({"client_tls": client_tls}),
    ))
    .await
}

/// `https://` backends go through the same keep-alive pool as plain ones: the connection (and
/// its TLS session) is made once and reused; the certificate is checked against `ca_certs`.
#[tokio::test]
async fn https_backends_are_pooled_and_verified() {
    let tls = tls_backend(|| bytes::Bytes::from_static(br#"{"over":"tls"}"#)).await;
    let gw = https_gateway(&tls, json!({"ca_certs": ["tests/fixtures/jwt/tls/ca.pem"]})).await;
    for _ in 0..5 {
        let r = get(&gw.at("/t")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json(), json!({"over": "tls"}));
    }
    assert_eq!(tls.connections(), 1);
}

/// A certificate the client does not trust fails the call (KrakenD's 500), unless
/// `allow_insecure_connections`.
#[tokio::test]
async fn an_untrusted_https_backend_fails_unless_insecure_is_allowed() {
    let tls = tls_backend(|| bytes::Bytes::from_static(br#"{"over":"tls"}"#)).await;
    let strict = https_gateway(&tls, json!({"disable_system_ca_pool": true})).await;
    assert_eq!(get(&strict.at("/t")).await.status, 500);
    let lax = https_gateway(&tls, json!({"allow_insecure_connections": true})).await;
    let r = get(&lax.at("/t")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"over": "tls"}));
}

/// `response_header_timeout` bounds `https://` backends as it does plain ones.
#[tokio::test]
async fn response_header_timeout_bounds_https_backends() {
    let tls = tls_backend_replying(|| {
        Reply::json(r#"{"late":true}"#).delay(std::time::Duration::from_millis(800))
    })
    .await;
    let host = format!("https://127.0.0.1:{}", tls.addr.port());
    let gw = gateway(&with(
        config(json!([{"endpoint": "/t", "backend": [{"url_pattern": "/x", "host": [host]}]}])),
        json!({"client_tls": {"allow_insecure_connections": true},
               "response_header_timeout": "200ms", "timeout": "5s"}),
    ))
    .await;
    // the backend would answer 200 well within the endpoint's timeout
    assert_eq!(get(&gw.at("/t")).await.status, 500);
}
