//! The HTTP/1.1 client for `http://` backends: one keep-alive pool per authority, the request
//! written and the response read by the task that asks, with no connection task, channel or
//! extra wake-up in between. A body that is already in the read buffer comes back whole and the
//! connection goes back to the pool at once; longer bodies stream and give the connection back
//! when their last byte is read. A connection dropped half-way (a timeout, a client that went
//! away) is closed, never reused.
//!
//! Framing follows RFC 9112: no body for `HEAD`, 1xx, 204 and 304; `chunked` when it is the last
//! transfer coding; `Content-Length`; otherwise the body runs to the end of the connection,
//! which is then not reused. A request on a pooled connection that the backend had already
//! closed is sent again once on a new connection when its body can be replayed, as Go's
//! transport does.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use hyper::body::{Frame, SizeHint};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{
    connection_tokens, content_length, field_line, first_line, is_chunked, Decoder, Line,
    RawFields, Step,
};
use crate::vocab::body::{empty_body, full_body, Body, BoxError, OutBody};

/// Response heads larger than this are refused (Go's default `MaxResponseHeaderBytes`).
const MAX_HEAD: usize = 1 << 20;
/// Interim (1xx) answers skipped before a final one, at the most (Go's transport's bound).
const MAX_INFORMATIONAL: usize = 5;
const READ_CHUNK: usize = 16 * 1024;
/// Bodies with a `Content-Length` up to this size are read whole before the response is
/// handed on; longer ones stream.
const BUFFER_WHOLE: usize = 64 * 1024;

/// Pool settings, from the service's HTTP client options.
#[derive(Clone, Debug)]
pub struct Settings {
    pub max_idle_per_host: usize,
    pub idle_timeout: Duration,
    pub connect_timeout: Option<Duration>,
    pub tcp_keepalive: Option<Duration>,
    pub response_header_timeout: Option<Duration>,
}

/// The keep-alive pool and the request logic, for `http://` and `https://` backends alike.
#[derive(Clone)]
pub struct H1Client {
    pool: Arc<Pool>,
    /// The TLS configuration `https://` connections are made with.
    tls: tokio_rustls::TlsConnector,
}

/// Idle connections by the `host:port` they go to.
type IdleByKey = HashMap<Box<str>, Vec<Idle>, KeyHash>;

struct Pool {
    /// Idle connections by the address they go to: plain ones, then TLS ones.
    idle: Mutex<[IdleByKey; 2]>,
    settings: Settings,
    /// Whether the task that closes dead idle connections runs.
    sweeping: std::sync::atomic::AtomicBool,
}

/// How often idle connections are looked at: one the backend closed (or wrote to) or one
/// idle past `idle_connection_timeout` is closed within this, not left in CLOSE-WAIT until
/// the next request to its host.
const SWEEP: Duration = Duration::from_secs(1);

/// The pool's key hash: a few configured `host:port` names, hashed twice per request (checkout
/// and release), where SipHash's resistance to chosen keys buys nothing.
#[derive(Clone, Copy, Default)]
struct KeyHash;

impl std::hash::BuildHasher for KeyHash {
    type Hasher = WordHash;
    fn build_hasher(&self) -> WordHash {
        WordHash(0)
    }
}

/// A multiply-rotate hash taking eight bytes a step: the keys are the configuration's own
/// hosts, never a client's input.
struct WordHash(u64);

impl WordHash {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for WordHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(w);
            self.add(u64::from_le_bytes(eight));
        }
        let mut rest = [0u8; 8];
        rest[..words.remainder().len()].copy_from_slice(words.remainder());
        self.add(u64::from_le_bytes(rest) ^ (bytes.len() as u64) << 56);
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

struct Conn {
    io: Io,
    buf: BytesMut,
    key: Box<str>,
}

/// A backend connection: plain TCP, or TLS over it.
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Io {
    fn tcp(&self) -> &TcpStream {
        match self {
            Io::Plain(s) => s,
            Io::Tls(t) => t.get_ref().0,
        }
    }

    /// Writes all of `buf` (a TLS connection's records flushed). Not an `async fn`: a plain
    /// write's future is held as it is, a TLS one's in a box, so the request's future does not
    /// grow by TLS's state (and the plain path's code stays as it was without TLS).
    fn write_all<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> impl std::future::Future<Output = io::Result<()>> + Send + 'a {
        use futures_util::future::Either;
        match self {
            Io::Plain(s) => Either::Left(super::write_all(s, buf)),
            Io::Tls(t) => Either::Right(tls_write_all(t, buf)),
        }
    }

    /// Reads what arrived into `buf`'s spare room; 0 at the end of the connection.
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        match self {
            Io::Plain(s) => loop {
                ready!(s.poll_read_ready(cx))?;
                match s.try_read_buf(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    read => return Poll::Ready(read),
                }
            },
            Io::Tls(t) => tls_poll_read(t, cx, buf),
        }
    }

    /// `read_buf` of the socket; not an `async fn`, for the reason `write_all` is not.
    fn read_buf<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
    ) -> impl std::future::Future<Output = io::Result<usize>> + Send + 'a {
        use futures_util::future::Either;
        match self {
            Io::Plain(s) => Either::Left(tokio::io::AsyncReadExt::read_buf(s, buf)),
            Io::Tls(t) => Either::Right(std::future::poll_fn(move |cx| tls_poll_read(t, cx, buf))),
        }
    }
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// A TLS write, out of the plain path's way.
#[cold]
fn tls_write_all<'a>(
    t: &'a mut TlsStream,
    buf: &'a [u8],
) -> std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<()>> + Send + 'a>> {
    Box::pin(async move {
        t.write_all(buf).await?;
        t.flush().await
    })
}

/// A TLS read, out of the plain path's way.
#[cold]
#[inline(never)]
fn tls_poll_read(
    t: &mut TlsStream,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    let read = tokio::io::AsyncReadExt::read_buf(t, buf);
    std::future::Future::poll(std::pin::pin!(read), cx)
}

