//! Microbenchmarks of the request path's pure parts: route matching, merging, the response
//! formatter, flatmap, decoding, the Go-compatible JSON writer and url_pattern rendering.
//! Run with `cargo bench`; CI only compiles them.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};
use tentacle::backend::url::UrlTemplate;
use tentacle::config::{load_str, Format};
use tentacle::encoding::{json as gojson, Decoder, Render};
use tentacle::message::ProxyResponse;
use tentacle::pipeline::merge::merge_all;
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

/// The 20 KB object of the load benchmark, keys in the order it sends them.
fn bench_large() -> Vec<u8> {
    let mut items = String::new();
    let mut n = 0;
    while items.len() < 20_000 {
        if n > 0 {
            items.push(',');
        }
        items.push_str(&format!(
            r#"{{"i":{n},"name":"item-{n}","price":{},"ok":{}}}"#,
            10.5 + n as f64,
            n % 2 == 0
        ));
        n += 1;
    }
    format!(r#"{{"items":[{items}],"count":{n}}}"#).into_bytes()
}

/// The 200-byte object of the load benchmark.
fn bench_small() -> Vec<u8> {
    let mut description =
        "a small object for the proxy benchmark, about two hundred bytes".to_string();
    loop {
        let s = format!(
            r#"{{"id":42,"name":"tentacle","active":true,"score":9.75,"tags":["a","b","c"],"owner":{{"login":"octo","type":"User"}},"description":"{description}"}}"#
        );
        if s.len() >= 200 {
            return s.into_bytes();
        }
        description.push('.');
    }
}

/// The body re-serialised with every object's keys in reverse order.
fn reverse_keys(body: &[u8]) -> Vec<u8> {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                out.push('{');
                for (i, (k, item)) in m.iter().rev().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let v: Value = serde_json::from_slice(body).expect("json");
    let mut out = String::new();
    write(&v, &mut out);
    out.into_bytes()
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
        .map(|i| json!({"endpoint": format!("/api/v1/resource{i}/{{id}}/items"), "backend": [{"url_pattern": "/x/{id}", "host": ["http://127.0.0.1:19"]}]}))
        .collect();
    let gw = rt
        .block_on(async { tentacle::app::build(config(Value::Array(endpoints)), false) })
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
    // the default JSON path of a plain endpoint: decode into a map and render it, against
    // the streaming canonicaliser, on the load benchmark's payloads (bench/run.sh)
    for (name, payload) in [("20kb", bench_large()), ("200b", bench_small())] {
        c.bench_function(&format!("json_decode_render_{name}"), |b| {
            b.iter(|| {
                let m = Decoder::Json
                    .decode(black_box(&payload), false)
                    .expect("decode");
                black_box(Render::Json.render(&m, None))
            })
        });
        c.bench_function(&format!("json_canonicalize_{name}"), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                gojson::canonicalize(black_box(&payload), &mut out).expect("canonical");
                black_box(out)
            })
        });
    }
    // every object out of order: every one is sorted
    let reversed = reverse_keys(&bench_large());
    c.bench_function("json_canonicalize_20kb_reversed", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            gojson::canonicalize(black_box(&reversed), &mut out).expect("canonical");
            black_box(out)
        })
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
