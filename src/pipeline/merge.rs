//! The endpoint pipe: one backend called directly, several merged in parallel (85 % deadline,
//! arrival order, shallow merge) or in sequence (`{respN_field}`), `concurrent_calls`
//! (75 % deadline, first complete answer wins), shadow backends, the static proxy and the
//! endpoint-level flatmap filter.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{ProxyError, ProxyRequest, ProxyResponse, ProxyResult};
use crate::backend::Backend;
use crate::transform::{apply_flatmap, FlatmapOp};

/// The largest `no-op` body a sequential pipe reads to propagate it as `respN`.
const MAX_RAW_BODY: usize = 64 << 20;

/// When the static proxy injects its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticStrategy {
    Always,
    Success,
    Complete,
    Errored,
    Incomplete,
}

impl StaticStrategy {
    pub fn from_name(name: &str) -> StaticStrategy {
        match name {
            "success" => StaticStrategy::Success,
            "complete" => StaticStrategy::Complete,
            "errored" => StaticStrategy::Errored,
            "incomplete" => StaticStrategy::Incomplete,
            _ => StaticStrategy::Always,
        }
    }

    fn applies(self, resp: Option<&ProxyResponse>, err: Option<&ProxyError>) -> bool {
        match self {
            StaticStrategy::Always => true,
            StaticStrategy::Success => err.is_none(),
            StaticStrategy::Complete => err.is_none() && resp.is_some_and(|r| r.is_complete),
            StaticStrategy::Errored => err.is_some(),
            StaticStrategy::Incomplete => resp.is_none_or(|r| !r.is_complete),
        }
    }
}

/// A value taken from an earlier response in a sequential pipe.
#[derive(Debug, Clone)]
struct SeqReplacement {
    backend_index: usize,
    destination: String,
    source: Vec<String>,
    /// `resp0`: the whole raw body of a `no-op` backend.
    full_response: bool,
}

/// One endpoint's pipe, built at start-up.
pub struct Pipe {
    pub backends: Vec<Arc<Backend>>,
    pub shadows: Vec<Arc<Backend>>,
    pub timeout: Duration,
    pub concurrent_calls: usize,
    sequential: Option<Vec<Vec<SeqReplacement>>>,
    pub static_data: Option<(StaticStrategy, Map<String, Value>)>,
    flatmap: Option<Vec<FlatmapOp>>,
}