impl Conn {
    /// Whether an idle connection is clean: open, with nothing to read, not even its end. It
    /// asks the socket itself (a peek that returns at once), not the readiness the runtime last
    /// saw: a backend that wrote an answer nobody asked for while the connection sat idle
    /// would otherwise have it read as the answer to the next request, and every answer after
    /// it would go to the client before.
    fn clean(&self) -> bool {
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        matches!(
            // on TLS, any record waiting (a close_notify, a key update) counts as not clean
            socket2::SockRef::from(self.io.tcp()).peek(&mut probe),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        )
    }
}

/// Why a request failed, and whether sending it again on a new connection is safe.
#[derive(Debug)]
pub struct SendError {
    /// The whole text, as Go's transport words it.
    pub message: String,
    /// The I/O (or TLS) error underneath, when there is one.
    pub source: Option<io::Error>,
    /// Nothing of the response arrived on a connection taken from the pool.
    stale: bool,
}

impl SendError {
    fn io(e: io::Error, stale: bool) -> SendError {
        SendError {
            message: e.to_string(),
            source: Some(e),
            stale,
        }
    }
    /// `what` failed because of `e` (`dial tcp h:80: <e>`).
    fn io_in(what: impl std::fmt::Display, e: io::Error) -> SendError {
        SendError {
            message: format!("{what}: {e}"),
            source: Some(e),
            stale: false,
        }
    }
    fn msg(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            source: None,
            stale: false,
        }
    }
}

/// What a request asks of the exchange besides its own fields.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// Ask for gzip (`Accept-Encoding: gzip` written with the head): the transport's own ask.
    pub gzip: bool,
    /// A clean answer head may keep its lines as they came (`RawFields`).
    pub raw: bool,
    /// The `host:port` of the proxy the request goes to (its target then an absolute URL),
    /// instead of the backend's own.
    pub via: Option<&'a str>,
    /// An `https://` backend: the connection is TLS (its name checked against the host).
    pub tls: bool,
}

/// How the request body is announced.
#[derive(Debug, Clone, Copy)]
enum Framed {
    /// Sent with the head, with its own length.
    Buffered(usize),
    /// Streamed with the length the client announced.
    Length(u64),
    Chunked,
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    Eof,
}

impl H1Client {
    /// A client whose `https://` connections use `tls` (its ALPN is set to HTTP/1.1 only).
    pub fn new(settings: Settings, mut tls: rustls::ClientConfig) -> H1Client {
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        H1Client {
            pool: Arc::new(Pool {
                idle: Mutex::new(Default::default()),
                settings,
                sweeping: std::sync::atomic::AtomicBool::new(false),
            }),
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        }
    }

