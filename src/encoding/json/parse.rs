//! The decoder: [`parse`] keeps every number literal as the backend sent it (as Go's
//! `json.Number` does).

use serde_json::{Number, Value};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::json::to_vec;

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
