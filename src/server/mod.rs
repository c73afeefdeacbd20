//! Listeners and connections: HTTP/1.1, plain or over TLS, on the gateway's own connection
//! loop (`http1::server`, calling the gateway through `dispatch.rs`), so both get the same
//! parser, limits and timeouts; HTTP/2 (TLS with ALPN `h2`) and h2c (`use_h2c`) on hyper;
//! graceful shutdown on SIGINT/SIGTERM bounded by `max_shutdown_wait_time`.
//!
//! Graceful shutdown: connections served by hyper are watched by hyper-util's
//! `GracefulShutdown`; the gateway's own HTTP/1.1 loop has its registry
//! (`http1::server::Shutdown`: each connection registers its task's waker once, reads an
//! atomic flag between requests, and is woken by `begin`). Both are drained together, within
//! `max_shutdown_wait_time`: an idle connection closes at once, a busy one after its answer.
//! Kept over the crates, checked 2026-12-07 on the 2-core machine: hyper-util's
//! `GracefulConnection` is sealed (only hyper's connection types can be watched), and
//! tokio-util's `CancellationToken` (with `TaskTracker` for the drain) would register a
//! waiter under the token's shared mutex on every idle wait, where the registry reads a flag:
//! 200 tasks × 20,000 idle waits on 2 worker threads, about 80-95 ns per wait with the flag
//! against 105-127 ns with the token's `cancelled()` (yield included in both), and +173 KB
//! of release binary for the two types (tokio-util's `rt` feature; tokio-util itself is
//! already in the tree through h2).

mod dispatch;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::http1::server as h1;
use crate::router::{Gateway, Peer};
use crate::vocab::body::{boxed, Body};

type ResponseFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<http::Response<Body>, std::convert::Infallible>>
            + Send,
    >,
>;

/// How long a TLS handshake may take when no `read_header_timeout` or `read_timeout` says.
const TLS_HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// Binds the configured address.
pub async fn bind(gw: &Gateway, port_override: Option<u16>) -> std::io::Result<TcpListener> {
    let ip = gw
        .config
        .listen_ip
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let port = port_override.unwrap_or(gw.config.port);
    TcpListener::bind(SocketAddr::new(ip, port)).await
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let cfg = gw.config.clone();
    let max_buf = cfg.max_header_bytes.max(8192) + 8192;
    // as Go's server: without their own value, the header and idle timeouts take the read
    // timeout's
    let or_read = |d: Duration| {
        Some(d)
            .filter(|d| !d.is_zero())
            .or(Some(cfg.read_timeout).filter(|d| !d.is_zero()))
    };
    let header_timeout = or_read(cfg.read_header_timeout);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(max_buf)
        .max_headers(cfg.max_header_fields)
        .keep_alive(!cfg.disable_keep_alives)
        .header_read_timeout(header_timeout);
    // HTTP/1.1 (plain, or TLS without ALPN `h2`) is served by the gateway's own connection
    // loop; h2c needs hyper's detection of the HTTP/2 preface on every connection
    let plain_h1 = !(cfg.use_h2c || gw.server_tls.is_some());
    let settings = Arc::new(h1::Settings {
        keep_alive: !cfg.disable_keep_alives,
        max_head: max_buf,
        max_fields: cfg.max_header_fields,
        header_timeout,
        idle_timeout: or_read(cfg.idle_timeout),
        write_timeout: Some(cfg.write_timeout).filter(|d| !d.is_zero()),
    });
    if (cfg.use_h2c || gw.server_tls.is_some()) && !cfg.write_timeout.is_zero() {
        tracing::warn!(
            "write_timeout is applied to HTTP/1.1 connections only: HTTP/2 ones (h2 over TLS, h2c) are not bounded by it"
        );
    }
    let stopping = Arc::new(h1::Shutdown::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let tls = gw.server_tls.clone().map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                if plain_h1 {
                    tokio::spawn(h1::serve_connection(
                        gw.clone(),
                        crate::http1::split_tcp(stream),
                        remote,
                        settings.clone(),
                        stopping.clone(),
                    ));
                    continue;
                }
                let own_loop = (gw.clone(), settings.clone(), stopping.clone());
                let gw = gw.clone();
                let peer = Arc::new(Peer::new(remote));
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| -> ResponseFuture {
                    if let Some(refused) = refuse(&req) {
                        return Box::pin(std::future::ready(Ok(refused)));
                    }
                    let (gw, peer) = (gw.clone(), peer.clone());
                    Box::pin(async move { Ok(gw.dispatch(req.map(boxed), &peer).await) })
                });
                let Some(acceptor) = &tls else {
                    let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                    spawn_connection(graceful.watch(conn), remote);
                    continue;
                };
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    // the handshake is bounded as Go's server bounds it (by the head's
                    // timeout), and by 10 s without one: a client that never finishes it
                    // holds no task for long
                    let limit = header_timeout.unwrap_or(TLS_HANDSHAKE_LIMIT);
                    let stream = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!("TLS handshake with {remote} failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake with {remote} timed out");
                            return;
                        }
                    };
                    if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
                        let (gw, settings, stopping) = own_loop;
                        let sides = crate::http1::split_layered(stream);
                        h1::serve_connection(gw, sides, remote, settings, stopping).await;
                        return;
                    }
                    let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!("connection from {remote} ended: {e}");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    stopping.begin();
    let drained = async {
        tokio::join!(graceful.shutdown(), stopping.drained());
    };
    let wait = cfg.max_shutdown_wait_time;
    if wait.is_zero() {
        drained.await;
    } else if tokio::time::timeout(wait, drained).await.is_err() {
        tracing::warn!("max_shutdown_wait_time reached: closing the remaining connections");
    }
}

