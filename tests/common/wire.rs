//! Raw HTTP/1.1 on both sides of the gateway: a client connection that writes bytes as given
//! and reads the answers one at a time by their framing, and a scripted backend that answers
//! with bytes as given, in paced pieces.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::{soon, tcp_server, Log, TcpServer};

// ---------------------------------------------------------------------------------------------
// the client side
// ---------------------------------------------------------------------------------------------

/// One answer as it came off the wire.
#[derive(Debug)]
pub struct RawResponse {
    /// The head as written: the status line to the empty line, both included.
    pub head: String,
    pub version: String,
    pub status: u16,
    /// Lower-case names, in order.
    pub headers: Vec<(String, String)>,
    /// The body with its framing (length, chunked, until close) taken off.
    pub body: Vec<u8>,
    /// Whether the framing ended; `false` when the connection closed before the body did.
    pub complete: bool,
}

impl RawResponse {
    /// The first value of the field `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).first().copied()
    }

    /// Every value of the field `name` (any case), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether the answer has the field `name` (any case).
    pub fn has(&self, name: &str) -> bool {
        !self.header_all(name).is_empty()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection written raw: requests go out byte for byte as given, answers are read
/// one at a time, each by its own framing, so that pipelining, keep-alive and closes show.
pub struct RawConn {
    stream: Box<dyn Duplex>,
    buf: Vec<u8>,
    /// The protocol TLS's ALPN chose (`open_tls`).
    pub alpn: Option<Vec<u8>>,
}

/// A connection's stream: plain TCP or TLS.
pub trait Duplex: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Duplex for T {}

impl RawConn {
    pub async fn open(addr: SocketAddr) -> RawConn {
        RawConn {
            stream: Box::new(TcpStream::connect(addr).await.unwrap()),
            buf: Vec::new(),
            alpn: None,
        }
    }

    /// A TLS connection to a server presenting tests/fixtures/jwt/tls/chain.pem (a
    /// certificate for 127.0.0.1), offering these ALPN protocols.
    pub async fn open_tls(addr: SocketAddr, alpn: &[&[u8]]) -> RawConn {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter("tests/fixtures/jwt/tls/ca.pem").unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::IpAddress(addr.ip().into());
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .unwrap();
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        RawConn {
            stream: Box::new(tls),
            buf: Vec::new(),
            alpn,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Sends `request` and reads its answer (the method is the request line's first word).
    pub async fn exchange(&mut self, request: &str) -> RawResponse {
        self.send(request.as_bytes()).await;
        let method = request.split(' ').next().unwrap_or("GET");
        self.response(method).await
    }

    /// Bytes read but not taken by an answer yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads what the server wrote next (bounded by `PATIENCE`); `false` at the end of the
    /// connection.
    async fn more(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match soon(self.stream.read(&mut chunk)).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Reads until `pattern` is in the buffer; its offset. Fails when the connection ends first.
    pub async fn until(&mut self, pattern: &[u8]) -> usize {
        self.find(pattern)
            .await
            .unwrap_or_else(|| panic!("connection closed before {pattern:?}"))
    }

    async fn find(&mut self, pattern: &[u8]) -> Option<usize> {
        loop {
            if let Some(i) = self.buf.windows(pattern.len()).position(|w| w == pattern) {
                return Some(i);
            }
            if !self.more().await {
                return None;
            }
        }
    }

    /// Reads one answer to a request of `method`: the head, then the body by its framing
    /// (none after HEAD, 1xx, 204 and 304). Fails when the connection ends before the body.
    pub async fn response(&mut self, method: &str) -> RawResponse {
        let r = self.read_response(method).await;
        assert!(r.complete, "the body was cut short: {r:?}");
        r
    }

    /// As `response`, but an answer whose body the connection's end cuts short comes back
    /// with what arrived and `complete` false. The head must be whole.
    pub async fn read_response(&mut self, method: &str) -> RawResponse {
        let end = self.until(b"\r\n\r\n").await;
        let head = String::from_utf8_lossy(&self.buf[..end + 4]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = head.trim_end().split("\r\n");
        let mut status_line = lines.next().unwrap().splitn(3, ' ');
        let version = status_line.next().unwrap().to_string();
        let status: u16 = status_line.next().unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{l:?} in {head}"));
                (k.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let mut r = RawResponse {
            head,
            version,
            status,
            headers,
            body: Vec::new(),
            complete: true,
        };
        if method == "HEAD" || status == 204 || status == 304 || status < 200 {
            return r;
        }
        if let Some(n) = r.header("content-length") {
            let n: usize = n.parse().unwrap();
            while self.buf.len() < n {
                if !self.more().await {
                    r.body = std::mem::take(&mut self.buf);
                    r.complete = false;
                    return r;
                }
            }
            r.body = self.buf.drain(..n).collect();
        } else if r.header("transfer-encoding") == Some("chunked") {
            r.complete = self.chunks(&mut r.body).await;
        } else {
            while self.more().await {}
            r.body = std::mem::take(&mut self.buf);
        }
        r
    }

    /// Reads a chunked body into `body`; whether its last chunk came.
    async fn chunks(&mut self, body: &mut Vec<u8>) -> bool {
        loop {
            let Some(line_end) = self.find(b"\r\n").await else {
                return false;
            };
            let line: Vec<u8> = self.buf.drain(..line_end + 2).collect();
            let size =
                usize::from_str_radix(std::str::from_utf8(&line).unwrap().trim(), 16).unwrap();
            if size == 0 {
                if self.find(b"\r\n").await.is_none() {
                    return false;
                }
                self.buf.drain(..2);
                return true;
            }
            while self.buf.len() < size + 2 {
                if !self.more().await {
                    body.append(&mut self.buf);
                    return false;
                }
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    /// Whether the server closed the connection (its end, with nothing more to read).
    pub async fn closed(&mut self) -> bool {
        !self.more().await && self.buf.is_empty()
    }

    /// Everything the server writes until it closes the connection (what is buffered
    /// included), and whether it closed it within `limit`.
    pub async fn read_to_close(&mut self, limit: Duration) -> (Vec<u8>, bool) {
        let mut out = std::mem::take(&mut self.buf);
        let ended = tokio::time::timeout(limit, self.stream.read_to_end(&mut out))
            .await
            .is_ok();
        (out, ended)
    }

    /// Writes `bytes` while reading what comes back until the server closes the connection
    /// (both bounded by `PATIENCE`): for an answer that goes out before the request's body is
    /// all written. A write the server's close cuts short is not an error.
    pub async fn send_reading_to_close(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        let (mut rd, mut wr) = tokio::io::split(&mut self.stream);
        let write = async {
            let _ = wr.write_all(bytes).await;
            let _ = wr.flush().await;
        };
        let read = async {
            let _ = rd.read_to_end(&mut out).await;
        };
        soon(async { tokio::join!(write, read) }).await;
        out
    }
}

/// Writes `request` on a new connection and reads the answer to it (a request of
/// `method`): it must be `status` with `Connection: close`. The answer and the connection.
pub async fn closing_answer(
    addr: SocketAddr,
    request: &[u8],
    method: &str,
    status: u16,
) -> (RawResponse, RawConn) {
    let mut c = RawConn::open(addr).await;
    c.send(request).await;
    let r = c.response(method).await;
    let case = String::from_utf8_lossy(request);
    assert_eq!(r.status, status, "{case:?}");
    assert_eq!(r.header("connection"), Some("close"), "{case:?}");
    (r, c)
}

/// One request on a new connection, and its answer as `RawConn::exchange` reads it.
pub async fn raw_exchange(addr: SocketAddr, request: &str) -> RawResponse {
    RawConn::open(addr).await.exchange(request).await
}

/// Writes raw bytes on a new connection and returns whatever comes back until the server
/// closes the connection or `wait` passes without more data.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// The status code of a raw HTTP/1.1 answer.
pub fn raw_status(answer: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next()?;
    line.split(' ').nth(1)?.parse().ok()
}

/// How many lines of a head (a request's or an answer's) carry the field `name` (any case).
pub fn lines_named(head: &str, name: &str) -> usize {
    head.lines()
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case(name))
        })
        .count()
}

/// The `Content-Length` a head declares (0 without one).
pub fn declared_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// the backend side
// ---------------------------------------------------------------------------------------------

/// What a scripted backend does with the connection once an answer is written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AfterAnswer {
    /// Reads the next request.
    KeepOpen,
    /// Closes the connection.
    Close,
    /// Waits this long, ends its writing side, and reads until the client closes its end
    /// (what the client wrote meanwhile: `RawBackend::after_half_close`).
    HalfClose(Duration),
}

/// One answer of a `raw_backend`: bytes written as given, in pieces `gap` apart, then `after`.
#[derive(Clone, Debug)]
pub struct ScriptedAnswer {
    pub pieces: Vec<Vec<u8>>,
    pub gap: Duration,
    pub after: AfterAnswer,
}

impl ScriptedAnswer {
    /// `raw` in one write; the connection stays open.
    pub fn new(raw: &str) -> ScriptedAnswer {
        ScriptedAnswer::in_pieces(vec![raw.as_bytes().to_vec()])
    }

    /// `raw` in one write, then the connection closed.
    pub fn closing(raw: &str) -> ScriptedAnswer {
        ScriptedAnswer {
            after: AfterAnswer::Close,
            ..ScriptedAnswer::new(raw)
        }
    }

    /// These pieces written `gap` apart; the connection stays open.
    pub fn paced(pieces: &[&str], gap: Duration) -> ScriptedAnswer {
        ScriptedAnswer {
            gap,
            ..ScriptedAnswer::in_pieces(pieces.iter().map(|p| p.as_bytes().to_vec()).collect())
        }
    }

    /// These pieces written one right after the other; the connection stays open.
    pub fn in_pieces(pieces: Vec<Vec<u8>>) -> ScriptedAnswer {
        ScriptedAnswer {
            pieces,
            gap: Duration::ZERO,
            after: AfterAnswer::KeepOpen,
        }
    }

    /// The same answer, then `after`.
    pub fn then(self, after: AfterAnswer) -> ScriptedAnswer {
        ScriptedAnswer { after, ..self }
    }
}

/// A raw TCP backend on 127.0.0.1:0 that answers the n-th request it reads (on any
/// connection) with the n-th script entry (the last one repeats), and records the requests.
pub struct RawBackend {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    requests: Log<String>,
    closed: Arc<Notify>,
    after_half_close: Log<Vec<u8>>,
    server: TcpServer,
}

impl RawBackend {
    /// Every request read so far: its head and body as they came (a chunked body with its
    /// framing).
    pub fn requests(&self) -> Vec<String> {
        self.requests.all()
    }

    pub fn count(&self) -> usize {
        self.requests.len()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Waits (bounded by `PATIENCE`) until one more connection has ended, the backend's
    /// close or the client's.
    pub async fn wait_closed(&self) {
        soon(self.closed.notified()).await;
    }

    /// What clients wrote after a `HalfClose`, one entry per such connection.
    pub fn after_half_close(&self) -> Vec<Vec<u8>> {
        self.after_half_close.all()
    }
}

/// Starts a raw backend answering by `script` (see `RawBackend`).
pub async fn raw_backend(script: Vec<ScriptedAnswer>) -> RawBackend {
    assert!(!script.is_empty(), "a script needs an answer");
    let requests = Log::new();
    let closed = Arc::new(Notify::new());
    let after_half_close = Log::new();
    let served = Arc::new(AtomicUsize::new(0));
    let script = Arc::new(script);
    let (reqs, ended, half) = (requests.clone(), closed.clone(), after_half_close.clone());
    let server = tcp_server(move |stream| {
        let conn = ScriptedConn {
            stream,
            requests: reqs.clone(),
            served: served.clone(),
            script: script.clone(),
            after_half_close: half.clone(),
        };
        let closed = ended.clone();
        async move {
            conn.serve().await;
            closed.notify_one();
        }
    })
    .await;
    RawBackend {
        url: server.url.clone(),
        requests,
        closed,
        after_half_close,
        server,
    }
}

/// One connection of a `raw_backend`.
struct ScriptedConn {
    stream: TcpStream,
    requests: Log<String>,
    served: Arc<AtomicUsize>,
    script: Arc<Vec<ScriptedAnswer>>,
    after_half_close: Log<Vec<u8>>,
}

impl ScriptedConn {
    /// Reads into `buf` until `done` says how much of it makes what is awaited; `None` at the
    /// end of the connection.
    async fn read_until(
        &mut self,
        buf: &mut Vec<u8>,
        done: impl Fn(&[u8]) -> Option<usize>,
    ) -> Option<usize> {
        loop {
            if let Some(n) = done(buf) {
                return Some(n);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn serve(mut self) {
        let mut buf = Vec::new();
        loop {
            // one request: the head, then a Content-Length or chunked body when there is one
            let Some(head_end) = self
                .read_until(&mut buf, |b| {
                    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
                })
                .await
            else {
                return;
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let chunked = head
                .to_ascii_lowercase()
                .contains("\r\ntransfer-encoding: chunked\r\n");
            let length = if chunked {
                let last = |b: &[u8]| {
                    b[head_end..]
                        .windows(5)
                        .position(|w| w == b"0\r\n\r\n")
                        .map(|i| i + 5)
                };
                match self.read_until(&mut buf, last).await {
                    Some(n) => n,
                    None => return,
                }
            } else {
                declared_length(&head)
            };
            let whole = |b: &[u8]| (b.len() >= head_end + length).then_some(0);
            if self.read_until(&mut buf, whole).await.is_none() {
                return;
            }
            let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
            buf.drain(..head_end + length);
            self.requests.push(head + &body);
            let n = self.served.fetch_add(1, Ordering::SeqCst);
            let answer = self.script[n.min(self.script.len() - 1)].clone();
            for (i, piece) in answer.pieces.iter().enumerate() {
                if i > 0 && !answer.gap.is_zero() {
                    tokio::time::sleep(answer.gap).await;
                }
                if self.stream.write_all(piece).await.is_err() {
                    return;
                }
                let _ = self.stream.flush().await;
                tokio::task::yield_now().await;
            }
            match answer.after {
                AfterAnswer::KeepOpen => {}
                AfterAnswer::Close => {
                    let _ = self.stream.shutdown().await;
                    return;
                }
                AfterAnswer::HalfClose(wait) => {
                    tokio::time::sleep(wait).await;
                    let _ = self.stream.shutdown().await;
                    let _ = self.stream.read_to_end(&mut buf).await;
                    self.after_half_close.push(buf);
                    return;
                }
            }
        }
    }
}
