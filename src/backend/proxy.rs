//! Backend calls through the HTTP proxy the environment names, as KrakenD's transport makes
//! them (Go's `http.ProxyFromEnvironment`): `HTTP_PROXY` for `http://` backends (the request
//! sent to the proxy with its absolute URL), `HTTPS_PROXY` for `https://` ones (a `CONNECT`
//! tunnel, TLS inside it), `NO_PROXY` for the hosts called directly. `localhost` and loopback
//! addresses are never proxied. Upper-case names win over lower-case ones; with
//! `REQUEST_METHOD` set (a CGI process) `HTTP_PROXY` is ignored, as Go ignores it.
//!
//! Kept rather than hyper-util's `client::proxy::matcher` (feature `client-proxy`, 0.1.21),
//! checked 2026-12-07 on the 2-core machine: the matcher reads the environment as curl does,
//! not as Go's `httpproxy.FromEnvironment`, and 5 of this module's NO_PROXY/loopback cases
//! would change for users: `.y.com` matches `y.com` itself (Go: subdomains only), `*.z.org`
//! is taken literally (Go: `.z.org`), entries with a port (`bar.net:8080`,
//! `[2001:db8::1]:81`) never match, `localhost` and loopback addresses are proxied (Go never
//! proxies them), `ALL_PROXY` is honoured (Go ignores it), and an empty `REQUEST_METHOD`
//! counts as CGI. It would add ipnet and a second base64 (0.23) to the tree and 129 KB to a
//! release binary with a hyper client (fat LTO); per lookup both take 100-200 ns (1e6
//! lookups, noisy on the shared machine), so speed decides nothing. The `CONNECT` tunnel is
//! Go's transport's (its error texts included), which no connector crate reproduces.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::Error;
use crate::vocab::percent::percent_decode;

/// The proxies of the environment; `None` from [`ProxyEnv::from_env`] when it names none.
#[derive(Debug)]
pub struct ProxyEnv {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: NoProxy,
}

/// One proxy: where to connect and how to authenticate.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    /// `host:port` of the proxy.
    pub authority: String,
    /// `Proxy-Authorization` from the proxy URL's user information (Basic).
    pub authorization: Option<HeaderValue>,
}

#[derive(Debug, Default)]
struct NoProxy {
    all: bool,
    ips: Vec<(IpAddr, Option<u16>)>,
    cidrs: Vec<(IpAddr, u8)>,
    /// Suffixes with their leading dot; `exact`: the name itself matches too.
    domains: Vec<Domain>,
}

#[derive(Debug)]
struct Domain {
    suffix: String,
    exact: bool,
    port: Option<u16>,
}

impl ProxyEnv {
    /// The process's environment; proxies it names that cannot be used are warned about.
    pub fn from_env() -> Option<ProxyEnv> {
        let (env, warnings) = ProxyEnv::from_vars(|k| std::env::var(k).ok());
        for w in warnings {
            tracing::warn!("{w}");
        }
        env
    }

    /// From a lookup of variables: the proxies, and what could not be used of them.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> (Option<ProxyEnv>, Vec<String>) {
        let any = |names: &[&'static str]| -> Option<(&'static str, String)> {
            names
                .iter()
                .find_map(|n| get(n).filter(|v| !v.is_empty()).map(|v| (*n, v)))
        };
        let cgi = get("REQUEST_METHOD").is_some_and(|v| !v.is_empty());
        let http_names: &[&str] = if cgi {
            &["http_proxy"]
        } else {
            &["HTTP_PROXY", "http_proxy"]
        };
        let mut warnings = Vec::new();
        let mut parse = |found: Option<(&str, String)>| {
            let (name, value) = found?;
            match parse_proxy(&value) {
                Ok(p) => Some(p),
                Err(why) => {
                    warnings.push(format!(
                        "{name}={value:?} is not used ({why}): those backends are called directly"
                    ));
                    None
                }
            }
        };
        let http = parse(any(http_names));
        let https = parse(any(&["HTTPS_PROXY", "https_proxy"]));
        if http.is_none() && https.is_none() {
            return (None, warnings);
        }
        let no_proxy = any(&["NO_PROXY", "no_proxy"])
            .map(|(_, v)| NoProxy::parse(&v))
            .unwrap_or_default();
        (
            Some(ProxyEnv {
                http,
                https,
                no_proxy,
            }),
            warnings,
        )
    }

    /// The proxy for a backend at `authority` (`host[:port]`, user information allowed), or
    /// `None` to call it directly.
    pub fn lookup(&self, https: bool, authority: &str) -> Option<&Proxy> {
        let proxy = if https { &self.https } else { &self.http };
        let proxy = proxy.as_ref()?;
        let host_port = crate::vocab::authority::host_port(authority);
        let (host, port) = split_host_port(host_port);
        let port = port.unwrap_or(if https { 443 } else { 80 });
        let host = host.to_ascii_lowercase();
        if host == "localhost" {
            return None;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) || self.no_proxy.matches(&host, port, ip) {
            return None;
        }
        Some(proxy)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The TCP connector of `https://` backends: to the backend itself, or through a `CONNECT`
/// tunnel of the proxy `HTTPS_PROXY` names (TLS then runs inside the tunnel).
#[derive(Clone)]
pub struct TunnelConnector {
    tcp: HttpConnector,
    proxy: Option<Arc<ProxyEnv>>,
}

impl TunnelConnector {
    pub fn new(tcp: HttpConnector, proxy: Option<Arc<ProxyEnv>>) -> TunnelConnector {
        TunnelConnector { tcp, proxy }
    }
}

impl tower_service::Service<Uri> for TunnelConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let https = dst.scheme_str() == Some("https");
        let proxy = self.proxy.as_deref().and_then(|env| {
            let authority = dst.authority()?;
            let proxy = env.lookup(https, authority.as_str())?;
            let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
            Some((proxy.clone(), format!("{}:{port}", authority.host())))
        });
        let mut tcp = self.tcp.clone();
        Box::pin(async move {
            let Some((proxy, target)) = proxy else {
                return tcp.call(dst).await.map_err(Into::into);
            };
            let at: Uri = format!("http://{}", proxy.authority).parse()?;
            let mut io = tcp
                .call(at)
                .await
                .map_err(|e| format!("proxyconnect tcp: {e}"))?;
            tunnel(io.inner_mut(), &target, &proxy).await?;
            Ok(io)
        })
    }
}