/// The answer to a request hyper parsed that the gateway's own HTTP/1.1 loop refuses before
/// building a request: a transfer coding other than `chunked` alone, an invalid escape in the
/// path, a malformed `Host`.
fn refuse<B>(req: &http::Request<B>) -> Option<http::Response<Body>> {
    let mut codings = req
        .headers()
        .get_all(http::header::TRANSFER_ENCODING)
        .iter();
    let unsupported = match (codings.next(), codings.next()) {
        (None, _) => false,
        (Some(one), None) => !crate::http1::is_chunked(one.as_bytes()),
        _ => true,
    };
    let (status, text) = if unsupported {
        // hyper frames `gzip, chunked` as chunked: the coding the gateway does not apply is
        // refused, as on the plain listener
        (
            http::StatusCode::NOT_IMPLEMENTED,
            "501 Not Implemented: unsupported transfer encoding",
        )
    } else if !crate::vocab::percent::valid_escapes(req.uri().path().as_bytes()) {
        (http::StatusCode::BAD_REQUEST, "400 Bad Request")
    } else if req
        .headers()
        .get(http::header::HOST)
        .is_some_and(|h| !crate::http1::valid_host(h.as_bytes()))
    {
        (
            http::StatusCode::BAD_REQUEST,
            "400 Bad Request: malformed Host header",
        )
    } else {
        return None;
    };
    let mut resp = http::Response::new(crate::vocab::body::full_body(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    Some(resp)
}

/// Serves one accepted connection on its own task.
fn spawn_connection<C, E>(conn: C, remote: SocketAddr)
where
    C: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection from {remote} ended: {e}");
        }
    });
}

/// Resolves on SIGINT or SIGTERM. `SIGHUP`, which would end the process by default, is logged
/// and otherwise ignored for as long as the server runs.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    let hangup = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut s) => {
                while s.recv().await.is_some() {
                    tracing::warn!(
                        "Signal intercepted: hangup (ignored: the configuration is not reloaded)"
                    );
                }
                std::future::pending::<()>().await
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let hangup = std::future::pending::<()>();
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = hangup => {}
        _ = ctrl_c => tracing::info!("Signal intercepted: interrupt"),
        _ = term => tracing::info!("Signal intercepted: terminated"),
    }
}
