//! Header names as Go writes them (`CanonicalMIMEHeaderKey`), the most written ones without
//! looking at their bytes.

/// The canonical (Go) spelling of the header names a gateway writes most: its own by their
/// text, the standard ones without looking at their bytes (they compare by their index).
fn canonical_name(name: &http::HeaderName) -> Option<&'static [u8]> {
    use http::header::*;
    match name.as_str() {
        "x-krakend" => return Some(b"X-Krakend"),
        "x-krakend-completed" => return Some(b"X-Krakend-Completed"),
        "x-forwarded-for" => return Some(b"X-Forwarded-For"),
        "x-forwarded-host" => return Some(b"X-Forwarded-Host"),
        "x-forwarded-via" => return Some(b"X-Forwarded-Via"),
        _ => {}
    }
    // one table for the process, not a temporary per call
    static STANDARD: [(HeaderName, &[u8]); 17] = [
        (CONTENT_TYPE, b"Content-Type"),
        (USER_AGENT, b"User-Agent"),
        (ACCEPT_ENCODING, b"Accept-Encoding"),
        (CACHE_CONTROL, b"Cache-Control"),
        (ACCEPT, b"Accept"),
        (AUTHORIZATION, b"Authorization"),
        (ACCEPT_LANGUAGE, b"Accept-Language"),
        (COOKIE, b"Cookie"),
        (SET_COOKIE, b"Set-Cookie"),
        (VARY, b"Vary"),
        (DATE, b"Date"),
        (SERVER, b"Server"),
        (ETAG, b"Etag"),
        (LAST_MODIFIED, b"Last-Modified"),
        (LOCATION, b"Location"),
        (CONTENT_ENCODING, b"Content-Encoding"),
        (ACCESS_CONTROL_ALLOW_ORIGIN, b"Access-Control-Allow-Origin"),
    ];
    STANDARD
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, canonical)| *canonical)
}

/// Writes a header name as Go writes the keys of its header maps (`CanonicalMIMEHeaderKey`):
/// the first letter and each one after a `-` upper case, the others lower case.
pub fn push_canonical(out: &mut Vec<u8>, name: &http::HeaderName) {
    if let Some(canonical) = canonical_name(name) {
        out.extend_from_slice(canonical);
        return;
    }
    // names in a map are lower case: only the letters to raise change
    let start = out.len();
    out.extend_from_slice(name.as_str().as_bytes());
    let mut upper = true;
    for b in &mut out[start..] {
        if upper {
            b.make_ascii_uppercase();
        }
        upper = *b == b'-';
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_written_as_go_writes_them() {
        let names = [
            ("content-type", "Content-Type"),
            ("etag", "Etag"),
            ("www-authenticate", "Www-Authenticate"),
            ("x-krakend-completed", "X-Krakend-Completed"),
            ("x-forwarded-via", "X-Forwarded-Via"),
            ("access-control-allow-origin", "Access-Control-Allow-Origin"),
            ("x-custom-thing", "X-Custom-Thing"),
            ("a", "A"),
            ("x--y", "X--Y"),
        ];
        for (name, go) in names {
            let mut out = Vec::new();
            push_canonical(&mut out, &http::HeaderName::from_static(name));
            assert_eq!(String::from_utf8(out).unwrap(), go);
        }
        // every table entry spells its name in Go's form
        for name in [
            "content-type",
            "user-agent",
            "accept-encoding",
            "cache-control",
            "accept",
            "authorization",
            "accept-language",
            "cookie",
            "set-cookie",
            "vary",
            "date",
            "server",
            "last-modified",
            "location",
            "content-encoding",
            "x-krakend",
            "x-forwarded-for",
            "x-forwarded-host",
        ] {
            let header = http::HeaderName::from_static(name);
            let go: Vec<u8> = crate::vocab::go::canonical_token(name).collect();
            assert_eq!(canonical_name(&header), Some(&go[..]), "{name}");
        }
    }
}
