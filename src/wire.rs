//! HTTP/1.1 body framing (RFC 9112), shared by the backend client (`backend::h1`) and the
//! server (`server::h1`): a decoder that takes a body's pieces out of a read buffer, whatever
//! its framing, and asks for more input when the buffer runs dry. Also the header-map pool both
//! sides draw their maps from.

use std::io;

use bytes::{Bytes, BytesMut};
use hyper::body::SizeHint;

use crate::vocab::body::BoxError;

/// A socket a whole buffer can be written to without a future while it has room.
pub trait Socket: tokio::io::AsyncWrite + Unpin {
    /// One non-blocking write (`WouldBlock` when the socket is full).
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

impl Socket for tokio::net::TcpStream {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        tokio::net::TcpStream::try_write(self, buf)
    }
}

impl Socket for tokio::net::tcp::OwnedWriteHalf {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        tokio::net::tcp::OwnedWriteHalf::try_write(self, buf)
    }
}

/// Writes all of `buf`: in one non-blocking write when the socket takes it (the usual case,
/// with no write future polled), the rest through `write_all`.
pub async fn write_all<S: Socket>(socket: &mut S, buf: &[u8]) -> io::Result<()> {
    let written = match socket.try_write(buf) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if written < buf.len() {
        tokio::io::AsyncWriteExt::write_all(socket, &buf[written..]).await?;
    }
    Ok(())
}

/// Chunk-size and trailer lines longer than this are refused.
const MAX_LINE: usize = 4096;

/// Where a body decoder stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoder {
    /// This many bytes are still to come.
    Length(u64),
    Chunked(Chunk),
    /// The body runs to the end of the connection.
    Eof,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

/// What one decoding step produced.
pub enum Step {
    Data(Bytes),
    /// The buffer holds no complete piece: read more.
    More,
    /// The body is complete; what is left in the buffer belongs to the next message.
    End,
}

impl Decoder {
    pub fn chunked() -> Decoder {
        Decoder::Chunked(Chunk::Size)
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Decoder::Done | Decoder::Length(0))
    }

    /// The bytes still to come, when the framing tells.
    pub fn exact_remaining(&self) -> Option<u64> {
        match self {
            Decoder::Length(n) => Some(*n),
            Decoder::Done => Some(0),
            _ => None,
        }
    }

    /// The body's size hint for what is still to come.
    pub fn size_hint(&self) -> SizeHint {
        match self.exact_remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }

    /// Takes the next piece of the body out of `buf`.
    pub fn step(&mut self, buf: &mut BytesMut) -> Result<Step, BoxError> {
        loop {
            match *self {
                Decoder::Done | Decoder::Length(0) => {
                    *self = Decoder::Done;
                    return Ok(Step::End);
                }
                _ if buf.is_empty() => return Ok(Step::More),
                Decoder::Length(left) => {
                    let take = (buf.len() as u64).min(left) as usize;
                    *self = Decoder::Length(left - take as u64);
                    return Ok(Step::Data(buf.split_to(take).freeze()));
                }
                Decoder::Eof => return Ok(Step::Data(buf.split().freeze())),
                Decoder::Chunked(Chunk::Data(left)) => {
                    let take = (buf.len() as u64).min(left) as usize;
                    *self = Decoder::Chunked(if left == take as u64 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left - take as u64)
                    });
                    return Ok(Step::Data(buf.split_to(take).freeze()));
                }
                Decoder::Chunked(chunk) => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    *self = match chunk {
                        Chunk::Size => {
                            let size = chunk_size(&line)?;
                            Decoder::Chunked(if size == 0 {
                                Chunk::Trailers
                            } else {
                                Chunk::Data(size)
                            })
                        }
                        Chunk::DataEnd if line.is_empty() => Decoder::Chunked(Chunk::Size),
                        Chunk::DataEnd => return Err(invalid("malformed chunked encoding")),
                        Chunk::Trailers if line.is_empty() => Decoder::Done,
                        Chunk::Trailers | Chunk::Data(_) => {
                            if !trailer_line(&line) {
                                return Err(invalid("malformed trailer field"));
                            }
                            Decoder::Chunked(Chunk::Trailers)
                        }
                    };
                }
            }
        }
    }

    /// The input ended: the end of an until-close body, an error for any other.
    pub fn at_eof(&mut self) -> Result<(), BoxError> {
        let complete = matches!(self, Decoder::Eof | Decoder::Done | Decoder::Length(0));
        *self = Decoder::Done;
        if complete {
            Ok(())
        } else {
            Err(unexpected_eof())
        }
    }
}

