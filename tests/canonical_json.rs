//! The streaming JSON canonicaliser against the decode-then-render path it stands in for:
//! hand-written edge cases, a generated corpus (valid documents and corrupted ones) and the
//! JSON files of the conformance fixtures must all come out byte for byte the same; and
//! through a gateway, a plain JSON endpoint answers exactly as an endpoint that builds the map.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

use tentacle::encoding::json::{canonicalize, parse, to_vec};
use tentacle::encoding::{Decoder, Render};

/// What the map path answers for a body: the rendered map, or the decode error.
fn map_path(body: &[u8]) -> Result<Vec<u8>, String> {
    Decoder::Json
        .decode(body, false)
        .map(|m| Render::Json.render(&m, None).1)
}

fn canonical(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = b"kept".to_vec();
    match canonicalize(body, &mut out) {
        Ok(()) => {
            assert!(out.starts_with(b"kept"), "the output prefix was touched");
            Some(out.split_off(4))
        }
        Err(_) => {
            assert_eq!(out, b"kept", "a failed canonicalisation left output behind");
            None
        }
    }
}

fn show(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() > 300 {
        format!(
            "{}… ({} bytes)",
            text.chars().take(300).collect::<String>(),
            body.len()
        )
    } else {
        format!("{text:?}")
    }
}

/// Asserts that both paths agree on `body`; returns whether it was valid JSON.
fn same(body: &[u8]) -> bool {
    let fast = canonical(body);
    let value = parse(body).ok().map(|v| to_vec(&v));
    assert_eq!(
        fast.as_deref().map(String::from_utf8_lossy),
        value.as_deref().map(String::from_utf8_lossy),
        "canonicalize and parse+write disagree on {}",
        show(body)
    );
    // the backend decoder and the endpoint render: a top-level object gives the same bytes
    match (&fast, map_path(body)) {
        (Some(f), Ok(rendered)) if f.starts_with(b"{") => assert_eq!(
            String::from_utf8_lossy(f),
            String::from_utf8_lossy(&rendered),
            "canonicalize and decode+render disagree on {}",
            show(body)
        ),
        (Some(f), Ok(_)) => assert_eq!(f, b"null", "only null decodes to a map: {}", show(body)),
        (Some(f), Err(_)) => assert!(!f.starts_with(b"{"), "{}", show(body)),
        (None, Ok(_)) => panic!("valid for the decoder only: {}", show(body)),
        (None, Err(_)) => {}
    }
    fast.is_some()
}

/// A document the canonicaliser leaves to the map path, which accepts it.
fn falls_back(body: &[u8]) {
    assert!(canonical(body).is_none(), "{}", show(body));
    assert!(parse(body).is_ok(), "{}", show(body));
}

