//! The places where components plug into the request flow, in KrakenD's fixed order:
//!
//! ```text
//! service   ServiceLayer   before routing (CORS preflight, security headers, bot detector)
//!                          and on every response (headers)
//! endpoint  EndpointGuard  after routing, before the pipe (bot detector, JWT, rate limit);
//!                          may add params (`JWT.sub`) and set request headers (claims),
//!                          which the guards after it already see
//! proxy     ProxyStage     around the pipe (JSON schema, CEL, signer)
//! backend   BackendStage   around each backend call (metrics, circuit breaker, rate limit,
//!                          Lua, CEL) and its HTTP exchange (Martian, HTTP cache, client
//!                          credentials), in front of the Transport (the HTTP client)
//! ```
//! Every hook does nothing unless a component is configured.

use std::future::Future;
use std::pin::Pin;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, Uri};
use serde_json::{Map, Value};

use crate::message::{OutRequest, ProxyError, ProxyRequest, ProxyResponse};
use crate::vocab::body::Body;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a service layer sees of a request.
pub struct RequestHead<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub client_ip: &'a str,
    /// Whether the request came over a TLS connection.
    pub tls: bool,
}

/// A service-scope component.
pub trait ServiceLayer: Send + Sync {
    /// Before routing: a response here answers the request (it still gets `response`).
    fn request(&self, _req: &RequestHead<'_>) -> Option<Response<Body>> {
        None
    }
    /// On every response, router errors included.
    fn response(&self, _req: &RequestHead<'_>, _resp: &mut Response<Body>) {}
    /// Once every layer's `response` ran: the final response, the time since the request
    /// arrived, and whether it went to the router (`false`: a layer's `request` answered).
    fn observe(
        &self,
        _req: &RequestHead<'_>,
        _resp: &Response<Body>,
        _elapsed: std::time::Duration,
        _routed: bool,
    ) {
    }
}

/// What an endpoint guard sees.
pub struct GuardRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    /// The client's headers, before any filtering.
    pub headers: &'a HeaderMap,
    pub client_ip: &'a str,
    /// Path parameters (keys first-letter upper-cased).
    pub params: &'a [(String, String)],
}

/// What a guard adds to the request when it lets it through. It is applied before the next
/// guard runs, so later guards (the rate limit) and the backends see the request as changed.
#[derive(Default)]
pub struct GuardEffects {
    /// Extra params (`JWT.sub`, ...), usable in `url_pattern`.
    pub params: Vec<(String, String)>,
    /// Headers set on the request (`propagate_claims`): each name replaces whatever the client
    /// sent under it; several values of one name are all kept.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Client headers removed from the request (a `propagate_claims` header whose claim the
    /// token lacks: such a header may only come from the token).
    pub removed_headers: Vec<HeaderName>,
    /// Validated JWT claims, for CEL and Lua.
    pub claims: Option<Map<String, Value>>,
}

/// An endpoint-scope component that may refuse a request.
pub trait EndpointGuard: Send + Sync {
    fn check<'a>(
        &'a self,
        req: &'a GuardRequest<'a>,
    ) -> BoxFuture<'a, Result<GuardEffects, Response<Body>>>;
}

/// A proxy-scope component around the endpoint pipe.
pub trait ProxyStage: Send + Sync {
    /// Before the backends are called; an error aborts the pipe.
    fn before<'a>(&'a self, _req: &'a mut ProxyRequest) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async { Ok(()) })
    }
    /// After the pipe.
    fn after(&self, _resp: &mut Option<ProxyResponse>, _err: &mut Option<ProxyError>) {}
    /// `after`, with the time since the first stage's `before` (what the pipe took).
    fn after_timed(
        &self,
        resp: &mut Option<ProxyResponse>,
        err: &mut Option<ProxyError>,
        _elapsed: std::time::Duration,
    ) {
        self.after(resp, err)
    }
    /// Whether the endpoint answers as KrakenD's signing handler does: the data as JSON with
    /// status 200 and no `X-Krakend-Completed`/`Cache-Control`, any error as an empty 400.
    fn bare_json_response(&self) -> bool {
        false
    }
    /// Whether this stage reads or changes the response data (not just `is_complete` or the
    /// error): when no stage does, a plain JSON endpoint skips building the data map.
    fn reads_data(&self) -> bool {
        true
    }
}

