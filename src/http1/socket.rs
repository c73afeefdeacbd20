//! Writes to a socket: a whole buffer in one non-blocking write when the socket takes it.

use std::io;

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
