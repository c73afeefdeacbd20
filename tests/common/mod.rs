//! Shared helpers for the black-box tests: fake backends (plain hyper servers on
//! 127.0.0.1:0), the gateway started in-process on its own listener, a small HTTP client that
//! never follows redirects, raw HTTP/1.1 on both sides (`wire.rs`: a client connection and a
//! scripted backend), and helpers for the `tentacle` binary.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

pub use tentacle::config::Format;

mod wire;
#[allow(unused_imports)] // a test file may use none of it
pub use wire::*;

/// The version the gateway reports (`X-Krakend: Version <v>`, `User-Agent`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `Content-Type` of the gateway's JSON answers.
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// Generous bound for anything that should happen "soon"; never asserted as a duration.
pub const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// fake backends
// ---------------------------------------------------------------------------------------------

/// A request as a fake backend received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, as sent on the request line.
    pub uri: String,
    /// The request line's target whole: an absolute URL when the request came to a proxy.
    pub target: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        first_value(&self.headers, name)
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        every_value(&self.headers, name)
    }
}

/// The first value of the field `name` when it is text.
fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every value of the field `name`, in order (lossy text).
fn every_value(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// What a fake backend answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
        }
    }

    /// 200 with an `application/json` body.
    pub fn json(body: impl Into<String>) -> Reply {
        Reply::new(200)
            .header("Content-Type", "application/json")
            .body(body.into())
    }

    /// 200 with this `Content-Type` and body.
    pub fn typed(content_type: &str, body: impl Into<Bytes>) -> Reply {
        Reply::new(200)
            .header("Content-Type", content_type)
            .body(body)
    }

    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body.into())
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    pub fn body(mut self, b: impl Into<Bytes>) -> Reply {
        self.body = b.into();
        self
    }

    pub fn status(mut self, s: u16) -> Reply {
        self.status = s;
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;
type Handler = Arc<dyn Fn(Recorded) -> BoxFuture<Reply> + Send + Sync>;

/// A TCP server on 127.0.0.1:0 that runs a handler on each connection it accepts, until
/// dropped: the core of every fake backend and proxy.
pub struct TcpServer {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TcpServer {
    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Starts a `TcpServer` running `on_conn` on each accepted connection (each in its own task).
pub async fn tcp_server<F, Fut>(on_conn: F) -> TcpServer
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = connections.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(on_conn(stream));
        }
    });
    TcpServer {
        addr,
        url: format!("http://{addr}"),
        connections,
        task,
    }
}

/// What a fake backend recorded, shared with its connections.
pub struct Log<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Log<T> {
    fn clone(&self) -> Self {
        Log(self.0.clone())
    }
}

impl<T: Clone> Log<T> {
    pub fn new() -> Log<T> {
        Log(Arc::new(Mutex::new(Vec::new())))
    }

    pub fn push(&self, entry: T) {
        self.0.lock().unwrap().push(entry);
    }

    /// Every entry so far.
    pub fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// A fake backend: a hyper HTTP/1.1 server on 127.0.0.1:0 that records every request.
pub struct FakeBackend {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    requests: Log<Recorded>,
    /// Request heads seen (counted before the body is read).
    heads: Arc<AtomicUsize>,
    head_notify: Arc<Notify>,
    server: TcpServer,
}

impl FakeBackend {
    /// Every request received so far (bodies fully read).
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.all()
    }

    pub fn count(&self) -> usize {
        self.requests.len()
    }

