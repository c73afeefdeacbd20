//! The endpoint pipe: one backend called directly, several merged in parallel (85 % deadline,
//! arrival order, shallow merge) or in sequence (`{respN_field}`), `concurrent_calls`
//! (75 % deadline, first complete answer wins), shadow backends, the static proxy and the
//! endpoint-level flatmap filter.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt as _};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::backend::Backend;
use crate::message::{CanonicalJson, ProxyError, ProxyRequest, ProxyResponse, ProxyResult};
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
                // rare: its future gets a box, not room in every merge's
                Some(reps) => Box::pin(self.sequential_merge(&mut req, reps, merge_deadline)).await,
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
        // every call polled in place, each answer merged as it arrives; one timer for the
        // whole merge: the calls still running at the deadline time out
        // a plain call is boxed as it is, without `call_one`'s state around it
        let mut calls: Vec<Option<BoxFuture<'_, Result<ProxyResponse, ProxyError>>>> = self
            .backends
            .iter()
            .map(|b| {
                let req = req.clone_for_backend();
                Some(if self.concurrent_calls <= 1 {
                    b.call(req).boxed()
                } else {
                    self.call_one(b, req, Some(deadline)).boxed()
                })
            })
            .collect();
        let mut acc = Accumulator::default();
        let mut running = calls.len();
        let collected = tokio::time::timeout_at(
            deadline,
            poll_fn(|cx| {
                for slot in calls.iter_mut() {
                    if let Some(call) = slot {
                        if let Poll::Ready(r) = call.as_mut().poll(cx) {
                            *slot = None;
                            running -= 1;
                            acc.merge(r);
                        }
                    }
                }
                if running == 0 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }),
        )
        .await;
        if collected.is_err() {
            for _ in calls.iter().flatten() {
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
                            let body = crate::vocab::body::read_body(raw.into_body(), MAX_RAW_BODY)
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

/// Lura's incremental merge accumulator. Objects handed on as bytes by backends with a
/// `group` stay bytes and are joined at the end, their members sorted as the render sorts
/// keys (a group answered twice keeps the later answer); once an answer comes as a map (a fallback or an error detail) every object is
/// merged as a map, in the order they arrived.
#[derive(Default)]
struct Accumulator {
    data: Option<ProxyResponse>,
    /// Grouped objects as bytes, in arrival order (empty once `maps`).
    canonical: Vec<CanonicalJson>,
    maps: bool,
    errors: Vec<ProxyError>,
}

impl Accumulator {
    fn merge(&mut self, r: Result<ProxyResponse, ProxyError>) {
        let mut resp = match r {
            Err(e) => {
                self.errors.push(e);
                if let Some(d) = self.data.as_mut() {
                    d.is_complete = false;
                }
                return;
            }
            Ok(resp) => resp,
        };
        match resp.canonical_json.take() {
            Some(c) if !self.maps && c.group.is_some() => self.canonical.push(c),
            Some(c) => insert_object(&mut resp.data, &c),
            None => self.merge_as_maps(),
        }
        match self.data.as_mut() {
            None => self.data = Some(resp),
            Some(acc) => {
                acc.is_complete = acc.is_complete && resp.is_complete;
                for (k, v) in resp.data {
                    acc.data.insert(k, v);
                }
            }
        }
    }

    /// From now on every object is merged as a map: the ones kept as bytes go first.
    fn merge_as_maps(&mut self) {
        if self.maps {
            return;
        }
        self.maps = true;
        if let Some(acc) = self.data.as_mut() {
            for c in self.canonical.drain(..) {
                insert_object(&mut acc.data, &c);
            }
        }
    }

    fn result(mut self) -> ProxyResult {
        if let Some(d) = self.data.as_mut() {
            d.canonical_json = join_objects(std::mem::take(&mut self.canonical));
        }
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

/// Puts the members of an object written as bytes into a map. A grouped object is read
/// from inside its group: the wrapped one may be nested one level deeper than a decoder
/// reads.
fn insert_object(data: &mut Map<String, Value>, c: &CanonicalJson) {
    use crate::encoding::json::{parse, write_str};
    match &c.group {
        Some(group) => {
            let mut prefix = vec![b'{'];
            write_str(&mut prefix, group);
            prefix.push(b':');
            let inner = c.bytes.get(prefix.len()..c.bytes.len().saturating_sub(1));
            if let Some(Ok(v)) = inner.map(parse) {
                data.insert(group.to_string(), v);
            }
        }
        None => {
            if let Ok(Value::Object(m)) = parse(&c.bytes) {
                data.extend(m);
            }
        }
    }
}

/// One object holding the members of single-key objects (in arrival order), sorted by key;
/// of a key given twice the later one is kept, as a map keeps it.
fn join_objects(mut parts: Vec<CanonicalJson>) -> Option<CanonicalJson> {
    if parts.len() <= 1 {
        return parts.pop();
    }
    // stable: the answers of one group stay in arrival order, the last one wins
    parts.sort_by(|a, b| a.group.cmp(&b.group));
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.bytes.len()).sum::<usize>());
    out.push(b'{');
    for (i, p) in parts.iter().enumerate() {
        if parts.get(i + 1).is_some_and(|next| next.group == p.group) {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(&p.bytes[1..p.bytes.len() - 1]);
    }
    out.push(b'}');
    Some(CanonicalJson {
        bytes: out.into(),
        group: None,
    })
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

    /// Answers merged as bytes give the bytes, completeness and errors that the same answers
    /// merged as maps and rendered give, whatever the arrival order, the failures, the groups
    /// (sorted as the render sorts keys) and an answer that came as a map among them.
    #[test]
    fn grouped_objects_merge_as_bytes_as_they_do_as_maps() {
        use crate::encoding::json::{canonical_object, map_to_vec, parse};
        let bodies: [&[u8]; 5] = [
            br#"{"b":1,"a":{"z":[1,2.50,"x"],"y":null},"c":"<&>\u2028"}"#,
            br#"{}"#,
            br#"{"id":7,"a":"second","n":1e3,"s":"\ud83d\ude00"}"#,
            br#"{"a":"dup","a":"last","k":{"a":1,"b":[{},[]]}}"#,
            br#"{"x":true,"y":false,"z":-0.0}"#,
        ];
        let groups = ["first", "B", "a<b", "\u{e9}t\u{e9}", "first2"];
        let as_map = |i: usize| -> Result<ProxyResponse, ProxyError> {
            let Value::Object(m) = parse(bodies[i]).unwrap() else {
                unreachable!()
            };
            let mut data = Map::new();
            data.insert(groups[i].to_string(), Value::Object(m));
            Ok(ProxyResponse::complete(data))
        };
        // body `body` as bytes in group `group`
        let grouped = |group: usize, body: usize| -> Result<ProxyResponse, ProxyError> {
            let out = canonical_object(bodies[body], Some(groups[group])).unwrap();
            Ok(ProxyResponse {
                canonical_json: Some(CanonicalJson {
                    bytes: out.into(),
                    group: Some(groups[group].into()),
                }),
                is_complete: true,
                ..ProxyResponse::default()
            })
        };
        let as_bytes = |i: usize| grouped(i, i);
        let rendered = |(resp, err): ProxyResult| {
            let resp = resp.map(|mut r| {
                let has_data = r.has_data();
                let body = match r.canonical_json.take() {
                    Some(c) => {
                        assert!(r.data.is_empty());
                        c.bytes.to_vec()
                    }
                    None => map_to_vec(&r.data),
                };
                (body, r.is_complete, has_data)
            });
            (resp, err.map(|e| e.to_string()))
        };
        let orders: [&[usize]; 6] = [
            &[0, 1],
            &[1, 0],
            &[2, 0, 4],
            &[4, 3, 2, 1, 0],
            &[3],
            &[1, 3, 0, 2],
        ];
        for order in orders {
            // no failure, then each answer failing in turn
            for failing in std::iter::once(None).chain(order.iter().map(|&i| Some(i))) {
                let outcome = |i: usize, f: &dyn Fn(usize) -> Result<ProxyResponse, ProxyError>| {
                    if Some(i) == failing {
                        Err(ProxyError::Timeout)
                    } else {
                        f(i)
                    }
                };
                let want = rendered(merge_all(
                    order.iter().map(|&i| outcome(i, &as_map)).collect(),
                ));
                let got = rendered(merge_all(
                    order.iter().map(|&i| outcome(i, &as_bytes)).collect(),
                ));
                assert_eq!(got, want, "order {order:?}, failing {failing:?}");
                // one answer came as a map: the others become maps too, in arrival order
                for &mapped in order {
                    let mixed = order
                        .iter()
                        .map(|&i| outcome(i, if i == mapped { &as_map } else { &as_bytes }))
                        .collect();
                    assert_eq!(
                        rendered(merge_all(mixed)),
                        want,
                        "order {order:?}, map {mapped}"
                    );
                }
            }
        }
        // one group twice: the later answer replaces the earlier one, as with maps
        let got = rendered(merge_all(vec![grouped(0, 0), grouped(1, 1), grouped(0, 2)]));
        assert_eq!(
            got.0.unwrap().0.as_slice(),
            "{\"B\":{},\"first\":{\"a\":\"second\",\"id\":7,\"n\":1e3,\"s\":\"\u{1f600}\"}}"
                .as_bytes()
        );
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
