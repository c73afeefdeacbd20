//! The proxy pipe of one endpoint (`Pipe`): one backend called directly, several merged in
//! parallel (`merge`) or in sequence (`sequential`), `concurrent_calls` (`concurrent`),
//! shadow backends, the static proxy (`static_data`) and the endpoint-level flatmap filter.
//! What travels through it is in `message`.

mod concurrent;
pub mod merge;
mod sequential;
pub mod static_data;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::backend::Backend;
use crate::message::{ProxyRequest, ProxyResponse, ProxyResult};
use crate::transform::{apply_flatmap, FlatmapOp};
use sequential::{seq_replacement, SeqReplacement};
pub use static_data::StaticStrategy;

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
        if let Some(ops) = &self.flatmap {
            if let Some(data) = resp.as_mut().and_then(ProxyResponse::data_mut) {
                apply_flatmap(data, ops);
            }
        }
        if let Some((strategy, data)) = &self.static_data {
            if strategy.applies(resp.as_ref(), err.as_ref()) {
                let r = resp.get_or_insert_with(ProxyResponse::default);
                if let Some(into) = r.data_mut() {
                    for (k, v) in data {
                        into.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (resp, err)
    }
}
