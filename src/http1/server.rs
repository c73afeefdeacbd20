//! The HTTP/1.1 server for plain connections. One task per connection reads a request head,
//! runs the gateway on it in place and writes the response, with no dispatcher, channel or
//! extra task in between; requests on a keep-alive connection are served one after another
//! (pipelined ones from the read-ahead buffer).
//!
//! As Go's `net/http` server does: `Connection: close` and HTTP/1.0 without keep-alive close
//! after the response; a client that goes away while its request is served cancels it; a body
//! the handler left unread is drained (up to 256 KiB) so the connection can be reused; a bad
//! head gets 400 (431 when too large, 505 for an unknown version, 501 for a transfer coding
//! other than `chunked`) and the connection closes; `Expect: 100-continue` is answered before
//! the body is read.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice, Write as _};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{
    connection_tokens, content_length, field_line, first_line, is_chunked, valid_host, Decoder,
    Line, ReadSide, Step, WriteSide, TOKEN,
};
use crate::vocab::body::{empty_body, full_body, Body, BoxError};
use crate::vocab::percent::valid_escapes;

const READ_CHUNK: usize = 8 * 1024;
/// A response body up to this size goes out in the same buffer as its head (one write); a
/// larger one is written beside it (one vectored write).
const COPY_BODY: usize = 4 * 1024;
/// An unread request body is drained up to this much to keep the connection (Go's
/// `maxPostHandlerReadBytes`).
const DRAIN_LIMIT: u64 = 256 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// After an error answer, how long the input is read and discarded before the socket closes,
/// so that unread input does not turn the close into a reset that loses the answer.
const LINGER: Duration = Duration::from_millis(500);

/// What a connection serves its requests with: the gateway, which implements it above this
/// module (`server/`), so that the connection loop knows nothing of routes and endpoints.
/// The loop is generic over it: the request's future is the gateway's own, polled in place
/// beside the read side, with no box or dynamic call around it.
pub trait Dispatch: Send + Sync + 'static {
    /// What the gateway keeps of a connection's client (its address, also as text): made
    /// once per connection, lent to each of its requests.
    type Peer: Send + Sync;

    fn peer(&self, remote: SocketAddr) -> Self::Peer;

    /// Serves one request. A bare `no-op` answer may carry its backend's header lines as
    /// they came ([`RawFields`](super::RawFields) in its extensions) beside its map; the loop
    /// writes both.
    fn dispatch<'a>(
        &'a self,
        req: Request<Body>,
        peer: &'a Self::Peer,
    ) -> impl Future<Output = Response<Body>> + Send + 'a;
}

/// Connection settings, from the service config.
pub struct Settings {
    pub keep_alive: bool,
    /// A request head that has not ended within this many bytes gets 431.
    pub max_head: usize,
    /// A request head with more header fields than this gets 431.
    pub max_fields: usize,
    /// From the first byte of a head (the connection's start for the first one) to its end.
    pub header_timeout: Option<Duration>,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Option<Duration>,
    /// From the end of a request head to the end of its answer's last write (Go's
    /// `WriteTimeout`): an answer ready after it is not sent, one still being written when it
    /// passes is cut off, and the connection closes.
    pub write_timeout: Option<Duration>,
}

/// The server's stop signal. Each connection registers its task's waker once; between
/// requests it only reads the flag, and `begin` wakes every registered connection.
#[derive(Default)]
pub struct Shutdown {
    stopping: AtomicBool,
    conns: Mutex<Registry>,
    drained: tokio::sync::Notify,
}

#[derive(Default)]
struct Registry {
    next: u64,
    wakers: HashMap<u64, Waker>,
}

impl Shutdown {
    /// Idle connections close now; busy ones after their response.
    pub fn begin(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for w in conns.wakers.values() {
            w.wake_by_ref();
        }
    }

    /// Resolves when every connection has ended.
    pub async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn live(&self) -> usize {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.wakers.len()
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Registers a connection's waker until the returned guard is dropped.
    fn register(&self, waker: &Waker) -> Registered<'_> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.next += 1;
        let id = conns.next;
        conns.wakers.insert(id, waker.clone());
        Registered { shutdown: self, id }
    }
}

