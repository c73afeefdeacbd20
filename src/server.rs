//! Listeners and connections: HTTP/1.1 (and h2c with `use_h2c`) on hyper, header limits,
//! graceful shutdown on SIGINT/SIGTERM bounded by `max_shutdown_wait_time`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::backend::Body;
use crate::router::Gateway;

type ResponseFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<http::Response<Body>, std::convert::Infallible>>
            + Send,
    >,
>;

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
    let header_timeout = Some(cfg.read_header_timeout).filter(|d| !d.is_zero());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(max_buf)
        .keep_alive(!cfg.disable_keep_alives)
        .header_read_timeout(header_timeout);
    // plain HTTP/1.1 (the common case) skips the protocol sniffing of the auto builder
    let plain_h1 = !(cfg.use_h2c || gw.server_tls.is_some());
    let mut h1_only = hyper::server::conn::http1::Builder::new();
    h1_only
        .timer(TokioTimer::new())
        .max_buf_size(max_buf)
        .keep_alive(!cfg.disable_keep_alives)
        .header_read_timeout(header_timeout);
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
                if let Some(acceptor) = &tls {
                    let acceptor = acceptor.clone();
                    let gw = gw.clone();
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let stream = match acceptor.accept(stream).await {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::debug!("TLS handshake with {remote} failed: {e}");
                                return;
                            }
                        };
                        let svc = service_fn(move |req| -> ResponseFuture {
                            let gw = gw.clone();
                            Box::pin(async move { Ok(gw.dispatch(req, remote).await) })
                        });
                        let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!("connection from {remote} ended: {e}");
                        }
                    });
                    continue;
                }
                let gw = gw.clone();
                if plain_h1 {
                    let svc = service_fn(move |req| {
                        let gw = gw.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(gw.dispatch(req, remote).await)
                        }
                    });
                    let conn = graceful.watch(h1_only.serve_connection(TokioIo::new(stream), svc));
                    spawn_connection(conn, remote);
                    continue;
                }
                let svc = service_fn(move |req| -> ResponseFuture {
                    let gw = gw.clone();
                    Box::pin(async move { Ok(gw.dispatch(req, remote).await) })
                });
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                spawn_connection(graceful.watch(conn), remote);
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let wait = cfg.max_shutdown_wait_time;
    if wait.is_zero() {
        graceful.shutdown().await;
    } else if tokio::time::timeout(wait, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("max_shutdown_wait_time reached: closing the remaining connections");
    }
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

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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
        _ = ctrl_c => tracing::info!("Signal intercepted: interrupt"),
        _ = term => tracing::info!("Signal intercepted: terminated"),
    }
}