/// Asks the proxy for a tunnel to `target` (`host:port`) and reads its answer: 200 opens it.
async fn tunnel(io: &mut TcpStream, target: &str, proxy: &Proxy) -> Result<(), BoxError> {
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(credentials) = &proxy.authorization {
        head.push_str("Proxy-Authorization: ");
        head.push_str(credentials.to_str().unwrap_or_default());
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    io.write_all(head.as_bytes()).await?;
    // the answer's head, byte by byte: nothing after it may be taken from the tunnel
    let mut answer = Vec::with_capacity(128);
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= 8192 {
            return Err("proxy's answer to CONNECT is too long".into());
        }
        let byte = io.read_u8().await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "proxy closed the connection before answering CONNECT".into()
            } else {
                BoxError::from(e)
            }
        })?;
        answer.push(byte);
    }
    let line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let status = line.split(' ').nth(1).unwrap_or_default();
    if status != "200" {
        // Go's transport answers with the status' text
        let text = line.splitn(3, ' ').nth(2).unwrap_or(status);
        return Err(text.to_string().into());
    }
    Ok(())
}

impl NoProxy {
    fn parse(list: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for entry in list.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                out.all = true;
                return out;
            }
            if let Some((ip, bits)) = entry.split_once('/') {
                if let (Ok(ip), Ok(bits)) = (ip.parse::<IpAddr>(), bits.parse::<u8>()) {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    if bits <= max {
                        out.cidrs.push((ip, bits));
                    }
                }
                continue;
            }
            let (host, port) = match split_host_port(&entry) {
                (h, Some(p)) => (h.to_string(), Some(p)),
                _ => (entry.clone(), None),
            };
            if host.is_empty() {
                continue;
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                out.ips.push((ip, port));
                continue;
            }
            let host = host.strip_prefix('*').unwrap_or(&host);
            let (suffix, exact) = match host.strip_prefix('.') {
                Some(_) => (host.to_string(), false),
                None => (format!(".{host}"), true),
            };
            out.domains.push(Domain {
                suffix,
                exact,
                port,
            });
        }
        out
    }

    fn matches(&self, host: &str, port: u16, ip: Option<IpAddr>) -> bool {
        if self.all {
            return true;
        }
        let port_ok = |p: Option<u16>| p.is_none_or(|p| p == port);
        if let Some(ip) = ip {
            if self.ips.iter().any(|(m, p)| *m == ip && port_ok(*p))
                || self
                    .cidrs
                    .iter()
                    .any(|(net, bits)| in_cidr(ip, *net, *bits))
            {
                return true;
            }
        }
        self.domains.iter().any(|d| {
            (host.ends_with(&d.suffix) || (d.exact && host == &d.suffix[1..])) && port_ok(d.port)
        })
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (ip >> shift) == (net >> shift)
}

/// `host[:port]` with an IPv6 host in brackets: the host (without brackets) and the port.
fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host, Some(p)),
            Err(_) => (s, None),
        },
        _ => (s, None),
    }
}

