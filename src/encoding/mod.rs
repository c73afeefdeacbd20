//! Backend decoders (json, safejson, string, xml, rss, no-op) and endpoint renders (json,
//! json-collection, negotiate, string, xml, yaml, no-op).

pub mod json;
pub mod rss;
pub mod xml;
pub mod yaml;

use serde_json::{Map, Value};

/// How a backend response body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Json,
    SafeJson,
    String,
    Xml,
    Rss,
    NoOp,
}

impl Decoder {
    pub fn from_name(name: &str) -> Decoder {
        match name {
            "safejson" => Decoder::SafeJson,
            "string" => Decoder::String,
            "xml" => Decoder::Xml,
            "rss" => Decoder::Rss,
            "no-op" => Decoder::NoOp,
            _ => Decoder::Json,
        }
    }

    /// Decodes a body into the data map the pipeline works on.
    pub fn decode(self, body: &[u8], is_collection: bool) -> Result<Map<String, Value>, String> {
        match self {
            Decoder::Json => {
                if is_collection {
                    match json::parse(body) {
                        Ok(Value::Array(items)) => Ok(collection(Value::Array(items))),
                        Ok(other) => Err(format!(
                            "json: cannot unmarshal {} into Go value of type []interface {{}}",
                            go_kind(&other)
                        )),
                        Err(e) => Err(format!("json: {e}")),
                    }
                } else {
                    match json::parse(body) {
                        Ok(Value::Object(m)) => Ok(m),
                        Ok(Value::Null) => Ok(Map::new()),
                        Ok(other) => Err(format!(
                            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                            go_kind(&other)
                        )),
                        Err(e) => Err(format!("json: {e}")),
                    }
                }
            }
            Decoder::SafeJson => match json::parse(body) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(Value::Array(items)) => Ok(collection(Value::Array(items))),
                Ok(other) => {
                    let mut m = Map::new();
                    m.insert("content".into(), other);
                    Ok(m)
                }
                Err(e) => Err(format!("json: {e}")),
            },
            Decoder::String => {
                let mut m = Map::new();
                m.insert(
                    "content".into(),
                    Value::String(String::from_utf8_lossy(body).into_owned()),
                );
                Ok(m)
            }
            Decoder::Xml => xml::decode(body).map_err(String::from),
            Decoder::Rss => rss::decode(body).map_err(String::from),
            Decoder::NoOp => Ok(Map::new()),
        }
    }
}

fn collection(v: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("collection".into(), v);
    m
}

fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    }
}

/// How an endpoint writes its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    Json,
    JsonCollection,
    Negotiate,
    String,
    Xml,
    Yaml,
    NoOp,
}

impl Render {
    pub fn from_name(name: &str) -> Option<Render> {
        Some(match name {
            "json" => Render::Json,
            "json-collection" => Render::JsonCollection,
            "negotiate" => Render::Negotiate,
            "string" => Render::String,
            "xml" => Render::Xml,
            "yaml" => Render::Yaml,
            "no-op" => Render::NoOp,
            _ => return None,
        })
    }

    /// Renders data; returns the content type and the body.
    pub fn render(
        self,
        data: &Map<String, Value>,
        accept: Option<&str>,
    ) -> (&'static str, Vec<u8>) {
        match self {
            Render::Json | Render::NoOp => (JSON_CT, json::map_to_vec(data)),
            Render::JsonCollection => {
                let body = match data.get("collection") {
                    Some(v @ Value::Array(_)) => json::to_vec(v),
                    _ => b"[]".to_vec(),
                };
                (JSON_CT, body)
            }
            Render::String => {
                let body = match data.get("content") {
                    Some(Value::String(s)) => s.clone().into_bytes(),
                    Some(Value::Null) | None => Vec::new(),
                    Some(other) => json::to_vec(other),
                };
                ("text/plain; charset=utf-8", body)
            }
            Render::Xml => ("application/xml", xml::render(data)),
            Render::Yaml => (YAML_CT, yaml::render(data)),
            Render::Negotiate => match negotiate(accept.unwrap_or("")) {
                Negotiated::Xml => Render::Xml.render(data, None),
                Negotiated::Yaml => Render::Yaml.render(data, None),
                Negotiated::Json => Render::Json.render(data, None),
            },
        }
    }
}

pub const JSON_CT: &str = "application/json; charset=utf-8";
const YAML_CT: &str = "application/yaml; charset=utf-8";

enum Negotiated {
    Json,
    Xml,
    Yaml,
}

/// gin's `NegotiateFormat` over the offers KrakenD makes (JSON first).
fn negotiate(accept: &str) -> Negotiated {
    const OFFERS: &[&str] = &[
        "application/json",
        "text/plain",
        "application/xml",
        "application/x-yaml",
        "application/yaml",
    ];
    for accepted in accept.split(',') {
        let accepted = accepted.split(';').next().unwrap_or("").trim();
        if accepted.is_empty() {
            continue;
        }
        for offer in OFFERS {
            let a = accepted.as_bytes();
            let o = offer.as_bytes();
            let mut i = 0;
            let mut wildcard = false;
            while i < a.len() && i < o.len() {
                if a[i] == b'*' || o[i] == b'*' {
                    wildcard = true;
                    break;
                }
                if a[i] != o[i] {
                    break;
                }
                i += 1;
            }
            if wildcard || i == a.len() {
                return match *offer {
                    "application/xml" => Negotiated::Xml,
                    "text/plain" | "application/x-yaml" | "application/yaml" => Negotiated::Yaml,
                    _ => Negotiated::Json,
                };
            }
        }
    }
    Negotiated::Json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_decoder_rejects_arrays_without_is_collection() {
        let err = Decoder::Json.decode(b"[1,2]", false).unwrap_err();
        assert_eq!(
            err,
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        let ok = Decoder::Json.decode(b"[1,2]", true).unwrap();
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"collection":[1,2]}"#
        );
    }

    #[test]
    fn safejson_wraps_scalars() {
        let m = Decoder::SafeJson.decode(b"\"hi\"", false).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"content":"hi"}"#);
    }

    #[test]
    fn negotiation_follows_accept() {
        let data: Map<String, Value> = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert_eq!(
            Render::Negotiate.render(&data, Some("text/plain")).0,
            YAML_CT
        );
        assert_eq!(
            Render::Negotiate.render(&data, Some("application/xml")).0,
            "application/xml"
        );
        assert_eq!(Render::Negotiate.render(&data, None).0, JSON_CT);
        assert_eq!(Render::Negotiate.render(&data, Some("*/*")).0, JSON_CT);
    }
}