/// A connection's place in the registry, given up when the connection ends.
struct Registered<'a> {
    shutdown: &'a Shutdown,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut conns = self
            .shutdown
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        conns.wakers.remove(&self.id);
        if conns.wakers.is_empty() {
            self.shutdown.drained.notify_waiters();
        }
    }
}

/// The read side of a connection: the socket's read half and what was read ahead of use.
struct Reader {
    rd: ReadSide,
    buf: BytesMut,
}

impl Reader {
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        super::make_room(&mut self.buf, READ_CHUNK);
        pin!(self.rd.read_buf(&mut self.buf)).poll(cx)
    }

    async fn fill(&mut self) -> io::Result<usize> {
        poll_fn(|cx| self.poll_fill(cx)).await
    }
}

/// Where a streamed request body hands the read side back when it is dropped.
type Slot = Arc<Mutex<Option<Handback>>>;

/// What a streamed request body hands back.
enum Handback {
    /// The read side, with where the body's framing stands.
    Open(Reader, Decoder),
    /// The read side of a body whose framing was broken (a bad chunk size, a bare LF): the
    /// client gets 400 and the connection closes, whatever the handler answered.
    Malformed(Reader),
}

/// A request body still arriving on the connection.
struct RequestBody {
    reader: Option<Reader>,
    decoder: Decoder,
    malformed: bool,
    slot: Slot,
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(if self.malformed {
                Handback::Malformed(reader)
            } else {
                Handback::Open(reader, self.decoder)
            });
        }
    }
}