#[test]
fn hand_written_edge_cases() {
    let valid: &[&str] = &[
        // objects, order, duplicates
        r#"{}"#,
        r#"{"a":1}"#,
        r#"{"b":1,"a":2}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"a":1,"b":2,"a":3}"#,
        r#"{"b":{"z":1,"y":2,"z":3},"a":[{"d":1,"c":2},{"c":3,"c":4}],"b":0}"#,
        r#"{"a":{},"b":[],"c":[{}],"d":[[]],"e":{"f":{}}}"#,
        r#"{"":1,"a":2,"":3}"#,
        r#"{"ab":1,"a":2,"a\u0000":3,"a\u0001":4,"A":5,"é":6,"z":7,"~":8,"😀":9,"\uffff":10}"#,
        r#"{"\u0062":1,"a":2,"\u0061":3}"#,
        r#"{"<":1,">":2,"&":3,"\u2028":4,"\"":5,"\\":6}"#,
        r#"{"$serde_json":1,"$":2,"$serde_json::privat":3}"#,
        // strings and escapes
        r#"["plain","\"\\\/\b\f\n\r\t","\u00e9\u00E9é","\u0000\u001f\u007f\u0080","<script>&amp;</script>"]"#,
        r#"["\u2028\u2029 escaped","\ud83d\ude00😀","\uD83D\uDE00","\uDBFF\uDFFF","\ud800\udc00"]"#,
        "[\"\u{2028}\u{2029}\u{2027}\u{202a}\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}\"]",
        r#"{"k":"\u003c\u003e\u0026"}"#,
        r#"["\/\/", "a\\u0041", "\\\\\""]"#,
        // numbers
        r#"[0,-0,1,-1,0.0,-0.0,1.0,1.50,1e3,1E3,1e+3,1E+3,1e-3,1E-3,1e03,0e0,0E-0,-0e-0]"#,
        r#"[123456789012345678901234567890,-123456789012345678901234567890,18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809]"#,
        r#"[1e400,-1e400,1e-400,4.9e-324,1.7976931348623157e308,0.1,0.30000000000000004,1.0000000000000000000001]"#,
        r#"[-0e-01,-0E-00,-0e-0,-0e-00,-0e-1]"#,
        r#"{"-0e-01":[-0e-01,"1e3",{"k":"\"2E2\"","n":[9E9]}],"z":1e3}"#,
        // literals and top-level values
        "true",
        "false",
        "null",
        "0",
        "-12.5e+7",
        r#""top""#,
        "[]",
        "[null,true,false]",
        // whitespace everywhere
        " \t\r\n{ \t\r\n\"b\" \t\r\n: \t\r\n[ 1 , 2 ] \t\r\n, \"a\" : { } \t\r\n} \t\r\n",
        "\n[\n]\n",
        "  null  ",
    ];
    for body in valid {
        assert!(same(body.as_bytes()), "expected valid: {body}");
    }
    let invalid: &[&[u8]] = &[
        b"",
        b"   ",
        b"{",
        b"}",
        b"{\"a\"}",
        b"{\"a\":}",
        b"{\"a\":1,}",
        b"{,}",
        b"{\"a\" 1}",
        b"{a:1}",
        b"{'a':1}",
        b"{\"a\":1}}",
        b"{\"a\":1} x",
        b"{\"a\":1}{}",
        b"[1,]",
        b"[,1]",
        b"[1 2]",
        b"[01]",
        b"[-01]",
        b"[1.]",
        b"[.5]",
        b"[1.e3]",
        b"[1e]",
        b"[1e+]",
        b"[-]",
        b"[+1]",
        b"[1.5.3]",
        b"[0x10]",
        b"[NaN]",
        b"[Infinity]",
        b"[-Infinity]",
        b"[tru]",
        b"[nul]",
        b"[True]",
        b"[truex]",
        b"[\"unterminated]",
        b"[\"bad escape \\x\"]",
        b"[\"bad \\u12\"]",
        b"[\"bad \\u12G4\"]",
        b"[\"\\ud800\"]",
        b"[\"\\ud800x\"]",
        b"[\"\\ud800\\n\"]",
        b"[\"\\ud800\\u0041\"]",
        b"[\"\\ud800\\ud800\"]",
        b"[\"\\udc00\"]",
        b"[\"\\udfff\\ud800\"]",
        b"{\"\\ud800\":1}",
        b"[\"raw\x01control\"]",
        b"[\"raw\nnewline\"]",
        b"[\"raw\ttab\"]",
        b"[\"\xff\"]",
        b"[\"\xc3\"]",
        b"[\"\xc3\\n\"]",
        b"[\"\xed\xa0\x80\"]",
        b"{\"\xe9\":1}",
        b"\xef\xbb\xbf{}",
        b"{\"a\":1}\x00",
        b"[1]\x0b",
        b"[\x0c1]",
        b"/* comment */ {}",
    ];
    for body in invalid {
        assert!(!same(body), "expected invalid: {}", show(body));
    }
}

