//! Microbenchmarks of the request path's pure parts: route matching, merging, the response
//! formatter, flatmap, decoding, the Go-compatible JSON writer and url_pattern rendering.
//! Run with `cargo bench`; CI only compiles them.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};
use tentacle::backend::url::UrlTemplate;
use tentacle::config::{load_str, Format};
use tentacle::encoding::{json as gojson, Decoder};
use tentacle::pipeline::merge::merge_all;
use tentacle::pipeline::ProxyResponse;
use tentacle::router::Gateway;
use tentacle::transform::{apply_flatmap, parse_flatmap, Formatter};

fn config(endpoints: Value) -> tentacle::config::ServiceConfig {
    let text = json!({"version": 3, "endpoints": endpoints}).to_string();
    load_str(&text, "bench.json", Format::Json, &|_| None)
        .expect("valid bench config")
        .config
}

fn large_body() -> Vec<u8> {
    let items: Vec<Value> = (0..250)
        .map(|i| json!({"i": i, "name": format!("item-{i}"), "price": 10.5 + i as f64, "ok": i % 2 == 0}))
        .collect();
    serde_json::to_vec(&json!({"items": items, "count": 250})).expect("json")
}

fn small(i: usize) -> Map<String, Value> {
    let v = json!({format!("k{i}"): {"id": i, "name": "x", "tags": ["a", "b"]}, "shared": i});
    v.as_object().cloned().unwrap_or_default()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let endpoints: Vec<Value> = (0..50)
        .map(|i| json!({"endpoint": format!("/api/v1/resource{i}/{{id}}/items"), "backend": [{"url_pattern": "/x/{id}", "host": ["http://127.0.0.1:9"]}]}))
        .collect();
    let gw = rt
        .block_on(async { Gateway::build(config(Value::Array(endpoints)), false) })
        .expect("gateway");
    let get = http::Method::GET;
    c.bench_function("route_match_50_endpoints", |b| {
        b.iter(|| black_box(gw.lookup(&get, black_box("/api/v1/resource42/123/items"))))
    });

    for n in [2usize, 3, 5] {
        c.bench_function(&format!("merge_{n}_responses"), |b| {
            b.iter(|| {
                let parts = (0..n)
                    .map(|i| Ok(ProxyResponse::complete(small(i))))
                    .collect();
                black_box(merge_all(parts))
            })
        });
    }

    let cfg = config(json!([{"endpoint": "/a", "backend": [
        {"url_pattern": "/", "host": ["http://h"], "allow": ["items", "count"], "mapping": {"count": "total"}},
        {"url_pattern": "/", "host": ["http://h"], "deny": ["items"]}
    ]}]));
    let data = Decoder::Json.decode(&large_body(), false).expect("decode");
    let allow = Formatter::new(&cfg.endpoints[0].backend[0], None);
    let deny = Formatter::new(&cfg.endpoints[0].backend[1], None);
    c.bench_function("allow_mapping_large", |b| {
        b.iter(|| black_box(allow.format(data.clone())))
    });
    c.bench_function("deny_large", |b| {
        b.iter(|| black_box(deny.format(data.clone())))
    });

    let ops = parse_flatmap(&json!([
        {"type": "move", "args": ["items", "list"]},
        {"type": "del", "args": ["list.*.ok"]},
        {"type": "move", "args": ["list.*.name", "list.*.title"]}
    ]))
    .expect("flatmap");
    c.bench_function("flatmap_large", |b| {
        b.iter(|| {
            let mut d = data.clone();
            apply_flatmap(&mut d, &ops);
            black_box(d)
        })
    });

    let body = large_body();
    c.bench_function("decode_json_20kb", |b| {
        b.iter(|| black_box(Decoder::Json.decode(black_box(&body), false)))
    });
    c.bench_function("json_writer_20kb", |b| {
        b.iter(|| black_box(gojson::map_to_vec(black_box(&data))))
    });

    let tpl = UrlTemplate::parse("/users/{id}/orders/{order}?expand={field}");
    let params = [("Id", "42"), ("Order", "abc-123"), ("Field", "items")];
    c.bench_function("url_pattern_render", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(64);
            let q = tpl.render(
                |k| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v),
                &mut out,
            );
            black_box((out, q))
        })
    });
}

criterion_group!(core, benches);
criterion_main!(core);
