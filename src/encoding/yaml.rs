//! A YAML writer shaped like Go's yaml.v2 output, used by the `yaml` and `negotiate` renders:
//! sorted keys, two-space indentation, sequences flush with their key, plain scalars when safe.

use serde_json::{Map, Value};

/// Renders a map as a YAML document.
pub fn render(data: &Map<String, Value>) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    if data.is_empty() {
        out.push_str("{}\n");
    } else {
        write_map(&mut out, data, 0);
    }
    out.into_bytes()
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push(' ');
    }
}

fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize) {
    let mut first = true;
    for (k, v) in map {
        if !first {
            pad(out, indent);
        }
        first = false;
        out.push_str(&scalar_str(k));
        out.push(':');
        write_child(out, v, indent, false);
    }
}

/// Writes the value after `key:` (or after `- `), then a newline.
fn write_child(out: &mut String, v: &Value, indent: usize, in_seq: bool) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            write_map(out, m, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            let seq_indent = if in_seq { indent + 2 } else { indent };
            pad(out, seq_indent);
            write_seq(out, items, seq_indent);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            pad(out, indent);
        }
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                out.push(' ');
                write_map(out, m, indent + 2);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push(' ');
                write_seq(out, inner, indent + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_str(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

fn scalar_str(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

fn is_plain_safe(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return false;
    }
    let first = s.as_bytes()[0];
    if b"!&*?|>'\"%@`#,[]{}".contains(&first) {
        return false;
    }
    if (first == b'-' || first == b':') && (s.len() == 1 || s.as_bytes()[1] == b' ') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if s.chars().any(|c| c.is_control()) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    ) {
        return false;
    }
    let numeric = s
        .trim_start_matches(['+', '-'])
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '_');
    !(numeric && s.chars().any(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_v2_shape() {
        let m: Map<String, Value> = serde_json::from_str(
            r#"{"user":{"-type":"admin","name":"Elliot","social":{"facebook":"https://facebook.com"}},"list":[1,"true",{"a":1,"b":2}],"e":{}}"#,
        )
        .unwrap();
        let out = String::from_utf8(render(&m)).unwrap();
        assert_eq!(
            out,
            "e: {}\nlist:\n- 1\n- \"true\"\n- a: 1\n  b: 2\nuser:\n  -type: admin\n  name: Elliot\n  social:\n    facebook: https://facebook.com\n"
        );
    }
}