pub fn unexpected_eof() -> BoxError {
    Box::new(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "unexpected EOF",
    ))
}

pub fn invalid(what: &str) -> BoxError {
    Box::new(io::Error::new(io::ErrorKind::InvalidData, what.to_string()))
}

/// One line of the chunked framing (without its `\r\n`), or `None` when it has not all
/// arrived yet. Every line of the framing ends in CRLF: a bare LF or CR is refused, as Go
/// refuses it since CVE-2025-22871 (a proxy and a backend that split lines differently read
/// two different bodies).
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, BoxError> {
    match memchr::memchr(b'\n', buf) {
        Some(i) if i > MAX_LINE => Err(invalid("chunked line too long")),
        Some(i) => {
            if i == 0 || buf[i - 1] != b'\r' || buf[..i - 1].contains(&b'\r') {
                return Err(invalid("malformed chunked encoding"));
            }
            let mut line = buf.split_to(i + 1);
            line.truncate(i - 1);
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err(invalid("chunked line too long")),
        None => Ok(None),
    }
}

/// Chunk sizes of more hex digits than this overflow 64 bits.
const MAX_SIZE_DIGITS: usize = 16;

/// A chunk-size line (RFC 9112 §7.1): `1*HEXDIG`, then perhaps spaces or tabs and chunk
/// extensions after a `;` (ignored, but holding no control byte but tab). No sign, no space
/// before the digits, no other byte after them.
fn chunk_size(line: &[u8]) -> Result<u64, BoxError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > MAX_SIZE_DIGITS {
        return Err(invalid("invalid chunk size"));
    }
    let rest = &line[digits..];
    let ext_ok = match rest.iter().position(|b| *b != b' ' && *b != b'\t') {
        None => true,
        Some(at) => {
            rest[at] == b';'
                && rest[at..]
                    .iter()
                    .all(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f))
        }
    };
    if !ext_ok {
        return Err(invalid("invalid chunk size"));
    }
    Ok(line[..digits].iter().fold(0u64, |n, b| {
        n << 4 | u64::from(crate::vocab::percent::hex_value(*b).unwrap_or(0))
    }))
}

/// A trailer field line: a token name, a colon, a value with no control byte but tab.
fn trailer_line(line: &[u8]) -> bool {
    let name = line.iter().take_while(|b| TOKEN[usize::from(**b)]).count();
    name > 0
        && line.get(name) == Some(&b':')
        && line[name + 1..]
            .iter()
            .all(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f))
}

/// A `Content-Length` value: decimal digits only (no sign), spaces or tabs around them
/// allowed, as Go reads it.
pub fn content_length(raw: &[u8]) -> Option<u64> {
    digits(trim_ows(raw))
}

/// A number written as `1*DIGIT` (no sign, no space, at least one digit); `None` when it is
/// not one or does not fit 64 bits.
pub fn digits(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() {
        return None;
    }
    raw.iter().try_fold(0u64, |n, &b| {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// A header value without the spaces and tabs around it (RFC 9110 `OWS`); no other byte is
/// trimmed (a value is bytes, not Unicode text).
pub fn trim_ows(raw: &[u8]) -> &[u8] {
    let start = raw
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    &raw[start..end]
}

/// Whether a `Host` value is one Go's server accepts (`httpguts.ValidHostHeader`): the bytes
/// of a host, an IP literal in brackets, a port and percent-escapes; no `/`, `?`, `#`, `@`,
/// space or control byte.
pub fn valid_host(raw: &[u8]) -> bool {
    raw.iter().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'-'
                    | b'.'
                    | b':'
                    | b';'
                    | b'='
                    | b'['
                    | b']'
                    | b'_'
                    | b'~'
            )
    })
}

/// What a `Connection` value asks for: (close, keep-alive), in any case, from a token list.
pub fn connection_tokens(raw: &[u8]) -> (bool, bool) {
    let (mut close, mut keep_alive) = (false, false);
    for token in raw.split(|b| *b == b',') {
        let token = token.trim_ascii();
        close |= token.eq_ignore_ascii_case(b"close");
        keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
    }
    (close, keep_alive)
}

