//! The composition root: builds a running gateway from its configuration. The components of
//! every level are instantiated here in KrakenD CE's order and handed to the layers that run
//! them (service layers and routes to the router, guards and proxy stages to each endpoint's
//! handler, stages and the executor to each backend); no lower layer builds what sits above it.

use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};
use http::Method;
use serde_json::Value;

use crate::backend::{Backend, HttpClient};
use crate::components::{self, BuildCx};
use crate::config::{EndpointConfig, ServiceConfig};
use crate::encoding::Render;
use crate::error::{Error, Result};
use crate::pipeline::{Pipe, StaticStrategy};
use crate::router::endpoint::{EndpointHandler, HeaderFilter, QueryFilter};
use crate::router::{Gateway, RouterOptions};
use crate::transform::parse_flatmap;

/// Builds the gateway `config` describes: the HTTP client, the server's TLS, the components
/// of every level in KrakenD CE's order, every endpoint's stack and the route table. Errors
/// name where they are (route conflicts included), all of them in one round.
pub fn build(config: ServiceConfig, debug: bool) -> Result<Gateway, Vec<String>> {
    let mut errors = Vec::new();
    let opts = match RouterOptions::from_extra(&config.extra_config) {
        Ok(o) => o,
        Err(e) => {
            errors.push(e.to_string());
            RouterOptions::default()
        }
    };
    let client = match HttpClient::new(&config) {
        Ok(c) => c,
        Err(e) => return Err(vec![e.to_string()]),
    };
    let server_tls = match crate::tls::server_config(config.tls.as_ref()) {
        Ok(t) => t.map(Arc::new),
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    };
    let metrics = match components::telemetry::metrics::Registry::from_service(&config) {
        Ok(m) => m,
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    };
    let jose = match components::auth::jwt::JoseShared::from_service(&config) {
        Ok(j) => j,
        Err(e) => {
            errors.push(e.to_string());
            components::auth::jwt::JoseShared::default()
        }
    };
    let cx = BuildCx {
        service: &config,
        client: &client,
        metrics: metrics.clone(),
        jose: &jose,
    };
    let layers = match components::service_layers(&cx) {
        Ok(l) => l,
        Err(e) => {
            errors.push(e.to_string());
            Vec::new()
        }
    };
    let mut gw = Gateway::new(config.clone(), opts, layers, server_tls, metrics);
    gw.add_builtins(debug, &mut errors);
    for ep in &config.endpoints {
        match build_endpoint(ep, &cx, gw.bare_responses()) {
            Ok(h) => gw.add_endpoint(ep, h, &mut errors),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(gw)
    } else {
        Err(errors)
    }
}

/// One endpoint's handler. `bare_responses`: no service layer sees the responses on their way
/// out.
fn build_endpoint(
    ep: &EndpointConfig,
    cx: &BuildCx<'_>,
    bare_responses: bool,
) -> Result<EndpointHandler> {
    let proxy = ep.extra_config.get("proxy");
    let sequential = proxy
        .and_then(|p| p.get("sequential"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let propagated =
        crate::config::strings(proxy.and_then(|p| p.get("sequential_propagated_params")));
    let static_data = match proxy.and_then(|p| p.get("static")) {
        Some(s) => {
            let strategy = StaticStrategy::from_name(
                s.get("strategy")
                    .and_then(Value::as_str)
                    .unwrap_or("always"),
            );
            let data = match s.get("data") {
                Some(Value::Object(m)) => m.clone(),
                None | Some(Value::Null) => serde_json::Map::new(),
                Some(_) => {
                    return Err(Error::config(
                        format!("{}.extra_config.proxy.static.data", ep.json_path),
                        "expected an object",
                    ))
                }
            };
            Some((strategy, data))
        }
        None => None,
    };
    let flatmap = match proxy.and_then(|p| p.get("flatmap_filter")) {
        Some(v) => Some(parse_flatmap(v).map_err(|e| {
            e.within(format!(
                "{}.extra_config.proxy.flatmap_filter",
                ep.json_path
            ))
        })?),
        None => None,
    };
    let mut backends = Vec::new();
    let mut shadows = Vec::new();
    for b in &ep.backend {
        let backend = Backend::build(
            b,
            cx.service.dns_cache_ttl,
            cx.client.for_backend(b)?,
            components::backend_stages(b, cx)?,
        )?;
        if backend.shadow {
            shadows.push(Arc::new(backend));
        } else {
            backends.push(backend);
        }
    }
    if backends.is_empty() {
        return Err(Error::config(
            format!("{}.backend", ep.json_path),
            "every backend is a shadow backend: at least one must answer",
        ));
    }
    let render = Render::from_name(&ep.output_encoding).unwrap_or(Render::Json);
    let headers = if ep.input_headers.is_empty() {
        HeaderFilter::ContentTypeOnly
    } else if ep.input_headers.iter().any(|h| h == "*") {
        HeaderFilter::All
    } else {
        HeaderFilter::List(
            ep.input_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                // hop-by-hop headers never travel upstream, even when listed
                .filter(|h| {
                    !matches!(
                        h.as_str(),
                        "host"
                            | "connection"
                            | "keep-alive"
                            | "proxy-connection"
                            | "te"
                            | "trailer"
                            | "transfer-encoding"
                            | "upgrade"
                    )
                })
                .collect(),
        )
    };
    let query = if ep.input_query_strings.is_empty() {
        QueryFilter::None
    } else if ep.input_query_strings.iter().any(|q| q == "*") {
        QueryFilter::All
    } else {
        QueryFilter::List(ep.input_query_strings.clone())
    };
    let cache_control = (!ep.cache_ttl.is_zero())
        .then(|| HeaderValue::from_str(&format!("public, max-age={}", ep.cache_ttl.as_secs())).ok())
        .flatten();
    let quiet_errors = static_data
        .as_ref()
        .is_some_and(|(s, _)| *s == StaticStrategy::Always);
    let buffer_body = backends.len() + shadows.len() > 1 || ep.concurrent_calls > 1;
    let method = Method::from_bytes(ep.method.as_bytes())
        .map_err(|_| Error::config(format!("{}.method", ep.json_path), "invalid method"))?;
    let guards = components::endpoint_guards(ep, cx)?;
    let stages = components::proxy_stages(ep, cx)?;
    // plain JSON backends whose objects nothing reads or changes on the way to the `json`
    // render hand on the rendered bytes, no map is built: one backend, or several merged
    // under distinct groups (their objects join without a key of one replacing another's)
    let untouched = shadows.is_empty()
        && !sequential
        && static_data.is_none()
        && flatmap.is_none()
        && render == Render::Json
        && stages.iter().all(|s| !s.reads_data());
    if untouched && (backends.len() == 1 || distinct_groups(&backends)) {
        for b in backends.iter_mut() {
            b.set_canonical_json();
        }
    }
    if let [only] = backends.as_mut_slice() {
        // a `no-op` answer nothing reads or changes on its way out keeps its header lines
        if bare_responses
            && shadows.is_empty()
            && !sequential
            && static_data.is_none()
            && flatmap.is_none()
            && stages.is_empty()
        {
            only.set_raw_fields();
        }
    }
    Ok(EndpointHandler {
        endpoint: ep.endpoint.clone(),
        log_prefix: format!("[ENDPOINT: {}]", ep.endpoint),
        method,
        pipe: Pipe::new(
            backends.into_iter().map(Arc::new).collect(),
            shadows,
            ep.timeout,
            ep.concurrent_calls,
            sequential,
            &propagated,
            static_data,
            flatmap,
        ),
        render,
        headers,
        query,
        cache_control,
        quiet_errors,
        buffer_body,
        guards,
        stages,
    })
}

/// Whether every backend has a `group` and no two share one.
fn distinct_groups(backends: &[Backend]) -> bool {
    let mut groups = Vec::with_capacity(backends.len());
    for b in backends {
        match b.group() {
            Some(g) if !groups.contains(&g) => groups.push(g),
            _ => return false,
        }
    }
    true
}
