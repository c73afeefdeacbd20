//! A connection's two sides, plain TCP or TLS, and writes to it: a whole buffer in one
//! non-blocking write when a plain socket takes it.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

/// The read side of a connection the loop serves.
pub type ReadSide = Box<dyn AsyncRead + Send + Sync + Unpin>;
/// The write side of a connection the loop serves.
pub type WriteSide = Box<dyn Socket + Send>;

/// The two sides of a plain TCP connection (no lock between them).
pub fn split_tcp(stream: tokio::net::TcpStream) -> (ReadSide, WriteSide) {
    let (rd, wr) = stream.into_split();
    (Box::new(rd), Box::new(wr))
}

/// The two sides of a TLS (or any other layered) connection.
pub fn split_layered<S: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static>(
    stream: S,
) -> (ReadSide, WriteSide) {
    let (rd, wr) = tokio::io::split(stream);
    (Box::new(rd), Box::new(Layered(wr)))
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