/// Maps kept for reuse per thread, and the largest one kept.
const POOLED_MAPS: usize = 64;
const POOLED_CAPACITY: usize = 64;

thread_local! {
    static MAPS: std::cell::RefCell<Vec<http::HeaderMap>> = const { std::cell::RefCell::new(Vec::new()) };
    static EXTENSIONS: std::cell::RefCell<Vec<http::Extensions>> = const { std::cell::RefCell::new(Vec::new()) };
    static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Buffers kept for reuse are at most this large.
const POOLED_BUFFER: usize = 16 * 1024;

type Pool<T> = std::thread::LocalKey<std::cell::RefCell<Vec<T>>>;

/// Something this thread's pool holds, if it holds any.
fn take<T: 'static>(pool: &'static Pool<T>) -> Option<T> {
    pool.with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
}

/// Keeps `item` (already emptied) for the next `take`, up to `POOLED_MAPS` per pool.
fn give<T: 'static>(pool: &'static Pool<T>, item: T) {
    pool.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < POOLED_MAPS {
                p.push(item);
            }
        }
    });
}

/// An empty byte buffer with room for `len`, reusing one a finished request gave back.
pub fn buffer(len: usize) -> Vec<u8> {
    match take(&BUFFERS) {
        Some(mut buf) => {
            buf.reserve(len);
            buf
        }
        None => Vec::with_capacity(len),
    }
}

/// Gives a buffer back for the next `buffer`.
pub fn recycle_buffer(mut buf: Vec<u8>) {
    if buf.capacity() <= POOLED_BUFFER {
        buf.clear();
        give(&BUFFERS, buf);
    }
}

/// An empty extension map, reusing the storage of one a finished response gave back.
pub fn extensions() -> http::Extensions {
    take(&EXTENSIONS).unwrap_or_default()
}

/// Gives an extension map's storage back for the next `extensions`; what it holds is dropped
/// now. A map that never held anything has no storage to give.
pub fn recycle_extensions(mut ext: http::Extensions) {
    if !ext.is_empty() {
        ext.clear();
        give(&EXTENSIONS, ext);
    }
}

/// An empty header map with room for `fields`, reusing the storage of one a finished request
/// or response gave back (`recycle`) when there is one.
pub fn header_map(fields: usize) -> http::HeaderMap {
    match take(&MAPS) {
        Some(mut map) => {
            map.reserve(fields);
            map
        }
        None => http::HeaderMap::with_capacity(fields.max(8)),
    }
}

/// Gives a map's storage back for the next `header_map`; its fields are dropped now.
pub fn recycle(mut map: http::HeaderMap) {
    if map.capacity() > 0 && map.capacity() <= POOLED_CAPACITY {
        map.clear();
        give(&MAPS, map);
    }
}

/// The canonical (Go) spelling of the header names a gateway writes most: its own by their
/// text, the standard ones without looking at their bytes (they compare by their index).
fn canonical_name(name: &http::HeaderName) -> Option<&'static [u8]> {
    use http::header::*;
    match name.as_str() {
        "x-krakend" => return Some(b"X-Krakend"),
        "x-krakend-completed" => return Some(b"X-Krakend-Completed"),
        "x-forwarded-for" => return Some(b"X-Forwarded-For"),
        "x-forwarded-host" => return Some(b"X-Forwarded-Host"),
        "x-forwarded-via" => return Some(b"X-Forwarded-Via"),
        _ => {}
    }
    // one table for the process, not a temporary per call
    static STANDARD: [(HeaderName, &[u8]); 17] = [
        (CONTENT_TYPE, b"Content-Type"),
        (USER_AGENT, b"User-Agent"),
        (ACCEPT_ENCODING, b"Accept-Encoding"),
        (CACHE_CONTROL, b"Cache-Control"),
        (ACCEPT, b"Accept"),
        (AUTHORIZATION, b"Authorization"),
        (ACCEPT_LANGUAGE, b"Accept-Language"),
        (COOKIE, b"Cookie"),
        (SET_COOKIE, b"Set-Cookie"),
        (VARY, b"Vary"),
        (DATE, b"Date"),
        (SERVER, b"Server"),
        (ETAG, b"Etag"),
        (LAST_MODIFIED, b"Last-Modified"),
        (LOCATION, b"Location"),
        (CONTENT_ENCODING, b"Content-Encoding"),
        (ACCESS_CONTROL_ALLOW_ORIGIN, b"Access-Control-Allow-Origin"),
    ];
    STANDARD
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, canonical)| *canonical)
}