    /// The only request received; fails when there were none or several.
    pub fn only(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(r.len(), 1, "expected exactly one backend request: {r:#?}");
        r[0].clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    pub fn heads(&self) -> usize {
        self.heads.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` request heads arrived.
    pub async fn wait_heads(&self, n: usize) {
        let wait = async {
            loop {
                let notified = self.head_notify.notified();
                if self.heads() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .expect("the backend never received the request");
    }

    /// Waits until at least `n` requests were fully received.
    pub async fn wait_requests(&self, n: usize) {
        let wait = async {
            while self.count() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .expect("the backend never received the requests");
    }
}

/// Starts a fake backend answering with `handler`.
pub async fn backend(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeBackend {
    backend_async(move |r| {
        let reply = handler(&r);
        async move { reply }
    })
    .await
}

/// The request as a fake backend records it, its body read whole.
async fn recorded(req: Request<hyper::body::Incoming>) -> Recorded {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Recorded {
        method: parts.method.clone(),
        uri: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        target: parts.uri.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
    }
}

/// The response a `Reply` makes, after its delay.
async fn respond(reply: Reply) -> Response<Full<Bytes>> {
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = Response::new(Full::new(reply.body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    for (k, v) in reply.headers {
        resp.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    resp
}

/// Serves HTTP/1.1 on `io` with `answer` until the connection ends.
async fn serve_http1<I, F, Fut>(io: I, answer: F)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let svc = service_fn(move |req| {
        let answer = answer(req);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

/// Starts a fake backend whose handler may wait for something before answering.
pub async fn backend_async<F, Fut>(handler: F) -> FakeBackend
where
    F: Fn(Recorded) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let handler: Handler = Arc::new(move |r| Box::pin(handler(r)));
    let requests = Log::new();
    let heads = Arc::new(AtomicUsize::new(0));
    let head_notify = Arc::new(Notify::new());
    let (reqs, hs, hn) = (requests.clone(), heads.clone(), head_notify.clone());
    let server = tcp_server(move |stream| {
        let (handler, reqs, hs, hn) = (handler.clone(), reqs.clone(), hs.clone(), hn.clone());
        serve_http1(stream, move |req| {
            let (handler, reqs, hs, hn) = (handler.clone(), reqs.clone(), hs.clone(), hn.clone());
            async move {
                hs.fetch_add(1, Ordering::SeqCst);
                hn.notify_waiters();
                let rec = recorded(req).await;
                reqs.push(rec.clone());
                respond(handler(rec).await).await
            }
        })
    })
    .await;
    FakeBackend {
        addr: server.addr,
        url: server.url.clone(),
        requests,
        heads,
        head_notify,
        server,
    }
}

/// A backend answering 200 with this JSON body.
pub async fn json_backend(body: &str) -> FakeBackend {
    let body = body.to_string();
    backend(move |_| Reply::json(body.clone())).await
}

/// A backend answering with this status and body.
pub async fn status_backend(status: u16, body: &str) -> FakeBackend {
    let body = body.to_string();
    backend(move |_| Reply::text(status, body.clone())).await
}

/// A backend answering after `delay`.
pub async fn slow_backend(delay: Duration, body: &str) -> FakeBackend {
    let body = body.to_string();
    backend(move |_| Reply::json(body.clone()).delay(delay)).await
}

/// An HTTPS server on 127.0.0.1 presenting tests/fixtures/jwt/tls/chain.pem (a certificate for
/// 127.0.0.1 under tests/fixtures/jwt/tls/ca.pem), answering every request with `body()` as
/// JSON, until dropped.
pub async fn tls_backend(body: impl Fn() -> Bytes + Send + Sync + 'static) -> TcpServer {
    tls_backend_replying(move || Reply::json("").body(body())).await
}

/// `tls_backend`, answering every request with `reply()`.
pub async fn tls_backend_replying(reply: impl Fn() -> Reply + Send + Sync + 'static) -> TcpServer {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = "tests/fixtures/jwt/tls";
    let chain = CertificateDer::pem_file_iter(format!("{dir}/chain.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server.key")).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let reply = Arc::new(reply);
    tcp_server(move |stream| {
        let (acceptor, reply) = (acceptor.clone(), reply.clone());
        async move {
            // a client that refuses the certificate ends the handshake here
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            serve_http1(tls, move |_req| respond(reply())).await;
        }
    })
    .await
}

/// Go's canonical header key.
pub fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        upper = c == '-';
    }
    out
}

/// What an echo backend answers for a request: method, path, raw query, headers (canonical
/// names, every value) and body.
pub fn echo_json(r: &Recorded) -> Value {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &r.headers {
        headers
            .entry(canonical(k.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    json!({
        "method": r.method.as_str(),
        "path": r.path,
        "query": r.query.clone().unwrap_or_default(),
        "headers": headers,
        "body": String::from_utf8_lossy(&r.body),
    })
}

/// A backend answering every request with `echo_json`.
pub async fn echo_backend() -> FakeBackend {
    backend(|r| Reply::json(echo_json(r).to_string())).await
}

/// Gzips bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A raw TCP backend: reads one request head, then reports through the returned receiver
/// whether the gateway closed the connection (`true`) before `hold` elapsed, never answering.
pub async fn hanging_backend(hold: Duration) -> (String, oneshot::Receiver<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 16 * 1024];
        let mut seen = Vec::new();
        // the request head
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send(true);
                    return;
                }
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        // then wait: EOF (or reset) means the gateway gave up on this call
        let closed = tokio::time::timeout(hold, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok();
        let _ = tx.send(closed);
    });
    (url, rx)
}

// ---------------------------------------------------------------------------------------------
// the gateway in-process
// ---------------------------------------------------------------------------------------------

/// A gateway serving on 127.0.0.1:PORT until dropped (or `stop`ped).
pub struct Gw {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Gw {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Gw {
    /// `http://127.0.0.1:PORT` + path.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Asks the server to stop and waits until it has drained.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(PATIENCE, t)
                .await
                .expect("the gateway did not stop")
                .unwrap();
        }
    }
}

