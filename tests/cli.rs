//! The `tentacle` binary: `check`, `version`, `run` (with and without `-c`), graceful
//! shutdown, and the real-world configuration corpus.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn output(args: &[&str]) -> (Option<i32>, String, String) {
    tentacle_output(args)
}

/// `tentacle check FLAGS -c PATH`: its exit code, stdout and stderr.
fn check(flags: &[&str], path: &str) -> (Option<i32>, String, String) {
    output(&[&["check"][..], flags, &["-c", path]].concat())
}

/// The first line of `text` holding `needle`; fails naming it when there is none.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle}:\n{text}"))
}

/// `check` on `path` passes: its stdout.
fn check_ok(path: &str) -> String {
    let (code, stdout, stderr) = check(&[], path);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Syntax OK!"), "{stdout}");
    stdout
}

/// `text` as `krakend.json`, which `check` passes: the file's directory, its path and the
/// check's stdout.
fn checked(text: &str) -> (TempDir, String, String) {
    let (dir, path) = temp_file("krakend.json", text);
    let stdout = check_ok(&path);
    (dir, path, stdout)
}

/// `check --lint` on `path` fails: its stderr.
fn lint_fails(path: &str) -> String {
    let (code, stdout, stderr) = check(&["--lint"], path);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("Syntax OK!"), "{stdout}");
    stderr
}

/// A config whose one endpoint `path` passes `b`'s answer on.
fn one_endpoint(path: &str, b: &FakeBackend) -> serde_json::Value {
    config(json!([{"endpoint": path, "backend": [{"url_pattern": "/", "host": [b.url]}]}]))
}

/// A one-endpoint config (`/a`) with these endpoint-level fields, written to a file.
fn endpoint_file(fields: serde_json::Value) -> (TempDir, String) {
    let mut endpoint =
        json!({"endpoint": "/a", "backend": [{"url_pattern": "/", "host": ["h:80"]}]});
    for (k, v) in fields.as_object().unwrap() {
        endpoint[k] = v.clone();
    }
    temp_file("krakend.json", &config(json!([endpoint])).to_string())
}

#[test]
fn version_prints_the_version() {
    let (code, stdout, _) = output(&["version"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains(&format!("Version {VERSION}")), "{stdout}");
}

#[test]
fn check_accepts_a_valid_file() {
    let (_dir, path) = endpoint_file(json!({}));
    for flags in [&[][..], &["-t"]] {
        let (code, stdout, stderr) = check(flags, &path);
        assert_eq!(code, Some(0), "{flags:?}: {stdout}{stderr}");
        assert!(stdout.contains("Syntax OK!"), "{flags:?}: {stdout}");
    }
}

#[test]
fn check_reports_every_error_with_file_line_column_and_path() {
    let text = "{\n  \"version\": 3,\n  \"timeout\": \"fast\",\n  \"endpoints\": [\n    {\n      \"endpoint\": \"/a/{id}\",\n      \"backend\": [{\"url_pattern\": \"/b/{other}\", \"host\": [\"h:80\"]}]\n    }\n  ]\n}\n";
    let (_dir, path) = temp_file("krakend.json", text);
    let (code, stdout, stderr) = check(&[], &path);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains(&format!("{path}:3:")), "{stderr}");
    assert!(stderr.contains("timeout"), "{stderr}");
    assert!(stderr.contains(&format!("{path}:7:")), "{stderr}");
    assert!(
        stderr.contains("endpoints[0].backend[0].url_pattern"),
        "{stderr}"
    );
    assert!(!stdout.contains("Syntax OK!"));
}

#[test]
fn check_reports_syntax_errors_with_position() {
    let (_dir, path) = temp_file(
        "krakend.json",
        "{\n  \"version\": 3,\n  \"port\": 80 80\n}\n",
    );
    let (code, _, stderr) = check(&[], &path);
    assert_eq!(code, Some(1));
    assert!(stderr.contains(&format!("{path}:3:")), "{stderr}");
}

#[test]
fn check_with_routes_catches_conflicts() {
    let (_dir, path) = temp_file(
        "krakend.json",
        &config(json!([
            {"endpoint": "/a", "backend": [{"url_pattern": "/", "host": ["h:80"]}]},
            {"endpoint": "/a", "backend": [{"url_pattern": "/", "host": ["h:80"]}]}
        ]))
        .to_string(),
    );
    let (code, _, stderr) = check(&["-t"], &path);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("endpoints[1]"), "{stderr}");
}

