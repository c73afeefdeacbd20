//! HTTP/1.1, hand-written: the server's connection loop (plain and TLS connections) and the
//! client pool (`http://` and `https://` backends), over the wire code they share.
//!
//! # What lives where
//! ```text
//! server.rs      the connection loop: one task per accepted connection (plain, or TLS with
//!                ALPN other than h2) reads a request
//!                head, runs the gateway on it in place (through the `Dispatch` trait, which
//!                the gateway implements in server/dispatch.rs) and writes the answer;
//!                Go's statuses for bad heads, 100-continue, unread bodies drained,
//!                write_timeout, idle connections closed at stop (Shutdown)
//! client.rs      the inline keep-alive pool (Settings, H1Client; plain or rustls
//!                connections, pooled apart) and one exchange: the
//!                request head and body written and the answer read by the task that asks;
//!                the response head scanner (RawHead), RFC 9112 framing, the idle sweep
//! head.rs        first lines and field lines, the token table
//! framing.rs     body framing both sides read with: length, chunked, until close (Decoder)
//! fields.rs      the values that decide framing and connections: Content-Length (1*DIGIT),
//!                Connection tokens, Transfer-Encoding, Host as Go validates it
//! names.rs       header names written in Go's canonical form, the usual ones from a table
//! raw_fields.rs  a bare `no-op` answer's header lines as the backend wrote them (RawFields):
//!                written through by server.rs, put into the map for hyper-served connections
//! pool.rs        per-thread pools of header maps, extension maps and buffers; make_room
//! socket.rs      a connection's two sides (plain TCP, or TLS split), and writes: a whole
//!                buffer in one non-blocking write when a plain socket takes it, TLS records
//!                flushed
//! ```
//! This module sits below the gateway: it imports only `crate::vocab` (the body type, Go's
//! spellings, percent-escapes, a URL authority's host and port). HTTP/2 connections (ALPN h2,
//! h2c) stay on hyper (`server/`), and so does an `https://` backend reached through an HTTPS
//! proxy's tunnel (`backend/client.rs`, which also does the redirects, gzip and proxies
//! around [`client::H1Client`]). Plain and TLS connections share one parser, one framing and
//! one set of limits and timeouts on both sides (`write_timeout`, `response_header_timeout`,
//! the pool's clean check).
//!
//! # Why not hyper
//! Both sides started on hyper and were replaced one measured step at a time; the figures
//! below are from `bench/README.md` (its "What changed since the first run" and "Measured and
//! not kept"), taken with `bench/run.sh` against nginx as a reverse proxy, callgrind's
//! instruction counts per no-op request (`INSTRUCTIONS=1`, which repeat to about 0.5 %), and
//! `bench/ab.sh`'s side-by-side CPU per request. What they say: on a no-op request, the
//! gateway's user-space work is a small part of the cost (the kernel's loopback TCP path is
//! 70-80 % of either proxy's CPU), so every task hand-off, copy of a future, map built and
//! written again, and cold buffer per request shows.
//!
//! * **Client: no connection task, no channel.** hyper-util's pooled client runs a task per
//!   connection behind a channel, with a pool checkout per request. Here the request's own task
//!   writes the request and reads the answer; a body already in the read buffer comes back
//!   whole and the connection returns to the pool at once; bodies up to 64 KiB with a length
//!   are read whole (one read, one contiguous body). No-op throughput against nginx went from
//!   0.79× to 0.91×, CPU per request from 1.44× to 1.17× (one 5 s round).
//! * **Server: no dispatcher.** Plain connections first moved to hyper's http1 builder without
//!   protocol sniffing or a boxed service future; then off hyper: one task per connection
//!   parses the head into the gateway's `http::Request` (values sliced from one frozen read
//!   buffer), runs the gateway in place and writes the head and a small body in one write, a
//!   large body beside it (vectored). Request bodies stream from the same buffer through the
//!   decoder the client uses. 35.6k → 34.0k instructions per request, peak RSS at c=200
//!   22.5 → 19.7 MiB.
//! * **Heads without httparse.** Response heads are read by a single-pass scanner (a token table
//!   for names, line ends found eight bytes at a time) that fills a field table in place
//!   (−0.6k instructions); request heads by the same scanner, strict as Go reads them (−0.2k);
//!   the connection's own fields (`Connection`, `Keep-Alive`, `Transfer-Encoding`) read and not
//!   handed on (−1.1k with plain `http://` URLs split without the URI parser); `Content-Length`
//!   read digit by digit (−0.1k); a field's role found from its length first (−0.5k); the
//!   framing fields of a backend head read from their bytes, without a header value each
//!   (−0.3k). The pool's host keys are hashed eight bytes at a time instead of with SipHash
//!   (two hashes per request, a few configured names).
//! * **A `no-op` answer without a map.** A bare answer (no stage, no service layer, a clean
//!   head) keeps its header lines as the backend wrote them ([`RawFields`]) and the server
//!   writes them through, instead of a header map built and written again (−1.3k), with the
//!   gateway's `X-Krakend` and `X-Krakend-Completed` lines as bytes made once (−0.6k). An
//!   answer that needs a map still gets one.
//! * **Pooled maps and buffers** (`pool.rs`): the server's request map, the forwarded-header map
//!   and the backend response map take the storage a finished exchange gave back (−0.6k);
//!   pooled extension maps and request buffers (−0.6k). A read buffer with nothing left in it
//!   goes back to its start, and an empty one that lacks room is replaced rather than grown:
//!   `BytesMut` grew the buffer earlier answers were split from by reallocating every byte
//!   they had used, a 20 KB copy per large no-op answer (half of its user-space instructions,
//!   640 first-level data misses per request).
//! * **Writes.** Heads go out with one non-blocking `try_write` when the socket takes them,
//!   the write future only for the rest (−0.2k); the transport's `Accept-Encoding: gzip` is
//!   written with the head instead of inserted into the map (−0.4k). hyper's flat
//!   (non-vectored) response writes cut no-op CPU by 2-3 % but keep a write buffer as large as
//!   the largest response on every connection: peak RSS 2.02× nginx's and no-op large 0.88× at
//!   c=50, so the writes here stay vectored.
//! * **Futures polled in place.** Each request writes its future's whole size when it is moved
//!   into place, and with 200 requests in flight those bytes are cold. The connection polls
//!   the gateway's future beside its read side (`server::Watched`, a small `pin-project-lite`
//!   struct; `Dispatch` is generic, not boxed) instead of wrapping it in another `async fn`; a
//!   new backend connection's dial and a streamed request body's writer get boxes of their own.
//!   With the gateway's own steps made the same way, a no-op request's future went from 7,792
//!   to 2,768 bytes and its L2 data misses at c=200 from 185 to 79.
//! * **Field tables per thread.** A head is parsed and its request (or answer) built without a
//!   wait between, so one field table per thread serves every connection and stays in the
//!   cache, where one per connection was cold again by its next request: 0.977× the CPU per
//!   request for the client's table, 0.989× for the server's, 0.962× together (`bench/ab.sh`,
//!   c=200).
//!
//! Where that left it (`bench/README.md`, the last recorded runs): 17.1k user-space
//! instructions per no-op request against nginx's 21.8k, 0.83-0.91× nginx's CPU per request
//! and 1.03-1.12× its throughput. The hardening since (a pooled connection peeked before
//! reuse, the endpoint deadline on a streamed `no-op` body) costs under 1 % at c=50 and about
//! 2.5 % at c=200. Tried and not kept: the response written from a per-thread buffer
//! (1.006×), read buffers from a per-thread pool (0.998×), a strict parser configuration for
//! backend heads (no change).

pub mod client;
mod fields;
mod framing;
mod head;
mod names;
mod pool;
mod raw_fields;
pub mod server;
mod socket;

pub use fields::{connection_tokens, content_length, digits, trim_ows, valid_host};
pub use framing::{invalid, is_chunked, unexpected_eof, Chunk, Decoder, Step};
pub use head::{empty_lines, field_line, first_line, Line, TOKEN};
pub use names::push_canonical;
pub use pool::{
    buffer, extensions, header_map, make_room, recycle, recycle_buffer, recycle_extensions,
};
pub use raw_fields::RawFields;
pub use socket::{split_layered, split_tcp, write_all, ReadSide, Socket, WriteSide};