    /// Sends one request to an `http://` (or, with `how.tls`, `https://`) URL, given as its
    /// authority and its request target (path and query), and returns the response head with
    /// its body.
    pub async fn send(
        &self,
        method: &Method,
        authority: &str,
        target: &str,
        headers: &HeaderMap,
        body: OutBody,
        how: Exchange<'_>,
    ) -> Result<Response<Body>, SendError> {
        let Exchange {
            gzip,
            raw,
            via,
            tls,
        } = how;
        if authority.is_empty() {
            return Err(SendError::msg("http: no Host in request URL"));
        }
        // user information never reaches the Host header nor the pool key
        let host_port = crate::vocab::authority::host_port(authority);
        // where the connection goes: the backend, or the proxy in front of it; a TLS
        // connection is pooled apart from a plain one to the same address
        let dial = via.unwrap_or(host_port);
        // the request's bytes, in a buffer a finished request gave back
        let mut request = super::buffer(256 + headers.len() * 40);
        let (replay, stream) = match body {
            OutBody::Empty => (Some(Bytes::new()), None),
            OutBody::Buffered(b) => (Some(b), None),
            OutBody::Stream(s) => (None, Some(s)),
        };
        // how the body is announced: its own length, the forwarded length of a stream, or
        // chunked
        let framed = match &replay {
            Some(b) => Framed::Buffered(b.len()),
            None => match headers.get(header::CONTENT_LENGTH) {
                Some(v) => Framed::Length(
                    content_length(v.as_bytes())
                        .ok_or_else(|| SendError::msg("http: invalid Content-Length"))?,
                ),
                None => Framed::Chunked,
            },
        };
        write_head(
            &mut request,
            method,
            host_port,
            target,
            headers,
            gzip,
            framed,
        );
        if let Some(b) = &replay {
            request.extend_from_slice(b);
        }
        let declared = match framed {
            Framed::Length(n) => Some(n),
            _ => None,
        };
        let mut stream = stream;
        // sent again on a new connection when a pooled one turns out closed: only a request
        // Go's transport would replay (an idempotent method, or an idempotency key, with a body
        // it holds whole)
        let replayable = replay.is_some()
            && (matches!(
                *method,
                Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
            ) || headers.contains_key("idempotency-key")
                || headers.contains_key("x-idempotency-key"));
        loop {
            let (mut conn, reused) = match self.pool.checkout(dial, tls) {
                Some(c) => (c, true),
                // a new connection is rare: its future gets a box, not room in every request's
                None => (Box::pin(self.connect(dial, tls)).await?, false),
            };
            let result = self
                .exchange(
                    &mut conn,
                    &request,
                    stream.take().map(|s| (s, declared)),
                    method,
                    reused,
                    raw,
                )
                .await;
            match result {
                Ok((head, framing, keeps_alive)) => {
                    // a body of known, modest size is read whole before answering (as nginx
                    // buffers it): one read, one contiguous body, the connection back at once
                    if let Framing::Length(n) = framing {
                        if n <= BUFFER_WHOLE as u64 {
                            fill_to(&mut conn, n as usize).await?;
                        }
                    }
                    super::recycle_buffer(request);
                    return Ok(self.respond(conn, head, framing, keeps_alive));
                }
                Err(e) if e.stale && replayable => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn connect(&self, host_port: &str, tls: bool) -> Result<Conn, SendError> {
        Pool::sweep_every(&self.pool);
        let authority: http::uri::Authority = host_port
            .parse()
            .map_err(|e| SendError::msg(format!("invalid backend host {host_port:?}: {e}")))?;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let settings = &self.pool.settings;
        let connecting = TcpStream::connect((host, port));
        let tcp = match settings.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, connecting)
                .await
                .map_err(|_| SendError::msg(format!("dial tcp {host_port}: i/o timeout")))?,
            None => connecting.await,
        }
        .map_err(|e| SendError::io_in(format_args!("dial tcp {host_port}"), e))?;
        let _ = tcp.set_nodelay(true);
        if let Some(every) = settings.tcp_keepalive {
            let keepalive = socket2::TcpKeepalive::new()
                .with_time(every)
                .with_interval(every);
            let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive);
        }
        let io = if tls {
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| SendError::msg(format!("invalid backend host {host:?}: {e}")))?;
            // the handshake is bounded like the dial (Go's TLSHandshakeTimeout is 10 s)
            let limit = settings.connect_timeout.unwrap_or(Duration::from_secs(10));
            let handshake = tokio::time::timeout(limit, self.tls.connect(name, tcp))
                .await
                .map_err(|_| SendError::msg("net/http: TLS handshake timeout"))?
                .map_err(|e| SendError::io_in("tls", e))?;
            Io::Tls(Box::new(handshake))
        } else {
            Io::Plain(tcp)
        };
        Ok(Conn {
            io,
            buf: BytesMut::with_capacity(8192),
            key: host_port.into(),
        })
    }

    /// Writes the request (a streamed body with its declared length) and reads the response
    /// head; the connection's buffer then holds whatever of the body already arrived.
    async fn exchange(
        &self,
        conn: &mut Conn,
        head: &[u8],
        stream: Option<(Body, Option<u64>)>,
        method: &Method,
        reused: bool,
        raw: bool,
    ) -> Result<(Response<()>, Framing, bool), SendError> {
        conn.io
            .write_all(head)
            .await
            .map_err(|e| SendError::io(e, reused))?;
        if let Some((body, declared)) = stream {
            // a streamed body is rare: its future gets a box, not room in every request's
            Box::pin(write_stream(&mut conn.io, body, declared)).await?;
        }
        let reading = read_head(conn, method, reused, raw);
        match self.pool.settings.response_header_timeout {
            Some(limit) => tokio::time::timeout(limit, reading)
                .await
                .map_err(|_| SendError::msg("net/http: timeout awaiting response headers"))?,
            None => reading.await,
        }
    }

    fn respond(
        &self,
        mut conn: Conn,
        head: Response<()>,
        framing: Framing,
        keeps_alive: bool,
    ) -> Response<Body> {
        let reusable = keeps_alive && framing != Framing::Eof;
        let (parts, ()) = head.into_parts();
        let body = match framing {
            Framing::Empty => {
                if reusable && conn.buf.is_empty() {
                    self.pool.release(conn);
                }
                empty_body()
            }
            Framing::Length(n) if conn.buf.len() as u64 >= n => {
                let bytes = conn.buf.split_to(n as usize).freeze();
                if reusable && conn.buf.is_empty() {
                    self.pool.release(conn);
                }
                full_body(bytes)
            }
            framing => {
                let decoder = match framing {
                    Framing::Length(n) => Decoder::Length(n),
                    Framing::Chunked => Decoder::chunked(),
                    _ => Decoder::Eof,
                };
                http_body_util::BodyExt::boxed(H1Body {
                    conn: Some(conn),
                    decoder,
                    reusable,
                    pool: self.pool.clone(),
                })
            }
        };
        Response::from_parts(parts, body)
    }
}

