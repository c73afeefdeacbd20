//! `sd: "dns"`: DNS SRV service discovery, as Lura's `sd/dnssrv` (Go's `net.LookupSRV`). The
//! SRV name in `host[0]` is resolved against the system's name servers, re-resolved every
//! `dns_cache_ttl`; only the records with the lowest priority are kept, weights are reduced by
//! their GCD and each host repeated by its weight, with `sd_scheme` in front. A failed
//! resolution (no such name, no records, no server answering) keeps the last hosts.
//!
//! The resolver is Go's, in the part `LookupSRV` uses: `/etc/resolv.conf` read as
//! `dnsReadConfig` (up to 3 name servers, `search`/`domain`, `options ndots`, the host name's
//! domain as the default search), candidate names as `nameList`, a random query id and the
//! answer checked against the query (id, QR, question), UDP first and TCP when the answer is
//! truncated.
//!
//! Why not `hickory-resolver` (0.25, `tokio` + `system-config`), measured 2026-12-07 on the
//! 2-core machine in a scratch crate with this project's release profile (fat LTO, one codegen
//! unit), the crates already in Cargo.lock and a hyper client linked as here: 49 crates new to
//! the tree (hickory-proto, moka and crossbeam, rand 0.9, a second getrandom, idna with 20
//! ICU4X crates, ...), the release binary 7.02 MB → 12.40 MB (+5.4 MB), about 90 s more to
//! build from clean. This module is about 430 lines before its tests, run once per
//! `dns_cache_ttl` (off the request path). The priority/weight expansion and
//! keep-last-hosts-on-error of Lura sit on top of any resolver and stay here either way.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::error::{Error, Result};

/// One SRV answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// What the resolver takes from `/etc/resolv.conf`, read as Go's `dnsReadConfig` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines (at most 3), port 53; `127.0.0.1` and `::1` when none is listed.
    pub servers: Vec<SocketAddr>,
    /// `search` (or `domain`) suffixes, rooted; without them, the host name's domain.
    pub search: Vec<String>,
    /// `options ndots:n` (1 by default, at most 15).
    pub ndots: usize,
}

impl ResolvConf {
    /// The system's configuration.
    pub fn system() -> ResolvConf {
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        ResolvConf::parse(&text, hostname.trim())
    }

    /// A `resolv.conf` text; `hostname` gives the default search domain.
    pub fn parse(text: &str, hostname: &str) -> ResolvConf {
        let rooted = |s: &str| {
            if s.ends_with('.') {
                s.to_string()
            } else {
                format!("{s}.")
            }
        };
        let mut conf = ResolvConf {
            servers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
        };
        for line in text.lines() {
            if line.starts_with([';', '#']) {
                continue;
            }
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            match f.as_slice() {
                ["nameserver", ip, ..] if conf.servers.len() < 3 => {
                    if let Ok(ip) = ip.parse::<std::net::IpAddr>() {
                        conf.servers.push(SocketAddr::new(ip, 53));
                    }
                }
                ["domain", name, ..] => conf.search = vec![rooted(name)],
                ["search", names @ ..] => {
                    conf.search = names
                        .iter()
                        .map(|n| rooted(n))
                        .filter(|n| n != ".")
                        .collect();
                }
                ["options", options @ ..] => {
                    for o in options {
                        if let Some(n) = o.strip_prefix("ndots:") {
                            // Go's dtoi: leading digits, none is 0
                            let digits = n.bytes().take_while(u8::is_ascii_digit).count();
                            let n: usize = n[..digits].parse().unwrap_or(if digits > 0 {
                                usize::MAX
                            } else {
                                0
                            });
                            conf.ndots = n.min(15);
                        }
                    }
                }
                _ => {}
            }
        }
        if conf.servers.is_empty() {
            conf.servers = vec![
                SocketAddr::from(([127, 0, 0, 1], 53)),
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 53)),
            ];
        }
        if conf.search.is_empty() {
            if let Some((_, domain)) = hostname.split_once('.').filter(|(_, d)| !d.is_empty()) {
                conf.search = vec![rooted(domain)];
            }
        }
        conf
    }

    /// The names to ask for, in order, as Go's `nameList`: a rooted name alone; a name with at
    /// least `ndots` dots first as it is, then with each search suffix; one with fewer, the
    /// suffixed names first.
    pub fn names(&self, name: &str) -> Vec<String> {
        let avoid = |n: &str| n.trim_end_matches('.').ends_with(".onion");
        let l = name.len();
        let rooted = name.ends_with('.');
        if l > 254 || (l == 254 && !rooted) {
            return Vec::new();
        }
        if rooted {
            return if avoid(name) {
                Vec::new()
            } else {
                vec![name.to_string()]
            };
        }
        let has_ndots = name.bytes().filter(|b| *b == b'.').count() >= self.ndots;
        let name = format!("{name}.");
        let mut out = Vec::with_capacity(1 + self.search.len());
        if has_ndots && !avoid(&name) {
            out.push(name.clone());
        }
        for suffix in &self.search {
            let fqdn = format!("{name}{suffix}");
            if !avoid(&fqdn) && fqdn.len() <= 254 {
                out.push(fqdn);
            }
        }
        if !has_ndots && !avoid(&name) {
            out.push(name);
        }
        out
    }
}