/// A config whose only endpoint has its JWT validation under a misspelt namespace, a backend
/// with a KrakenD CE namespace this build does not act on, and an unknown key.
fn misspelt_namespaces(port: u16, backend: &str) -> String {
    json!({"version": 3, "port": port, "listen_ip": "127.0.0.1", "endpoints": [{
        "endpoint": "/secure",
        "extra_config": {
            "auth/validatr": {"alg": "HS256", "jwk_url": "http://127.0.0.1:1/jwks"},
            "x-company/quota": {"per_day": 10}
        },
        "backend": [{"url_pattern": "/", "host": [backend],
                     "extra_config": {"telemetry/opencensus": {}}}]
    }]})
    .to_string()
}

#[test]
fn check_lint_fails_on_unknown_and_unimplemented_namespaces() {
    // plain check: the file is valid, every namespace that does nothing is named
    let (_dir, path, stdout) = checked(&misspelt_namespaces(8080, "http://127.0.0.1:9000"));
    let warning = line_with(&stdout, "\"auth/validatr\"");
    assert!(
        warning.starts_with(&format!("WARNING: {path}:")),
        "{warning}"
    );
    assert!(warning.contains("endpoint GET /secure"), "{warning}");
    assert!(
        warning.contains("did you mean \"auth/validator\"?"),
        "{warning}"
    );
    assert!(
        warning.contains("the endpoint runs without it"),
        "{warning}"
    );
    // a name close to none gets no suggestion
    let far = line_with(&stdout, "\"x-company/quota\"");
    assert!(!far.contains("did you mean"), "{far}");
    let opencensus = line_with(&stdout, "\"telemetry/opencensus\"");
    assert!(
        opencensus.contains("backend 0 (/) of endpoint GET /secure"),
        "{opencensus}"
    );
    // --lint: each one is a problem, and the check fails
    let stderr = lint_fails(&path);
    for ns in ["auth/validatr", "x-company/quota", "telemetry/opencensus"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("lint: ") && l.contains(&format!("{ns:?}"))),
            "{ns} not listed:\n{stderr}"
        );
    }
    assert!(stderr.contains("lint: 3 problem(s) found"), "{stderr}");
}

#[test]
fn check_lint_fails_on_unknown_keys_and_misplaced_namespaces() {
    let (_dir, path) = endpoint_file(json!({
        "backend": [{"url_pattern": "/", "host": ["h:80"], "url_patern": "/x",
                     "extra_config": {"auth/validator": {"alg": "HS256"}}}]
    }));
    check_ok(&path);
    let stderr = lint_fails(&path);
    assert!(
        stderr.contains("endpoints[0].backend[0].url_patern: unknown key"),
        "{stderr}"
    );
    let misplaced = line_with(&stderr, "\"auth/validator\"");
    assert!(
        misplaced.contains("is only read in the service's or an endpoint's extra_config"),
        "{misplaced}"
    );
    assert!(
        misplaced.contains("the backend is called without it"),
        "{misplaced}"
    );
    assert!(stderr.contains("lint: 2 problem(s) found"), "{stderr}");
}

/// A gateway whose namespaces hold misspelt keys: `role` in `auth/validator` (an endpoint that
/// would check no role), `max_rte` in `qos/ratelimit/router`, `allow_origin` in the service's
/// `security/cors`, `strategie` inside `proxy.static` and `nmae` in a Martian modifier nested in
/// a group, with `@comment` keys and free-form `data` that are no mistakes.
const MISSPELT_KEYS: &str = r#"{
  "version": 3,
  "port": PORT,
  "listen_ip": "127.0.0.1",
  "extra_config": {
    "security/cors": {"allow_origin": ["https://example.com"], "@comment": "origins"}
  },
  "endpoints": [
    {
      "endpoint": "/secure",
      "extra_config": {
        "auth/validator": {"alg": "RS256", "jwk_url": "http://127.0.0.1:1/jwks.json",
                           "disable_jwk_security": true,
                           "role": ["admin"]},
        "qos/ratelimit/router": {"max_rte": 10, "client_max_rate": 1, "strategy": "ip"}
      },
      "backend": [{"url_pattern": "/", "host": ["BACKEND"]}]
    },
    {
      "endpoint": "/static",
      "extra_config": {
        "proxy": {"static": {"strategie": "always", "data": {"anything": {"goes": 1}}}}
      },
      "backend": [{"url_pattern": "/", "host": ["BACKEND"],
                   "extra_config": {"modifier/martian": {"fifo.Group": {"modifiers": [
                     {"header.Modifier": {"scope": ["request"], "nmae": "X-A", "name": "X-A", "value": "1"}}
                   ]}}}}]
    }
  ]
}"#;