/// A proxy URL as Go reads it: `scheme://[user[:password]@]host[:port]`, `http://` assumed
/// when it has no scheme. Only `http` proxies are used.
fn parse_proxy(value: &str) -> crate::error::Result<Proxy> {
    let value = value.trim();
    let (scheme, rest) = match value.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_string(), value),
    };
    if scheme != "http" {
        return Err(Error::other(format!(
            "a {scheme} proxy is not supported, only http"
        )));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = split_host_port(host_port);
    if host.is_empty() {
        return Err(Error::other("no host"));
    }
    let port = port.unwrap_or(80);
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let authorization = userinfo.map(|u| {
        let (user, password) = u.split_once(':').unwrap_or((u, ""));
        let credentials = format!("{}:{}", percent_decode(user), percent_decode(password));
        let token = base64::engine::general_purpose::STANDARD.encode(credentials);
        HeaderValue::from_str(&format!("Basic {token}")).expect("base64 is a valid header value")
    });
    Ok(Proxy {
        authority,
        authorization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Option<ProxyEnv> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyEnv::from_vars(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).0
    }

    fn via(e: &ProxyEnv, https: bool, authority: &str) -> Option<String> {
        e.lookup(https, authority).map(|p| p.authority.clone())
    }

    #[test]
    fn no_proxy_variables_no_proxies() {
        assert!(env(&[]).is_none());
        assert!(env(&[("NO_PROXY", "x")]).is_none());
        assert!(env(&[("HTTP_PROXY", "")]).is_none());
    }

    #[test]
    fn each_scheme_its_proxy() {
        let e = env(&[("HTTP_PROXY", "http://p:3128"), ("https_proxy", "s:8443")]).unwrap();
        assert_eq!(via(&e, false, "api.example.com"), Some("p:3128".into()));
        assert_eq!(via(&e, true, "api.example.com"), Some("s:8443".into()));
        let e = env(&[("http_proxy", "p")]).unwrap();
        assert_eq!(via(&e, false, "a:81"), Some("p:80".into()));
        assert_eq!(via(&e, true, "a"), None);
        // upper case first; CGI ignores HTTP_PROXY
        let e = env(&[("HTTP_PROXY", "up:1"), ("http_proxy", "low:2")]).unwrap();
        assert_eq!(via(&e, false, "a"), Some("up:1".into()));
        let e = env(&[
            ("HTTP_PROXY", "up:1"),
            ("http_proxy", "low:2"),
            ("REQUEST_METHOD", "GET"),
        ])
        .unwrap();
        assert_eq!(via(&e, false, "a"), Some("low:2".into()));
    }

    #[test]
    fn loopback_and_localhost_are_never_proxied() {
        let e = env(&[("HTTP_PROXY", "p:1")]).unwrap();
        for a in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:80",
            "127.1.2.3",
            "[::1]:8080",
        ] {
            assert_eq!(via(&e, false, a), None, "{a}");
        }
        assert_eq!(via(&e, false, "10.0.0.1"), Some("p:1".into()));
        assert_eq!(via(&e, false, "user:pw@h:9"), Some("p:1".into()));
    }

    #[test]
    fn no_proxy_as_go_reads_it() {
        let e = env(&[
            ("HTTP_PROXY", "p:1"),
            (
                "NO_PROXY",
                " Foo.com, .y.com,*.z.org, 10.0.0.0/8, 192.168.1.5, bar.net:8080, [2001:db8::1]:81",
            ),
        ])
        .unwrap();
        let direct = |a: &str| via(&e, false, a).is_none();
        assert!(direct("foo.com") && direct("FOO.com:80") && direct("a.foo.com"));
        assert!(!direct("afoo.com"));
        assert!(direct("x.y.com") && !direct("y.com"));
        assert!(direct("a.z.org") && !direct("z.org"));
        assert!(direct("10.1.2.3") && !direct("11.0.0.1"));
        assert!(direct("192.168.1.5:9000") && !direct("192.168.1.6"));
        assert!(direct("bar.net:8080") && !direct("bar.net"));
        assert!(direct("[2001:db8::1]:81") && !direct("[2001:db8::1]:82"));
        let all = env(&[("HTTP_PROXY", "p:1"), ("no_proxy", "*")]).unwrap();
        assert_eq!(via(&all, false, "anything"), None);
    }

    #[test]
    fn proxy_urls_with_credentials_and_odd_schemes() {
        let e = env(&[("HTTP_PROXY", "http://us%40er:p%3Aw@proxy.local:3128/")]).unwrap();
        let p = e.lookup(false, "a").unwrap();
        assert_eq!(p.authority, "proxy.local:3128");
        // base64("us@er:p:w")
        assert_eq!(p.authorization.as_ref().unwrap(), "Basic dXNAZXI6cDp3");
        let (e, warnings) = ProxyEnv::from_vars(|k| {
            (k == "HTTPS_PROXY").then(|| "socks5://127.0.0.1:1080".to_string())
        });
        assert!(e.is_none());
        assert!(warnings[0].contains("HTTPS_PROXY") && warnings[0].contains("socks5"));
    }
}