/// Resolves `name` as Go's `LookupSRV` does: each candidate name of the search list in turn,
/// each name server in turn; a name without SRV records (or that does not exist) moves on to
/// the next candidate name.
pub async fn resolve(conf: &ResolvConf, name: &str) -> Result<Vec<Srv>> {
    let mut last = Error::other(format!("lookup {name}: no such host"));
    for fqdn in conf.names(name) {
        for server in &conf.servers {
            match lookup_srv(*server, &fqdn).await {
                Ok(records) if !records.is_empty() => return Ok(records),
                Ok(_) => {
                    last = Error::other(format!("lookup {fqdn} on {server}: no such host"));
                    break;
                }
                Err(e) if e.to_string().ends_with("no such host") => {
                    last = e;
                    break;
                }
                Err(e) => last = e,
            }
        }
    }
    Err(last)
}

fn encode_query(id: u16, name: &str) -> Result<Vec<u8>> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(Error::other(format!("invalid DNS name {name:?}")));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 33, 0, 1]); // SRV, IN
    Ok(q)
}

/// Reads a (possibly compressed) name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            return Some((labels.join("."), end.unwrap_or(pos + 1)));
        }
        if len & 0xC0 == 0xC0 {
            let ptr = ((len & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        pos += 1 + len;
    }
    None
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// The header flag of a response (QR).
const RESPONSE: u16 = 0x8000;
/// The header flag of a truncated answer (TC).
const TRUNCATED: u16 = 0x0200;

/// Whether `msg` answers `query`, as Go's resolver checks it: a response (QR set) with the
/// query's id and the query's question (name compared without case, type and class).
fn answers(msg: &[u8], query: &[u8]) -> bool {
    let Some(flags) = u16_at(msg, 2) else {
        return false;
    };
    if msg.get(..2) != query.get(..2) || flags & RESPONSE == 0 || u16_at(msg, 4) != Some(1) {
        return false;
    }
    // the question as the query holds it: from offset 12 to its end
    let question = &query[12..];
    msg.get(12..12 + question.len())
        .is_some_and(|q| q.eq_ignore_ascii_case(question))
}

/// Parses the SRV answers of a DNS response to query `id`.
pub fn parse_response(msg: &[u8], id: u16) -> Result<Vec<Srv>> {
    let bad = || Error::decode("malformed DNS response");
    if u16_at(msg, 0) != Some(id) {
        return Err(Error::decode("DNS response id mismatch"));
    }
    let flags = u16_at(msg, 2).ok_or_else(bad)?;
    let rcode = flags & 0x000F;
    if rcode == 3 {
        return Err(Error::decode("no such host"));
    }
    if rcode != 0 {
        return Err(Error::decode(format!(
            "DNS server answered with rcode {rcode}"
        )));
    }
    let qd = u16_at(msg, 4).ok_or_else(bad)?;
    let an = u16_at(msg, 6).ok_or_else(bad)?;
    let mut pos = 12;
    for _ in 0..qd {
        let (_, next) = read_name(msg, pos).ok_or_else(bad)?;
        pos = next + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        let (_, next) = read_name(msg, pos).ok_or_else(bad)?;
        let rtype = u16_at(msg, next).ok_or_else(bad)?;
        let rdlen = u16_at(msg, next + 8).ok_or_else(bad)? as usize;
        let rdata = next + 10;
        if msg.len() < rdata + rdlen {
            return Err(bad());
        }
        if rtype == 33 {
            let priority = u16_at(msg, rdata).ok_or_else(bad)?;
            let weight = u16_at(msg, rdata + 2).ok_or_else(bad)?;
            let port = u16_at(msg, rdata + 4).ok_or_else(bad)?;
            let (target, _) = read_name(msg, rdata + 6).ok_or_else(bad)?;
            out.push(Srv {
                priority,
                weight,
                port,
                target,
            });
        }
        pos = rdata + rdlen;
    }
    Ok(out)
}

/// How long one attempt waits for its answer, and how many attempts a name server gets.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPTS: usize = 2;

/// Asks one name server for the SRV records of `name`: over UDP with a random query id
/// (datagrams that do not answer the query are ignored), then over TCP when the UDP answer is
/// truncated, as Go's resolver does.
pub async fn lookup_srv(server: SocketAddr, name: &str) -> Result<Vec<Srv>> {
    use rand_core::RngCore;
    let id = rand_core::OsRng.next_u32() as u16;
    let query = encode_query(id, name)?;
    let place = || format!("lookup {name} on {server}");
    let answer = exchange_udp(server, &query)
        .await
        .map_err(|e| Error::io(place(), e))?;
    let flags = u16_at(&answer, 2).unwrap_or_default();
    let answer = if flags & TRUNCATED == 0 {
        answer
    } else {
        exchange_tcp(server, &query)
            .await
            .map_err(|e| Error::io(place(), e))?
    };
    parse_response(&answer, id).map_err(|e| e.within(format!("{}: ", place())))
}

async fn exchange_udp(server: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    let mut buf = vec![0u8; 4096];
    for _ in 0..ATTEMPTS {
        sock.send(query).await?;
        let deadline = tokio::time::Instant::now() + ATTEMPT_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Ok(Ok(n)) if answers(&buf[..n], query) => return Ok(buf[..n].to_vec()),
                // not an answer to this query (a late or forged one): wait on
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "i/o timeout",
    ))
}

/// The query over TCP (RFC 7766): each message after its length in two bytes.
async fn exchange_tcp(server: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut conn = tokio::net::TcpStream::connect(server).await?;
        let mut msg = Vec::with_capacity(query.len() + 2);
        msg.extend_from_slice(&(query.len() as u16).to_be_bytes());
        msg.extend_from_slice(query);
        conn.write_all(&msg).await?;
        let len = conn.read_u16().await? as usize;
        let mut answer = vec![0u8; len];
        conn.read_exact(&mut answer).await?;
        if !answers(&answer, query) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the answer over TCP is not to the query",
            ));
        }
        Ok(answer)
    };
    tokio::time::timeout(ATTEMPT_TIMEOUT * ATTEMPTS as u32, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "i/o timeout",
            ))
        })
}