/// The upstream request of one backend call once it is built (URL with host and query,
/// filtered headers, body), as backend stages may change it.
pub struct BackendCall {
    pub request: OutRequest,
    /// The request params (path params, sequential `Resp0_x`, `JWT.sub`).
    pub params: Vec<(String, String)>,
}

/// What an HTTP exchange gives: the backend's answer and the final URL (after redirects), or
/// why there is none.
pub type Exchanged = Result<(Response<Body>, String), crate::error::Error>;

/// Carries one upstream HTTP request to its backend and back: the HTTP client (plain
/// `http://` on the inline HTTP/1.1 pool, `https://` and proxies on hyper with rustls,
/// redirects, gzip).
pub trait Transport: Send + Sync {
    fn exchange(&self, req: OutRequest) -> BoxFuture<'_, Exchanged>;
}

/// The rest of a backend's chain below a stage's `exchange`: the stages after it, then the
/// transport. It can be run more than once (a token fetch, then the request).
#[derive(Clone, Copy)]
pub struct Next<'a> {
    stages: &'a [std::sync::Arc<dyn BackendStage>],
    transport: &'a dyn Transport,
}

impl<'a> Next<'a> {
    pub fn new(
        stages: &'a [std::sync::Arc<dyn BackendStage>],
        transport: &'a dyn Transport,
    ) -> Self {
        Next { stages, transport }
    }

    /// Hands the request to the next stage's `exchange`, or to the transport after the last.
    pub fn run(self, req: OutRequest) -> BoxFuture<'a, Exchanged> {
        match self.stages.split_first() {
            Some((stage, rest)) => stage.exchange(
                req,
                Next {
                    stages: rest,
                    transport: self.transport,
                },
            ),
            None => self.transport.exchange(req),
        }
    }
}

/// A backend-scope component: one stage of the chain around each backend call, with one hook
/// per phase. Stages run in their registry rank's order (outermost first):
///
/// 1. `admit`, before the upstream request is built: may refuse the call; what it returns is
///    this call's ticket, handed back to its `outcome` (a breaker's generation, a start time).
/// 2. `request`, once the upstream request is built: may change it, or answer in the
///    backend's place (the later stages' `request` and the exchange are skipped).
/// 3. `exchange`, around the HTTP exchange (executor components: Martian, the HTTP cache,
///    client credentials): hands the request on with `next.run(req)` or answers itself.
/// 4. `response`, innermost first: may change the decoded outcome (checks, scripts).
/// 5. `outcome`, once per admitted call with its final outcome (a call dropped at a deadline
///    sees a timeout).
pub trait BackendStage: Send + Sync {
    fn admit(&self, _req: &ProxyRequest) -> Result<u64, ProxyError> {
        Ok(0)
    }
    fn request<'a>(
        &'a self,
        _call: &'a mut BackendCall,
    ) -> BoxFuture<'a, Result<Option<ProxyResponse>, ProxyError>> {
        Box::pin(async { Ok(None) })
    }
    fn exchange<'a>(&'a self, req: OutRequest, next: Next<'a>) -> BoxFuture<'a, Exchanged> {
        next.run(req)
    }
    fn response(&self, _result: &mut Result<ProxyResponse, ProxyError>) {}
    fn outcome(&self, _ticket: u64, _result: &Result<ProxyResponse, ProxyError>) {}
    /// Whether this stage reads or changes the response data (not just `is_complete`,
    /// `passthrough` or the error): when no stage does, a plain JSON endpoint skips building
    /// the data map.
    fn reads_data(&self) -> bool {
        true
    }
}