impl hyper::body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            let Some(reader) = this.reader.as_mut().filter(|_| !this.malformed) else {
                return Poll::Ready(None);
            };
            match this.decoder.step(&mut reader.buf) {
                Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Step::End) => return Poll::Ready(None),
                Ok(Step::More) => {}
                Err(e) => {
                    // a broken body leaves the connection unusable: its answer is a 400
                    this.malformed = true;
                    this.decoder = Decoder::Done;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match ready!(reader.poll_fill(cx)) {
                Ok(0) => {
                    this.reader = None;
                    if let Err(e) = this.decoder.at_eof() {
                        return Poll::Ready(Some(Err(e)));
                    }
                    return Poll::Ready(None);
                }
                Ok(_) => {}
                Err(e) => {
                    this.reader = None;
                    this.decoder = Decoder::Done;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder.size_hint()
    }
}

/// A complete request head, as positions in the read buffer.
pub(crate) struct Parsed {
    pub(crate) len: usize,
    pub(crate) method: (usize, usize),
    pub(crate) target: (usize, usize),
    pub(crate) http10: bool,
}

/// (name start, name end, value start, value end)
pub(crate) type Field = (usize, usize, usize, usize);

/// Why no request came out of the connection.
pub(crate) enum HeadError {
    /// Close without an answer (the client left, or took too long).
    Close,
    /// Answer with this status, then close.
    Reply(StatusCode, &'static str),
}

fn bad(detail: &'static str) -> HeadError {
    HeadError::Reply(StatusCode::BAD_REQUEST, detail)
}

/// Reads a request head from the start of `buf`: `Ok(None)` while it is incomplete. Lines
/// may end in `\n` alone and empty lines before the request line are skipped; a space before
/// a field's colon, a folded line or a name that is not a token is refused, as Go refuses
/// them, and so is a head of more than `max_fields` fields (431). Values are checked when the
/// request is built. Input that cannot start a request line (a TLS handshake on the plain
/// port, a method that is not a token) is refused as soon as it arrives, not after the header
/// timeout.
pub(crate) fn parse(
    buf: &[u8],
    fields: &mut Vec<Field>,
    max_fields: usize,
) -> Result<Option<Parsed>, HeadError> {
    let Some((start, line, mut at)) = first_line(buf) else {
        if !could_start_request(buf) {
            return Err(bad("malformed HTTP request"));
        }
        return Ok(None);
    };
    // METHOD SP target SP HTTP/1.x
    let method_len = line
        .iter()
        .position(|b| !TOKEN[usize::from(*b)])
        .unwrap_or(line.len());
    if method_len == 0 || line.get(method_len) != Some(&b' ') {
        return Err(bad("malformed HTTP request"));
    }
    let target_start = method_len + 1;
    let target_len = line[target_start..]
        .iter()
        .position(|b| *b <= b' ' || *b == 0x7f)
        .unwrap_or(line.len() - target_start);
    let target_end = target_start + target_len;
    if target_len == 0 || line.get(target_end) != Some(&b' ') {
        return Err(bad("malformed HTTP request"));
    }
    let http10 = match &line[target_end + 1..] {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => {
            return Err(HeadError::Reply(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "unsupported protocol version",
            ))
        }
    };
    let mut parsed = Parsed {
        len: 0,
        method: (start, start + method_len),
        target: (start + target_start, start + target_end),
        http10,
    };
    fields.clear();
    loop {
        match field_line(buf, at) {
            None => return Ok(None),
            Some(Line::End { next }) => {
                parsed.len = next;
                return Ok(Some(parsed));
            }
            // a request gets no leniency: no space before the colon, no folded line
            Some(Line::Field {
                name_end,
                value: (vs, ve),
                next,
                spaced: false,
                ..
            }) => {
                if fields.len() == max_fields {
                    return Err(HeadError::Reply(
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "",
                    ));
                }
                fields.push((at, name_end, vs, ve));
                at = next;
            }
            Some(Line::Field { .. } | Line::Folded { .. } | Line::Malformed) => {
                return Err(bad("malformed MIME header line"))
            }
        }
    }
}

/// Whether the bytes of an incomplete first line can still become a request line: empty
/// lines, then a method (token bytes), then a space.
fn could_start_request(buf: &[u8]) -> bool {
    let rest = match super::empty_lines(buf) {
        Some(start) if start < buf.len() => &buf[start..],
        _ => return true,
    };
    match rest.iter().position(|b| !TOKEN[usize::from(*b)]) {
        None => true,
        Some(end) => end > 0 && rest[end] == b' ',
    }
}

/// What the head says of the connection and the body.
pub(crate) struct Meta {
    /// The method is `HEAD`: the answer has no body.
    pub(crate) head: bool,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    pub(crate) body: Option<Decoder>,
}

pub(crate) fn build(
    head: &Bytes,
    p: &Parsed,
    fields: &[Field],
) -> Result<(Request<()>, Meta), HeadError> {
    let method =
        Method::from_bytes(&head[p.method.0..p.method.1]).map_err(|_| bad("invalid method"))?;
    let target = head.slice(p.target.0..p.target.1);
    // no request-target form holds a fragment (RFC 9112 §3.2): what follows a `#` would be
    // cut off unseen, and route somewhere else than the client wrote
    if target.contains(&b'#') {
        return Err(bad("malformed request URI"));
    }
    // the usual origin form (`/path?query`) skips the full URI grammar
    let uri = if target.starts_with(b"/") {
        PathAndQuery::from_maybe_shared(target)
            .map(Uri::from)
            .map_err(|_| bad("malformed request URI"))?
    } else {
        Uri::from_maybe_shared(target).map_err(|_| bad("malformed request URI"))?
    };
    let mut headers = super::header_map(fields.len());
    let mut meta = Meta {
        head: method == Method::HEAD,
        keep_alive: !p.http10,
        expect_continue: false,
        body: None,
    };
    let mut length: Option<u64> = None;
    // the `Transfer-Encoding` fields, and whether each is `chunked` alone
    let mut codings = 0;
    let mut chunked = true;
    let mut hosts = 0;
    for &(ns, ne, vs, ve) in fields {
        let name =
            HeaderName::from_bytes(&head[ns..ne]).map_err(|_| bad("malformed MIME header line"))?;
        let raw = &head[vs..ve];
        if name == header::HOST {
            hosts += 1;
            if !valid_host(raw) {
                return Err(bad("malformed Host header"));
            }
        } else if name == header::CONNECTION {
            let (close, keep_alive) = connection_tokens(raw);
            if close {
                meta.keep_alive = false;
            } else if keep_alive && p.http10 {
                meta.keep_alive = true;
            }
        } else if name == header::CONTENT_LENGTH {
            let n = content_length(raw).ok_or(bad("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("multiple Content-Length headers"));
            }
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            codings += 1;
            chunked &= is_chunked(raw);
        } else if name == header::EXPECT && raw.eq_ignore_ascii_case(b"100-continue") {
            meta.expect_continue = !p.http10;
        }
        let value = HeaderValue::from_maybe_shared(head.slice(vs..ve))
            .map_err(|_| bad("malformed MIME header line"))?;
        headers.append(name, value);
    }
    // an HTTP/1.1 request names its host once (RFC 9112 §3.2), as Go's server requires
    if hosts > 1 {
        return Err(bad("too many Host headers"));
    }
    if hosts == 0 && !p.http10 && method != Method::CONNECT {
        return Err(bad("missing required Host header"));
    }
    // the path's escapes, as Go's `url.ParseRequestURI` checks them
    if !valid_escapes(uri.path().as_bytes()) {
        return Err(HeadError::Reply(StatusCode::BAD_REQUEST, ""));
    }
    if codings > 0 {
        // RFC 9112 §6.1: an HTTP/1.0 message with a transfer coding has faulty framing
        if p.http10 {
            return Err(bad("transfer encoding in an HTTP/1.0 request"));
        }
        // the only coding applied here is `chunked`, alone and once (as Go's server)
        if codings > 1 || !chunked {
            return Err(HeadError::Reply(
                StatusCode::NOT_IMPLEMENTED,
                "unsupported transfer encoding",
            ));
        }
        if length.is_some() {
            // RFC 9112 §6.1: the coding frames the body, the length is dropped, and the
            // connection closes after the answer (what follows the body is never a request)
            headers.remove(header::CONTENT_LENGTH);
            meta.keep_alive = false;
        }
        meta.body = Some(Decoder::chunked());
    } else {
        meta.body = length.filter(|n| *n > 0).map(Decoder::Length);
    }
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = if p.http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    *req.headers_mut() = headers;
    Ok((req, meta))
}

thread_local! {
    static FIELD_TABLE: std::cell::RefCell<Vec<Field>> = std::cell::RefCell::new(Vec::with_capacity(16));
}

/// Runs `f` on this thread's table of request fields. A head is parsed (`read_head`) and its
/// request built (`build`) with no wait between, so one table per thread serves every
/// connection, and the one table is the one in the cache (one per connection is cold again by
/// its next request).
fn with_field_table<T>(f: impl FnOnce(&mut Vec<Field>) -> T) -> T {
    FIELD_TABLE.with(|table| f(&mut table.borrow_mut()))
}

/// Serves one accepted connection until it closes.
pub async fn serve_connection<D: Dispatch>(
    gw: Arc<D>,
    (rd, mut wr): (ReadSide, WriteSide),
    remote: SocketAddr,
    settings: Arc<Settings>,
    shutdown: Arc<Shutdown>,
) {
    // the task's waker stays the same for its whole life: registered once
    let _registered = poll_fn(|cx| Poll::Ready(shutdown.register(cx.waker()))).await;
    let peer = gw.peer(remote);
    let mut reader = Some(Reader {
        rd,
        buf: BytesMut::with_capacity(READ_CHUNK),
    });
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut slot: Option<Slot> = None;
    let mut first = true;
    loop {
        let Some(mut r) = reader.take() else { return };
        let parsed = match read_head(&mut r, &settings, &shutdown, first).await {
            Ok(Some(p)) => p,
            Ok(None) | Err(HeadError::Close) => return,
            Err(HeadError::Reply(status, detail)) => {
                return reject(r, wr, status, detail).await;
            }
        };
        first = false;
        let write_by = settings.write_timeout.map(|t| Instant::now() + t);
        let head = r.buf.split_to(parsed.len).freeze();
        // the fields `read_head` left in the thread's table: no wait since
        let (req, meta) = match with_field_table(|fields| build(&head, &parsed, fields)) {
            Ok(b) => b,
            Err(HeadError::Reply(status, detail)) => return reject(r, wr, status, detail).await,
            Err(HeadError::Close) => return,
        };
        drop(head);
        // the request is not borrowed here: a local once borrowed is kept in the
        // connection's future through every later wait
        let head_request = meta.head;
        let http10 = parsed.http10;
        let mut keep_alive = meta.keep_alive && settings.keep_alive;
        let body = match meta.body {
            None => {
                reader = Some(r);
                empty_body()
            }
            Some(Decoder::Length(n)) if r.buf.len() as u64 >= n => {
                let body = full_body(r.buf.split_to(n as usize).freeze());
                reader = Some(r);
                body
            }
            Some(decoder) => {
                if meta.expect_continue
                    && super::write_all(&mut wr, b"HTTP/1.1 100 Continue\r\n\r\n")
                        .await
                        .is_err()
                {
                    return;
                }
                let slot = slot.get_or_insert_with(Slot::default).clone();
                BodyExt::boxed(RequestBody {
                    reader: Some(r),
                    decoder,
                    malformed: false,
                    slot,
                })
            }
        };
        let req = req.map(|()| body);
        let Some(resp) = run(&*gw, req, &peer, reader.as_mut(), settings.max_head).await else {
            // the client went away: its request was dropped with whatever it was waiting for
            return;
        };
        // a streamed body hands the read side back once nothing holds it any more
        let mut unread = None;
        if reader.is_none() {
            let back = slot
                .as_ref()
                .and_then(|s| s.lock().unwrap_or_else(|p| p.into_inner()).take());
            match back {
                Some(Handback::Open(r, decoder)) => {
                    unread = Some(decoder).filter(|d| !d.is_done());
                    reader = Some(r);
                }
                Some(Handback::Malformed(r)) => {
                    drop(resp);
                    return reject(r, wr, StatusCode::BAD_REQUEST, "malformed chunked encoding")
                        .await;
                }
                None => keep_alive = false,
            }
        }
        if shutdown.stopping() {
            keep_alive = false;
        }
        if unread.is_some_and(|d| d.exact_remaining().is_some_and(|n| n > DRAIN_LIMIT)) {
            // too much left to read away: the answer says the connection closes (as Go's)
            keep_alive = false;
        }
        keep_alive = match write_by {
            None => respond(&mut wr, &mut out, resp, head_request, http10, keep_alive).await,
            Some(at) if Instant::now() < at => {
                let answer = respond(&mut wr, &mut out, resp, head_request, http10, keep_alive);
                match tokio::time::timeout_at(at, answer).await {
                    Ok(keep_alive) => keep_alive,
                    Err(_) => return,
                }
            }
            Some(_) => return,
        };
        if let (Some(decoder), Some(r)) = (unread, reader.as_mut()) {
            // the client may still be sending the body: read it away, or close without
            // turning its unread bytes into a reset that loses the response
            if !(keep_alive && drain(r, decoder).await) {
                if let Some(r) = reader.take() {
                    linger(r, wr).await;
                }
                return;
            }
        }
        if !keep_alive {
            return;
        }
    }
}

/// Runs the gateway on one request. While it runs, the connection is watched: a client that
/// closes it (or breaks it) cancels the request (`None`); bytes it sends meanwhile (a
/// pipelined request) wait in the buffer.
fn run<'a, D: Dispatch>(
    gw: &'a D,
    req: Request<Body>,
    peer: &'a D::Peer,
    reader: Option<&'a mut Reader>,
    max_buffered: usize,
) -> Watched<'a, impl Future<Output = Response<Body>> + Send + 'a> {
    Watched {
        handler: gw.dispatch(req, peer),
        reader,
        max_buffered,
    }
}

pin_project_lite::pin_project! {
    /// A request's handler polled in place beside its connection's read side: no copy of the
    /// handler's future into another one around it (a request future's size is what each
    /// request writes).
    struct Watched<'a, F> {
        #[pin]
        handler: F,
        reader: Option<&'a mut Reader>,
        max_buffered: usize,
    }
}

impl<F: Future<Output = Response<Body>>> Future for Watched<'_, F> {
    type Output = Option<Response<Body>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(resp) = this.handler.poll(cx) {
            return Poll::Ready(Some(resp));
        }
        while let Some(r) = this.reader.as_deref_mut() {
            if r.buf.len() > *this.max_buffered {
                break;
            }
            match r.poll_fill(cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => break,
            }
        }
        Poll::Pending
    }
}

