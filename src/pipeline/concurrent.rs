//! `concurrent_calls`: the same request sent N times to one backend, the first complete
//! answer wins.

use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::Pipe;
use crate::backend::Backend;
use crate::message::{ProxyError, ProxyRequest, ProxyResponse};

impl Pipe {
    /// One backend call; with `concurrent_calls` the first complete of N wins within 75 % of
    /// the time left before `deadline` (the endpoint's when `None`). The caller's timer (the
    /// endpoint's, the merge's or a sequential step's) bounds it.
    pub(super) async fn call_one(
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
}