/// A listener on 127.0.0.1:0, for configs that must name the gateway's own address.
pub async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// Loads config text (no environment) and builds the gateway; every error as text.
pub fn build_text(
    text: &str,
    format: Format,
    debug: bool,
) -> Result<tentacle::router::Gateway, String> {
    build_text_env(text, format, debug, &|_| None)
}

/// Loads config text with `env` as the environment (`KRAKEND_*` overrides) and builds the
/// gateway; every error as text.
pub fn build_text_env(
    text: &str,
    format: Format,
    debug: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<tentacle::router::Gateway, String> {
    let loaded =
        tentacle::config::load_str(text, "test.json", format, env).map_err(|e| e.to_string())?;
    tentacle::app::build(loaded.config, debug).map_err(|e| e.join("\n"))
}

/// The errors of a JSON config the gateway refuses (when loading it or building from it), as
/// `build_text` gives them; fails when the gateway builds.
pub fn build_error(text: &str) -> String {
    match build_text(text, Format::Json, false) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e,
    }
}

/// Serves a built gateway on `listener` until the returned `Gw` is dropped (or `stop`ped).
pub fn serve_gateway(gw: tentacle::router::Gateway, listener: TcpListener) -> Gw {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(tentacle::server::serve(
        Arc::new(gw),
        listener,
        async move {
            let _ = rx.await;
        },
    ));
    Gw {
        addr,
        url: format!("http://{addr}"),
        stop: Some(tx),
        task: Some(task),
    }
}

/// Builds the gateway of config text; fails with the errors when it does not build.
pub fn built_text(text: &str, format: Format, debug: bool) -> tentacle::router::Gateway {
    build_text(text, format, debug)
        .unwrap_or_else(|e| panic!("the gateway did not start:\n{e}\nconfig:\n{text}"))
}

/// Builds the gateway of a JSON config value; fails with the errors when it does not build.
pub fn built(config: &Value) -> tentacle::router::Gateway {
    built_text(&config.to_string(), Format::Json, false)
}

/// Starts a gateway from config text on a given listener.
pub async fn start_on(listener: TcpListener, text: &str, format: Format, debug: bool) -> Gw {
    serve_gateway(built_text(text, format, debug), listener)
}

/// Starts a gateway from the JSON config text `text(port)`, which may name the gateway's own
/// port (its `/__debug/` endpoint can then serve as a backend); `debug` turns the debug
/// endpoint on as `run -d` does.
pub async fn gateway_on_own_port(text: impl FnOnce(u16) -> String, debug: bool) -> Gw {
    let (l, _) = listener().await;
    let port = l.local_addr().unwrap().port();
    start_on(l, &text(port), Format::Json, debug).await
}

/// Starts a gateway from a JSON config value.
pub async fn gateway(config: &Value) -> Gw {
    let (l, _) = listener().await;
    start_on(l, &config.to_string(), Format::Json, false).await
}