/// Reads until a request head is complete. `None`: the connection ended (or the server is
/// stopping, or the idle timeout passed) between requests.
async fn read_head(
    r: &mut Reader,
    settings: &Settings,
    shutdown: &Shutdown,
    first: bool,
) -> Result<Option<Parsed>, HeadError> {
    let mut deadline = None;
    loop {
        if !r.buf.is_empty() {
            if let Some(p) = with_field_table(|fields| parse(&r.buf, fields, settings.max_fields))?
            {
                return Ok(Some(p));
            }
            if r.buf.len() > settings.max_head {
                return Err(HeadError::Reply(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "",
                ));
            }
        }
        let read = if r.buf.is_empty() && !first {
            // between requests: the next one, the stop signal or the idle timeout
            match idle_wait(r, settings.idle_timeout, shutdown).await {
                Some(read) => read,
                None => return Ok(None),
            }
        } else {
            let limit = settings
                .header_timeout
                .map(|t| *deadline.get_or_insert_with(|| Instant::now() + t));
            match limit {
                Some(at) => match tokio::time::timeout_at(at, r.fill()).await {
                    Ok(read) => read,
                    Err(_) => return Err(HeadError::Close),
                },
                None => r.fill().await,
            }
        };
        match read {
            Ok(0) if r.buf.is_empty() => return Ok(None),
            Ok(0) | Err(_) => return Err(HeadError::Close),
            Ok(_) => {}
        }
    }
}

