//! Go duration strings (`"1.5s"`, `"300ms"`, `"1h2m"`), as `time.ParseDuration` reads them.

use std::time::Duration;

use crate::error::{Error, Result};

/// Parses a Go duration string. Negative durations are rejected: no KrakenD field takes one.
pub fn parse_go_duration(input: &str) -> Result<Duration> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Error::other("empty duration"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(Error::other(format!("negative duration {input:?}")));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: f64 = 0.0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(Error::other(format!("invalid duration {input:?}")));
        }
        let number: f64 = s[start..i]
            .parse()
            .map_err(|_| Error::other(format!("invalid duration {input:?}")))?;
        let unit_start = i;
        while i < bytes.len() && !(bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let nanos_per_unit = match &s[unit_start..i] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(Error::other(format!("missing unit in duration {input:?}"))),
            other => {
                return Err(Error::other(format!(
                    "unknown unit {other:?} in duration {input:?}"
                )))
            }
        };
        total += number * nanos_per_unit;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(Error::other(format!("duration {input:?} out of range")));
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_go_duration("300ms").unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(
            parse_go_duration("1h2m").unwrap(),
            Duration::from_secs(3720)
        );
        assert_eq!(
            parse_go_duration("150us").unwrap(),
            Duration::from_micros(150)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("abc").is_err());
        assert!(parse_go_duration("-1s").is_err());
        assert!(parse_go_duration("3x").is_err());
    }
}
