//! A connection's two sides, plain TCP or TLS, and writes to it: a whole buffer in one
//! non-blocking write when a plain socket takes it.

use std::io;

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

/// The read side of a connection the loop serves: a plain socket's half in place (its reads
/// inlined), a layered one's (TLS) behind a box.
pub enum ReadSide {
    Tcp(tokio::net::tcp::OwnedReadHalf),
    Layered(Box<dyn AsyncRead + Send + Sync + Unpin>),
}

/// The write side of a connection the loop serves.
pub enum WriteSide {
    Tcp(tokio::net::tcp::OwnedWriteHalf),
    Layered(Box<dyn Socket + Send>),
}

/// The two sides of a plain TCP connection (no lock between them).
pub fn split_tcp(stream: tokio::net::TcpStream) -> (ReadSide, WriteSide) {
    let (rd, wr) = stream.into_split();
    (ReadSide::Tcp(rd), WriteSide::Tcp(wr))
}

/// The two sides of a TLS (or any other layered) connection.
pub fn split_layered<S: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static>(
    stream: S,
) -> (ReadSide, WriteSide) {
    let (rd, wr) = tokio::io::split(stream);
    (
        ReadSide::Layered(Box::new(rd)),
        WriteSide::Layered(Box::new(Layered(wr))),
    )
}

impl AsyncRead for ReadSide {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadSide::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadSide::Layered(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteSide {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteSide::Tcp(w) => Pin::new(w).poll_write(cx, buf),
            WriteSide::Layered(w) => Pin::new(w).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteSide::Tcp(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            WriteSide::Layered(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            WriteSide::Tcp(w) => w.is_write_vectored(),
            WriteSide::Layered(w) => w.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteSide::Tcp(w) => Pin::new(w).poll_flush(cx),
            WriteSide::Layered(w) => Pin::new(w).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteSide::Tcp(w) => Pin::new(w).poll_shutdown(cx),
            WriteSide::Layered(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

impl Socket for WriteSide {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            WriteSide::Tcp(w) => w.try_write(buf),
            WriteSide::Layered(w) => w.try_write(buf),
        }
    }
    fn buffered(&self) -> bool {
        matches!(self, WriteSide::Layered(_))
    }
}

/// A socket a whole buffer can be written to without a future while it has room.
pub trait Socket: AsyncWrite + Unpin {
    /// One non-blocking write (`WouldBlock` when the socket is full, or cannot say).
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// Whether a write may stay in a buffer until the socket is flushed (TLS records).
    fn buffered(&self) -> bool {
        false
    }
}

impl<T: Socket + ?Sized> Socket for Box<T> {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        (**self).try_write(buf)
    }
    fn buffered(&self) -> bool {
        (**self).buffered()
    }
}

/// The write half of a layered connection: written through its future, flushed after.
pub struct Layered<S>(tokio::io::WriteHalf<S>);

impl<S: AsyncWrite> AsyncWrite for Layered<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncWrite> Socket for Layered<S> {
    fn try_write(&self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
    fn buffered(&self) -> bool {
        true
    }
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
/// with no write future polled), the rest through `write_all`; a buffered socket is flushed.
pub async fn write_all<S: Socket + ?Sized>(socket: &mut S, buf: &[u8]) -> io::Result<()> {
    let written = match socket.try_write(buf) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if written < buf.len() {
        tokio::io::AsyncWriteExt::write_all(socket, &buf[written..]).await?;
    }
    flushed(socket).await
}

/// Flushes a buffered socket (nothing to do on a plain one).
pub async fn flushed<S: Socket + ?Sized>(socket: &mut S) -> io::Result<()> {
    if socket.buffered() {
        tokio::io::AsyncWriteExt::flush(socket).await?;
    }
    Ok(())
}