/// Writes a header name as Go writes the keys of its header maps (`CanonicalMIMEHeaderKey`):
/// the first letter and each one after a `-` upper case, the others lower case.
pub fn push_canonical(out: &mut Vec<u8>, name: &http::HeaderName) {
    if let Some(canonical) = canonical_name(name) {
        out.extend_from_slice(canonical);
        return;
    }
    // names in a map are lower case: only the letters to raise change
    let start = out.len();
    out.extend_from_slice(name.as_str().as_bytes());
    let mut upper = true;
    for b in &mut out[start..] {
        if upper {
            b.make_ascii_uppercase();
        }
        upper = *b == b'-';
    }
}

/// Runs of header lines most backend heads split into around the fields a gateway drops.
const RAW_SEGMENTS: usize = 8;

/// A backend response's header lines kept as they came (`Name: value\r\n` each), for a
/// `no-op` answer nothing on its way reads or changes: the server writes them through instead
/// of a header map built and written again. The lines of the connection's own fields and of
/// `Content-Length` are left out (the server writes the body's own length).
#[derive(Clone, Debug)]
pub struct RawFields {
    head: Bytes,
    /// Byte ranges of `head` to write, each a run of whole lines.
    runs: [(u32, u32); RAW_SEGMENTS],
    count: usize,
    /// The backend's `Content-Length`, for the answers whose body is not sent (HEAD, 304).
    pub content_length: Option<u64>,
    pub has_date: bool,
    /// The gateway's own lines, written after the backend's (`X-Krakend-Completed`,
    /// `X-Krakend`): set once per endpoint, instead of two map entries per answer.
    pub gateway: Bytes,
}

impl RawFields {
    pub fn new(head: Bytes) -> RawFields {
        RawFields {
            head,
            runs: [(0, 0); RAW_SEGMENTS],
            count: 0,
            content_length: None,
            has_date: false,
            gateway: Bytes::new(),
        }
    }

    /// Adds the lines from `start` to `end`; `false` when there are too many runs.
    pub fn keep(&mut self, start: usize, end: usize) -> bool {
        if start >= end {
            return true;
        }
        if self.count > 0 && self.runs[self.count - 1].1 as usize == start {
            self.runs[self.count - 1].1 = end as u32;
            return true;
        }
        if self.count == RAW_SEGMENTS {
            return false;
        }
        self.runs[self.count] = (start as u32, end as u32);
        self.count += 1;
        true
    }

    /// The kept lines, in order, then the gateway's.
    pub fn runs(&self) -> impl Iterator<Item = &[u8]> {
        self.runs[..self.count]
            .iter()
            .map(|&(s, e)| &self.head[s as usize..e as usize])
            .chain(Some(&self.gateway[..]).filter(|g| !g.is_empty()))
    }

    /// Appends the kept fields (and the gateway's) to a header map, for a writer that only
    /// knows maps.
    pub fn append_to(&self, map: &mut http::HeaderMap) {
        let kept = self.runs[..self.count]
            .iter()
            .map(|run| self.head.slice(run.0 as usize..run.1 as usize));
        for run in kept.chain(Some(self.gateway.clone())) {
            // the kept lines are whole, clean field lines: the head scanner's reader reads them
            let mut at = 0;
            while let Some(Line::Field {
                name_end,
                value: (vs, ve),
                next,
                ..
            }) = field_line(&run, at)
            {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(&run[at..name_end]),
                    http::HeaderValue::from_maybe_shared(run.slice(vs..ve)),
                ) {
                    map.append(name, value);
                }
                at = next;
            }
        }
    }
}

/// The bytes of a header name (RFC 9110 `token`).
pub static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = matches!(i as u8,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        i += 1;
    }
    table
};

/// The position of the first `\n` in `buf` from `at`, eight bytes at a time.
fn find_nl(buf: &[u8], mut at: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = buf.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?) ^ (ONES * u64::from(b'\n'));
        let zero = word.wrapping_sub(ONES) & !word & HIGH;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    buf[at..].iter().position(|b| *b == b'\n').map(|i| at + i)
}

