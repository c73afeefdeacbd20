//! Go's spellings where KrakenD's answers show them: header names as `net/textproto` writes
//! them, `time.Now().String()`, and the verb `net/http`'s client names a failed call with.

use std::time::{SystemTime, UNIX_EPOCH};

/// The verb Go's `http.Client` starts a failed call's error with (`Get "url": ...`).
pub fn client_verb(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "Get",
        http::Method::POST => "Post",
        http::Method::PUT => "Put",
        http::Method::PATCH => "Patch",
        http::Method::DELETE => "Delete",
        _ => "Do",
    }
}

/// Go's `time.Now().String()` for UTC, with the monotonic reading since start.
pub fn go_now(started: std::time::Instant) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mono = started.elapsed().as_secs_f64();
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:09} +0000 UTC m=+{mono:.9}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `x-header` → `X-Header`;
/// a name with characters a header name may not hold is left as it is.
pub fn canonical_header(name: &str) -> String {
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return name.to_string();
    }
    canonical_token(name).map(char::from).collect()
}

/// The bytes of [`canonical_header`] for a name already known to be a valid token (as every
/// `http::HeaderName` is): upper case first and after each `-`, lower case elsewhere.
pub fn canonical_token(name: &str) -> impl Iterator<Item = u8> + '_ {
    let mut upper = true;
    name.bytes().map(move |b| {
        let c = if upper {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        };
        upper = b == b'-';
        c
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
        assert_eq!(canonical_header("x-y-z"), "X-Y-Z");
    }
}
