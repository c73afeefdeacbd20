//! `telemetry/metrics`: requests through the gateway, then `/__stats/` and `/metrics` read from
//! the metrics listener.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{json, Value};

/// A gateway plus its metrics listener (on 127.0.0.1:0).
struct Stats {
    gw: Gw,
    /// `http://127.0.0.1:PORT` of the metrics listener.
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stats {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stats {
    fn at(&self, path: &str) -> String {
        self.gw.at(path)
    }

    async fn json(&self) -> BTreeMap<String, Value> {
        let r = get(&format!("{}/__stats/", self.url)).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        serde_json::from_str(&r.text()).expect("the stats document is JSON")
    }

    async fn prometheus(&self) -> String {
        let r = get(&format!("{}/metrics", self.url)).await;
        assert_eq!(r.status, 200);
        assert!(r
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")));
        r.text()
    }
}

fn int(doc: &BTreeMap<String, Value>, key: &str) -> Option<i64> {
    doc.get(key).and_then(Value::as_i64)
}

async fn start(metrics: Value, endpoints: Value) -> Stats {
    let cfg = with(
        config(endpoints),
        json!({"extra_config": {"telemetry/metrics": metrics}}),
    );
    let gw = built(&cfg);
    let reg = gw.metrics.clone().expect("a metrics registry");
    let (l, url) = listener().await;
    let task = tokio::spawn(tentacle::components::telemetry::metrics::serve(reg, l));
    let (gl, _) = listener().await;
    Stats {
        gw: serve_gateway(gw, gl),
        url,
        task,
    }
}

fn endpoints(ok: &FakeBackend, fail: &FakeBackend) -> Value {
    json!([
        {"endpoint": "/ok", "backend": [{"host": [ok.url], "url_pattern": "/up/ok"}]},
        {"endpoint": "/fail", "backend": [{"host": [fail.url], "url_pattern": "/up/fail"}]},
        {"endpoint": "/items/{id}", "backend": [{"host": [ok.url], "url_pattern": "/up/items/{id}"}]},
    ])
}

#[tokio::test]
async fn counts_responses_by_endpoint_and_status() {
    let ok = json_backend(r#"{"a":1}"#).await;
    let fail = status_backend(500, r#"{"e":1}"#).await;
    let s = start(json!({"listen_address": ":8090"}), endpoints(&ok, &fail)).await;
    for _ in 0..3 {
        assert_eq!(get(&s.at("/ok")).await.status, 200);
    }
    let mut fail_status = 0;
    for _ in 0..2 {
        fail_status = get(&s.at("/fail")).await.status;
    }
    assert_eq!(get(&s.at("/items/7")).await.status, 200);
    assert_eq!(get(&s.at("/items/8")).await.status, 200);
    // not an endpoint: not counted
    assert_eq!(get(&s.at("/nope")).await.status, 404);

    let doc = s.json().await;
    assert_eq!(int(&doc, "krakend.router.response./ok.status.200"), Some(3));
    assert_eq!(
        int(
            &doc,
            &format!("krakend.router.response./fail.status.{fail_status}")
        ),
        Some(2)
    );
    assert_eq!(int(&doc, "krakend.router.response./ok.status.500"), None);
    // path parameters count under the configured endpoint
    assert_eq!(
        int(&doc, "krakend.router.response./items/{id}.status.200"),
        Some(2)
    );
    assert!(!doc.keys().any(|k| k.contains("/nope")));
    assert_eq!(int(&doc, "krakend.router.response./ok.time.count"), Some(3));
    assert_eq!(int(&doc, "krakend.router.response./ok.size.count"), Some(3));
    // the body is {"a":1}: 7 bytes
    assert_eq!(doc["krakend.router.response./ok.size.max"], json!(7));
    assert_eq!(doc["krakend.router.response./ok.size.min"], json!(7));
    assert!(
        doc["krakend.router.response./ok.time.max"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    // the pipe layer, by outcome, then the backend layer, named by url_pattern
    let pipe = "krakend.proxy.requests.layer.pipe.name.";
    let be = "krakend.proxy.requests.layer.backend.name.";
    for (key, n) in [
        (format!("{pipe}/ok.complete.true.error.false"), 3),
        (format!("{pipe}/ok.complete.false.error.true"), 0),
        (format!("{pipe}/fail.complete.false.error.true"), 2),
        (
            "krakend.proxy.latency.layer.pipe.name./ok.complete.true.error.false.count".to_string(),
            3,
        ),
        (format!("{be}/up/ok.complete.true.error.false"), 3),
        (format!("{be}/up/fail.complete.false.error.true"), 2),
        (format!("{be}/up/items/{{id}}.complete.true.error.false"), 2),
    ] {
        assert_eq!(int(&doc, &key), Some(n), "{key}");
    }
    assert!(doc["cmdline"].is_array());

    let prom = s.prometheus().await;
    for line in [
        "tentacle_router_responses_total{endpoint=\"/ok\",status=\"200\"} 3",
        "tentacle_router_responses_total{endpoint=\"/items/{id}\",status=\"200\"} 2",
        "tentacle_router_response_duration_seconds_count{endpoint=\"/ok\"} 3",
        "tentacle_router_response_size_bytes_bucket{endpoint=\"/ok\",le=\"64\"} 3",
        "tentacle_router_response_size_bytes_sum{endpoint=\"/ok\"} 21",
        "tentacle_proxy_requests_total{layer=\"pipe\",name=\"/ok\",complete=\"true\",error=\"false\"} 3",
        "tentacle_proxy_requests_total{layer=\"backend\",name=\"/up/fail\",complete=\"false\",error=\"true\"} 2",
        "tentacle_proxy_duration_seconds_count{layer=\"backend\",name=\"/up/ok\",complete=\"true\",error=\"false\"} 3",
        "# TYPE tentacle_router_response_duration_seconds histogram",
    ] {
        assert!(prom.lines().any(|l| l == line), "missing {line:?} in\n{prom}");
    }
    assert_eq!(
        prom.lines()
            .filter(|l| l.starts_with(
                "tentacle_router_response_duration_seconds_bucket{endpoint=\"/ok\",le=\"+Inf\"} 3"
            ))
            .count(),
        1
    );
}

#[tokio::test]
async fn each_layer_can_be_disabled() {
    let ok = json_backend(r#"{"a":1}"#).await;
    let fail = status_backend(500, "{}").await;
    for (flag, gone) in [
        ("router_disabled", ["krakend.router.", "tentacle_router_"]),
        ("proxy_disabled", ["layer.pipe.", "layer=\"pipe\""]),
        ("backend_disabled", ["layer.backend.", "layer=\"backend\""]),
    ] {
        let s = start(json!({ flag: true }), endpoints(&ok, &fail)).await;
        assert_eq!(get(&s.at("/ok")).await.status, 200);
        let doc = s.json().await;
        let prom = s.prometheus().await;
        assert!(!doc.keys().any(|k| k.contains(gone[0])), "{flag}: {doc:?}");
        assert!(!prom.contains(gone[1]), "{flag}: {prom}");
        // the other layers still count
        let kept: Vec<&str> = [
            "krakend.router.response./ok.status.200",
            "krakend.proxy.requests.layer.pipe.name./ok.complete.true.error.false",
            "krakend.proxy.requests.layer.backend.name./up/ok.complete.true.error.false",
        ]
        .into_iter()
        .filter(|k| !k.contains(gone[0]))
        .collect();
        assert_eq!(kept.len(), 2);
        for k in kept {
            assert_eq!(int(&doc, k), Some(1), "{flag}: {k}");
        }
    }
}

#[tokio::test]
async fn listener_paths() {
    let ok = json_backend("{}").await;
    let s = start(
        json!({}),
        json!([{"endpoint": "/ok", "backend": [{"host": [ok.url], "url_pattern": "/"}]}]),
    )
    .await;
    let r = get(&format!("{}/__stats", s.url)).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/__stats/"));
    let r = get(&format!("{}/other", s.url)).await;
    assert_eq!((r.status, r.text().as_str()), (404, "404 page not found"));
    let r = send("POST", &format!("{}/__stats/", s.url), &[], "").await;
    assert_eq!(r.status, 405);
    // before any request: histograms registered, counters at zero, no status seen
    let doc = s.json().await;
    assert_eq!(int(&doc, "krakend.router.response./ok.time.count"), Some(0));
    assert!(!doc.keys().any(|k| k.contains(".status.")));
}

#[tokio::test]
async fn the_listener_starts_from_the_configuration_unless_disabled() {
    let ok = json_backend("{}").await;
    let eps = json!([{"endpoint": "/ok", "backend": [{"host": [ok.url], "url_pattern": "/"}]}]);
    let port = free_port();
    let cfg = with(
        config(eps.clone()),
        json!({"extra_config": {"telemetry/metrics": {"listen_address": format!("127.0.0.1:{port}")}}}),
    );
    let gw = built(&cfg);
    let (addr, task) = tentacle::cli::start_metrics(&gw).await.expect("listening");
    assert_eq!(addr.port(), port);
    assert_eq!(get(&format!("http://{addr}/__stats/")).await.status, 200);
    task.abort();

    let cfg = with(
        config(eps),
        json!({"extra_config": {"telemetry/metrics": {"endpoint_disabled": true, "listen_address": "127.0.0.1:0"}}}),
    );
    let gw = built(&cfg);
    assert!(gw.metrics.is_some(), "still collected");
    assert!(tentacle::cli::start_metrics(&gw).await.is_none());
}

#[tokio::test]
async fn bad_configuration_is_refused_with_the_field() {
    for (cfg, field) in [
        (json!({"listen_address": "nowhere"}), "listen_address"),
        (json!({"collection_time": "often"}), "collection_time"),
        (json!({"router_disabled": "yes"}), "router_disabled"),
    ] {
        let text = with(
            config(json!([])),
            json!({"extra_config": {"telemetry/metrics": cfg}}),
        )
        .to_string();
        let e = build_error(&text);
        assert!(e.contains("telemetry/metrics") && e.contains(field), "{e}");
    }
}
