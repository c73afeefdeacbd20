//! The gateway as the HTTP/1.1 connection loop's [`Dispatch`]: the loop (`http1::server`)
//! sits below the router and calls it only through this.

use std::future::Future;
use std::net::SocketAddr;

use http::{Request, Response};

use crate::http1::server::Dispatch;
use crate::router::{Gateway, Peer};
use crate::vocab::body::Body;

impl Dispatch for Gateway {
    type Peer = Peer;

    fn peer(&self, remote: SocketAddr) -> Peer {
        Peer::new(remote)
    }

    /// [`Gateway::dispatch_raw`]: the loop writes a `no-op` answer's raw lines itself.
    fn dispatch<'a>(
        &'a self,
        req: Request<Body>,
        peer: &'a Peer,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        self.dispatch_raw(req, peer)
    }
}
