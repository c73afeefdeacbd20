//! The writer: what Go's `encoding/json` writes for a value. Keys sorted (serde_json's map is
//! a BTreeMap), numbers written as the backend sent them, `<`, `>`, `&`, U+2028 and U+2029
//! escaped, no spaces, no trailing newline.

use serde_json::Value;

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

/// How the writer escapes each byte of a string: 0 as it is; `b`, `f`, `n`, `r`, `t`, `"`, `\` after a
/// backslash; `u` as `\u00XX` (other control characters and Go's HTML escapes `<`, `>`, `&`);
/// `L` for 0xE2, which starts U+2028 and U+2029 (escaped as `\u2028`, `\u2029`).
pub(super) static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    // Go 1.22 and later (the Go of KrakenD CE 2.6+) write these two short forms too
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'<' as usize] = b'u';
    t[b'>' as usize] = b'u';
    t[b'&' as usize] = b'u';
    t[0xE2] = b'L';
    t
};

/// Writes a string quoted and escaped as the render writes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_utf8(out, s.as_bytes());
}

/// Writes a string given as UTF-8 bytes (checked by the caller), quoted and escaped.
pub(super) fn write_utf8(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match ESCAPE[b as usize] {
            0 => {
                i += 1;
                continue;
            }
            b'L' => {
                if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9))
                {
                    out.extend_from_slice(&bytes[start..i]);
                    out.extend_from_slice(if bytes[i + 2] == 0xA8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 3;
                    start = i;
                } else {
                    i += 1;
                }
                continue;
            }
            b'u' => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            c => {
                out.extend_from_slice(&bytes[start..i]);
                out.push(b'\\');
                out.push(c);
            }
        }
        i += 1;
        start = i;
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

    /// Go's escaping (1.22 and later), character by character.
    fn go_escape(c: char) -> String {
        match c {
            '\u{8}' => "\\b".into(),
            '\u{c}' => "\\f".into(),
            '"' => "\\\"".into(),
            '\\' => "\\\\".into(),
            '\n' => "\\n".into(),
            '\r' => "\\r".into(),
            '\t' => "\\t".into(),
            '\u{2028}' | '\u{2029}' => format!("\\u{:04x}", c as u32),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                format!("\\u{:04x}", c as u32)
            }
            c => c.to_string(),
        }
    }

    #[test]
    fn every_character_is_written_as_go_writes_it() {
        let (mut all, mut want) = (String::new(), String::from("\""));
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let mut out = Vec::new();
            write_str(&mut out, c.encode_utf8(&mut [0; 4]));
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("\"{}\"", go_escape(c)),
                "U+{:04X}",
                c as u32
            );
            all.push(c);
            want.push_str(&go_escape(c));
        }
        want.push('"');
        let mut out = Vec::new();
        write_str(&mut out, &all);
        assert!(String::from_utf8(out).unwrap() == want);
    }

    #[test]
    fn control_characters_are_escaped() {
        let v = Value::String("a\u{1}b".into());
        assert_eq!(to_vec(&v), br#""a\u0001b""#);
    }
}