impl Pipe {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        backends: Vec<Arc<Backend>>,
        shadows: Vec<Arc<Backend>>,
        timeout: Duration,
        concurrent_calls: usize,
        sequential: bool,
        propagated: &[String],
        static_data: Option<(StaticStrategy, Map<String, Value>)>,
        flatmap: Option<Vec<FlatmapOp>>,
    ) -> Pipe {
        let sequential = sequential.then(|| {
            backends
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let mut reps: Vec<SeqReplacement> = crate::config::placeholders(&b.url_pattern)
                        .into_iter()
                        .filter_map(|p| seq_replacement(&crate::backend::url::param_key(p)))
                        .collect();
                    if i > 0 {
                        reps.extend(
                            propagated.iter().filter_map(|p| {
                                seq_replacement(&crate::backend::url::param_key(p))
                            }),
                        );
                    }
                    reps
                })
                .collect()
        });
        Pipe {
            flatmap: if backends.len() > 1 { flatmap } else { None },
            backends,
            shadows,
            timeout,
            concurrent_calls,
            sequential,
            static_data,
        }
    }

    /// The backend of a pipe that is one plain call: one backend, called once, with nothing
    /// added, filtered or shadowed on the way. The endpoint calls it directly.
    pub fn single(&self) -> Option<&Arc<Backend>> {
        match self.backends.as_slice() {
            [only]
                if self.shadows.is_empty()
                    && self.sequential.is_none()
                    && self.static_data.is_none()
                    && self.flatmap.is_none()
                    && self.concurrent_calls <= 1 =>
            {
                Some(only)
            }
            _ => None,
        }
    }

    /// Runs the pipe; both a response and an error may come back (partial results).
    pub async fn run(&self, mut req: ProxyRequest) -> ProxyResult {
        for shadow in &self.shadows {
            let shadow = shadow.clone();
            let copy = req.clone_for_backend();
            let timeout = self.timeout;
            tokio::spawn(async move {
                let _ = tokio::time::timeout(timeout, shadow.call(copy)).await;
            });
        }
        let (mut resp, err) = if self.backends.len() == 1 {
            let backend = self.backends[0].clone();
            // one backend: the endpoint's own timeout (the same deadline) bounds the call, and
            // the clock is read only for `concurrent_calls`
            let r = self.call_one(&backend, req, None).await;
            match r {
                Ok(resp) => (Some(resp), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            let merge_deadline = Instant::now() + self.timeout * 85 / 100;
            match &self.sequential {
                Some(reps) => self.sequential_merge(&mut req, reps, merge_deadline).await,
                None => self.parallel_merge(&req, merge_deadline).await,
            }
        };
        if let (Some(ops), Some(r)) = (&self.flatmap, resp.as_mut()) {
            apply_flatmap(&mut r.data, ops);
        }
        if let Some((strategy, data)) = &self.static_data {
            if strategy.applies(resp.as_ref(), err.as_ref()) {
                let r = resp.get_or_insert_with(ProxyResponse::default);
                for (k, v) in data {
                    r.data.insert(k.clone(), v.clone());
                }
            }
        }
        (resp, err)
    }

    /// One backend call; with `concurrent_calls` the first complete of N wins within 75 % of
    /// the time left before `deadline` (the endpoint's when `None`). The caller's timer (the
    /// endpoint's, the merge's or a sequential step's) bounds it.
    async fn call_one(
        &self,
        backend: &Arc<Backend>,
        req: ProxyRequest,
        deadline: Option<Instant>,
    ) -> Result<ProxyResponse, ProxyError> {
        if self.concurrent_calls <= 1 {
            // the caller's timer bounds a single call
            return backend.call(req).await;
        }
        // concurrent_calls: the same request N times, first complete answer wins
        let start = Instant::now();
        let deadline = deadline.unwrap_or(start + self.timeout);
        let local = start + deadline.saturating_duration_since(start) * 75 / 100;
        let mut calls: FuturesUnordered<_> = (0..self.concurrent_calls)
            .map(|_| backend.call(req.clone_for_backend()))
            .collect();
        let mut last = Err(ProxyError::Timeout);
        loop {
            match tokio::time::timeout_at(local, calls.next()).await {
                Ok(Some(Ok(r))) if r.is_complete => return Ok(r),
                Ok(Some(other)) => last = other,
                Ok(None) | Err(_) => return last,
            }
        }
    }

    async fn parallel_merge(&self, req: &ProxyRequest, deadline: Instant) -> ProxyResult {
        // one timer for the whole merge: the calls still running at the deadline time out
        let mut calls: FuturesUnordered<_> = self
            .backends
            .iter()
            .map(|b| self.call_one(b, req.clone_for_backend(), Some(deadline)))
            .collect();
        let mut acc = Accumulator::default();
        let collected = tokio::time::timeout_at(deadline, async {
            while let Some(r) = calls.next().await {
                acc.merge(r);
            }
        })
        .await;
        if collected.is_err() {
            for _ in 0..calls.len() {
                acc.merge(Err(ProxyError::Timeout));
            }
        }
        acc.result()
    }

    async fn sequential_merge(
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
                    if let Some(raw) = resp.passthrough.take() {
                        resp.is_complete = true;
                        if needs_raw(i) {
                            let body = crate::backend::read_body(raw.into_body(), MAX_RAW_BODY)
                                .await
                                .unwrap_or_default();
                            raws[i] = Some(String::from_utf8_lossy(&body).into_owned());
                        }
                    }
                    let complete = resp.is_complete;
                    let data = resp.data.clone();
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

fn seq_replacement(key: &str) -> Option<SeqReplacement> {
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

/// Merges backend outcomes in the order given, as the parallel merge does on arrival.
pub fn merge_all(outcomes: Vec<Result<ProxyResponse, ProxyError>>) -> ProxyResult {
    let mut acc = Accumulator::default();
    for o in outcomes {
        acc.merge(o);
    }
    acc.result()
}

/// Lura's incremental merge accumulator.
#[derive(Default)]
struct Accumulator {
    data: Option<ProxyResponse>,
    errors: Vec<ProxyError>,
}

impl Accumulator {
    fn merge(&mut self, r: Result<ProxyResponse, ProxyError>) {
        match r {
            Err(e) => {
                self.errors.push(e);
                if let Some(d) = self.data.as_mut() {
                    d.is_complete = false;
                }
            }
            Ok(resp) => match self.data.as_mut() {
                None => self.data = Some(resp),
                Some(acc) => {
                    acc.is_complete = acc.is_complete && resp.is_complete;
                    for (k, v) in resp.data {
                        acc.data.insert(k, v);
                    }
                }
            },
        }
    }

    fn result(self) -> ProxyResult {
        let err = match self.errors.len() {
            0 => None,
            _ => Some(ProxyError::Merge(self.errors)),
        };
        match self.data {
            None => (None, err),
            Some(mut d) => {
                if err.is_some() {
                    d.is_complete = false;
                }
                (Some(d), err)
            }
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

    #[test]
    fn strategies() {
        let complete = ProxyResponse::complete(Map::new());
        let err = ProxyError::Timeout;
        assert!(StaticStrategy::Always.applies(None, None));
        assert!(StaticStrategy::Errored.applies(None, Some(&err)));
        assert!(!StaticStrategy::Errored.applies(Some(&complete), None));
        assert!(StaticStrategy::Complete.applies(Some(&complete), None));
        assert!(StaticStrategy::Incomplete.applies(None, Some(&err)));
        assert!(!StaticStrategy::Success.applies(None, Some(&err)));
    }
}