/// Waits for the first bytes of the next request; `None` when the server stops or the idle
/// timeout passes first.
async fn idle_wait(
    r: &mut Reader,
    idle_timeout: Option<Duration>,
    shutdown: &Shutdown,
) -> Option<io::Result<usize>> {
    let mut idle = pin!(async move {
        match idle_timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    });
    poll_fn(|cx| {
        if let Poll::Ready(read) = r.poll_fill(cx) {
            return Poll::Ready(Some(read));
        }
        if shutdown.stopping() || idle.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Reads and discards the rest of a body the handler left unread; `false` when it is too long
/// (or too slow) to keep the connection.
async fn drain(r: &mut Reader, mut decoder: Decoder) -> bool {
    let mut left = DRAIN_LIMIT;
    let draining = async {
        loop {
            match decoder.step(&mut r.buf) {
                Ok(Step::Data(d)) => match left.checked_sub(d.len() as u64) {
                    Some(l) => left = l,
                    None => return false,
                },
                Ok(Step::End) => return true,
                Ok(Step::More) => {
                    if !matches!(r.fill().await, Ok(n) if n > 0) {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(DRAIN_TIME, draining)
        .await
        .unwrap_or(false)
}

/// Answers a request that cannot be served, as Go's server does, then closes.
async fn reject(r: Reader, mut wr: WriteSide, status: StatusCode, detail: &str) {
    let reason = status.canonical_reason().unwrap_or("");
    let text = if detail.is_empty() {
        format!("{} {reason}", status.as_u16())
    } else {
        format!("{} {reason}: {detail}", status.as_u16())
    };
    let answer = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}",
        status.as_u16()
    );
    if super::write_all(&mut wr, answer.as_bytes()).await.is_ok() {
        linger(r, wr).await;
    }
}

/// Closes a connection the client may still be writing to: the write side first, then the
/// input read and discarded for a moment, so the answer is not lost to a reset.
async fn linger(mut r: Reader, mut wr: WriteSide) {
    let _ = wr.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        loop {
            r.buf.clear();
            if !matches!(r.fill().await, Ok(n) if n > 0) {
                break;
            }
        }
    })
    .await;
}

/// How the response body is delimited.
#[derive(Clone, Copy, PartialEq)]
enum Out {
    None,
    Length(u64),
    Chunked,
    Eof,
}

/// Writes one response; `true` when the connection stays open for the next request.
async fn respond(
    wr: &mut WriteSide,
    out: &mut Vec<u8>,
    resp: Response<Body>,
    head_request: bool,
    http10: bool,
    mut keep_alive: bool,
) -> bool {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let headers = &parts.headers;
    out.clear();
    out.extend_from_slice(if http10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    match status.canonical_reason() {
        Some(reason) => out.extend_from_slice(reason.as_bytes()),
        None => {
            out.extend_from_slice(b"status code ");
            out.extend_from_slice(status.as_str().as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    let mut declared = None;
    let mut has_date = false;
    if let Some(raw) = parts.extensions.get::<super::RawFields>() {
        // a `no-op` answer's lines, as the backend wrote them
        for run in raw.runs() {
            out.extend_from_slice(run);
        }
        declared = raw.content_length;
        has_date = raw.has_date;
    }
    for (name, value) in headers {
        if *name == header::CONTENT_LENGTH {
            // the body's own length wins; this one stands for bodiless answers
            declared = content_length(value.as_bytes());
            continue;
        }
        if *name == header::TRANSFER_ENCODING {
            continue;
        }
        if *name == header::CONNECTION {
            keep_alive &= !connection_tokens(value.as_bytes()).0;
            continue;
        }
        has_date |= *name == header::DATE;
        // Go writes the keys of its header map, which are canonical
        super::push_canonical(out, name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"Date: ");
        push_date(out);
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if bodiless {
        Out::None
    } else if let Some(n) = body.size_hint().exact() {
        Out::Length(n)
    } else if let Some(n) = declared {
        Out::Length(n)
    } else if http10 && !head_request {
        keep_alive = false;
        Out::Eof
    } else {
        Out::Chunked
    };
    let announce = match framing {
        // a HEAD answer announces what the GET would carry
        Out::Length(0) if head_request => declared,
        Out::Length(n) => Some(n),
        Out::None if status == StatusCode::NOT_MODIFIED => declared,
        _ => None,
    };
    if let Some(n) = announce {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    } else if framing == Out::Chunked && !head_request {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    // the head is written out: the maps' storage serves the next request
    super::recycle(parts.headers);
    super::recycle_extensions(parts.extensions);
    if head_request || framing == Out::None {
        return super::write_all(wr, out).await.is_ok() && keep_alive;
    }
    let chunked = framing == Out::Chunked;
    let mut sent = 0u64;
    // `out` holds the head until the first piece of the body goes out with it
    let mut head_pending = true;
    let mut terminated = false;
    let mut broken = false;
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(d) if !d.is_empty() => d,
                _ => continue,
            },
            Err(e) => {
                tracing::debug!("response body failed: {e}");
                broken = true;
                break;
            }
        };
        let data = match framing {
            Out::Length(n) if data.len() as u64 > n - sent => {
                // more than announced: the rest is cut and the connection closed
                broken = true;
                data.slice(..(n - sent) as usize)
            }
            _ => data,
        };
        sent += data.len() as u64;
        if !head_pending {
            out.clear();
        }
        if chunked {
            let _ = write!(out, "{:x}\r\n", data.len());
        }
        let last = chunked && !broken && body.is_end_stream();
        let tail: &[u8] = match (chunked, last) {
            (true, true) => b"\r\n0\r\n\r\n",
            (true, false) => b"\r\n",
            _ => b"",
        };
        let written = if data.len() <= COPY_BODY {
            out.extend_from_slice(&data);
            out.extend_from_slice(tail);
            super::write_all(wr, out).await
        } else {
            write_all_vectored(wr, &[out, &data, tail]).await
        };
        head_pending = false;
        terminated = last;
        if written.is_err() {
            return false;
        }
        if broken {
            break;
        }
    }
    if !head_pending {
        out.clear();
    }
    let complete = !broken && !matches!(framing, Out::Length(n) if n != sent);
    if complete && chunked && !terminated {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    if !out.is_empty() && super::write_all(wr, out).await.is_err() {
        return false;
    }
    complete && keep_alive
}

/// Writes a number in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes every slice, as few system calls as the socket allows.
async fn write_all_vectored(wr: &mut WriteSide, parts: &[&[u8]]) -> io::Result<()> {
    let mut skip = 0usize;
    let total: usize = parts.iter().map(|p| p.len()).sum();
    while skip < total {
        let mut left = skip;
        let mut slices = Vec::with_capacity(parts.len());
        for p in parts {
            if left >= p.len() {
                left -= p.len();
                continue;
            }
            slices.push(IoSlice::new(&p[left..]));
            left = 0;
        }
        let n = wr.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        skip += n;
    }
    super::socket::flushed(wr).await
}

thread_local! {
    static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
}

/// The current time as an HTTP date, formatted once a second per thread.
fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs || d.1.is_empty() {
            *d = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(d.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parsed head and its fields, or the status and reason of a refusal.
    type Outcome = Result<Option<(Parsed, Vec<Field>)>, (u16, &'static str)>;

    fn parsed(raw: &[u8]) -> Outcome {
        let mut fields = Vec::new();
        match parse(raw, &mut fields, 100) {
            Ok(Some(p)) => Ok(Some((p, fields))),
            Ok(None) => Ok(None),
            Err(HeadError::Reply(status, why)) => Err((status.as_u16(), why)),
            Err(HeadError::Close) => Err((0, "close")),
        }
    }

    #[test]
    fn request_heads_parse() {
        let raw = b"\r\nGET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A:  1 \r\nX-Empty:\r\n\r\nbody";
        let (p, fields) = parsed(raw).unwrap().unwrap();
        assert_eq!(p.len, raw.len() - 4);
        assert_eq!(&raw[p.method.0..p.method.1], b"GET");
        assert_eq!(&raw[p.target.0..p.target.1], b"/a?b=1");
        assert!(!p.http10);
        let text: Vec<(&[u8], &[u8])> = fields
            .iter()
            .map(|&(ns, ne, vs, ve)| (&raw[ns..ne], &raw[vs..ve]))
            .collect();
        assert_eq!(
            text,
            vec![(&b"Host"[..], &b"x"[..]), (b"X-A", b"1"), (b"X-Empty", b""),]
        );
        // bare line feeds, HTTP/1.0
        let (p, fields) = parsed(b"POST * HTTP/1.0\nA: b\n\n").unwrap().unwrap();
        assert!(p.http10);
        assert_eq!(fields.len(), 1);
    }

    #[test]
    fn incomplete_request_heads_wait() {
        for partial in [
            &b""[..],
            b"GET /a HTTP/1.1",
            b"GET /a HTTP/1.1\r\n",
            b"GET /a HTTP/1.1\r\nHost: x",
            b"GET /a HTTP/1.1\r\nHost: x\r\n",
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r",
            b"GET /a HTTP/1.1\r\nHo",
        ] {
            assert!(parsed(partial).unwrap().is_none(), "{partial:?}");
        }
    }

    #[test]
    fn malformed_request_heads_are_refused() {
        let line = "malformed HTTP request";
        let field = "malformed MIME header line";
        for (raw, want) in [
            (&b"GET  /a HTTP/1.1\r\n\r\n"[..], (400, line)),
            (b"G\x01T /a HTTP/1.1\r\n\r\n", (400, line)),
            (b" GET /a HTTP/1.1\r\n\r\n", (400, line)),
            (b"GET /a\x7f HTTP/1.1\r\n\r\n", (400, line)),
            (b"GET /a\r\n\r\n", (400, line)),
            (
                b"GET /a HTTP/2.0\r\n\r\n",
                (505, "unsupported protocol version"),
            ),
            (
                b"GET /a HTTP/1.1 \r\n\r\n",
                (505, "unsupported protocol version"),
            ),
            (b"GET /a HTTP/1.1\r\nHost : x\r\n\r\n", (400, field)),
            (b"GET /a HTTP/1.1\r\nHost x\r\n\r\n", (400, field)),
            (b"GET /a HTTP/1.1\r\n: x\r\n\r\n", (400, field)),
            (b"GET /a HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", (400, field)),
            (b"GET /a HTTP/1.1\r\nHo\x01st: x\r\n\r\n", (400, field)),
            (b"GET /a HTTP/1.1\r\nHost\r\n\r\n", (400, field)),
        ] {
            assert_eq!(parsed(raw).map(|_| ()).unwrap_err(), want, "{raw:?}");
        }
    }
}
