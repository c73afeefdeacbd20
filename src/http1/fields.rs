//! The values of the fields that decide a message's framing and its connection:
//! `Content-Length`, `Connection`, `Host`, read as bytes (only spaces and tabs are trimmed).

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
