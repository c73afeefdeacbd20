//! XML in and out, shaped as KrakenD's krakend-xml (mxj) shapes it: attributes as `-name`,
//! mixed text as `#text`, repeated elements as lists, one root key (or `<doc>` around several).

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Decodes an XML document into a map keyed by its root element.
pub fn decode(body: &[u8]) -> Result<Map<String, Value>> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    // stack of (name, attributes/children map, text)
    let mut stack: Vec<(String, Map<String, Value>, String)> =
        vec![(String::new(), Map::new(), String::new())];
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| Error::malformed("xml", e))?;
        match event {
            Event::Start(e) | Event::Empty(e) if stack.len() > 256 => {
                let _ = e;
                return Err(Error::decode("xml: document too deeply nested"));
            }
            Event::Start(e) => {
                let (name, attrs) = element(&e)?;
                stack.push((name, attrs, String::new()));
            }
            Event::Empty(e) => {
                let (name, attrs) = element(&e)?;
                let value = finish(attrs, String::new());
                if let Some(parent) = stack.last_mut() {
                    insert(&mut parent.1, name, value);
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| Error::malformed("xml", e))?;
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err(Error::decode("xml: unexpected closing tag"));
                }
                let Some((name, attrs, text)) = stack.pop() else {
                    break;
                };
                let value = finish(attrs, text);
                if let Some(parent) = stack.last_mut() {
                    insert(&mut parent.1, name, value);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if stack.len() != 1 {
        return Err(Error::decode("xml: unexpected end of document"));
    }
    let root = stack.pop().map(|s| s.1).unwrap_or_default();
    if root.is_empty() {
        return Err(Error::decode("xml: no root element"));
    }
    Ok(root)
}

fn element(e: &quick_xml::events::BytesStart) -> Result<(String, Map<String, Value>)> {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let mut attrs = Map::new();
    for a in e.attributes() {
        let a = a.map_err(|e| Error::malformed("xml", e))?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let val = a
            .unescape_value()
            .map_err(|e| Error::malformed("xml", e))?
            .into_owned();
        attrs.insert(format!("-{key}"), Value::String(val));
    }
    Ok((name, attrs))
}

fn finish(mut map: Map<String, Value>, text: String) -> Value {
    if map.is_empty() {
        return Value::String(text);
    }
    if !text.is_empty() {
        map.insert("#text".into(), Value::String(text));
    }
    Value::Object(map)
}

fn insert(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            map.insert(key, value);
        }
    }
}

/// Renders data as XML: the single key is the root, several keys are wrapped in `<doc>`.
pub fn render(data: &Map<String, Value>) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    if data.len() == 1 {
        if let Some((k, v)) = data.iter().next() {
            write_element(&mut out, k, v);
        }
    } else {
        write_element(&mut out, "doc", &Value::Object(data.clone()));
    }
    out.into_bytes()
}

fn write_element(out: &mut String, name: &str, v: &Value) {
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str(&format!("<{name}/>"));
            }
            for item in items {
                write_element(out, name, item);
            }
        }
        Value::Object(map) => {
            out.push('<');
            out.push_str(name);
            let mut text = None;
            for (k, val) in map {
                if let Some(attr) = k.strip_prefix('-') {
                    out.push_str(&format!(" {attr}=\"{}\"", escape(&scalar(val))));
                } else if k == "#text" {
                    text = Some(scalar(val));
                }
            }
            let children: Vec<_> = map
                .iter()
                .filter(|(k, _)| !k.starts_with('-') && k.as_str() != "#text")
                .collect();
            if children.is_empty() && text.as_deref().is_none_or(str::is_empty) {
                out.push_str("/>");
                return;
            }
            out.push('>');
            if let Some(t) = text {
                out.push_str(&escape(&t));
            }
            for (k, val) in children {
                write_element(out, k, val);
            }
            out.push_str(&format!("</{name}>"));
        }
        other => {
            let s = scalar(other);
            if s.is_empty() {
                out.push_str(&format!("<{name}/>"));
            } else {
                out.push_str(&format!("<{name}>{}</{name}>", escape(&s)));
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => String::from_utf8_lossy(&super::json::to_vec(other)).into_owned(),
    }
}

fn escape(s: &str) -> String {
    if !s.contains(['&', '<', '>', '"']) {
        return s.to_string();
    }
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_shapes() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<user type="admin">
  <name>Elliot</name>
  <social><a>1</a><a>2</a></social>
</user>"#;
        let m = decode(doc).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"user":{"-type":"admin","name":"Elliot","social":{"a":["1","2"]}}}"#
        );
        assert_eq!(
            String::from_utf8(render(&m)).unwrap(),
            r#"<user type="admin"><name>Elliot</name><social><a>1</a><a>2</a></social></user>"#
        );
    }

    #[test]
    fn several_keys_get_a_doc_root() {
        let m: Map<String, Value> = serde_json::from_str(r#"{"b":{},"a":42}"#).unwrap();
        assert_eq!(render(&m), b"<doc><a>42</a><b/></doc>");
    }

    #[test]
    fn broken_xml_is_an_error() {
        assert!(decode(b"<a><b></a>").is_err());
        assert!(decode(b"").is_err());
    }
}
