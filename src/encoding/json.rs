//! A JSON writer that produces what Go's `encoding/json` produces: keys sorted (serde_json's
//! map is a BTreeMap), numbers written as the backend sent them, `<`, `>`, `&`, U+2028 and
//! U+2029 escaped, no spaces, no trailing newline; and [`parse`], the decoder that keeps
//! every number literal as the backend sent it (as Go's `json.Number` does).

use serde_json::{Number, Value};

/// Appends the Go encoding of `v` to `out`.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.as_str().as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Parses a JSON document keeping every number literal exactly as written.
///
/// serde_json (`arbitrary_precision`) keeps a number's text except for its exponent, which it
/// writes as `e+N` / `e-N` (`1E3` and `1e3` both become `1e+3`). When the body has such a
/// literal, each one is swapped before parsing for a tag of the form `-0e-0<index>` and put
/// back afterwards; the number literals that would read as a tag are tagged too, so every tag
/// found is one of ours. Bodies without such a literal (the common case) are parsed as they
/// are after a `memchr` scan.
pub fn parse(body: &[u8]) -> Result<Value, serde_json::Error> {
    if !may_have_rewritten_exponent(body) {
        return serde_json::from_slice(body);
    }
    let Some((tagged, mut originals)) = tag_exponents(body) else {
        return serde_json::from_slice(body);
    };
    match serde_json::from_slice(&tagged) {
        Ok(mut v) => {
            restore_tags(&mut v, &mut originals);
            Ok(v)
        }
        // swapping one number literal for another never changes validity; the error
        // positions must be those of the body itself
        Err(_) => serde_json::from_slice(body),
    }
}

const TAG: &str = "-0e-0";

/// Whether an exponent marker that serde_json would rewrite (or a literal that reads as a
/// tag) may be in the body: an `e`/`E` after a digit and before a digit or sign.
fn may_have_rewritten_exponent(body: &[u8]) -> bool {
    memchr::memchr2_iter(b'e', b'E', body).any(|i| {
        let prev = if i > 0 { body[i - 1] } else { 0 };
        let next = body.get(i + 1).copied().unwrap_or(0);
        prev.is_ascii_digit()
            && match (body[i], next) {
                (b'E', b'0'..=b'9' | b'+' | b'-') | (b'e', b'0'..=b'9') => true,
                (b'e', b'-') => i >= 2 && body[i - 2] == b'-' && prev == b'0',
                _ => false,
            }
    })
}

/// Whether `lit` is a JSON number with an exponent that serde_json writes differently, or
/// one that reads as a tag.
fn needs_tag(lit: &[u8]) -> bool {
    let mut i = usize::from(lit.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while lit.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match lit.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if lit.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    let Some(&marker @ (b'e' | b'E')) = lit.get(i) else {
        return false;
    };
    i += 1;
    let unsigned = lit.get(i).is_some_and(u8::is_ascii_digit);
    if matches!(lit.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    if digits(&mut i) == 0 || i != lit.len() {
        return false;
    }
    marker == b'E' || unsigned || lit.starts_with(TAG.as_bytes())
}

/// The body with every literal that needs it swapped for a tag, and the literals in tag
/// order; `None` when there is none.
fn tag_exponents(body: &[u8]) -> Option<(Vec<u8>, Vec<String>)> {
    let mut out = Vec::new();
    let mut originals = Vec::new();
    let (mut copied, mut i) = (0, 0);
    while i < body.len() {
        match body[i] {
            b'"' => {
                i += 1;
                while i < body.len() {
                    match body[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < body.len()
                    && matches!(body[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let lit = &body[start..i];
                if needs_tag(lit) {
                    if out.is_empty() {
                        out.reserve(body.len() + 16);
                    }
                    out.extend_from_slice(&body[copied..start]);
                    out.extend_from_slice(TAG.as_bytes());
                    out.extend_from_slice(originals.len().to_string().as_bytes());
                    originals.push(String::from_utf8_lossy(lit).into_owned());
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    if originals.is_empty() {
        return None;
    }
    out.extend_from_slice(&body[copied.min(body.len())..]);
    Some((out, originals))
}

fn restore_tags(v: &mut Value, originals: &mut [String]) {
    match v {
        Value::Number(n) => {
            let idx = n
                .as_str()
                .strip_prefix(TAG)
                .and_then(|rest| rest.parse::<usize>().ok());
            if let Some(lit) = idx.and_then(|i| originals.get_mut(i)) {
                // the literal was checked against JSON's number grammar; serde_json writes a
                // number from this text (its own parser would rewrite the exponent)
                *n = Number::from_string_unchecked(std::mem::take(lit));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| restore_tags(i, originals)),
        Value::Object(m) => m.values_mut().for_each(|i| restore_tags(i, originals)),
        _ => {}
    }
}

/// The Go encoding of `v` as bytes.
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_value(&mut out, v);
    out
}

/// The Go encoding of a map as bytes.
pub fn map_to_vec(m: &serde_json::Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    for (i, (k, item)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(&mut out, k);
        out.push(b':');
        write_value(&mut out, item);
    }
    out.push(b'}');
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f | b'<' | b'>' | b'&' => Some(b""),
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(if bytes[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
                continue;
            }
            _ => None,
        };
        if let Some(esc) = escape {
            out.extend_from_slice(&bytes[start..i]);
            if esc.is_empty() {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            } else {
                out.extend_from_slice(esc);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_like_go() {
        let v: Value = serde_json::from_str(
            r#"{"b":1.50,"a":"<x>&\u2028\n","c":[true,null,12345678901234567890123],"d":{}}"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"a":"\u003cx\u003e\u0026\u2028\n","b":1.50,"c":[true,null,12345678901234567890123],"d":{}}"#
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let v = Value::String("a\u{1}b".into());
        assert_eq!(to_vec(&v), br#""a\u0001b""#);
    }

    fn round_trip(body: &str) -> String {
        String::from_utf8(to_vec(&parse(body.as_bytes()).unwrap())).unwrap()
    }

    #[test]
    fn exponents_are_kept_as_sent() {
        assert_eq!(
            round_trip(r#"[1e3,2E-2,5e+1,-1.5E+10,0e0,3e-4,7E07]"#),
            "[1e3,2E-2,5e+1,-1.5E+10,0e0,3e-4,7E07]"
        );
        // literals that read as a tag, strings that look like numbers, nesting, keys
        assert_eq!(
            round_trip(r#"{"-0e-01":[-0e-01,-0E-00,"1e3",{"k":"\"2E2\"","n":[9E9]}],"z":1e3}"#),
            r#"{"-0e-01":[-0e-01,-0E-00,"1e3",{"k":"\"2E2\"","n":[9E9]}],"z":1e3}"#
        );
        // nothing to restore: parsed as is
        assert_eq!(
            round_trip(r#"{"a":1.50,"b":"e1e","c":2e-3}"#),
            r#"{"a":1.50,"b":"e1e","c":2e-3}"#
        );
    }

    #[test]
    fn invalid_bodies_report_their_own_error() {
        for body in ["[1e3,", "{\"a\":01E3}", "[1E3 x]", "[1E]", "\"1E3"] {
            let want = serde_json::from_str::<Value>(body).unwrap_err().to_string();
            assert_eq!(
                parse(body.as_bytes()).unwrap_err().to_string(),
                want,
                "{body}"
            );
        }
    }
}
