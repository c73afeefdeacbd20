//! HTTP/1.1 body framing (RFC 9112 §6-7): a decoder that takes a body's pieces out of a read
//! buffer, whatever its framing (length, chunked, until close), and asks for more input when
//! the buffer runs dry.

use std::io;

use bytes::{Bytes, BytesMut};
use hyper::body::SizeHint;

use super::fields::trim_ows;
use super::head::TOKEN;
use crate::vocab::body::BoxError;

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