impl Pool {
    /// An idle connection to `key` (TLS or plain) proven clean, if the pool holds one; the
    /// others it looks at (expired, closed, or with bytes nobody asked for) are closed.
    fn checkout(&self, key: &str, tls: bool) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle[usize::from(tls)].get_mut(key)?;
        while let Some(entry) = list.pop() {
            if entry.since.elapsed() < self.settings.idle_timeout && entry.conn.clean() {
                return Some(entry.conn);
            }
        }
        None
    }

    /// Starts the pool's sweeping task, once: it holds the pool weakly and ends with it.
    fn sweep_every(pool: &Arc<Pool>) {
        use std::sync::atomic::Ordering;
        if pool.sweeping.load(Ordering::Relaxed) || pool.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let weak = Arc::downgrade(pool);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(pool) => pool.sweep(),
                    None => return,
                }
            }
        });
    }

    /// Closes the idle connections that are no longer clean or have been idle too long.
    fn sweep(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        for list in idle.iter_mut().flat_map(HashMap::values_mut) {
            list.retain(|e| e.since.elapsed() < self.settings.idle_timeout && e.conn.clean());
        }
    }

    fn release(&self, conn: Conn) {
        if self.settings.max_idle_per_host == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let idle = &mut idle[usize::from(matches!(conn.io, Io::Tls(_)))];
        let list = match idle.get_mut(&*conn.key) {
            Some(list) => list,
            None => idle.entry(conn.key.clone()).or_default(),
        };
        if list.len() < self.settings.max_idle_per_host {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// Writes the request line and headers (names in Go's canonical form, `Host` first, then the
/// map's fields, `Accept-Encoding: gzip` when the transport asks for it, the body's framing
/// last).
fn write_head(
    out: &mut Vec<u8>,
    method: &Method,
    host: &str,
    target: &str,
    headers: &HeaderMap,
    gzip: bool,
    framed: Framed,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    match headers.get(header::HOST) {
        Some(h) => out.extend_from_slice(h.as_bytes()),
        None => out.extend_from_slice(host.as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
    let mut announced = false;
    for (name, value) in headers {
        if name == header::HOST || name == header::TRANSFER_ENCODING {
            continue;
        }
        if name == header::CONTENT_LENGTH {
            announced = true;
            continue;
        }
        super::push_canonical(out, name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if gzip {
        out.extend_from_slice(b"Accept-Encoding: gzip\r\n");
    }
    let length = match framed {
        // an empty body says so only when the request announced a length
        Framed::Buffered(0) if !announced => None,
        Framed::Buffered(n) => Some(n as u64),
        Framed::Length(n) => Some(n),
        Framed::Chunked => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            None
        }
    };
    if let Some(n) = length {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(n.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Streams a request body: chunked, or exactly the announced `Content-Length` bytes (a body
/// of another length fails the call, as Go's transport does, and the connection is dropped).
async fn write_stream(io: &mut Io, mut body: Body, declared: Option<u64>) -> Result<(), SendError> {
    use http_body_util::BodyExt;
    let fail = |e: io::Error| SendError::io(e, false);
    let chunked = declared.is_none();
    let mut sent = 0u64;
    let mismatch = |sent: u64| {
        SendError::msg(format!(
            "http: ContentLength={} with Body length {sent}",
            declared.unwrap_or(0)
        ))
    };
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| SendError::msg(format!("reading the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        if chunked {
            let mut piece = Vec::with_capacity(data.len() + 12);
            piece.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
            piece.extend_from_slice(&data);
            piece.extend_from_slice(b"\r\n");
            io.write_all(&piece).await.map_err(fail)?;
        } else {
            sent += data.len() as u64;
            if declared.is_some_and(|d| sent > d) {
                return Err(mismatch(sent));
            }
            io.write_all(&data).await.map_err(fail)?;
        }
    }
    if !chunked && declared != Some(sent) {
        return Err(mismatch(sent));
    }
    if chunked {
        io.write_all(b"0\r\n\r\n").await.map_err(fail)?;
    }
    Ok(())
}

/// Reads until the buffer holds `n` bytes.
async fn fill_to(conn: &mut Conn, n: usize) -> Result<(), SendError> {
    if conn.buf.len() >= n {
        return Ok(());
    }
    if conn.buf.capacity() < n {
        // the body gets an allocation of its size, with only what came with the head copied
        // (growing the buffer the head was split from would copy all it ever held)
        let mut whole = BytesMut::with_capacity(n);
        whole.extend_from_slice(&conn.buf);
        conn.buf = whole;
    }
    while conn.buf.len() < n {
        match conn.io.read_buf(&mut conn.buf).await {
            Ok(0) => return Err(SendError::msg("unexpected EOF")),
            Ok(_) => {}
            Err(e) => return Err(SendError::io(e, false)),
        }
    }
    Ok(())
}

/// Reads until a final (non-1xx) response head is complete. With `raw`, a clean head's fields
/// stay as they came (`RawFields`) when nothing needs them in a map.
async fn read_head(
    conn: &mut Conn,
    method: &Method,
    reused: bool,
    raw_fields: bool,
) -> Result<(Response<()>, Framing, bool), SendError> {
    let mut received = false;
    let mut informational = 0;
    loop {
        if !conn.buf.is_empty() {
            received = true;
            if let Some((head, mut delimiters)) = with_field_table(|raw| {
                if !parse_head(&conn.buf, raw)? {
                    return Ok(None);
                }
                raw.build(&conn.buf.split_to(raw.len).freeze(), raw_fields)
                    .map(Some)
            })? {
                let mut head = head;
                let status = head.status();
                if status == StatusCode::SWITCHING_PROTOCOLS {
                    // the gateway never asks a backend to switch protocols
                    return Err(malformed("unexpected 101 Switching Protocols"));
                }
                if status.is_informational() {
                    informational += 1;
                    if informational > MAX_INFORMATIONAL {
                        return Err(SendError::msg(
                            "net/http: too many 1xx informational responses",
                        ));
                    }
                    continue;
                }
                let framing = framing(&mut head, method, &mut delimiters)?;
                let reusable = keeps_alive(&head, &delimiters);
                return Ok((head, framing, reusable));
            }
            if conn.buf.len() > MAX_HEAD {
                return Err(SendError::msg(
                    "net/http: server response headers exceeded 1048576 bytes; aborted",
                ));
            }
        }
        super::make_room(&mut conn.buf, 8192);
        match conn.io.read_buf(&mut conn.buf).await {
            Ok(0) => {
                return Err(SendError {
                    message: if received {
                        "unexpected EOF".into()
                    } else {
                        "EOF".into()
                    },
                    source: None,
                    stale: reused && !received,
                })
            }
            Ok(_) => {}
            Err(e) => return Err(SendError::io(e, reused && !received)),
        }
    }
}

thread_local! {
    static FIELD_TABLE: std::cell::RefCell<RawHead> = std::cell::RefCell::new(RawHead::new());
}

/// Runs `f` on this thread's field table: a head is parsed and built without a wait between,
/// so one table per thread serves every connection, and the one table is the one in the cache
/// (a table per connection is cold again by the time its next answer comes).
fn with_field_table<T>(f: impl FnOnce(&mut RawHead) -> T) -> T {
    FIELD_TABLE.with(|table| match table.try_borrow_mut() {
        Ok(mut raw) => f(&mut raw),
        Err(_) => f(&mut RawHead::new()),
    })
}

/// Header fields kept without a heap allocation; a head with more spills to a `Vec`.
const HEAD_SLOTS: usize = 32;

/// A header field as positions in the read buffer: (name start, name end, value start, value
/// end).
pub(crate) type FieldPos = (u32, u32, u32, u32);

/// A complete response head, as positions in the read buffer: the buffer is frozen once and
/// every header value becomes a slice of it, with no copy and no allocation per field.
pub(crate) struct RawHead {
    pub(crate) len: usize,
    pub(crate) code: u16,
    pub(crate) http10: bool,
    /// Some value continues on a folded line (obsolete, still accepted).
    pub(crate) folded: bool,
    /// Every line ends in `\r\n`, no line is folded, no name has a space before its colon.
    pub(crate) clean: bool,
    /// Where the first field line starts (after the status line).
    pub(crate) fields_start: usize,
    count: usize,
    inline: [FieldPos; HEAD_SLOTS],
    /// All the fields, once there are more than `HEAD_SLOTS` of them.
    more: Vec<FieldPos>,
}

/// What a response head says about its body and its connection, noted while its fields are
/// read: the last `Transfer-Encoding` value, the `Content-Length` values, the `Connection`
/// tokens.
#[derive(Default)]
pub(crate) struct Delimiters {
    /// How many `Transfer-Encoding` fields there are.
    codings: u32,
    /// Whether every `Transfer-Encoding` value is `chunked` alone.
    only_chunked: bool,
    content_length: Option<u64>,
    /// The first `Content-Length` that is not a number, or the second that disagrees.
    bad_length: Option<SendError>,
    close: bool,
    keep_alive: bool,
}

impl Delimiters {
    fn note(&mut self, role: Role, value: &[u8]) {
        if role == Role::TransferEncoding {
            self.only_chunked = is_chunked(value) && (self.codings == 0 || self.only_chunked);
            self.codings += 1;
        } else if role == Role::ContentLength {
            if self.bad_length.is_some() {
                return;
            }
            match content_length(value) {
                None => {
                    let shown = HeaderValue::from_bytes(value);
                    self.bad_length = Some(SendError::msg(match shown {
                        Ok(v) => format!("bad Content-Length {v:?}"),
                        Err(_) => {
                            format!("bad Content-Length {:?}", String::from_utf8_lossy(value))
                        }
                    }))
                }
                Some(n) if self.content_length.is_some_and(|l| l != n) => {
                    self.bad_length = Some(SendError::msg(
                        "http: message cannot contain multiple Content-Length headers",
                    ))
                }
                Some(n) => self.content_length = Some(n),
            }
        } else if role == Role::Connection {
            let (close, keep_alive) = connection_tokens(value);
            self.close |= close;
            self.keep_alive |= keep_alive;
        }
    }
}

impl RawHead {
    pub(crate) fn new() -> RawHead {
        RawHead {
            len: 0,
            code: 0,
            http10: false,
            folded: false,
            clean: true,
            fields_start: 0,
            count: 0,
            inline: [(0, 0, 0, 0); HEAD_SLOTS],
            more: Vec::new(),
        }
    }

    fn push(&mut self, field: FieldPos) {
        if self.count < HEAD_SLOTS {
            self.inline[self.count] = field;
        } else {
            if self.count == HEAD_SLOTS {
                self.more.extend_from_slice(&self.inline);
            }
            self.more.push(field);
        }
        self.count += 1;
    }

    pub(crate) fn fields(&self) -> &[FieldPos] {
        if self.count <= HEAD_SLOTS {
            &self.inline[..self.count]
        } else {
            &self.more
        }
    }

    fn last_mut(&mut self) -> Option<&mut FieldPos> {
        if self.count == 0 {
            None
        } else if self.count <= HEAD_SLOTS {
            self.inline.get_mut(self.count - 1)
        } else {
            self.more.last_mut()
        }
    }

    pub(crate) fn build(
        &self,
        head: &Bytes,
        raw: bool,
    ) -> Result<(Response<()>, Delimiters), SendError> {
        let status = StatusCode::from_u16(self.code)
            .map_err(|_| SendError::msg("malformed HTTP status code"))?;
        let mut resp = Response::new(());
        *resp.status_mut() = status;
        *resp.version_mut() = if self.http10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        if raw && self.clean && !status.is_redirection() {
            if let Some((fields, delimiters)) = self.raw_fields(head) {
                // pooled storage: the fields travel in the extensions, the map keeps room for
                // the gateway's own headers
                *resp.extensions_mut() = super::extensions();
                resp.extensions_mut().insert(fields);
                *resp.headers_mut() = super::header_map(4);
                return Ok((resp, delimiters));
            }
        }
        let mut delimiters = Delimiters::default();
        let headers = resp.headers_mut();
        *headers = super::header_map(self.count);
        for &(ns, ne, vs, ve) in self.fields() {
            let raw = &head[ns as usize..ne as usize];
            // every spelling of the three names that decide the framing is a known one
            let (name, role) = match known_name(raw) {
                Some(known) => known,
                None => match HeaderName::from_bytes(raw) {
                    Ok(name) => (name, Role::Plain),
                    Err(_) => continue,
                },
            };
            let value = head.slice(vs as usize..ve as usize);
            let value = if self.folded && value.contains(&b'\n') {
                unfold(&value)
            } else {
                value
            };
            // a value with a control byte is dropped, as the line it came on
            let Ok(value) = HeaderValue::from_maybe_shared(value) else {
                continue;
            };
            if role != Role::Plain {
                delimiters.note(role, value.as_bytes());
                // the framing and connection fields are spent here: they describe this hop only
                if role != Role::ContentLength {
                    continue;
                }
            }
            headers.append(name, value);
        }
        Ok((resp, delimiters))
    }
}

impl RawHead {
    /// The fields as lines to write through, with the framing noted; `None` when something
    /// asks for a map: a value a header may not hold, a `Content-Encoding` (the client may
    /// decode the body), a gateway header the endpoint sets itself, more runs than kept.
    fn raw_fields(&self, head: &Bytes) -> Option<(RawFields, Delimiters)> {
        let mut raw = RawFields::new(head.clone());
        let mut delimiters = Delimiters::default();
        let fields = self.fields();
        // the block ends before the empty line's `\r\n`
        let block_end = self.len - 2;
        let mut run_start = self.fields_start;
        for (i, &(ns, ne, vs, ve)) in fields.iter().enumerate() {
            let (ns, ne, vs, ve) = (ns as usize, ne as usize, vs as usize, ve as usize);
            if !plain_value(&head[vs..ve]) {
                return None;
            }
            let name = &head[ns..ne];
            // only a few lengths can name a field that matters here
            let role = match name.len() {
                4 if folded_eq(name, b"date") => {
                    raw.has_date = true;
                    continue;
                }
                9 | 19
                    if folded_eq(name, b"x-krakend") || folded_eq(name, b"x-krakend-completed") =>
                {
                    return None
                }
                16 if folded_eq(name, b"content-encoding") => return None,
                10 | 14 | 17 => match known_name(name) {
                    Some((_, role)) if role != Role::Plain => role,
                    _ => continue,
                },
                _ => continue,
            };
            // a plain value is one a header may hold
            delimiters.note(role, &head[vs..ve]);
            // the line is left out: the run before it ends here
            if !raw.keep(run_start, ns) {
                return None;
            }
            run_start = fields.get(i + 1).map_or(block_end, |f| f.0 as usize);
        }
        if !raw.keep(run_start, block_end) {
            return None;
        }
        raw.content_length = delimiters.content_length;
        Some((raw, delimiters))
    }
}

/// Whether every byte of a header value is one a value may hold (no control byte but tab),
/// eight bytes at a time (the last word overlapping the one before): a word with no byte under
/// 0x20 and none 0x7f passes at once; a flagged word is looked at byte by byte.
fn plain_value(value: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let byte_ok = |b: &u8| (*b >= 0x20 && *b != 0x7f) || *b == b'\t';
    let n = value.len();
    if n < 8 {
        return value.iter().all(byte_ok);
    }
    let word_ok = |at: usize| {
        let chunk = &value[at..at + 8];
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            return false;
        };
        let w = u64::from_le_bytes(bytes);
        let low = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let del = w ^ (ONES * 0x7f);
        let del = del.wrapping_sub(ONES) & !del & HIGH;
        // the test may flag a byte after a real one: only then are the bytes looked at
        low | del == 0 || chunk.iter().all(byte_ok)
    };
    let mut at = 0;
    while at + 8 < n {
        if !word_ok(at) {
            return false;
        }
        at += 8;
    }
    word_ok(n - 8)
}

/// What a known response header name tells about the framing.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Plain,
    TransferEncoding,
    ContentLength,
    Connection,
    KeepAlive,
}

/// The header names backends send most, matched without building a name from the bytes: the
/// name in lower case, the constant, its role in the framing.
type Known = (&'static [u8], HeaderName, Role);

/// The known name `raw` spells in any case. Header names the head scanner passes are tokens, in which
/// `b | 0x20` lower-cases a letter and leaves every byte of a lower-case name unchanged.
fn known_name(raw: &[u8]) -> Option<(HeaderName, Role)> {
    use header::*;
    use Role::*;
    static K3: [Known; 2] = [(b"age", AGE, Plain), (b"via", VIA, Plain)];
    static K4: [Known; 4] = [
        (b"date", DATE, Plain),
        (b"etag", ETAG, Plain),
        (b"vary", VARY, Plain),
        (b"link", LINK, Plain),
    ];
    static K5: [Known; 1] = [(b"allow", ALLOW, Plain)];
    static K6: [Known; 2] = [(b"server", SERVER, Plain), (b"pragma", PRAGMA, Plain)];
    static K7: [Known; 3] = [
        (b"expires", EXPIRES, Plain),
        (b"trailer", TRAILER, Plain),
        (b"upgrade", UPGRADE, Plain),
    ];
    static K8: [Known; 1] = [(b"location", LOCATION, Plain)];
    static K10: [Known; 3] = [
        (b"connection", CONNECTION, Connection),
        (b"set-cookie", SET_COOKIE, Plain),
        (
            b"keep-alive",
            HeaderName::from_static("keep-alive"),
            KeepAlive,
        ),
    ];
    static K12: [Known; 1] = [(b"content-type", CONTENT_TYPE, Plain)];
    static K13: [Known; 3] = [
        (b"last-modified", LAST_MODIFIED, Plain),
        (b"cache-control", CACHE_CONTROL, Plain),
        (b"accept-ranges", ACCEPT_RANGES, Plain),
    ];
    static K14: [Known; 1] = [(b"content-length", CONTENT_LENGTH, ContentLength)];
    static K16: [Known; 4] = [
        (b"content-encoding", CONTENT_ENCODING, Plain),
        (b"content-language", CONTENT_LANGUAGE, Plain),
        (b"content-location", CONTENT_LOCATION, Plain),
        (b"www-authenticate", WWW_AUTHENTICATE, Plain),
    ];
    static K17: [Known; 1] = [(b"transfer-encoding", TRANSFER_ENCODING, TransferEncoding)];
    static K19: [Known; 1] = [(b"content-disposition", CONTENT_DISPOSITION, Plain)];
    let candidates: &[Known] = match raw.len() {
        3 => &K3,
        4 => &K4,
        5 => &K5,
        6 => &K6,
        7 => &K7,
        8 => &K8,
        10 => &K10,
        12 => &K12,
        13 => &K13,
        14 => &K14,
        16 => &K16,
        17 => &K17,
        19 => &K19,
        _ => return None,
    };
    candidates
        .iter()
        .find(|(lower, _, _)| folded_eq(raw, lower))
        .map(|(_, name, role)| (name.clone(), *role))
}

/// Whether the token `raw` is `lower` in any case (same length), eight bytes at a time.
fn folded_eq(raw: &[u8], lower: &[u8]) -> bool {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    fn word(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map_or(0, u64::from_le_bytes)
    }
    let n = raw.len();
    if n != lower.len() {
        return false;
    }
    if n < 8 {
        return raw.iter().zip(lower).all(|(a, b)| a | 0x20 == *b);
    }
    let mut at = 0;
    while at + 8 < n {
        if word(raw, at) | FOLD != word(lower, at) {
            return false;
        }
        at += 8;
    }
    // the last eight bytes, overlapping the previous word when the length is not a multiple
    word(raw, n - 8) | FOLD == word(lower, n - 8)
}

fn malformed(what: &str) -> SendError {
    SendError::msg(format!("malformed HTTP response: {what}"))
}

/// The status code and whether the version is HTTP/1.0, from `HTTP/1.x NNN[ reason]`.
fn status_line(line: &[u8]) -> Result<(u16, bool), SendError> {
    let http10 = match line.get(..8) {
        Some(b"HTTP/1.1") => false,
        Some(b"HTTP/1.0") => true,
        _ => return Err(malformed("invalid HTTP version")),
    };
    match line[8..] {
        [b' ', a @ b'0'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9', ref reason @ ..]
            if reason.is_empty() || reason[0] == b' ' =>
        {
            let digit = |d: u8| u16::from(d - b'0');
            Ok((digit(a) * 100 + digit(b) * 10 + digit(c), http10))
        }
        _ => Err(malformed("invalid status")),
    }
}

/// Reads a response head from the start of `buf` into `head`: `Ok(false)` while it is
/// incomplete. Lines may end in `\n` alone; spaces before a field's colon and folded lines are
/// accepted, as Go's client accepts them.
pub(crate) fn parse_head(buf: &[u8], head: &mut RawHead) -> Result<bool, SendError> {
    let Some((_, line, mut at)) = first_line(buf) else {
        return Ok(false);
    };
    (head.code, head.http10) = status_line(line)?;
    head.folded = false;
    head.clean = true;
    head.count = 0;
    head.more.clear();
    head.fields_start = at;
    loop {
        match field_line(buf, at) {
            None => return Ok(false),
            Some(Line::End { next }) => {
                // lines written through end in CRLF, the empty line too
                head.clean &= next - at == 2;
                head.len = next;
                return Ok(true);
            }
            Some(Line::Field {
                name_end,
                value: (vs, ve),
                next,
                spaced,
                crlf,
            }) => {
                head.clean &= crlf && !spaced;
                head.push((at as u32, name_end as u32, vs as u32, ve as u32));
                at = next;
            }
            Some(Line::Folded { end, next }) => {
                // the previous value goes on to the end of this line
                let last = head
                    .last_mut()
                    .ok_or_else(|| malformed("invalid header name"))?;
                last.3 = end as u32;
                head.folded = true;
                head.clean = false;
                at = next;
            }
            Some(Line::Malformed) => return Err(malformed("invalid header name")),
        }
    }
}

/// A folded value as one line: its pieces joined by single spaces.
fn unfold(value: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(value.len());
    for piece in value.split(|b| *b == b'\n') {
        let piece = piece.trim_ascii();
        if piece.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(piece);
    }
    Bytes::from(out)
}

/// How the body of a final answer is framed (RFC 9112 §6.3, as Go's transport reads it).
/// A `Transfer-Encoding` other than `chunked` alone, or one on an HTTP/1.0 answer, is a broken
/// answer; beside a `Content-Length`, the coding frames the body and the length is removed
/// (it never reaches the client) and the connection is not reused.
pub(crate) fn framing(
    head: &mut Response<()>,
    method: &Method,
    delimiters: &mut Delimiters,
) -> Result<Framing, SendError> {
    let status = head.status();
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    if delimiters.codings > 0 {
        if head.version() == Version::HTTP_10 {
            return Err(malformed("transfer encoding in an HTTP/1.0 response"));
        }
        if delimiters.codings > 1 || !delimiters.only_chunked {
            return Err(SendError::msg("net/http: unsupported transfer encoding"));
        }
        if delimiters.content_length.is_some() || delimiters.bad_length.is_some() {
            delimiters.content_length = None;
            delimiters.bad_length = None;
            delimiters.close = true;
            remove_keeping_order(head.headers_mut(), &header::CONTENT_LENGTH);
            if let Some(raw) = head.extensions_mut().get_mut::<RawFields>() {
                raw.content_length = None;
            }
        }
        return Ok(Framing::Chunked);
    }
    if let Some(e) = delimiters.bad_length.take() {
        return Err(e);
    }
    Ok(delimiters
        .content_length
        .map_or(Framing::Eof, Framing::Length))
}

/// Removes every field named `name`, the others kept in their order (`HeaderMap::remove`
/// moves the last field into the removed one's place). For the rare answer that needs it.
fn remove_keeping_order(headers: &mut HeaderMap, name: &HeaderName) {
    if !headers.contains_key(name) {
        return;
    }
    let old = std::mem::take(headers);
    let mut current: Option<HeaderName> = None;
    for (key, value) in old {
        if key.is_some() {
            current = key;
        }
        if let Some(key) = current.as_ref().filter(|k| *k != name) {
            headers.append(key.clone(), value);
        }
    }
}

pub(crate) fn keeps_alive(head: &Response<()>, delimiters: &Delimiters) -> bool {
    if delimiters.close {
        return false;
    }
    head.version() != Version::HTTP_10 || delimiters.keep_alive
}

/// A body still arriving on its connection.
struct H1Body {
    conn: Option<Conn>,
    decoder: Decoder,
    reusable: bool,
    pool: Arc<Pool>,
}

impl H1Body {
    fn finish(&mut self) {
        self.decoder = Decoder::Done;
        if let Some(conn) = self.conn.take() {
            if self.reusable && conn.buf.is_empty() {
                self.pool.release(conn);
            }
        }
    }

    /// The next piece of the body from the buffer, reading more when it is empty.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match self.decoder.step(&mut conn.buf)? {
                Step::Data(data) => {
                    if self.decoder.is_done() {
                        self.finish();
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Step::End => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Step::More => {
                    if ready!(self.poll_fill(cx))? == 0 {
                        self.conn = None;
                        self.decoder.at_eof()?;
                        return Poll::Ready(None);
                    }
                }
            }
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, BoxError>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        super::make_room(&mut conn.buf, READ_CHUNK);
        let read = ready!(conn.io.poll_read_buf(cx, &mut conn.buf));
        Poll::Ready(read.map_err(|e| Box::new(e) as BoxError))
    }
}

impl hyper::body::Body for H1Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match ready!(this.poll_next(cx)) {
            Some(Ok(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Err(e)) => {
                this.conn = None;
                this.decoder = Decoder::Done;
                Poll::Ready(Some(Err(e)))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::go::canonical_token;

    fn head_of(raw: &[u8]) -> Result<Option<(Response<()>, usize)>, String> {
        let mut h = RawHead::new();
        match parse_head(raw, &mut h) {
            Ok(true) => {
                let (resp, _) = h
                    .build(&Bytes::copy_from_slice(&raw[..h.len]), false)
                    .map_err(|e| e.message)?;
                Ok(Some((resp, h.len)))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(e.message),
        }
    }

    #[test]
    fn response_heads_parse_as_go_reads_them() {
        let raw =
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-A:  one \r\n\r\nbody";
        let (resp, len) = head_of(raw).unwrap().unwrap();
        assert_eq!(len, raw.len() - 4);
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.version(), Version::HTTP_11);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.headers()["x-a"], "one");

        // bare LF line ends, no reason phrase, HTTP/1.0, space before the colon
        let raw = b"HTTP/1.0 404\nServer : x\nX-Empty:\n\n";
        let (resp, len) = head_of(raw).unwrap().unwrap();
        assert_eq!(len, raw.len());
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.version(), Version::HTTP_10);
        assert_eq!(resp.headers()["server"], "x");
        assert_eq!(resp.headers()["x-empty"], "");

        // a folded value is joined with single spaces; repeated names all stay
        let raw = b"HTTP/1.1 200 OK\r\nX-Long: a\r\n   b\r\n\tc\r\nSet-Cookie: 1\r\nSet-Cookie: 2\r\n\r\n";
        let (resp, _) = head_of(raw).unwrap().unwrap();
        assert_eq!(resp.headers()["x-long"], "a b c");
        assert_eq!(resp.headers().get_all("set-cookie").iter().count(), 2);

        // empty lines before the status line are skipped
        let (resp, _) = head_of(b"\r\nHTTP/1.1 204 No Content\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), 204);

        // a value with a control byte is dropped, the rest of the head is kept
        let (resp, _) = head_of(b"HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nX-Good: c\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(resp.headers().get("x-bad").is_none());
        assert_eq!(resp.headers()["x-good"], "c");
    }

    #[test]
    fn plain_values_pass_and_control_bytes_do_not() {
        for ok in [
            &b""[..],
            b"a",
            b"application/json; charset=utf-8",
            b"tab\there and more than eight bytes",
            b"\x80\xff obs-text \xe9",
            b"~~~~~~~~ ~~~~~~~~",
        ] {
            assert!(plain_value(ok), "{ok:?}");
        }
        for bad in [
            &b"\x00"[..],
            b"abcdefg\x01",
            b"abcdefgh\x7f",
            b"abcdefghijklmnop\x1f",
            b"\rabcdefghijklmnop",
            b"abcdefghij\x02klmnopqrstu",
            b"abcdefgh\nabcdefgh",
        ] {
            assert!(!plain_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn incomplete_and_malformed_heads() {
        for partial in [
            &b""[..],
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/pl",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r",
        ] {
            assert!(head_of(partial).unwrap().is_none(), "{partial:?}");
        }
        for (bad, why) in [
            (&b"HTTP/2.0 200 OK\r\n\r\n"[..], "invalid HTTP version"),
            (b"ICY 200 OK\r\n\r\n", "invalid HTTP version"),
            (b"HTTP/1.1 20 OK\r\n\r\n", "invalid status"),
            (b"HTTP/1.1 2000\r\n\r\n", "invalid status"),
            (
                b"HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
                "invalid header name",
            ),
            (
                b"HTTP/1.1 200 OK\r\n: no-name\r\n\r\n",
                "invalid header name",
            ),
            (
                b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
                "invalid header name",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent\rLength: 5\r\n\r\n",
                "invalid header name",
            ),
            (
                b"HTTP/1.1 200 OK\r\n folded-first\r\n\r\n",
                "invalid header name",
            ),
        ] {
            let err = head_of(bad).unwrap_err();
            assert_eq!(err, format!("malformed HTTP response: {why}"), "{bad:?}");
        }
    }

    /// Every known name, in any spelling, is the name `HeaderName::from_bytes` builds; other
    /// names of the same lengths are not taken for one.
    #[test]
    fn known_names_match_any_case() {
        let names = [
            "age",
            "via",
            "date",
            "etag",
            "vary",
            "link",
            "allow",
            "server",
            "pragma",
            "expires",
            "trailer",
            "upgrade",
            "location",
            "connection",
            "set-cookie",
            "keep-alive",
            "content-type",
            "last-modified",
            "cache-control",
            "accept-ranges",
            "content-length",
            "content-encoding",
            "content-language",
            "content-location",
            "www-authenticate",
            "transfer-encoding",
            "content-disposition",
        ];
        for name in names {
            let upper = name.to_ascii_uppercase();
            let canonical = canonical_token(name).collect::<Vec<u8>>();
            for spelling in [name.as_bytes(), upper.as_bytes(), &canonical] {
                let (known, _) = known_name(spelling).expect(name);
                assert_eq!(known, HeaderName::from_bytes(spelling).unwrap(), "{name}");
            }
        }
        for other in [
            "x-a",
            "x-ab",
            "content-typf",
            "content-lengtz",
            "x-request-ids",
            "dat_",
        ] {
            assert!(known_name(other.as_bytes()).is_none(), "{other}");
        }
        let role = |n: &str| known_name(n.as_bytes()).map(|(_, r)| r);
        assert!(role("Transfer-Encoding") == Some(Role::TransferEncoding));
        assert!(role("CONTENT-LENGTH") == Some(Role::ContentLength));
        assert!(role("Connection") == Some(Role::Connection));
        assert!(role("Keep-Alive") == Some(Role::KeepAlive));
        assert!(role("Content-Type") == Some(Role::Plain));
    }
}