fn misspelt_keys(port: u16, backend: &str) -> String {
    MISSPELT_KEYS
        .replace("PORT", &port.to_string())
        .replace("BACKEND", backend)
}

/// The lines of `text` that warn about an unknown key in a namespace.
fn key_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains(": unknown key \""))
        .collect()
}

#[test]
fn check_names_each_misspelt_key_inside_a_namespace() {
    // KrakenD ignores such keys: the file is valid, each key is named once
    let (_dir, path, stdout) = checked(&misspelt_keys(8080, "http://127.0.0.1:9000"));
    let lines = key_lines(&stdout);
    assert_eq!(lines.len(), 5, "{stdout}");
    let line = |needle: &str| {
        *lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no warning with {needle}:\n{stdout}"))
    };
    assert_eq!(
        line("\"role\""),
        format!(
            "WARNING: {path}:14:36: endpoint GET /secure \
             (endpoints[0].extra_config.auth/validator.role): unknown key \"role\" in \
             \"auth/validator\" (did you mean \"roles\"?): ignored"
        )
    );
    // each key: its line in the file, then what the warning says
    for (key, line_no, says) in [
        (
            "max_rte",
            15,
            &[
                "(endpoints[0].extra_config.qos/ratelimit/router.max_rte)",
                "did you mean \"max_rate\"?",
            ][..],
        ),
        (
            "allow_origin",
            6,
            &[
                "service (extra_config.security/cors.allow_origin)",
                "did you mean \"allow_origins\"?",
            ],
        ),
        (
            "strategie",
            22,
            &[
                "endpoint GET /static (endpoints[1].extra_config.proxy.static.strategie)",
                "in \"proxy\" (did you mean \"strategy\"?)",
            ],
        ),
        (
            "nmae",
            26,
            &[
                "backend 0 (/) of endpoint GET /static (endpoints[1].backend[0].extra_config.\
               modifier/martian.fifo.Group.modifiers[0].header.Modifier.nmae)",
            ],
        ),
    ] {
        let warning = line(&format!("\"{key}\""));
        assert!(
            warning.starts_with(&format!("WARNING: {path}:{line_no}:")),
            "{key}: {warning}"
        );
        for part in says {
            assert!(warning.contains(part), "{key}: {part} not in {warning}");
        }
    }
    // neither the comment nor the static data is a mistake
    assert!(
        !stdout.contains("@comment") && !stdout.contains("anything"),
        "{stdout}"
    );
    // --lint: each one is a problem, one line each, and the check fails
    let stderr = lint_fails(&path);
    let lint = key_lines(&stderr);
    assert_eq!(lint.len(), 5, "{stderr}");
    assert!(lint.iter().all(|l| l.starts_with("lint: ")), "{stderr}");
    assert!(stderr.contains("lint: 5 problem(s) found"), "{stderr}");
}

