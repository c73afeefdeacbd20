//! The parallel merge: every backend called at once, each answer merged as it arrives (Lura's
//! shallow merge) within 85 % of the endpoint's timeout.

use std::future::poll_fn;
use std::task::Poll;

use futures_util::future::{BoxFuture, FutureExt as _};
use serde_json::Map;
use tokio::time::Instant;

use super::Pipe;
use crate::message::{
    CanonicalJson, Payload, ProxyError, ProxyRequest, ProxyResponse, ProxyResult,
};

impl Pipe {
    pub(super) async fn parallel_merge(
        &self,
        req: &ProxyRequest,
        deadline: Instant,
    ) -> ProxyResult {
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
pub(super) struct Accumulator {
    data: Option<ProxyResponse>,
    /// Grouped objects as bytes, in arrival order (empty once `maps`).
    canonical: Vec<CanonicalJson>,
    maps: bool,
    errors: Vec<ProxyError>,
}

impl Accumulator {
    pub(super) fn merge(&mut self, r: Result<ProxyResponse, ProxyError>) {
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
        match std::mem::take(&mut resp.payload) {
            Payload::Json(c) if !self.maps && c.group.is_some() => self.canonical.push(c),
            Payload::Json(c) => {
                let mut m = Map::new();
                c.insert_into(&mut m);
                resp.payload = Payload::Data(m);
            }
            other => {
                resp.payload = other;
                self.merge_as_maps();
            }
        }
        match self.data.as_mut() {
            None => self.data = Some(resp),
            Some(acc) => {
                acc.is_complete = acc.is_complete && resp.is_complete;
                if let (Some(into), Payload::Data(from)) = (acc.data_mut(), resp.payload) {
                    into.extend(from);
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
        if let Some(into) = self.data.as_mut().and_then(ProxyResponse::data_mut) {
            for c in self.canonical.drain(..) {
                c.insert_into(into);
            }
        }
    }

    pub(super) fn result(mut self) -> ProxyResult {
        if let (Some(d), Some(joined)) = (
            self.data.as_mut(),
            join_objects(std::mem::take(&mut self.canonical)),
        ) {
            // every answer so far was an object kept as bytes: the map is empty
            d.payload = Payload::Json(joined);
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
    use serde_json::Value;

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
                payload: Payload::Json(CanonicalJson {
                    bytes: out.into(),
                    group: Some(groups[group].into()),
                }),
                is_complete: true,
            })
        };
        let as_bytes = |i: usize| grouped(i, i);
        let rendered = |(resp, err): ProxyResult| {
            let resp = resp.map(|r| {
                let has_data = r.has_data();
                let body = match &r.payload {
                    Payload::Json(c) => c.bytes.to_vec(),
                    Payload::Data(m) => map_to_vec(m),
                    Payload::Raw(_) => unreachable!("no raw answer here"),
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
}
