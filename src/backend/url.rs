//! `url_pattern` templates, parsed once: literal text and `{param}` slots. Parameter keys are
//! stored as Lura stores them (first letter upper-cased: `{id}` → `Id`).

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// The text as written and as it is sent (escaped once, at start-up).
    Literal(String, String),
    Param(String),
}

/// A parsed `url_pattern` (path and optional query part).
#[derive(Debug, Clone)]
pub struct UrlTemplate {
    path: Vec<Part>,
    query: Option<Vec<Part>>,
}

/// Lura's parameter key: the first letter upper-cased.
pub fn param_key(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn literal(text: &str) -> Part {
    let mut escaped = String::with_capacity(text.len());
    escape_into(&mut escaped, text);
    Part::Literal(text.to_string(), escaped)
}

fn parse_parts(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        if start > 0 {
            parts.push(literal(&rest[..start]));
        }
        let name = &rest[start + 1..start + len];
        if name.is_empty() {
            parts.push(literal("{}"));
        } else {
            parts.push(Part::Param(param_key(name)));
        }
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        parts.push(literal(rest));
    }
    parts
}

impl UrlTemplate {
    pub fn parse(pattern: &str) -> UrlTemplate {
        match pattern.split_once('?') {
            Some((path, query)) => UrlTemplate {
                path: parse_parts(path),
                query: Some(parse_parts(query)),
            },
            None => UrlTemplate {
                path: parse_parts(pattern),
                query: None,
            },
        }
    }

    /// Renders the path (escaped where a URI needs it) and the pattern's own query.
    pub fn render<'a>(
        &self,
        lookup: impl Fn(&str) -> Option<&'a str>,
        out_path: &mut String,
    ) -> Option<String> {
        for part in &self.path {
            match part {
                Part::Literal(_, escaped) => out_path.push_str(escaped),
                Part::Param(k) => escape_into(out_path, lookup(k).unwrap_or("")),
            }
        }
        self.query.as_ref().map(|q| {
            let mut out = String::new();
            for part in q {
                match part {
                    Part::Literal(_, escaped) => out.push_str(escaped),
                    Part::Param(k) => escape_into(&mut out, lookup(k).unwrap_or("")),
                }
            }
            out
        })
    }

    /// The pattern as Lura prints it in errors (`/users/{{.Id}}`).
    pub fn go_form(&self) -> String {
        let mut out = String::new();
        let mut write = |parts: &[Part]| {
            for p in parts {
                match p {
                    Part::Literal(s, _) => out.push_str(s),
                    Part::Param(k) => {
                        out.push_str("{{.");
                        out.push_str(k);
                        out.push_str("}}");
                    }
                }
            }
        };
        write(&self.path);
        if let Some(q) = &self.query {
            let mut s = String::from("?");
            for p in q {
                match p {
                    Part::Literal(l, _) => s.push_str(l),
                    Part::Param(k) => {
                        s.push_str("{{.");
                        s.push_str(k);
                        s.push_str("}}");
                    }
                }
            }
            out.push_str(&s);
        }
        out
    }
}

/// The bytes a URI carries as they are: unreserved, sub-delimiters, `:`, `@`, `/`, `?`, `%`.
pub(crate) static URI_SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = matches!(i as u8,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'!' | b'$'
            | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@' | b'/'
            | b'?' | b'%');
        i += 1;
    }
    table
};

/// Copies `s`, percent-encoding bytes a URI may not carry as they are; runs of safe bytes are
/// copied whole.
fn escape_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && URI_SAFE[usize::from(bytes[i])] {
            i += 1;
        }
        if i > start {
            // a run of safe (ASCII) bytes starts and ends on character boundaries
            out.push_str(&s[start..i]);
        }
        if let Some(&b) = bytes.get(i) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
            i += 1;
        }
    }
}

/// Go's `url.QueryEscape`.
pub fn query_escape(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_params_and_query() {
        let t = UrlTemplate::parse("/param_forwarding/{bar}?foo={foo}");
        let params = [("Bar", "b a"), ("Foo", "x")];
        let mut path = String::new();
        let q = t.render(
            |k| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v),
            &mut path,
        );
        assert_eq!(path, "/param_forwarding/b%20a");
        assert_eq!(q.as_deref(), Some("foo=x"));
        assert_eq!(t.go_form(), "/param_forwarding/{{.Bar}}?foo={{.Foo}}");

        let t = UrlTemplate::parse("/caf\u{e9} x/{id}");
        let mut path = String::new();
        t.render(|_| Some("\u{e9}t\u{e9}/\"1\""), &mut path);
        assert_eq!(path, "/caf%C3%A9%20x/%C3%A9t%C3%A9/%221%22");
        assert_eq!(t.go_form(), "/caf\u{e9} x/{{.Id}}");
    }

    #[test]
    fn keys_are_capitalised() {
        assert_eq!(param_key("id"), "Id");
        assert_eq!(param_key("resp0_foo"), "Resp0_foo");
        assert_eq!(param_key("JWT.sub"), "JWT.sub");
    }
}