#[test]
fn keys_serde_json_reserves_fall_back() {
    falls_back(br#"{"$serde_json::private::Number":"12"}"#);
    falls_back(br#"{"a":{"$serde_json::private::Number":"12"}}"#);
    falls_back(br#"{"a":1,"$serde_json::private::Number":"12"}"#);
    falls_back(br#"{"$serde_json::private::RawValue":"12"}"#);
    // the map path gives the error the decoder gives
    assert!(map_path(br#"{"$serde_json::private::Number":"12"}"#).is_err());
}

#[test]
fn nesting_up_to_the_decoders_limit() {
    for depth in [1usize, 2, 64, 126, 127, 128, 129, 200, 5000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"k\":".repeat(depth), "}".repeat(depth));
        for body in [arrays, objects] {
            let valid = same(body.as_bytes());
            assert_eq!(valid, depth <= 127, "depth {depth}");
        }
        // an array and an object per step: twice as deep
        let mixed = format!(
            "{}0{}",
            "[{\"b\":1,\"a\":".repeat(depth),
            "}]".repeat(depth)
        );
        assert_eq!(
            same(mixed.as_bytes()),
            2 * depth <= 127,
            "depth {}",
            2 * depth
        );
    }
}

/// A small deterministic generator (xorshift64*), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Writes random JSON text: random whitespace, raw or escaped characters, every number form.
struct Gen {
    rng: Rng,
    out: String,
}

impl Gen {
    fn ws(&mut self) {
        if self.rng.chance(3) {
            for _ in 0..self.rng.below(3) + 1 {
                let c = *self.rng.pick(&[' ', '\n', '\t', '\r']);
                self.out.push(c);
            }
        }
    }

    fn char_into(&mut self) {
        const RAW: &[&str] = &[
            "a",
            "b",
            "z",
            "A",
            "0",
            " ",
            "<",
            ">",
            "&",
            "'",
            "/",
            "~",
            "\u{7f}",
            "é",
            "ü",
            "\u{2028}",
            "\u{2029}",
            "\u{2027}",
            "€",
            "中",
            "😀",
            "\u{10ffff}",
            "$",
            "=",
        ];
        const ESCAPED: &[&str] = &[
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "\\u0000",
            "\\u001F",
            "\\u0020",
            "\\u003c",
            "\\u003E",
            "\\u0026",
            "\\u00e9",
            "\\u00C9",
            "\\u2028",
            "\\u2029",
            "\\ud83d\\ude00",
            "\\uD83D\\uDE00",
            "\\uffff",
            "\\u0041",
            "\\u007f",
        ];
        let s = if self.rng.chance(4) {
            *self.rng.pick(ESCAPED)
        } else {
            *self.rng.pick(RAW)
        };
        self.out.push_str(s);
    }

    fn string(&mut self, max: usize) {
        self.out.push('"');
        for _ in 0..self.rng.below(max + 1) {
            self.char_into();
        }
        self.out.push('"');
    }

    fn key(&mut self) {
        // few distinct keys, so that objects repeat keys and come in any order
        const KEYS: &[&str] = &[
            "a",
            "b",
            "c",
            "aa",
            "ab",
            "B",
            "",
            "id",
            "name",
            "\\u0061",
            "\\u0062",
            "é",
            "\\u00e9",
            "<k>",
            "\\u003ck\\u003e",
            "z\\n",
            "😀",
            "\\ud83d\\ude00",
            "a\\u0000",
        ];
        if self.rng.chance(6) {
            self.string(4);
        } else {
            let k = *self.rng.pick(KEYS);
            self.out.push('"');
            self.out.push_str(k);
            self.out.push('"');
        }
    }

    fn digits(&mut self, max: usize, leading_zero_ok: bool) {
        let n = self.rng.below(max) + 1;
        for i in 0..n {
            let d = if i == 0 && !leading_zero_ok {
                self.rng.below(9) + 1
            } else {
                self.rng.below(10)
            };
            self.out.push(char::from(b'0' + d as u8));
        }
    }

    fn number(&mut self) {
        if self.rng.chance(2) {
            self.out.push('-');
        }
        if self.rng.chance(4) {
            self.out.push('0');
        } else {
            let max = if self.rng.chance(5) { 40 } else { 6 };
            self.digits(max, false);
        }
        if self.rng.chance(3) {
            self.out.push('.');
            self.digits(6, true);
        }
        if self.rng.chance(3) {
            let e = *self.rng.pick(&["e", "E", "e+", "E+", "e-", "E-"]);
            self.out.push_str(e);
            self.digits(4, true);
        }
    }

    fn value(&mut self, depth: usize) {
        self.ws();
        let kind = if depth > 5 {
            self.rng.below(5)
        } else {
            self.rng.below(7)
        };
        match kind {
            0 => self.number(),
            1 => self.string(12),
            2 => {
                let lit = *self.rng.pick(&["true", "false", "null"]);
                self.out.push_str(lit);
            }
            3 | 5 => self.object(depth),
            4 => self.number(),
            _ => self.array(depth),
        }
        self.ws();
    }

    fn object(&mut self, depth: usize) {
        self.out.push('{');
        let n = self.rng.below(8);
        if n == 0 {
            self.ws();
        }
        for i in 0..n {
            if i > 0 {
                self.out.push(',');
            }
            self.ws();
            self.key();
            self.ws();
            self.out.push(':');
            self.value(depth + 1);
        }
        self.out.push('}');
    }

    fn array(&mut self, depth: usize) {
        self.out.push('[');
        let n = self.rng.below(6);
        if n == 0 {
            self.ws();
        }
        for i in 0..n {
            if i > 0 {
                self.out.push(',');
            }
            self.value(depth + 1);
        }
        self.out.push(']');
    }

    fn document(&mut self) -> String {
        self.out.clear();
        if self.rng.chance(10) {
            self.value(0);
        } else {
            self.ws();
            self.object(0);
            self.ws();
        }
        self.out.clone()
    }
}

#[test]
fn generated_corpus() {
    let mut g = Gen {
        rng: Rng(0x9E37_79B9_7F4A_7C15),
        out: String::new(),
    };
    let (mut objects, mut corrupted_valid) = (0, 0);
    for _ in 0..4000 {
        let doc = g.document();
        assert!(
            same(doc.as_bytes()),
            "the generator wrote invalid JSON: {doc}"
        );
        if doc.trim_start().starts_with('{') {
            objects += 1;
        }
        // corrupted copies: a byte dropped, duplicated or replaced
        let mut bytes = doc.into_bytes();
        for _ in 0..3 {
            if bytes.is_empty() {
                break;
            }
            let at = g.rng.below(bytes.len());
            match g.rng.below(3) {
                0 => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, bytes[at]),
                _ => {
                    bytes[at] = *g.rng.pick(b"{}[],:\"\\0-.eE+ntfu\xff\xe2\x80\xa8 x");
                }
            }
            if same(&bytes) {
                corrupted_valid += 1;
            }
        }
    }
    // the corpus is mostly objects, and some corruptions stay valid JSON
    assert!(objects > 3000, "{objects}");
    assert!(corrupted_valid > 0);
}

fn json_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            json_files(&p, found);
        } else if p.extension().is_some_and(|x| x == "json") {
            found.push(p);
        }
    }
}

#[test]
fn fixture_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    json_files(&root.join("tests"), &mut files);
    json_files(&root.join("../shared/conformance"), &mut files);
    for f in &files {
        let body = std::fs::read(f).unwrap();
        same(&body);
        // the same documents compacted (as backends usually send them)
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
            same(v.to_string().as_bytes());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// through the gateway
// ---------------------------------------------------------------------------------------------

/// Backend bodies for the gateway tests: `(status, body)`.
fn gateway_cases() -> Vec<(u16, Vec<u8>)> {
    let mut cases: Vec<(u16, Vec<u8>)> = [
        r#"{"b":2,"a":1}"#,
        r#"{"a":1,"b":2}"#,
        r#"{"a":1,"a":{"z":[1,{"y":0,"x":1e3}],"k":"<&>"},"c":-0}"#,
        r#" { "s" : "\u00e9\ud83d\ude00\u2028\b\/" , "n" : [ 1.50 , 1E+2 , -0.0 , 123456789012345678901234567890 ] } "#,
        "{}",
        "{ }",
        r#"{"":{}}"#,
        "null",
        "[1,2]",
        r#""text""#,
        "12",
        "true",
        "",
        "not json",
        r#"{"a":1"#,
        r#"{"a":1}x"#,
        r#"{"a":"\ud800"}"#,
        r#"{"$serde_json::private::Number":"12"}"#,
        r#"{"a":{"$serde_json::private::Number":"12"}}"#,
    ]
    .iter()
    .map(|b| (200, b.as_bytes().to_vec()))
    .collect();
    cases.push((200, b"{\"a\":\"\xff\"}".to_vec()));
    cases.push((200, b"{\"a\":\"raw\x01\"}".to_vec()));
    cases.push((
        200,
        format!("{}0{}", "{\"k\":".repeat(127), "}".repeat(127)).into_bytes(),
    ));
    cases.push((
        200,
        format!("{}0{}", "{\"k\":".repeat(128), "}".repeat(128)).into_bytes(),
    ));
    cases.push((201, br#"{"created":true,"b":1}"#.to_vec()));
    cases.push((404, br#"{"error":"not found"}"#.to_vec()));
    cases.push((500, b"oops".to_vec()));
    cases
}

/// A backend answering `/case/{n}` with the n-th case.
async fn cases_backend() -> FakeBackend {
    let cases = gateway_cases();
    backend(move |r| {
        let n: usize = r.path.trim_start_matches("/case/").parse().unwrap();
        let (status, body) = cases[n].clone();
        Reply::new(status)
            .header("Content-Type", "application/json")
            .body(body)
    })
    .await
}

/// Every header but `Date`, sorted.
fn headers(r: &Resp) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    h.sort();
    h
}

/// Endpoints over the cases backend: `/plain/{n}` (the backend's JSON handed on as it is
/// rendered) next to `/map/{n}` (a `deny` of a key no case has: the data map is built).
fn pair(
    backend_url: &str,
    extra_backend: serde_json::Value,
    prefix: &str,
) -> Vec<serde_json::Value> {
    let mut plain = json!({"url_pattern": "/case/{n}", "host": [backend_url]});
    let mut map =
        json!({"url_pattern": "/case/{n}", "host": [backend_url], "deny": ["no such key"]});
    for b in [&mut plain, &mut map] {
        if let (Some(b), Some(extra)) = (b.as_object_mut(), extra_backend.as_object()) {
            b.extend(extra.clone());
        }
    }
    vec![
        json!({"endpoint": format!("/{prefix}plain/{{n}}"), "cache_ttl": "60s", "backend": [plain]}),
        json!({"endpoint": format!("/{prefix}map/{{n}}"), "cache_ttl": "60s", "backend": [map]}),
    ]
}

#[tokio::test]
async fn a_plain_endpoint_answers_as_the_map_path_does() {
    let be = cases_backend().await;
    let mut endpoints = pair(&be.url, json!({}), "");
    endpoints.extend(pair(
        &be.url,
        json!({"extra_config": {"backend/http": {"return_error_details": "b"}}}),
        "details-",
    ));
    endpoints.extend(pair(
        &be.url,
        json!({"extra_config": {"backend/http": {"return_error_code": true}}}),
        "code-",
    ));
    // return_error_msg: the decoder's error text reaches the client
    for (extra, msg) in [
        (json!({}), false),
        (json!({"return_error_msg": true}), true),
    ] {
        let mut cfg = config(json!(endpoints.clone()));
        if let (Some(c), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let gw = gateway(&cfg).await;
        for prefix in ["", "details-", "code-"] {
            for (n, (status, body)) in gateway_cases().iter().enumerate() {
                let fast = get(&gw.at(&format!("/{prefix}plain/{n}"))).await;
                let map = get(&gw.at(&format!("/{prefix}map/{n}"))).await;
                let what = format!("{prefix}case {n} (msg {msg}): {status} {}", show(body));
                assert_eq!(fast.status, map.status, "{what}");
                assert_eq!(fast.text(), map.text(), "{what}");
                assert_eq!(headers(&fast), headers(&map), "{what}");
            }
        }
    }
}

#[tokio::test]
async fn a_plain_endpoint_sorts_escapes_and_reports_completion() {
    let be = cases_backend().await;
    let gw = gateway(&config(json!(pair(&be.url, json!({}), "")))).await;
    let r = get(&gw.at("/plain/0")).await;
    r.assert_is(200, r#"{"a":1,"b":2}"#, "true");
    assert_eq!(r.header("content-type"), Some(JSON_UTF8));
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));

    let r = get(&gw.at("/plain/2")).await;
    assert_eq!(
        r.text(),
        r#"{"a":{"k":"\u003c\u0026\u003e","z":[1,{"x":1e3,"y":0}]},"c":-0}"#
    );
    let r = get(&gw.at("/plain/3")).await;
    assert_eq!(
        r.text(),
        "{\"n\":[1.50,1E+2,-0.0,123456789012345678901234567890],\"s\":\"é😀\\u2028\\b/\"}"
    );

    // an empty object (and null) is a 200 that is not complete, without Cache-Control
    for n in [4, 5, 7] {
        let r = get(&gw.at(&format!("/plain/{n}"))).await;
        assert_eq!((r.status, r.text().as_str()), (200, "{}"), "case {n}");
        assert_eq!(r.completed(), Some("false"), "case {n}");
        assert_eq!(r.header("cache-control"), None, "case {n}");
    }
    // not an object, not JSON: the decoder's error
    for n in [8, 9, 12, 13, 16] {
        let r = get(&gw.at(&format!("/plain/{n}"))).await;
        assert_eq!(r.status, 500, "case {n}");
        assert_eq!(r.completed(), Some("false"), "case {n}");
    }
    // a 201 is decoded too; a 404 is the backend's failure
    let r = get(&gw.at("/plain/23")).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, r#"{"b":1,"created":true}"#)
    );
    assert_eq!(get(&gw.at("/plain/24")).await.status, 500);
}

#[tokio::test]
async fn endpoints_that_change_the_data_still_do() {
    let be = json_backend(r#"{"b":{"y":2,"x":1},"a":[3,1],"c":"<"}"#).await;
    let b = |extra: serde_json::Value| {
        let mut b = json!({"url_pattern": "/", "host": [be.url]});
        if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        b
    };
    let gw = gateway(&config(json!([
        {"endpoint": "/allow", "backend": [b(json!({"allow": ["b.x", "c"]}))]},
        {"endpoint": "/deny", "backend": [b(json!({"deny": ["b"]}))]},
        {"endpoint": "/mapping", "backend": [b(json!({"mapping": {"a": "z"}}))]},
        {"endpoint": "/target", "backend": [b(json!({"target": "b"}))]},
        {"endpoint": "/group", "backend": [b(json!({"group": "g", "deny": ["a"]}))]},
        {"endpoint": "/static", "extra_config": {"proxy": {"static": {"strategy": "always", "data": {"s": true}}}},
         "backend": [b(json!({}))]},
        {"endpoint": "/xml", "output_encoding": "xml", "backend": [b(json!({"deny": ["a"]}))]},
        {"endpoint": "/merge", "backend": [b(json!({"group": "one", "allow": ["c"]})), b(json!({"allow": ["a"]}))]}
    ])))
    .await;
    let want = [
        ("/allow", r#"{"b":{"x":1},"c":"\u003c"}"#),
        ("/deny", r#"{"a":[3,1],"c":"\u003c"}"#),
        ("/mapping", r#"{"b":{"x":1,"y":2},"c":"\u003c","z":[3,1]}"#),
        ("/target", r#"{"x":1,"y":2}"#),
        ("/group", r#"{"g":{"b":{"x":1,"y":2},"c":"\u003c"}}"#),
        (
            "/static",
            r#"{"a":[3,1],"b":{"x":1,"y":2},"c":"\u003c","s":true}"#,
        ),
        ("/merge", r#"{"a":[3,1],"one":{"c":"\u003c"}}"#),
    ];
    for (path, body) in want {
        let r = get(&gw.at(path)).await;
        assert_eq!((r.status, r.text().as_str()), (200, body), "{path}");
        assert_eq!(r.completed(), Some("true"), "{path}");
    }
    let r = get(&gw.at("/xml")).await;
    assert_eq!(r.header("content-type"), Some("application/xml"));
}

/// Endpoints merging two or three cases under distinct groups (and one case in its group):
/// `/{prefix}gplain/{n}/{m}` (the
/// objects handed on and joined as bytes) next to `/{prefix}gmap/{n}/{m}` (a `deny` of a key
/// no case has: the maps are built and merged).
fn grouped_pair(
    backend_url: &str,
    extra: &serde_json::Value,
    prefix: &str,
) -> Vec<serde_json::Value> {
    let backends = |deny: bool| -> Vec<serde_json::Value> {
        [
            ("/case/{n}", "z"),
            ("/case/{m}", "\u{e9}"),
            ("/case/0", "a<"),
        ]
        .iter()
        .map(|(url, group)| {
            let mut b = json!({"url_pattern": url, "host": [backend_url], "group": group});
            if deny {
                b["deny"] = json!(["no such key"]);
            }
            if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
                b.extend(extra.clone());
            }
            b
        })
        .collect()
    };
    let mut out = Vec::new();
    for (kind, deny) in [("gplain", false), ("gmap", true)] {
        let all = backends(deny);
        out.push(json!({"endpoint": format!("/{prefix}{kind}/{{n}}/{{m}}"), "cache_ttl": "60s", "backend": all[..2]}));
        out.push(json!({"endpoint": format!("/{prefix}{kind}1/{{n}}/{{m}}"), "backend": all[..1]}));
        out.push(json!({"endpoint": format!("/{prefix}{kind}3/{{n}}/{{m}}"), "backend": all}));
    }
    out
}

#[tokio::test]
async fn a_grouped_merge_answers_as_the_map_path_does() {
    let be = cases_backend().await;
    let modes = [
        ("", json!({})),
        (
            "details-",
            json!({"extra_config": {"backend/http": {"return_error_details": "b"}}}),
        ),
        (
            "code-",
            json!({"extra_config": {"backend/http": {"return_error_code": true}}}),
        ),
    ];
    let endpoints: Vec<serde_json::Value> = modes
        .iter()
        .flat_map(|(prefix, extra)| grouped_pair(&be.url, extra, prefix))
        .collect();
    let gw = gateway(&config(json!(endpoints))).await;
    let n_cases = gateway_cases().len();
    for (prefix, _) in &modes {
        for n in 0..n_cases {
            // every pair on the plain mode; a spread of them on the others
            for m in (0..n_cases).filter(|m| prefix.is_empty() || (n + m) % 5 == 0) {
                for three in ["", "1", "3"] {
                    let fast = get(&gw.at(&format!("/{prefix}gplain{three}/{n}/{m}"))).await;
                    let map = get(&gw.at(&format!("/{prefix}gmap{three}/{n}/{m}"))).await;
                    let what = format!("{prefix}gplain{three}/{n}/{m}");
                    assert_eq!(fast.status, map.status, "{what}");
                    assert_eq!(fast.text(), map.text(), "{what}");
                    assert_eq!(headers(&fast), headers(&map), "{what}");
                }
            }
        }
    }
    // the groups sorted as the render sorts keys, the partial answer marked
    let r = get(&gw.at("/gplain3/1/4")).await;
    assert_eq!(
        r.text(),
        "{\"a\\u003c\":{\"a\":1,\"b\":2},\"z\":{\"a\":1,\"b\":2},\"\u{e9}\":{}}"
    );
    assert_eq!(r.completed(), Some("true"));
    let r = get(&gw.at("/gplain/1/13")).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, r#"{"z":{"a":1,"b":2}}"#)
    );
    assert_eq!(r.completed(), Some("false"));
}
