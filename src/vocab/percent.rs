//! Percent-encoding as URLs carry it: one `%XX` escape, a whole path's escapes checked as Go's
//! `url.ParseRequestURI` checks them, and lenient decoding as gin routes on decoded paths.
//!
//! Decoding is the `percent-encoding` crate's. The checks are written here (2026-12-07): the
//! crate decodes leniently (a `%` without two hex digits passes through) and has no check,
//! while Go's `unescape` (`url.PathUnescape`, `url.ParseRequestURI`) refuses a bad escape and
//! the server answers 400. `valid_escapes` is on the request path of every hyper-served
//! request; it is a `memchr` scan plus a table-free hex test, nothing a crate would shorten.

/// Percent-decodes a path (invalid escapes are kept as they are).
pub fn percent_decode(s: &str) -> String {
    // a `%` that does not start two hex digits stays as it is (no sign, no space)
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The value of one hex digit (`HEXDIG`: a digit or a letter a-f in either case).
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte a `%XX` escape at the start of `bytes` stands for: `%` and exactly two hex
/// digits (no sign, no space).
pub fn percent_byte(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [b'%', h, l, ..] => Some(hex_value(*h)? << 4 | hex_value(*l)?),
        _ => None,
    }
}

/// Whether every `%` in a request path starts a valid escape, as Go's `url.ParseRequestURI`
/// requires (it answers 400 otherwise).
pub fn valid_escapes(path: &[u8]) -> bool {
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'%', &path[at..]) {
        if percent_byte(&path[at + i..]).is_none() {
            return false;
        }
        at += i + 3;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(percent_byte(b"%41"), Some(b'A'));
        assert_eq!(percent_byte(b"%e9x"), Some(0xe9));
        for bad in [&b"%+0"[..], b"%zz", b"% 1", b"%1", b"%", b"%-1"] {
            assert_eq!(percent_byte(bad), None, "{bad:?}");
        }
        assert!(valid_escapes(b"/a/%20b%2F"));
        assert!(valid_escapes(b"/plain"));
        assert!(!valid_escapes(b"/a/%+0x"));
        assert!(!valid_escapes(b"/a/%zz"));
        assert!(!valid_escapes(b"/a/%2"));
    }
}
