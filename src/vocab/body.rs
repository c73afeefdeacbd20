//! Bodies as every layer passes them: one boxed body type for requests and answers, the
//! error they fail with, and the few bodies the gateway makes itself.

use std::future::Future;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// The error type of streamed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A streamed HTTP body (requests and responses).
pub type Body = BoxBody<Bytes, BoxError>;

/// The body a request sends upstream: none, one held whole (it can be sent again), or the
/// client's own stream.
pub enum OutBody {
    Empty,
    Buffered(Bytes),
    Stream(Body),
}

/// A body streamed with no announced length: sent chunked, as Go's client sends a streamed
/// request body.
pub struct Chunked(pub Body);

impl hyper::body::Body for Chunked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        std::pin::Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
}

pin_project_lite::pin_project! {
    /// A body that ends in an error when `at` passes before its last byte (the endpoint's
    /// `timeout` covers a streamed `no-op` answer whole): the writer then cuts the answer off
    /// (no last chunk, or fewer bytes than announced) and closes the connection. The timer is
    /// made only when the body first has to wait: a body already in memory never makes one.
    pub struct Deadline {
        #[pin]
        inner: Body,
        at: tokio::time::Instant,
        timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    }
}

impl Deadline {
    pub fn new(inner: Body, at: tokio::time::Instant) -> Deadline {
        Deadline {
            inner,
            at,
            timer: None,
        }
    }
}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let at = *this.at;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the endpoint's timeout passed while the answer was streamed",
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Boxes an incoming (client or backend) body.
pub fn boxed(body: hyper::body::Incoming) -> Body {
    body.map_err(|e| -> BoxError { Box::new(e) }).boxed()
}

pub fn full_body(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn empty_body() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Reads a whole body, bounded.
pub async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, String> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(format!("body larger than {limit} bytes"));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