/// Starts a gateway from config text (JSON or YAML).
pub async fn gateway_text(text: &str, format: Format) -> Gw {
    let (l, _) = listener().await;
    start_on(l, text, format, false).await
}

/// A version 3 config with these endpoints (and service-level extras merged in).
pub fn config(endpoints: Value) -> Value {
    json!({"version": 3, "port": 8080, "endpoints": endpoints})
}

/// Merges the keys of `extra` into the root object of `config`.
pub fn with(mut config: Value, extra: Value) -> Value {
    if let (Some(c), Value::Object(e)) = (config.as_object_mut(), extra) {
        for (k, v) in e {
            c.insert(k, v);
        }
    }
    config
}

/// A gateway with one GET endpoint over one backend.
pub async fn single(endpoint: &str, backend: Value) -> Gw {
    gateway(&config(
        json!([{"endpoint": endpoint, "backend": [backend]}]),
    ))
    .await
}

/// A gateway with one endpoint of this method over one backend.
pub async fn single_method(method: &str, endpoint: &str, backend: Value) -> Gw {
    endpoint_gateway(json!({"endpoint": endpoint, "method": method, "backend": [backend]})).await
}

/// A gateway with this one endpoint.
pub async fn endpoint_gateway(endpoint: Value) -> Gw {
    gateway(&config(json!([endpoint]))).await
}

/// A gateway with these endpoints under these `router` options.
pub async fn router_gateway(endpoints: Value, router: Value) -> Gw {
    gateway(&with(
        config(endpoints),
        json!({"extra_config": {"router": router}}),
    ))
    .await
}

/// An endpoint that passes its one backend's answer through as it came (`no-op` both ways).
pub fn no_op_endpoint(path: &str, url_pattern: &str, host: &str) -> Value {
    json!({"endpoint": path, "output_encoding": "no-op",
           "backend": [{"url_pattern": url_pattern, "host": [host], "encoding": "no-op"}]})
}

// ---------------------------------------------------------------------------------------------
// client
// ---------------------------------------------------------------------------------------------

pub type ReqBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A response as a client sees it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        first_value(&self.headers, name)
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        every_value(&self.headers, name)
    }

    /// `X-Krakend-Completed`.
    pub fn completed(&self) -> Option<&str> {
        self.header("x-krakend-completed")
    }

    /// Fails unless the answer is `status` with exactly `body` and `X-Krakend-Completed:
    /// completed`.
    pub fn assert_is(&self, status: u16, body: &str, completed: &str) {
        assert_eq!(
            (self.status, self.text().as_str(), self.completed()),
            (status, body, Some(completed))
        );
    }

    /// Fails unless the answer names this gateway's version in `X-Krakend`.
    pub fn assert_version_header(&self) {
        let ours = format!("Version {VERSION}");
        assert_eq!(self.header("x-krakend"), Some(ours.as_str()));
    }
}

fn client() -> Client<HttpConnector, ReqBody> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub fn full(b: impl Into<Bytes>) -> ReqBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// Sends one request (redirects are not followed).
pub async fn send_body(method: &str, url: &str, headers: &[(&str, &str)], body: ReqBody) -> Resp {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), client().request(req))
        .await
        .expect("no answer from the gateway")
        .unwrap_or_else(|e| panic!("{method} {url}: {e:?}"));
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    send_body(method, url, headers, full(body.to_string())).await
}

pub async fn get(url: &str) -> Resp {
    send("GET", url, &[], "").await
}

pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> Resp {
    send("GET", url, headers, "").await
}

/// A GET that must be answered with `status` and exactly `body`; the answer.
pub async fn get_expect(url: &str, status: u16, body: &str) -> Resp {
    let r = get(url).await;
    assert_eq!((r.status, r.text().as_str()), (status, body), "GET {url}");
    r
}

/// A `method` request with a `text/plain` body.
pub async fn send_text(method: &str, url: &str, body: &str) -> Resp {
    send(method, url, &[("Content-Type", "text/plain")], body).await
}

