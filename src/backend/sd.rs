//! `sd: "dns"`: DNS SRV service discovery. The SRV name in `host[0]` is resolved against the
//! system's name servers, re-resolved every `dns_cache_ttl`; only the records with the lowest
//! priority are kept, weights are reduced by their GCD and each host repeated by its weight.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::UdpSocket;

/// One SRV answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The name servers of `/etc/resolv.conf` (127.0.0.53 when none is listed).
pub fn system_name_servers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if out.is_empty() {
        out.push(SocketAddr::from(([127, 0, 0, 53], 53)));
    }
    out
}

fn encode_query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("invalid DNS name {name:?}"));
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

/// Parses the SRV answers of a DNS response to query `id`.
pub fn parse_response(msg: &[u8], id: u16) -> Result<Vec<Srv>, String> {
    let bad = || "malformed DNS response".to_string();
    if u16_at(msg, 0) != Some(id) {
        return Err("DNS response id mismatch".into());
    }
    let flags = u16_at(msg, 2).ok_or_else(bad)?;
    let rcode = flags & 0x000F;
    if rcode == 3 {
        return Err("no such host".into());
    }
    if rcode != 0 {
        return Err(format!("DNS server answered with rcode {rcode}"));
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

/// Asks one name server for the SRV records of `name`.
pub async fn lookup_srv(server: SocketAddr, name: &str) -> Result<Vec<Srv>, String> {
    let id: u16 = (std::process::id() as u16) ^ (name.len() as u16).rotate_left(7) ^ 0x5a5a;
    let query = encode_query(id, name)?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    sock.connect(server).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        sock.send(&query).await.map_err(|e| e.to_string())?;
        match tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf)).await {
            Ok(Ok(n)) => return parse_response(&buf[..n], id),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => continue,
        }
    }
    Err(format!("lookup {name} on {server}: i/o timeout"))
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
    let servers = system_name_servers();
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        let weak = Arc::downgrade(&hosts);
        drop(hosts);
        loop {
            let mut found = None;
            for server in &servers {
                match lookup_srv(*server, &name).await {
                    Ok(records) => {
                        found = Some(hosts_from_srv(&records, &scheme));
                        break;
                    }
                    Err(e) => tracing::warn!("[SD: dns] resolving {name}: {e}"),
                }
            }
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
}
