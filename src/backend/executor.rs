//! What executes a backend's HTTP request: the HTTP client itself, or a component wrapped
//! around it (HTTP cache, client credentials, Martian), in KrakenD's order.

use http::Response;

use super::HttpClient;
use crate::hooks::BoxFuture;
use crate::message::OutRequest;
use crate::vocab::body::Body;

/// Executes upstream HTTP requests; returns the response and the final URL (after redirects).
pub trait Executor: Send + Sync {
    fn execute(&self, req: OutRequest) -> BoxFuture<'_, Result<(Response<Body>, String), String>>;

    /// The plain HTTP client, when nothing wraps it: the backend then calls it in place,
    /// without a boxed future per request.
    fn http_client(&self) -> Option<&HttpClient> {
        None
    }
}
