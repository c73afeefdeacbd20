//! The gateway's one error type: a configuration that cannot be built, a file that cannot be
//! read, a TLS setup, a document that does not decode, a component's own failure at run time
//! (a JWK set download, a token fetch), an upstream exchange that failed (`Upstream`, what
//! the transport and the exchange stages answer with). A library's error is kept as the
//! `source`; `Display` prints the text a user reads (`check`, the startup log, the access
//! log), the source's text included where it always was.
//!
//! The request path's outcome (`message::ProxyError`) wraps it where an exchange failed
//! (`ProxyError::Exchange`) and maps every failure to KrakenD's status and body in one place.
//!
//! Bottom layer: imports std and external crates only.

use std::error::Error as StdError;
use std::fmt::Display;

/// Any library error kept as a source.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value that cannot be used: where it is (a JSON path, a namespace, a
    /// field) and why.
    #[error("{at}: {reason}")]
    Config { at: String, reason: String },
    /// A configuration value a library rejects (a regex, a header value, a URL, a script, an
    /// expression): where it is, and the library's error.
    #[error("{at}: {source}")]
    Invalid {
        at: String,
        #[source]
        source: BoxError,
    },
    /// A JSON document that does not parse or does not fit its type.
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    /// A file or a socket: what was being done, and the I/O error.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A TLS configuration that cannot be built: a PEM file, a certificate rustls refuses.
    #[error("{context}: {source}")]
    Tls {
        context: String,
        #[source]
        source: BoxError,
    },
    /// A component's failure at run time (a JWK set download, a token fetch): what failed,
    /// and the underlying error.
    #[error("{context}: {source}")]
    Component {
        context: String,
        #[source]
        source: BoxError,
    },
    /// A document a parser rejects (an XML or RSS body): which format, and the parser's
    /// error.
    #[error("{what}: {source}")]
    Malformed {
        what: String,
        #[source]
        source: BoxError,
    },
    /// A document (XML, RSS, a JWS, a key, a token response) that does not decode, or a
    /// signature that does not verify: the message says which.
    #[error("{0}")]
    Decode(String),
    /// A lower layer's own error type (the configuration loader's file:line:col errors),
    /// shown as it is.
    #[error(transparent)]
    Source(BoxError),
    /// A failure told by its message alone (the message names its place when it has one).
    #[error("{0}")]
    Other(String),
    /// An upstream exchange that failed, told as Go's client tells it
    /// (`Get "http://h/x": dial tcp h:80: connect: connection refused`), with the I/O, TLS or
    /// HTTP error underneath when there is one.
    #[error("{message}")]
    Upstream {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// A configuration error at `at`.
    pub fn config(at: impl Display, reason: impl Display) -> Error {
        Error::Config {
            at: at.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A library's rejection of the configuration value at `at`.
    pub fn invalid(at: impl Display, source: impl Into<BoxError>) -> Error {
        Error::Invalid {
            at: at.to_string(),
            source: source.into(),
        }
    }

    /// An I/O error while doing `context`.
    pub fn io(context: impl Display, source: std::io::Error) -> Error {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// A JSON error while reading `context`.
    pub fn json(context: impl Display, source: serde_json::Error) -> Error {
        Error::Json {
            context: context.to_string(),
            source,
        }
    }

    /// A TLS error while building `context`.
    pub fn tls(context: impl Display, source: impl Into<BoxError>) -> Error {
        Error::Tls {
            context: context.to_string(),
            source: source.into(),
        }
    }

    /// A component's run-time failure while doing `context`.
    pub fn component(context: impl Display, source: impl Into<BoxError>) -> Error {
        Error::Component {
            context: context.to_string(),
            source: source.into(),
        }
    }

    /// A document of format `what` its parser rejects.
    pub fn malformed(what: impl Display, source: impl Into<BoxError>) -> Error {
        Error::Malformed {
            what: what.to_string(),
            source: source.into(),
        }
    }

    /// A document that does not decode.
    pub fn decode(message: impl Display) -> Error {
        Error::Decode(message.to_string())
    }

    /// A lower layer's or a library's error, shown as it is (its own text).
    pub fn wrap(source: impl Into<BoxError>) -> Error {
        Error::Source(source.into())
    }

    /// A failure told by its message alone.
    pub fn other(message: impl Display) -> Error {
        Error::Other(message.to_string())
    }

    /// The same error placed under `prefix` (an enclosing JSON path or namespace), written
    /// in front of its place as is: `within("$.endpoints[0]")` on `.backend: …` reads
    /// `$.endpoints[0].backend: …`.
    pub fn within(self, prefix: impl Display) -> Error {
        let join = |s: String| format!("{prefix}{s}");
        match self {
            Error::Config { at, reason } => Error::Config {
                at: join(at),
                reason,
            },
            Error::Invalid { at, source } => Error::Invalid {
                at: join(at),
                source,
            },
            Error::Json { context, source } => Error::Json {
                context: join(context),
                source,
            },
            Error::Io { context, source } => Error::Io {
                context: join(context),
                source,
            },
            Error::Tls { context, source } => Error::Tls {
                context: join(context),
                source,
            },
            Error::Component { context, source } => Error::Component {
                context: join(context),
                source,
            },
            Error::Malformed { what, source } => Error::Malformed {
                what: join(what),
                source,
            },
            Error::Source(e) => Error::Other(join(e.to_string())),
            Error::Decode(m) => Error::Decode(join(m)),
            Error::Other(m) => Error::Other(join(m)),
            Error::Upstream { message, source } => Error::Upstream {
                message: join(message),
                source,
            },
        }
    }
}

/// An error told where only text is kept (a component's rejection, a Lua error value): its
/// message.
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_source_is_reachable() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Error::io("cannot read cert.pem", io);
        assert_eq!(e.to_string(), "cannot read cert.pem: no such file");
        let src = StdError::source(&e).expect("the I/O error is the source");
        assert_eq!(src.to_string(), "no such file");
        assert!(src.downcast_ref::<std::io::Error>().is_some());

        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let text = json.to_string();
        let e = Error::invalid("$.endpoints[0]", json).within("krakend.json: ");
        assert_eq!(
            e.to_string(),
            format!("krakend.json: $.endpoints[0]: {text}")
        );
        let src = StdError::source(&e).expect("the JSON error is the source");
        assert!(src.downcast_ref::<serde_json::Error>().is_some());
    }

    #[test]
    fn message_only_errors_print_as_is() {
        assert_eq!(
            Error::decode("invalid base64").to_string(),
            "invalid base64"
        );
        assert!(StdError::source(&Error::other("x")).is_none());
        let s: String = Error::config("$.port", "out of range").into();
        assert_eq!(s, "$.port: out of range");
    }
}
