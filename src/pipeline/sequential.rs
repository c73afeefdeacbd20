//! The sequential proxy: backends called one after another, each with values of the answers
//! before it in its `url_pattern` (`{respN_field}`, `{respN}` for a whole `no-op` body).

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::merge::Accumulator;
use super::Pipe;
use crate::message::{Payload, ProxyError, ProxyRequest, ProxyResult};

/// The largest `no-op` body a sequential pipe reads to propagate it as `respN`.
const MAX_RAW_BODY: usize = 64 << 20;

/// A value taken from an earlier response in a sequential pipe.
#[derive(Debug, Clone)]
pub(super) struct SeqReplacement {
    backend_index: usize,
    destination: String,
    source: Vec<String>,
    /// `resp0`: the whole raw body of a `no-op` backend.
    full_response: bool,
}

impl Pipe {
    pub(super) async fn sequential_merge(
        &self,
        req: &mut ProxyRequest,
        reps: &[Vec<SeqReplacement>],
        deadline: Instant,
    ) -> ProxyResult {
        let mut parts: Vec<Option<Map<String, Value>>> = vec![None; self.backends.len()];
        let mut raws: Vec<Option<String>> = vec![None; self.backends.len()];
        let needs_raw = |i: usize| {
            reps.iter()
                .flatten()
                .any(|r| r.full_response && r.backend_index == i)
        };
        let mut acc = Accumulator::default();
        for (i, backend) in self.backends.iter().enumerate() {
            for r in &reps[i] {
                if r.backend_index >= i {
                    continue;
                }
                if r.full_response {
                    if let Some(raw) = &raws[r.backend_index] {
                        req.params.push((r.destination.clone(), raw.clone()));
                    }
                    continue;
                }
                let Some(data) = &parts[r.backend_index] else {
                    continue;
                };
                if let Some(v) = lookup(data, &r.source) {
                    req.params.push((r.destination.clone(), stringify(v)));
                }
            }
            let call = self.call_one(backend, req.clone_for_backend(), Some(deadline));
            match tokio::time::timeout_at(deadline, call)
                .await
                .unwrap_or(Err(ProxyError::Timeout))
            {
                Err(e) if i == 0 => return (None, Some(e)),
                Err(e) => {
                    acc.merge(Err(e));
                    break;
                }
                Ok(mut resp) => {
                    // a `no-op` answer is complete; its body is kept only when a later
                    // backend asks for `respN`
                    match std::mem::take(&mut resp.payload) {
                        Payload::Raw(raw) => {
                            resp.is_complete = true;
                            if needs_raw(i) {
                                let body =
                                    crate::vocab::body::read_body(raw.into_body(), MAX_RAW_BODY)
                                        .await
                                        .unwrap_or_default();
                                raws[i] = Some(String::from_utf8_lossy(&body).into_owned());
                            }
                        }
                        other => resp.payload = other,
                    }
                    let complete = resp.is_complete;
                    let data = resp.data_mut().cloned().unwrap_or_default();
                    acc.merge(Ok(resp));
                    if !complete {
                        break;
                    }
                    parts[i] = Some(data);
                }
            }
        }
        acc.result()
    }
}

pub(super) fn seq_replacement(key: &str) -> Option<SeqReplacement> {
    let rest = key
        .strip_prefix("Resp")
        .or_else(|| key.strip_prefix("resp"))?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let backend_index = rest[..digits].parse().ok()?;
    let field = rest[digits..].strip_prefix('_').unwrap_or("");
    if field.is_empty() {
        // the whole raw response: only `no-op` backends keep one
        return Some(SeqReplacement {
            backend_index,
            destination: format!("Resp{}", &rest[..digits]),
            source: Vec::new(),
            full_response: true,
        });
    }
    Some(SeqReplacement {
        backend_index,
        destination: format!("Resp{}_{field}", &rest[..digits]),
        source: field.split('.').map(str::to_string).collect(),
        full_response: false,
    })
}

fn lookup<'a>(data: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = data;
    for p in parents {
        cur = cur.get(p)?.as_object()?;
    }
    cur.get(last)
}

/// Go's `%v` of a decoded JSON value, as Lura puts it into a URL.
fn stringify(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(stringify).collect::<Vec<_>>().join(","),
        Value::Object(m) => {
            let inner: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", stringify(v)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_keys() {
        let r = seq_replacement("Resp0_first.foo").unwrap();
        assert_eq!(r.backend_index, 0);
        assert_eq!(r.destination, "Resp0_first.foo");
        assert_eq!(r.source, vec!["first", "foo"]);
        assert!(seq_replacement("Id").is_none());
        let full = seq_replacement("Resp0").unwrap();
        assert!(full.full_response);
        assert_eq!(full.destination, "Resp0");
    }

    #[test]
    fn go_stringify() {
        let v: Value = serde_json::from_str(r#"[1,"a",true,null]"#).unwrap();
        assert_eq!(stringify(&v), "1,a,true,<nil>");
    }
}