/// A misspelt key is named in every file format: a KrakenD 1.x file names its namespaces by
/// their 1.x names (the warning's path and line are the file's); a YAML file has no positions
/// (the warning names the file and the path).
#[test]
fn check_names_misspelt_keys_under_krakend_1_names_and_in_yaml() {
    for (tag, name, text, warning) in [
        (
            "check-keys-v2",
            "krakend.json",
            "{\n  \"version\": 2,\n  \"endpoints\": [{\n    \"endpoint\": \"/a\",\n    \"extra_config\": {\n      \"github.com/devopsfaith/krakend-ratelimit/juju/router\": {\"maxRate\": 10, \"clientMaxRte\": 1}\n    },\n    \"backend\": [{\"url_pattern\": \"/\", \"host\": [\"h:80\"]}]\n  }]\n}\n",
            "WARNING: {path}:6:95: endpoint GET /a (endpoints[0].extra_config.\
             github.com/devopsfaith/krakend-ratelimit/juju/router.clientMaxRte): unknown key \
             \"clientMaxRte\" in \"qos/ratelimit/router\" (did you mean \"clientMaxRate\"?)",
        ),
        (
            "check-keys-yaml",
            "krakend.yaml",
            "version: 3\nendpoints:\n  - endpoint: /a\n    extra_config:\n      qos/ratelimit/router:\n        max_rte: 10\n    backend:\n      - url_pattern: /\n        host: [\"h:80\"]\n",
            "WARNING: {path}: endpoint GET /a (endpoints[0].extra_config.qos/ratelimit/router.max_rte)",
        ),
    ] {
        let (_dir, path) = temp_file(name, text);
        let (code, stdout, stderr) = check(&[], &path);
        assert_eq!(code, Some(0), "{tag}: {stdout}{stderr}");
        let lines = key_lines(&stdout);
        assert_eq!(lines.len(), 1, "{tag}: {stdout}");
        assert!(
            lines[0].starts_with(&warning.replace("{path}", &path)),
            "{}",
            lines[0]
        );
    }
}

/// Enterprise namespaces are accepted and ignored, as KrakenD CE does: a warning, even with
/// --lint.
#[test]
fn check_lint_warns_about_enterprise_namespaces_without_failing() {
    let (_dir, path) =
        endpoint_file(json!({"extra_config": {"auth/api-keys": {"roles": ["admin"]}}}));
    let (code, stdout, stderr) = check(&["--lint"], &path);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Syntax OK!"), "{stdout}");
    let warning = line_with(&stdout, "\"auth/api-keys\"");
    assert!(warning.starts_with("WARNING: "), "{warning}");
    assert!(warning.contains("KrakenD Enterprise"), "{warning}");
    assert!(
        warning.contains("the endpoint runs without it"),
        "{warning}"
    );
}

#[test]
fn check_on_a_missing_file_fails_cleanly() {
    let (code, _, stderr) = check(&[], "/nonexistent/krakend.json");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("/nonexistent/krakend.json"), "{stderr}");
}

#[test]
fn check_reads_yaml() {
    let (_dir, path) = temp_file(
        "krakend.yaml",
        "version: 3\nendpoints:\n  - endpoint: /a\n    backend:\n      - url_pattern: /\n        host: [\"h:80\"]\n",
    );
    let (code, stdout, stderr) = check(&[], &path);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}