fn gcd(a: u16, b: u16) -> u16 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Lura's host list from SRV records: lowest priority only, hosts repeated by reduced weight.
pub fn hosts_from_srv(records: &[Srv], scheme: &str) -> Vec<String> {
    let Some(min) = records.iter().map(|r| r.priority).min() else {
        return Vec::new();
    };
    let best: Vec<&Srv> = records.iter().filter(|r| r.priority == min).collect();
    let g = best.iter().fold(0, |g, r| gcd(g, r.weight));
    let mut out = Vec::new();
    for r in best {
        let times = r.weight.checked_div(g).unwrap_or(1).max(1);
        for _ in 0..times {
            out.push(format!(
                "{scheme}://{}:{}",
                r.target.trim_end_matches('.'),
                r.port
            ));
        }
    }
    out
}

/// A host list kept fresh by a background task.
pub type SharedHosts = Arc<RwLock<Arc<Vec<String>>>>;

/// Starts the refresher for one SRV name; the first resolution happens in the background too.
pub fn spawn_resolver(name: String, scheme: String, ttl: Duration, hosts: SharedHosts) {
    let conf = ResolvConf::system();
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        let weak = Arc::downgrade(&hosts);
        drop(hosts);
        loop {
            // as Lura's: a failed resolution keeps the hosts of the last one
            let found = match resolve(&conf, &name).await {
                Ok(records) => Some(hosts_from_srv(&records, &scheme)),
                Err(e) => {
                    tracing::warn!("[SD: dns] resolving {name}: {e}");
                    None
                }
            };
            let Some(shared) = weak.upgrade() else { return };
            if let Some(list) = found {
                if let Ok(mut w) = shared.write() {
                    *w = Arc::new(list);
                }
            }
            drop(shared);
            tokio::time::sleep(ttl).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv_answer(id: u16, name: &str, records: &[(u16, u16, u16, &str)]) -> Vec<u8> {
        let mut m = encode_query(id, name).unwrap();
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = records.len() as u8;
        for (p, w, port, target) in records {
            m.extend_from_slice(&[0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 30]);
            let mut rd = Vec::new();
            rd.extend_from_slice(&p.to_be_bytes());
            rd.extend_from_slice(&w.to_be_bytes());
            rd.extend_from_slice(&port.to_be_bytes());
            for l in target.split('.') {
                rd.push(l.len() as u8);
                rd.extend_from_slice(l.as_bytes());
            }
            rd.push(0);
            m.extend_from_slice(&(rd.len() as u16).to_be_bytes());
            m.extend_from_slice(&rd);
        }
        m
    }

    #[test]
    fn parses_and_weights() {
        let msg = srv_answer(
            7,
            "_api._tcp.example.com",
            &[
                (10, 20, 8000, "a.example.com"),
                (10, 40, 8001, "b.example.com"),
                (20, 1, 9, "c.example.com"),
            ],
        );
        let recs = parse_response(&msg, 7).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(
            hosts_from_srv(&recs, "http"),
            vec![
                "http://a.example.com:8000",
                "http://b.example.com:8001",
                "http://b.example.com:8001"
            ]
        );
        assert!(parse_response(&msg, 8).is_err());
        assert!(parse_response(&msg[..20], 7).is_err());
    }

    #[tokio::test]
    async fn queries_a_name_server_over_udp() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, peer) = server.recv_from(&mut buf).await.unwrap();
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            let _ = n;
            let reply = srv_answer(id, "_svc._tcp.local", &[(1, 1, 9000, "127.0.0.1.nip")]);
            server.send_to(&reply, peer).await.unwrap();
        });
        let recs = lookup_srv(addr, "_svc._tcp.local").await.unwrap();
        assert_eq!(recs[0].port, 9000);
        assert_eq!(recs[0].target, "127.0.0.1.nip");
    }

    /// A reply to the query in `buf` with `records`, with the query's id moved by `shift`.
    fn reply_to(buf: &[u8], shift: u16, records: &[(u16, u16, u16, &str)]) -> Vec<u8> {
        let id = u16::from_be_bytes([buf[0], buf[1]]).wrapping_add(shift);
        srv_answer(id, "_svc._tcp.local", records)
    }

    #[tokio::test]
    async fn query_ids_are_random_and_checked_on_the_answer() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let ids = tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut buf = [0u8; 512];
            for _ in 0..3 {
                let (n, peer) = server.recv_from(&mut buf).await.unwrap();
                ids.push(u16::from_be_bytes([buf[0], buf[1]]));
                // a forged answer first (another id), then the real one
                let forged = reply_to(&buf[..n], 1, &[(1, 1, 6666, "evil.example")]);
                server.send_to(&forged, peer).await.unwrap();
                let real = reply_to(&buf[..n], 0, &[(1, 1, 9000, "good.example")]);
                server.send_to(&real, peer).await.unwrap();
            }
            ids
        });
        for _ in 0..3 {
            let recs = lookup_srv(addr, "_svc._tcp.local").await.unwrap();
            assert_eq!(recs.len(), 1);
            assert_eq!(
                (recs[0].port, recs[0].target.as_str()),
                (9000, "good.example")
            );
        }
        let ids = ids.await.unwrap();
        assert!(ids.iter().any(|id| *id != ids[0]), "{ids:?}");
    }

    #[tokio::test]
    async fn a_truncated_answer_is_asked_again_over_tcp() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // one port for both transports, as a name server listens
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let port = udp.local_addr().unwrap().port();
            if let Ok(tcp) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
            let mut truncated = reply_to(&buf[..n], 0, &[]);
            truncated[2] |= 0x02; // TC
            udp.send_to(&truncated, peer).await.unwrap();
        });
        let many: Vec<(u16, u16, u16, String)> = (0..40)
            .map(|i| {
                (
                    1,
                    1,
                    9000 + i,
                    format!("host-{i}.a-rather-long-name.example"),
                )
            })
            .collect();
        tokio::spawn(async move {
            let (mut conn, _) = tcp.accept().await.unwrap();
            let len = conn.read_u16().await.unwrap() as usize;
            let mut query = vec![0u8; len];
            conn.read_exact(&mut query).await.unwrap();
            let records: Vec<(u16, u16, u16, &str)> = many
                .iter()
                .map(|(p, w, port, t)| (*p, *w, *port, t.as_str()))
                .collect();
            let answer = reply_to(&query, 0, &records);
            assert!(answer.len() > 512);
            conn.write_u16(answer.len() as u16).await.unwrap();
            conn.write_all(&answer).await.unwrap();
        });
        let recs = lookup_srv(addr, "_svc._tcp.local").await.unwrap();
        assert_eq!(recs.len(), 40);
        assert_eq!(recs[39].port, 9039);
    }

    #[test]
    fn resolv_conf_as_go_reads_it() {
        let conf = ResolvConf::parse(
            "# comment\nnameserver 10.0.0.1\nnameserver ::2\nnameserver bad\n\
             nameserver 10.0.0.3\nnameserver 10.0.0.4\ndomain ignored.example\n\
             search ns.svc.cluster.local svc.cluster.local .\noptions rotate ndots:5\n",
            "pod-1.ignored",
        );
        assert_eq!(
            conf.servers,
            [
                SocketAddr::from(([10, 0, 0, 1], 53)),
                "[::2]:53".parse().unwrap(),
                SocketAddr::from(([10, 0, 0, 3], 53)),
            ]
        );
        assert_eq!(conf.search, ["ns.svc.cluster.local.", "svc.cluster.local."]);
        assert_eq!(conf.ndots, 5);
        let bare = ResolvConf::parse("options ndots:99", "host.corp.example");
        assert_eq!(bare.ndots, 15);
        assert_eq!(bare.search, ["corp.example."]);
        assert_eq!(bare.servers.len(), 2);
        assert_eq!(ResolvConf::parse("", "host").search, Vec::<String>::new());
    }

    #[test]
    fn search_list_as_go_builds_it() {
        let conf = ResolvConf::parse("search a.example b.example\noptions ndots:3", "");
        // fewer dots than ndots: the suffixed names first
        assert_eq!(
            conf.names("_http._tcp.api"),
            [
                "_http._tcp.api.a.example.",
                "_http._tcp.api.b.example.",
                "_http._tcp.api."
            ]
        );
        // enough dots: as it is first
        assert_eq!(
            conf.names("_http._tcp.api.x"),
            [
                "_http._tcp.api.x.",
                "_http._tcp.api.x.a.example.",
                "_http._tcp.api.x.b.example."
            ]
        );
        assert_eq!(conf.names("_http._tcp.api."), ["_http._tcp.api."]);
        assert!(conf.names("x.onion.").is_empty());
    }

    #[tokio::test]
    async fn a_name_without_records_moves_on_to_the_next_search_suffix() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let (n, peer) = server.recv_from(&mut buf).await.unwrap();
                let q = &buf[..n];
                let (name, _) = read_name(q, 12).unwrap();
                let mut reply = if name == "_svc._tcp.api.ns.example" {
                    let id = u16::from_be_bytes([q[0], q[1]]);
                    srv_answer(id, &name, &[(1, 1, 9000, "api.ns.example")])
                } else {
                    let mut r = q.to_vec();
                    r[2] |= 0x80;
                    r[3] = 0x83; // NXDOMAIN
                    r
                };
                reply[3] |= 0x80;
                server.send_to(&reply, peer).await.unwrap();
            }
        });
        let conf = ResolvConf {
            servers: vec![addr],
            search: vec!["other.example.".into(), "ns.example.".into()],
            ndots: 5,
        };
        let recs = resolve(&conf, "_svc._tcp.api").await.unwrap();
        assert_eq!(recs[0].target, "api.ns.example");
        let e = resolve(&conf, "_svc._tcp.nope.")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("no such host"), "{e}");
    }
}
