//! The `router` namespace (service level), read once.

use std::net::IpAddr;

use serde_json::Value;

use crate::config::ExtraConfig;
use crate::error::{Error, Result};

/// gin engine options KrakenD exposes.
#[derive(Debug, Clone)]
pub struct RouterOptions {
    pub return_error_msg: bool,
    pub health_path: String,
    pub disable_health: bool,
    pub hide_version_header: bool,
    pub auto_options: bool,
    pub error_body_404: Option<Vec<u8>>,
    pub error_body_405: Option<Vec<u8>>,
    pub disable_redirect_trailing_slash: bool,
    pub disable_redirect_fixed_path: bool,
    pub disable_handle_method_not_allowed: bool,
    pub disable_access_log: bool,
    pub logger_skip_paths: Vec<String>,
    pub remove_extra_slash: bool,
    pub forwarded_by_client_ip: bool,
    pub remote_ip_headers: Vec<String>,
    pub trusted_proxies: Vec<(IpAddr, u8)>,
    pub disable_path_decoding: bool,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            return_error_msg: false,
            health_path: "/__health".into(),
            disable_health: false,
            hide_version_header: false,
            auto_options: false,
            error_body_404: None,
            error_body_405: None,
            disable_redirect_trailing_slash: false,
            disable_redirect_fixed_path: false,
            disable_handle_method_not_allowed: false,
            disable_access_log: false,
            logger_skip_paths: Vec::new(),
            remove_extra_slash: false,
            forwarded_by_client_ip: false,
            remote_ip_headers: vec!["X-Forwarded-For".into(), "X-Real-IP".into()],
            trusted_proxies: Vec::new(),
            disable_path_decoding: false,
        }
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    match s.split_once('/') {
        Some((ip, bits)) => Some((ip.parse().ok()?, bits.parse().ok()?)),
        None => {
            let ip: IpAddr = s.parse().ok()?;
            Some((ip, if ip.is_ipv4() { 32 } else { 128 }))
        }
    }
}

/// Whether `ip` falls inside `net/bits`.
pub fn in_cidr(ip: IpAddr, (net, bits): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits.min(32))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits.min(128))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

impl RouterOptions {
    pub fn from_extra(extra: &ExtraConfig) -> Result<RouterOptions> {
        let mut o = RouterOptions::default();
        let Some(v) = extra.get("router") else {
            return Ok(o);
        };
        let Some(m) = v.as_object() else {
            return Err(Error::config("extra_config.router", "expected an object"));
        };
        let b = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
        o.return_error_msg = b("return_error_msg");
        o.disable_health = b("disable_health");
        o.hide_version_header = b("hide_version_header");
        o.auto_options = b("auto_options");
        o.disable_redirect_trailing_slash = b("disable_redirect_trailing_slash");
        o.disable_redirect_fixed_path = b("disable_redirect_fixed_path");
        o.disable_handle_method_not_allowed = b("disable_handle_method_not_allowed");
        o.disable_access_log = b("disable_access_log");
        o.remove_extra_slash = b("remove_extra_slash");
        o.forwarded_by_client_ip = b("forwarded_by_client_ip");
        o.disable_path_decoding = b("disable_path_decoding");
        if let Some(p) = m.get("health_path").and_then(Value::as_str) {
            if !p.is_empty() {
                o.health_path = if p.starts_with('/') {
                    p.to_string()
                } else {
                    format!("/{p}")
                };
            }
        }
        let list = |k: &str| crate::config::strings(m.get(k));
        o.logger_skip_paths = list("logger_skip_paths");
        let headers = list("remote_ip_headers");
        if !headers.is_empty() {
            o.remote_ip_headers = headers;
        }
        for (i, p) in list("trusted_proxies").iter().enumerate() {
            match parse_cidr(p) {
                Some(c) => o.trusted_proxies.push(c),
                None => {
                    return Err(Error::config(
                        format!("extra_config.router.trusted_proxies[{i}]"),
                        format!("{p:?} is not an IP or CIDR"),
                    ))
                }
            }
        }
        if let Some(eb) = m.get("error_body").and_then(Value::as_object) {
            o.error_body_404 = eb.get("404").map(crate::encoding::json::to_vec);
            o.error_body_405 = eb.get("405").map(crate::encoding::json::to_vec);
        }
        Ok(o)
    }
}