/// Room for at least 1 KiB more in a read buffer (the server's and the backend client's),
/// `chunk` when it must be made. An empty buffer that no earlier message split from it still
/// holds is read into from its start again: the same memory, still in the cache, where reading
/// on walks every connection through fresh lines. An empty buffer that lacks room otherwise
/// is replaced rather than grown: growing one that earlier messages were split from
/// reallocates it with every byte they used (`BytesMut` keeps its offset), where a new one
/// costs an allocation and no copy.
pub fn make_room(buf: &mut BytesMut, chunk: usize) {
    if buf.is_empty() && buf.try_reclaim(chunk) {
        return;
    }
    if buf.capacity() - buf.len() >= 1024 {
        return;
    }
    if buf.is_empty() {
        *buf = BytesMut::with_capacity(chunk);
    } else {
        buf.reserve(chunk);
    }
}

/// The first line of a head (a request or status line), empty lines before it skipped: where
/// it starts, the line without its `\r`, and where the next line starts. `None` while it is
/// incomplete. Only whole empty lines (CRLF or LF, RFC 9112 §2.2) are skipped: a bare CR
/// stays, and the line that starts with it is malformed.
pub fn first_line(buf: &[u8]) -> Option<(usize, &[u8], usize)> {
    let start = empty_lines(buf)?;
    let eol = find_nl(buf, start)?;
    let line = &buf[start..eol];
    Some((start, line.strip_suffix(b"\r").unwrap_or(line), eol + 1))
}

/// How many bytes of empty lines (CRLF or LF) `buf` starts with; `None` when it ends in a CR
/// that may yet be one.
pub fn empty_lines(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        match &buf[at..] {
            [b'\n', ..] => at += 1,
            [b'\r', b'\n', ..] => at += 2,
            [b'\r'] => return None,
            _ => return Some(at),
        }
    }
}

/// One line of a head's field block, as positions in the buffer.
pub enum Line {
    /// The empty line that ends the head; the body starts at `next`.
    End { next: usize },
    /// `name: value`, the value without the spaces around it. `spaced`: spaces or tabs stand
    /// between the name and the colon. `crlf`: the line ends in `\r\n`.
    Field {
        name_end: usize,
        value: (usize, usize),
        next: usize,
        spaced: bool,
        crlf: bool,
    },
    /// A line that starts with a space or tab (obsolete folding): it goes on to `end`.
    Folded { end: usize, next: usize },
    /// No name, or no colon after it.
    Malformed,
}