#[tokio::test]
async fn run_serves_a_config_file_on_its_port() {
    let b = json_backend(r#"{"hello":"world"}"#).await;
    let p = Proc::run_config(one_endpoint("/hello", &b), &[]).await;
    let r = get(&p.url("/hello")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"hello":"world"}"#);
    assert_eq!(get(&p.url("/__health")).await.status, 200);
    assert_eq!(get(&p.url("/__debug/")).await.status, 404);
    p.stop().await;
}

/// `run` never refuses a config for a namespace it does not act on (KrakenD ignores them), but
/// warns about each one, saying where it is and what runs without it.
#[tokio::test]
async fn run_warns_about_a_misspelt_namespace_and_serves() {
    let b = json_backend(r#"{"open":true}"#).await;
    let port = free_port();
    let p = Proc::run_file(&misspelt_namespaces(port, &b.url), &[], &[], port).await;
    let log = p.output();
    let warning = line_with(&log, "\"auth/validatr\"");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("endpoint GET /secure"), "{warning}");
    assert!(
        warning.contains("did you mean \"auth/validator\"?"),
        "{warning}"
    );
    assert!(
        warning.contains("the endpoint runs without it"),
        "{warning}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("\"telemetry/opencensus\"") && l.contains("backend 0 (/)")),
        "{log}"
    );
    // as the warning says: no token needed
    let r = get(&p.url("/secure")).await;
    assert_eq!((r.status, r.text().as_str()), (200, r#"{"open":true}"#));
    p.stop().await;
}

/// `run` never refuses a config for a key it does not read (KrakenD ignores them), but warns
/// about each one; the misspelt `roles` leaves the endpoint checking no role, as in KrakenD.
#[tokio::test]
async fn run_warns_about_each_misspelt_key_and_serves() {
    let b = json_backend(r#"{"open":true}"#).await;
    let port = free_port();
    let p = Proc::run_file(&misspelt_keys(port, &b.url), &[], &[], port).await;
    let path = p.config_path();
    let log = p.output();
    let lines = key_lines(&log);
    assert_eq!(lines.len(), 5, "{log}");
    let role = lines
        .iter()
        .find(|l| l.contains("\"role\""))
        .unwrap_or_else(|| panic!("no warning about role:\n{log}"));
    assert!(role.contains("WARN"), "{role}");
    assert!(
        role.contains(&format!(
            "{path}:14:36: endpoint GET /secure (endpoints[0].extra_config.auth/validator.role)"
        )),
        "{role}"
    );
    assert!(role.contains("did you mean \"roles\"?"), "{role}");
    // the static data is served: the misspelt strategy is ignored, "always" is the default
    let r = get(&p.url("/static")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains(r#""anything":{"goes":1}"#),
        "{}",
        r.text()
    );
    p.stop().await;
}

#[tokio::test]
async fn run_with_debug_flag_and_port_override() {
    let port = free_port();
    let text = json!({"version": 3, "port": 1, "listen_ip": "127.0.0.1", "endpoints": []});
    let p = Proc::run_file(
        &text.to_string(),
        &["-d", "-p", &port.to_string()],
        &[],
        port,
    )
    .await;
    let r = get(&p.url("/__debug/x")).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, r#"{"message":"pong"}"#)
    );
    p.stop().await;
}

#[tokio::test]
async fn krakend_port_overrides_the_file() {
    let port = free_port();
    let text = json!({"version": 3, "port": 1, "listen_ip": "127.0.0.1"});
    let env_port = port.to_string();
    let p = Proc::run_file(&text.to_string(), &[], &[("KRAKEND_PORT", &env_port)], port).await;
    assert_eq!(get(&p.url("/__health")).await.status, 200);
    p.stop().await;
}

#[tokio::test]
async fn run_without_config_serves_the_embedded_default() {
    let port = free_port();
    let p = Proc::ready(tentacle(&["run", "-p", &port.to_string()]), port).await;
    let r = get(&p.url("/__health")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = get(&p.url("/demo?x=1")).await;
    assert_eq!(r.status, 200, "{}", p.output());
    let v = r.json();
    assert_eq!(v["gateway"], "tentacle");
    assert_eq!(v["debug"], json!({"message": "pong"}));
    assert_eq!(v["echo"]["req_method"], "GET");
    p.stop().await;
}

/// Threads of a running process, from `/proc`.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

#[tokio::test]
async fn gomaxprocs_one_serves_on_a_single_thread() {
    let b = json_backend(r#"{"one":"thread"}"#).await;
    for (procs, single) in [("1", true), ("2", false)] {
        let p = Proc::run_config(one_endpoint("/one", &b), &[("GOMAXPROCS", procs)]).await;
        let r = get(&p.url("/one")).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, r#"{"one":"thread"}"#),
            "GOMAXPROCS={procs}"
        );
        let n = threads(p.child.id());
        assert_eq!(n == 1, single, "GOMAXPROCS={procs}: {n} threads");
        p.stop().await;
    }
}

#[tokio::test]
async fn backends_are_called_through_the_proxy_the_environment_names() {
    // the proxy: answers each request with the target it was sent, as a proxy sees it
    let proxy =
        backend(|r| Reply::json(json!({"via": "proxy", "target": r.target}).to_string())).await;
    let direct = json_backend(r#"{"via":"direct"}"#).await;
    let proxy_addr = proxy.url.trim_start_matches("http://");
    let http_proxy = format!("http://gw:s3cr%40t@{proxy_addr}");
    let p = Proc::run_config(
        json!({"version": 3, "endpoints": [
            {"endpoint": "/named",
             "backend": [{"url_pattern": "/x?y=1", "host": ["http://backend.test:8080"]}]},
            {"endpoint": "/excepted", "timeout": "1s",
             "backend": [{"url_pattern": "/x", "host": ["http://skip.test"]}]},
            {"endpoint": "/loopback", "backend": [{"url_pattern": "/", "host": [direct.url]}]}
        ]}),
        &[
            ("HTTP_PROXY", &http_proxy),
            ("NO_PROXY", "other.example, skip.test"),
        ],
    )
    .await;
    // the backend's absolute URL goes to the proxy, with the proxy's credentials
    let r = get(&p.url("/named")).await;
    assert_eq!(r.status, 200, "{}", p.output());
    assert_eq!(
        r.json(),
        json!({"via": "proxy", "target": "http://backend.test:8080/x?y=1"})
    );
    let seen = proxy.only();
    assert_eq!(seen.header("host"), Some("backend.test:8080"));
    // base64("gw:s3cr@t")
    assert_eq!(
        seen.header("proxy-authorization"),
        Some("Basic Z3c6czNjckB0")
    );
    // NO_PROXY and loopback backends are called directly
    assert_eq!(
        get(&p.url("/loopback")).await.json(),
        json!({"via": "direct"})
    );
    assert_eq!(direct.count(), 1);
    assert_eq!(get(&p.url("/excepted")).await.status, 500);
    assert_eq!(proxy.count(), 1);
    p.stop().await;
}

/// A proxy that opens `CONNECT` tunnels, all of them to `to`; the heads it was sent.
async fn connect_proxy(to: std::net::SocketAddr) -> (TcpServer, Log<String>) {
    let heads = Log::new();
    let seen = heads.clone();
    let server = tcp_server(move |mut s| {
        let heads = seen.clone();
        async move {
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let Ok(b) = s.read_u8().await else { return };
                head.push(b);
            }
            heads.push(String::from_utf8_lossy(&head).into_owned());
            s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .unwrap();
            let mut up = tokio::net::TcpStream::connect(to).await.unwrap();
            let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
        }
    })
    .await;
    (server, heads)
}

#[tokio::test]
async fn https_backends_are_called_through_a_connect_tunnel() {
    let tls = tls_backend(|| bytes::Bytes::from_static(br#"{"over":"tls"}"#)).await;
    let (proxy, heads) = connect_proxy(tls.addr).await;
    let https_proxy = format!("http://gw:pw@{}", proxy.addr);
    let p = Proc::run_config(
        json!({"version": 3,
        "client_tls": {"allow_insecure_connections": true},
        "endpoints": [
            {"endpoint": "/t",
             "backend": [{"url_pattern": "/x", "host": ["https://backend.test:8443"]}]}
        ]}),
        &[("HTTPS_PROXY", &https_proxy)],
    )
    .await;
    let r = get(&p.url("/t")).await;
    assert_eq!(r.status, 200, "{}", p.output());
    assert_eq!(r.json(), json!({"over": "tls"}));
    let heads = heads.all();
    assert_eq!(
        heads,
        vec![
            "CONNECT backend.test:8443 HTTP/1.1\r\nHost: backend.test:8443\r\n\
             Proxy-Authorization: Basic Z3c6cHc=\r\n\r\n"
                .to_string()
        ]
    );
    p.stop().await;
}

#[tokio::test]
async fn run_with_an_invalid_config_exits_1() {
    let (_dir, path) = temp_file(
        "krakend.json",
        r#"{"version": 3, "endpoints": [{"endpoint": "/a"}]}"#,
    );
    let (code, _, err) = output(&["run", "-c", &path]);
    assert_eq!(code, Some(1));
    assert!(err.contains("endpoints[0].backend"), "{err}");
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight() {
    let b = slow_backend(Duration::from_millis(1500), r#"{"slow":"but complete"}"#).await;
    let config = with(one_endpoint("/slow", &b), json!({"timeout": "20s"}));
    let mut p = Proc::run_config(config, &[]).await;
    let port = p.port;
    let url = p.url("/slow");
    let call = tokio::spawn(async move { get(&url).await });
    b.wait_heads(1).await;
    p.term();
    let r = soon(call).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"slow":"but complete"}"#);
    assert_eq!(p.wait_exit().await, Some(0), "{}", p.output());
    // and the port is closed afterwards
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
}

// ---------------------------------------------------------------------------------------------
// the real-world corpus
// ---------------------------------------------------------------------------------------------

fn corpus() -> Vec<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/real-world/configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 40, "corpus incomplete: {}", files.len());
    files
}

/// Files the corpus README lists as not valid KrakenD configs, with the field at fault.
const KNOWN_INVALID: &[(&str, &str)] = &[
    (
        "IMT-Atlantique-FIL-2020-2023__Pokefumi__krakend.json",
        "version",
    ),
    (
        "congnguyen1905__oauth2-keycloak__gateway_krakend.json",
        "host",
    ),
    (
        "NeuralTrust__AI-Gateway-Benchmark__krakend.json",
        "concurrent_calls",
    ),
];

/// Does an error line name a field (a JSON path such as `endpoints[3].backend[0].host`)?
fn names_a_field(line: &str) -> bool {
    const FIELDS: &[&str] = &[
        "version",
        "endpoints",
        "backend",
        "host",
        "port",
        "timeout",
        "url_pattern",
        "concurrent_calls",
        "extra_config",
        "method",
        "encoding",
        "output_encoding",
        "tls",
    ];
    FIELDS.iter().any(|f| line.contains(f))
}

#[tokio::test]
async fn real_world_configs_check_and_run() {
    let mut passing = Vec::new();
    let mut report = String::new();
    for f in corpus() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (code, stdout, stderr) = output(&["check", "-c", f.to_str().unwrap()]);
        match code {
            Some(0) => {
                assert!(stdout.contains("Syntax OK!"), "{name}: {stdout}");
                assert!(
                    !KNOWN_INVALID.iter().any(|(n, _)| *n == name),
                    "{name} is invalid but passed check"
                );
                passing.push(f);
            }
            Some(1) => {
                let errors: Vec<&str> =
                    stderr.lines().filter(|l| l.starts_with("ERROR:")).collect();
                assert!(
                    !errors.is_empty(),
                    "{name}: failed without an error line:\n{stderr}"
                );
                for e in &errors {
                    assert!(names_a_field(e), "{name}: the error names no field: {e}");
                    assert!(e.contains(&name), "{name}: the error names no file: {e}");
                }
                if let Some((_, field)) = KNOWN_INVALID.iter().find(|(n, _)| *n == name) {
                    assert!(
                        errors.iter().any(|e| e.contains(field)),
                        "{name}: expected an error about {field}:\n{stderr}"
                    );
                }
                report.push_str(&format!("{name}: {}\n", errors.join(" | ")));
            }
            other => panic!("{name}: check crashed ({other:?}):\n{stdout}{stderr}"),
        }
    }
    assert!(!passing.is_empty());
    // every config that passes check also starts
    for f in passing {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let port = free_port();
        let mut p = Proc::ready(
            tentacle(&["run", "-p", &port.to_string(), "-c", f.to_str().unwrap()]),
            port,
        )
        .await;
        assert_eq!(get(&p.url("/__nothing-here")).await.status, 404, "{name}");
        p.term();
        let code = p.wait_exit().await;
        assert_eq!(
            code,
            Some(0),
            "{name} did not stop cleanly:\n{}",
            p.output()
        );
    }
    eprintln!("configs refused by check:\n{report}");
}

/// The keys inside namespaces that the public configs of the corpus write but KrakenD does not
/// read (KrakenD ignores them too): `kid`, `jwk`, `aud`, `propagate_token`, `cache_enabled`,
/// `query_string` and `cookie_keys` (for `cookie_key`) in a validator, `headers_to_pass` inside
/// `proxy` (an endpoint's field).
const CORPUS_UNKNOWN_KEYS: &[(&str, &str)] = &[
    (
        "Bajocode__article-apigateways__krakend_krakend.json",
        "endpoints[2].extra_config.github.com/devopsfaith/krakend-jose/validator.kid",
    ),
    (
        "Bajocode__article-apigateways__krakend_krakend.json",
        "endpoints[3].extra_config.github.com/devopsfaith/krakend-jose/validator.kid",
    ),
    (
        "Muhammederendemir__spring-boot-krakend-api-gateway__krakend.json",
        "endpoints[2].extra_config.auth/validator.cache_enabled",
    ),
    (
        "Muhammederendemir__spring-boot-krakend-api-gateway__krakend.json",
        "endpoints[2].extra_config.auth/validator.cookie_keys",
    ),
    (
        "Muhammederendemir__spring-boot-krakend-api-gateway__krakend.json",
        "endpoints[2].extra_config.auth/validator.jwk",
    ),
    (
        "Muhammederendemir__spring-boot-krakend-api-gateway__krakend.json",
        "endpoints[2].extra_config.auth/validator.kid",
    ),
    (
        "Muhammederendemir__spring-boot-krakend-api-gateway__krakend.json",
        "endpoints[2].extra_config.auth/validator.query_string",
    ),
    (
        "Palakorn-Voramongkol__golang-krakend-keycloak-rbac__krakend.json",
        "endpoints[2].extra_config.github.com/devopsfaith/krakend-jose/validator.propagate_token",
    ),
    (
        "Palakorn-Voramongkol__golang-krakend-keycloak-rbac__krakend.json",
        "endpoints[2].extra_config.github.com/devopsfaith/krakend/proxy.headers_to_pass",
    ),
    (
        "Palakorn-Voramongkol__golang-krakend-keycloak-rbac__krakend.json",
        "endpoints[3].extra_config.github.com/devopsfaith/krakend-jose/validator.propagate_token",
    ),
    (
        "Palakorn-Voramongkol__golang-krakend-keycloak-rbac__krakend.json",
        "endpoints[3].extra_config.github.com/devopsfaith/krakend/proxy.headers_to_pass",
    ),
    (
        "Palakorn-Voramongkol__golang-krakend-keycloak-rbac__krakend.json",
        "endpoints[4].extra_config.github.com/devopsfaith/krakend-jose/validator.propagate_token",
    ),
    (
        "Palakorn-Voramongkol__golang-krakend-keycloak-rbac__krakend.json",
        "endpoints[4].extra_config.github.com/devopsfaith/krakend/proxy.headers_to_pass",
    ),
    (
        "SKOMOBO__server__krakend_krakend.json",
        "endpoints[2].extra_config.github.com/devopsfaith/krakend-jose/validator.aud",
    ),
];

/// The JSON path a key warning names: what stands between the place's parenthesis and
/// `): unknown key`.
fn warned_path(line: &str) -> &str {
    let end = line.find("): unknown key").unwrap_or(line.len());
    let start = line[..end].rfind(" (").map_or(0, |i| i + 2);
    &line[start..end]
}

/// Every key KrakenD documents is known: KrakenD CE's own test config and the corpus's
/// configs raise no key warning but for the keys KrakenD does not read either.
#[test]
fn krakend_configs_raise_no_warning_for_documented_keys() {
    let ce = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/krakend-ce");
    let (code, stdout, stderr) = output(&[
        "check",
        "-c",
        ce.join("fixtures/krakend.json").to_str().unwrap(),
    ]);
    assert!(code.is_some(), "{stdout}{stderr}");
    assert!(stdout.contains("Parsing configuration file"), "{stdout}");
    assert_eq!(key_lines(&stdout), Vec::<&str>::new());
    let mut found = Vec::new();
    for f in corpus() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (_, stdout, _) = output(&["check", "-c", f.to_str().unwrap()]);
        for line in key_lines(&stdout) {
            assert!(line.contains(&name), "{line}");
            found.push((name.clone(), warned_path(line).to_string()));
        }
    }
    found.sort();
    let mut want: Vec<(String, String)> = CORPUS_UNKNOWN_KEYS
        .iter()
        .map(|(f, p)| (f.to_string(), p.to_string()))
        .collect();
    want.sort();
    assert_eq!(found, want);
}

/// `SIGHUP` never ends the gateway: it is logged and ignored, and the gateway keeps serving.
#[tokio::test]
async fn a_hangup_signal_is_logged_and_the_gateway_keeps_serving() {
    let b = json_backend(r#"{"still":"here"}"#).await;
    let mut p = Proc::run_config(one_endpoint("/a", &b), &[]).await;
    for n in 1..=2 {
        p.signal("HUP");
        soon(async {
            while p.output().matches("Signal intercepted: hangup").count() < n {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        let r = get(&p.url("/a")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), r#"{"still":"here"}"#);
    }
    assert!(p.child.try_wait().unwrap().is_none(), "{}", p.output());
    p.stop().await;
}
