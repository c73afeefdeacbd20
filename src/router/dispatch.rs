//! Serving one request: the client's address and IP, the service layers around the route,
//! the access log (gin's `[GIN]` line) after it.

use std::borrow::Cow;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use futures_util::future::Either;
use http::header::HeaderValue;
use http::{Request, Response};

use super::endpoint::ClientIp;
use super::options::in_cidr;
use super::table::Found;
use super::{builtin, Gateway};
use crate::hooks::RequestHead;
use crate::vocab::body::Body;

/// The other end of a client connection, its address also as text (written once per
/// connection, read by every request on it).
pub struct Peer {
    pub addr: SocketAddr,
    pub ip: String,
    /// `ip` as a header value (`X-Forwarded-For`), made once per connection.
    pub ip_value: Option<HeaderValue>,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        let ip = ip_string(addr.ip());
        Peer {
            addr,
            ip_value: HeaderValue::from_str(&ip).ok(),
            ip,
        }
    }
}

impl Gateway {
    /// The client IP as gin's `ClientIP()` computes it with KrakenD's router options, with its
    /// header value when one was made already.
    fn client_ip<'a>(
        &self,
        req: &Request<Body>,
        peer: &'a Peer,
    ) -> (Cow<'a, str>, Option<&'a HeaderValue>) {
        let opts = &self.shared.opts;
        if opts.forwarded_by_client_ip {
            let trusted = opts.trusted_proxies.is_empty()
                || opts
                    .trusted_proxies
                    .iter()
                    .any(|c| in_cidr(peer.addr.ip(), *c));
            if trusted {
                for h in &opts.remote_ip_headers {
                    if let Some(v) = req.headers().get(h.as_str()).and_then(|v| v.to_str().ok()) {
                        if let Some(ip) = v
                            .split(',')
                            .map(str::trim)
                            .find_map(|s| s.parse::<IpAddr>().ok())
                        {
                            return (Cow::Owned(ip_string(ip)), None);
                        }
                    }
                }
            }
        }
        // the connection's own address has its header value made already
        (Cow::Borrowed(&peer.ip), peer.ip_value.as_ref())
    }

    /// Serves one request; the response's headers are all in its map.
    pub async fn dispatch(&self, req: Request<Body>, peer: &Peer) -> Response<Body> {
        let mut resp = self.dispatch_raw(req, peer).await;
        if let Some(raw) = resp.extensions_mut().remove::<crate::http1::RawFields>() {
            raw.append_to(resp.headers_mut());
        }
        resp
    }

    /// Serves one request for a writer that also writes `http1::RawFields` (a `no-op` answer's
    /// header lines kept as they came) beside the map.
    ///
    /// Not an `async fn`: a request that no service layer sees and no access log reports is
    /// served by its route's own future, with nothing around it; any other goes through
    /// [`dispatch_observed`](Self::dispatch_observed), in a box of its own. A request future's
    /// size is what each request writes.
    pub fn dispatch_raw<'a>(
        &'a self,
        req: Request<Body>,
        peer: &'a Peer,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        if self.layers.is_empty() && self.shared.opts.disable_access_log {
            let (client_ip, ip_value) = self.client_ip(&req, peer);
            Either::Left(self.route(req, client_ip, ip_value))
        } else {
            Either::Right(Box::pin(self.dispatch_observed(req, peer)))
        }
    }

    /// Serves one request with the service layers around it and the access log after it.
    async fn dispatch_observed(&self, req: Request<Body>, peer: &Peer) -> Response<Body> {
        let log = !self.shared.opts.disable_access_log;
        // the clock is read only when something reports the time taken
        let started = (log || !self.layers.is_empty()).then(Instant::now);
        let method = req.method().clone();
        let raw_path = if log {
            req.uri().path().to_string()
        } else {
            String::new()
        };
        let (client_ip, ip_value) = self.client_ip(&req, peer);
        let resp = if self.layers.is_empty() {
            self.route(req, client_ip.clone(), ip_value).await
        } else {
            let (m, u, h) = (
                req.method().clone(),
                req.uri().clone(),
                req.headers().clone(),
            );
            let head = RequestHead {
                method: &m,
                uri: &u,
                headers: &h,
                client_ip: &client_ip,
                tls: self.server_tls.is_some(),
            };
            let early = self.layers.iter().find_map(|l| l.request(&head));
            let routed = early.is_none();
            let mut resp = match early {
                Some(r) => r,
                None => self.route(req, client_ip.clone(), ip_value).await,
            };
            for l in &self.layers {
                l.response(&head, &mut resp);
            }
            let elapsed = started.map(|t| t.elapsed()).unwrap_or_default();
            for l in &self.layers {
                l.observe(&head, &resp, elapsed, routed);
            }
            resp
        };
        if log && !self.shared.opts.logger_skip_paths.contains(&raw_path) {
            tracing::info!(
                target: "tentacle::access",
                "[GIN] | {} | {:>12?} | {:>15} | {:<7} {:?}",
                resp.status().as_u16(),
                started.map(|t| t.elapsed()).unwrap_or_default(),
                client_ip,
                method.as_str(),
                raw_path
            );
        }
        resp
    }

    /// Not an `async fn`: the route is found before the future is made, and an endpoint's
    /// future is its handler's own, with no routing layer around it.
    fn route<'a>(
        &'a self,
        req: Request<Body>,
        client_ip: Cow<'a, str>,
        ip_value: Option<&'a HeaderValue>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        match self.find(&req) {
            Found::Endpoint(h, params) => {
                let ip = ClientIp {
                    text: client_ip,
                    value: ip_value,
                };
                Either::Left(h.handle(req, params, &self.shared, ip))
            }
            // reads a body: kept out of the endpoint path's future
            Found::Inspect { debug } => {
                Either::Right(Either::Left(Box::pin(builtin::inspect(debug, req))))
            }
            Found::Answer(resp) => Either::Right(Either::Right(std::future::ready(resp))),
        }
    }
}

/// An address as `Display` writes it; IPv4 (the usual client) without the formatting machinery.
fn ip_string(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut s = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if octet >= 100 {
            s.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            s.push(char::from(b'0' + octet / 10 % 10));
        }
        s.push(char::from(b'0' + octet % 10));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_as_display_does() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "::ffff:1.2.3.4",
            "2001:db8::8a2e:370:7334",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_string(ip), ip.to_string());
        }
    }
}