/// A request body sent chunked: the returned sender feeds it, dropping it ends the body.
pub fn streamed_body() -> (tokio::sync::mpsc::Sender<Bytes>, ReqBody) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| {
            (
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Frame::data(b)),
                rx,
            )
        })
    });
    (tx, StreamBody::new(stream).boxed())
}

/// Runs a future that must finish soon.
pub async fn soon<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .expect("did not finish in time")
}

// ---------------------------------------------------------------------------------------------
// the binary
// ---------------------------------------------------------------------------------------------

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tentacle")
}

/// A command for the binary with no `KRAKEND_*` nor proxy variables inherited.
pub fn tentacle(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args);
    for (k, _) in std::env::vars() {
        let proxy = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]
            .iter()
            .any(|p| k.eq_ignore_ascii_case(p));
        if k.starts_with("KRAKEND_") || proxy {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "info");
    c
}

/// A directory for temporary files of one test, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tentacle-test-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `text` written to the file `name` in a temporary directory of its own; the directory
/// (removed on drop) and the file's path.
pub fn temp_file(name: &str, text: &str) -> (TempDir, String) {
    let dir = TempDir::new("file");
    let path = dir.write(name, text).to_str().unwrap().to_string();
    (dir, path)
}

/// The exit code, stdout and stderr of the binary run with `args` to its end.
pub fn tentacle_output(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tentacle(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `tentacle` process, killed on drop.
pub struct Proc {
    pub child: Child,
    pub port: u16,
    log: PathBuf,
    /// The config file `run_file` wrote, kept while the process runs.
    config: Option<(TempDir, String)>,
}

impl Proc {
    /// Spawns the binary; stdout and stderr go to a log file (read with `output`).
    pub fn spawn(mut cmd: Command, port: u16) -> Proc {
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = std::env::temp_dir().join(format!(
            "tentacle-test-{}-proc-{}.log",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let file = std::fs::File::create(&log).unwrap();
        cmd.stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file));
        Proc {
            child: cmd.spawn().unwrap(),
            port,
            log,
            config: None,
        }
    }

    /// Spawns the binary and waits until its port accepts connections.
    pub async fn ready(cmd: Command, port: u16) -> Proc {
        let mut p = Proc::spawn(cmd, port);
        p.wait_ready().await;
        p
    }

    /// `tentacle run ARGS -c FILE` with `text` as the file and `env` set, serving on `port`
    /// (which the text or the arguments name); waits until it is ready.
    pub async fn run_file(text: &str, args: &[&str], env: &[(&str, &str)], port: u16) -> Proc {
        let (dir, path) = temp_file("krakend.json", text);
        let mut cmd = tentacle(&[&["run"][..], args, &["-c", path.as_str()]].concat());
        cmd.envs(env.iter().copied());
        let mut p = Proc::ready(cmd, port).await;
        p.config = Some((dir, path));
        p
    }

    /// `tentacle run -c FILE` with `config` (its `port` a free port, its `listen_ip`
    /// 127.0.0.1) as the file and `env` set; waits until it is ready.
    pub async fn run_config(config: Value, env: &[(&str, &str)]) -> Proc {
        let port = free_port();
        let config = with(config, json!({"port": port, "listen_ip": "127.0.0.1"}));
        Proc::run_file(&config.to_string(), &[], env, port).await
    }

    /// The path of the config file `run_file` wrote.
    pub fn config_path(&self) -> &str {
        &self.config.as_ref().expect("a config file").1
    }

    /// Sends SIGTERM and expects the process to exit with 0.
    pub async fn stop(mut self) {
        self.term();
        let code = self.wait_exit().await;
        assert_eq!(code, Some(0), "{}", self.output());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Waits until the port accepts connections; fails if the process exits first.
    pub async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let out = self.output();
                panic!("tentacle exited ({status}) before opening its port:\n{out}");
            }
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "port {} never opened",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends SIGTERM.
    pub fn term(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Waits for the process to exit; its exit code.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "tentacle did not exit"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// What the process wrote so far (stdout and stderr interleaved).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `http://127.0.0.1:PORT` where nothing listens (a port that was free a moment ago).
pub fn closed_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}