/// Reads the field line that starts at `at`; `None` while it is incomplete. Inlined into each
/// head parser's loop, so the unused parts of `Line` cost nothing there.
#[inline(always)]
pub fn field_line(buf: &[u8], at: usize) -> Option<Line> {
    // the name: token bytes, then perhaps spaces before the colon
    let mut i = at;
    while buf.get(i).is_some_and(|b| TOKEN[usize::from(*b)]) {
        i += 1;
    }
    let name_end = i;
    while matches!(buf.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let eol = find_nl(buf, i)?;
    let next = eol + 1;
    let crlf = eol > i && buf[eol - 1] == b'\r';
    let end = if crlf { eol - 1 } else { eol };
    if name_end == at {
        return Some(match (i == at, end == at) {
            (true, true) => Line::End { next },
            (true, false) => Line::Malformed,
            (false, _) => Line::Folded { end, next },
        });
    }
    if i == end || buf[i] != b':' {
        return Some(Line::Malformed);
    }
    let mut vs = i + 1;
    while vs < end && matches!(buf[vs], b' ' | b'\t') {
        vs += 1;
    }
    let mut ve = end;
    while ve > vs && matches!(buf[ve - 1], b' ' | b'\t') {
        ve -= 1;
    }
    Some(Line::Field {
        name_end,
        value: (vs, ve),
        next,
        spaced: i != name_end,
        crlf,
    })
}

/// Whether a `Transfer-Encoding` value is the `chunked` coding alone, the only transfer
/// coding the gateway applies (as Go's `net/http`): any other list (`gzip, chunked`,
/// `chunked, chunked`, `identity`) is one it does not, and a message carrying it is refused.
/// Only spaces and tabs around the name are trimmed.
pub fn is_chunked(value: &[u8]) -> bool {
    trim_ows(value).eq_ignore_ascii_case(b"chunked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_fields_keep_whole_lines_in_order() {
        let head = Bytes::from_static(
            b"Server: x\r\nContent-Length: 2\r\nDate: d\r\nConnection: close\r\nETag: \"e\"\r\n",
        );
        let mut raw = RawFields::new(head.clone());
        assert!(raw.keep(0, 11));
        assert!(raw.keep(30, 39));
        assert!(raw.keep(39, 39)); // nothing
        assert!(raw.keep(58, head.len()));
        let written: Vec<u8> = raw.runs().flatten().copied().collect();
        assert_eq!(written, b"Server: x\r\nDate: d\r\nETag: \"e\"\r\n");
        let mut map = http::HeaderMap::new();
        raw.append_to(&mut map);
        assert_eq!(map.len(), 3);
        assert_eq!(map["etag"], "\"e\"");
        assert_eq!(map["date"], "d");
        // adjacent lines make one run; past the limit, `keep` says no
        let mut raw = RawFields::new(Bytes::from_static(&[b'x'; 64]));
        assert!(raw.keep(0, 2) && raw.keep(2, 4));
        for i in 0..RAW_SEGMENTS - 1 {
            assert!(raw.keep(5 + 2 * i, 6 + 2 * i));
        }
        assert!(!raw.keep(40, 41));
    }

    #[test]
    fn names_are_written_as_go_writes_them() {
        let names = [
            ("content-type", "Content-Type"),
            ("etag", "Etag"),
            ("www-authenticate", "Www-Authenticate"),
            ("x-krakend-completed", "X-Krakend-Completed"),
            ("x-forwarded-via", "X-Forwarded-Via"),
            ("access-control-allow-origin", "Access-Control-Allow-Origin"),
            ("x-custom-thing", "X-Custom-Thing"),
            ("a", "A"),
            ("x--y", "X--Y"),
        ];
        for (name, go) in names {
            let mut out = Vec::new();
            push_canonical(&mut out, &http::HeaderName::from_static(name));
            assert_eq!(String::from_utf8(out).unwrap(), go);
        }
        // every table entry spells its name in Go's form
        for name in [
            "content-type",
            "user-agent",
            "accept-encoding",
            "cache-control",
            "accept",
            "authorization",
            "accept-language",
            "cookie",
            "set-cookie",
            "vary",
            "date",
            "server",
            "last-modified",
            "location",
            "content-encoding",
            "x-krakend",
            "x-forwarded-for",
            "x-forwarded-host",
        ] {
            let header = http::HeaderName::from_static(name);
            let go: Vec<u8> = crate::vocab::go::canonical_token(name).collect();
            assert_eq!(canonical_name(&header), Some(&go[..]), "{name}");
        }
    }

    #[test]
    fn recycled_extensions_come_back_empty() {
        let mut ext = extensions();
        ext.insert(7u32);
        recycle_extensions(ext);
        let again = extensions();
        assert!(again.is_empty());
        assert!(again.get::<u32>().is_none());
    }

    #[test]
    fn recycled_maps_come_back_empty() {
        let mut map = header_map(4);
        map.insert(http::header::HOST, http::HeaderValue::from_static("a"));
        map.append(http::header::VIA, http::HeaderValue::from_static("b"));
        recycle(map);
        let again = header_map(2);
        assert!(again.is_empty());
        assert!(again.capacity() >= 2);
        assert!(again.get(http::header::HOST).is_none());
    }

    fn decode_all(mut d: Decoder, input: &[&[u8]]) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pieces = input.iter();
        loop {
            match d.step(&mut buf).map_err(|e| e.to_string())? {
                Step::Data(b) => out.extend_from_slice(&b),
                Step::End => {
                    // what follows the body: the buffer, then the input not read yet
                    let mut rest = buf.to_vec();
                    pieces.for_each(|p| rest.extend_from_slice(p));
                    return Ok((out, rest));
                }
                Step::More => match pieces.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => {
                        d.at_eof().map_err(|e| e.to_string())?;
                        return Ok((out, buf.to_vec()));
                    }
                },
            }
        }
    }

    #[test]
    fn chunked_across_arbitrary_splits() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for cut in 0..wire.len() {
            let (body, rest) =
                decode_all(Decoder::chunked(), &[&wire[..cut], &wire[cut..]]).unwrap();
            assert_eq!(body, b"Wikipedia", "cut at {cut}");
            assert_eq!(rest, b"NEXT", "cut at {cut}");
        }
    }

    #[test]
    fn length_leaves_the_next_message() {
        let (body, rest) = decode_all(Decoder::Length(3), &[b"abcdef"]).unwrap();
        assert_eq!(
            (body.as_slice(), rest.as_slice()),
            (&b"abc"[..], &b"def"[..])
        );
    }

    #[test]
    fn short_bodies_and_bad_sizes_fail() {
        assert!(decode_all(Decoder::Length(5), &[b"ab"]).is_err());
        assert!(decode_all(Decoder::chunked(), &[b"zz\r\n"]).is_err());
        assert!(decode_all(Decoder::chunked(), &[b"2\r\nabXX"]).is_err());
        // a line longer than the bound is refused whether it arrives whole or in pieces
        let long = format!("1;{}\r\na\r\n0\r\n\r\n", "x".repeat(MAX_LINE));
        assert!(decode_all(Decoder::chunked(), &[long.as_bytes()]).is_err());
        let (head, tail) = long.as_bytes().split_at(MAX_LINE / 2);
        assert!(decode_all(Decoder::chunked(), &[head, tail]).is_err());
        // 1*HEXDIG and CRLF line ends only: no sign, no leading space, no bare LF or CR
        for bad in [
            &b"+0\r\n\r\n"[..],
            b" 0\r\n\r\n",
            b"-1\r\n\r\n",
            b"0x1\r\na\r\n0\r\n\r\n",
            b"1\na\r\n0\r\n\r\n",
            b"1\r\na\n0\r\n\r\n",
            b"1\r\na\r\n0\n\n",
            b"1\r\r\na\r\n0\r\n\r\n",
            b"1 x\r\na\r\n0\r\n\r\n",
            b"1;a\x00b\r\na\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"0\r\nno colon\r\n\r\n",
            b"0\r\n folded: x\r\n\r\n",
        ] {
            assert!(decode_all(Decoder::chunked(), &[bad]).is_err(), "{bad:?}");
        }
        for good in [
            &b"1;ext=\"v\"\r\na\r\n0\r\n\r\n"[..],
            b"1 ;ext\r\na\r\n0\r\n\r\n",
            b"1\t\r\na\r\n0\r\n\r\n",
            b"00001\r\na\r\n000\r\nT: x\r\n\r\n",
            b"A\r\n0123456789\r\n0\r\n\r\n",
        ] {
            let (body, rest) = decode_all(Decoder::chunked(), &[good]).unwrap();
            assert!(!body.is_empty() && rest.is_empty(), "{good:?}");
        }
        let (body, _) = decode_all(Decoder::Eof, &[b"ab", b"cd"]).unwrap();
        assert_eq!(body, b"abcd");
    }

    #[test]
    fn lengths_and_connection_tokens() {
        assert_eq!(content_length(b" 42 "), Some(42));
        assert_eq!(content_length(b"4x"), None);
        assert_eq!(content_length(b"0"), Some(0));
        assert_eq!(content_length(b"\t7"), Some(7));
        assert_eq!(content_length(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b" ",
            b"+5",
            b"-1",
            b"1 2",
            b"18446744073709551616",
            b"\x0c5",
            b"5\r",
        ] {
            assert_eq!(content_length(bad), None, "{bad:?}");
        }
        assert_eq!(connection_tokens(b"Keep-Alive"), (false, true));
        assert_eq!(connection_tokens(b"upgrade, CLOSE"), (true, false));
    }

    #[test]
    fn hosts() {
        for ok in [&b"example.com"[..], b"a.b:8080", b"[::1]:80", b"", b"h%41"] {
            assert!(valid_host(ok), "{ok:?}");
        }
        for bad in [
            &b"a/b"[..],
            b"a b",
            b"a@b",
            b"a?b",
            b"a#b",
            b"a\x00",
            b"\xc3\xa9",
        ] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_chunked_alone_is_chunked() {
        assert!(is_chunked(b"chunked"));
        assert!(is_chunked(b"Chunked"));
        assert!(is_chunked(b" chunked\t"));
        for other in [
            &b"gzip, chunked"[..],
            b"chunked, gzip",
            b"chunked, chunked",
            b"chunked\xc2\xa0",
            b"\x0bchunked",
            b"identity",
            b"",
        ] {
            assert!(!is_chunked(other), "{other:?}");
        }
    }
}
