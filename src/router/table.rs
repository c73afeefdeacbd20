//! The route table: the routes of each method in a matchit tree (gin keeps one tree per
//! method), their registration (endpoints and built-ins, gin's conflicts refused), and the
//! lookups on it: the route of a request, gin's case-insensitive fixed path.

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};

use super::endpoint::{self, EndpointHandler};
use super::unrouted::collapse_slashes;
use super::{builtin, Gateway};
use crate::config::{route_pattern, EndpointConfig};
use crate::vocab::body::Body;
use crate::vocab::percent::percent_decode;

/// What a route serves: an endpoint, or one of the built-in endpoints.
enum Target {
    Endpoint(Arc<EndpointHandler>),
    Health,
    Debug,
    Echo,
}

/// One registered route: the path as matchit knows it (`/users/{id}`) and its handler.
pub(super) struct Route {
    pattern: String,
    target: Target,
}

/// The routes of one HTTP method: gin keeps one tree per method, so the same path may use
/// different parameter names on different methods.
pub(super) struct MethodTable {
    pub(super) method: Method,
    pub(super) tree: matchit::Router<usize>,
    /// Indexes into `Gateway::routes`, in registration order.
    routes: Vec<usize>,
}

/// The methods gin's `Any` registers a handler for (the built-in `/__debug/`, `/__echo/`).
const ANY_METHODS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
    Method::DELETE,
    Method::CONNECT,
    Method::TRACE,
];

impl Gateway {
    /// Registers the built-in endpoints: `/__health` (unless disabled), `/__debug/` (with
    /// `debug` or `debug_endpoint`), `/__echo/` (`echo_endpoint`).
    pub(crate) fn add_builtins(&mut self, debug: bool, errors: &mut Vec<String>) {
        if !self.shared.opts.disable_health {
            let p = self.shared.opts.health_path.clone();
            self.add(
                &p,
                Method::GET,
                Target::Health,
                false,
                errors,
                "router.health_path",
            );
        }
        if debug || self.config.debug_endpoint {
            for p in ["/__debug", "/__debug/", "/__debug/{*rest}"] {
                self.add(
                    p,
                    Method::GET,
                    Target::Debug,
                    true,
                    errors,
                    "debug_endpoint",
                );
            }
        }
        if self.config.echo_endpoint {
            for p in ["/__echo", "/__echo/", "/__echo/{*rest}"] {
                self.add(p, Method::GET, Target::Echo, true, errors, "echo_endpoint");
            }
        }
    }

    /// Registers an endpoint's handler on its route.
    pub(crate) fn add_endpoint(
        &mut self,
        ep: &EndpointConfig,
        handler: EndpointHandler,
        errors: &mut Vec<String>,
    ) {
        let method = handler.method.clone();
        let pattern = route_pattern(&ep.endpoint);
        self.add(
            &pattern,
            method,
            Target::Endpoint(Arc::new(handler)),
            false,
            errors,
            &format!("{}.endpoint", ep.json_path),
        );
    }

    /// Registers `target` for `method` (every method of gin's `Any` when `any_method`).
    fn add(
        &mut self,
        pattern: &str,
        method: Method,
        target: Target,
        any_method: bool,
        errors: &mut Vec<String>,
        path: &str,
    ) {
        let methods: &[Method] = if any_method {
            &ANY_METHODS
        } else {
            std::slice::from_ref(&method)
        };
        // any error fails the build, so a half-registered route is never served
        for m in methods {
            if let Err(e) = self.check_insert(m, pattern) {
                errors.push(format!("{path}: the route {m} {pattern} {e}"));
                return;
            }
        }
        let idx = self.routes.len();
        for m in methods {
            let pos = match self.tables.iter().position(|t| t.method == *m) {
                Some(p) => p,
                None => {
                    self.tables.push(MethodTable {
                        method: m.clone(),
                        tree: matchit::Router::new(),
                        routes: Vec::new(),
                    });
                    self.tables.len() - 1
                }
            };
            let table = &mut self.tables[pos];
            if let Err(e) = table.tree.insert(pattern, idx) {
                errors.push(format!(
                    "{path}: the route {m} {pattern} conflicts with another endpoint: {e}"
                ));
                return;
            }
            table.routes.push(idx);
        }
        self.routes.push(Route {
            pattern: pattern.to_string(),
            target,
        });
    }

    /// Whether `pattern` can join the tree of `method`: not defined twice, no parameter
    /// named differently at the same position (matchit checks the rest on insert).
    fn check_insert(&self, method: &Method, pattern: &str) -> Result<(), String> {
        let Some(table) = self.table(method) else {
            return Ok(());
        };
        if let Ok(m) = table.tree.at(pattern) {
            if self.routes[*m.value].pattern == pattern {
                return Err("is defined twice".to_string());
            }
        }
        if let Some(other) = table
            .routes
            .iter()
            .find_map(|i| param_conflict(&self.routes[*i].pattern, pattern))
        {
            return Err(format!("conflicts with another endpoint: {other}"));
        }
        Ok(())
    }

    pub(super) fn table(&self, method: &Method) -> Option<&MethodTable> {
        self.tables.iter().find(|t| t.method == *method)
    }

    /// The endpoint pattern that serves `method path`, if any (no redirects).
    pub fn lookup(&self, method: &Method, path: &str) -> Option<&str> {
        let m = self.table(method)?.tree.at(path).ok()?;
        Some(self.routes[*m.value].pattern.as_str())
    }
    /// What serves a request: an endpoint with its params, a built-in endpoint, or (no route)
    /// the redirect, `OPTIONS` or error answer.
    pub(super) fn find(&self, req: &Request<Body>) -> Found<'_> {
        let opts = &self.shared.opts;
        // gin routes on the decoded path; `disable_path_decoding` only turns off the
        // encoded-param check
        let mut path = std::borrow::Cow::Borrowed(req.uri().path());
        if path.contains('%') {
            path = std::borrow::Cow::Owned(percent_decode(&path));
        }
        if opts.remove_extra_slash && path.contains("//") {
            path = std::borrow::Cow::Owned(collapse_slashes(&path));
        }
        if let Some(m) = self.table(req.method()).and_then(|t| t.tree.at(&path).ok()) {
            let route = &self.routes[*m.value];
            let h = match &route.target {
                Target::Endpoint(h) => h,
                Target::Health => return Found::Answer(builtin::health(self.shared.started)),
                Target::Debug => return Found::Inspect { debug: true },
                Target::Echo => return Found::Inspect { debug: false },
            };
            let params: Vec<(String, String)> = m
                .params
                .iter()
                .map(|(k, v)| (crate::backend::url::param_key(k), v.to_string()))
                .collect();
            if !self.shared.opts.disable_path_decoding
                && params.iter().any(|(_, v)| {
                    v.contains(['?', '#']) || (v.contains('%') && percent_decode(v) != *v)
                })
            {
                return Found::Answer(endpoint::text_response(
                    StatusCode::BAD_REQUEST,
                    "error: encoded url params",
                ));
            }
            return Found::Endpoint(h, params);
        }
        Found::Answer(self.unrouted(req, &path))
    }

    pub(super) fn has_method(&self, path: &str, method: &Method) -> bool {
        self.table(method).is_some_and(|t| t.tree.at(path).is_ok())
    }

    /// gin's case-insensitive lookup: the registered path that matches `path` ignoring case.
    pub(super) fn fixed_path(&self, path: &str, method: &Method) -> Option<String> {
        let table = self.table(method)?;
        let want: Vec<&str> = path.split('/').collect();
        for route in table.routes.iter().map(|i| &self.routes[*i]) {
            let segs: Vec<&str> = route.pattern.split('/').collect();
            let mut out = Vec::with_capacity(want.len());
            let mut ok = true;
            for (i, seg) in segs.iter().enumerate() {
                if seg.starts_with("{*") {
                    if i < want.len() {
                        out.extend(want[i..].iter().map(|s| s.to_string()));
                    }
                    break;
                }
                let Some(w) = want.get(i) else {
                    ok = false;
                    break;
                };
                if seg.starts_with('{') && seg.ends_with('}') && !seg.starts_with("{{") {
                    if w.is_empty() {
                        ok = false;
                        break;
                    }
                    out.push(w.to_string());
                } else if seg.eq_ignore_ascii_case(w) {
                    out.push(seg.to_string());
                } else {
                    ok = false;
                    break;
                }
            }
            if ok && (segs.len() == want.len() || segs.last().is_some_and(|s| s.starts_with("{*")))
            {
                let fixed = out.join("/");
                if fixed != path || path != want.join("/") {
                    return Some(fixed);
                }
                return Some(fixed);
            }
        }
        None
    }
}

/// What [`Gateway::find`] found for a request.
pub(super) enum Found<'a> {
    Endpoint(&'a EndpointHandler, Vec<(String, String)>),
    /// `/__debug/` or `/__echo/`.
    Inspect {
        debug: bool,
    },
    Answer(Response<Body>),
}

/// gin refuses two routes whose paths agree up to a parameter segment that has a different
/// name in each (`/user/{a}` and `/user/{b}/x`); KrakenD fails to start on them.
fn param_conflict(existing: &str, new: &str) -> Option<String> {
    let is_param = |s: &str| s.starts_with('{') && s.ends_with('}') && !s.starts_with("{{");
    for (a, b) in existing.split('/').zip(new.split('/')) {
        match (is_param(a), is_param(b)) {
            (true, true) if a != b => {
                return Some(format!(
                    "wildcard {b} conflicts with the existing wildcard {a} in {existing}"
                ))
            }
            (true, true) => continue,
            (false, false) if a == b => continue,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which endpoints hand the backend's JSON on without building a map: the endpoint
    /// `/{name}` of each case, and whether it should.
    #[tokio::test]
    async fn canonical_json_only_where_nothing_reads_the_data() {
        let b = |extra: serde_json::Value| {
            let mut b = serde_json::json!({"url_pattern": "/x", "host": ["http://127.0.0.1:19"]});
            if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
                b.extend(extra.clone());
            }
            b
        };
        let none = serde_json::json!({});
        let cases: Vec<(&str, bool, serde_json::Value)> = vec![
            (
                "plain",
                true,
                serde_json::json!({"backend": [b(none.clone())]}),
            ),
            (
                "explicit-json",
                true,
                serde_json::json!({"output_encoding": "json", "backend": [b(serde_json::json!({"encoding": "json"}))]}),
            ),
            (
                "concurrent",
                true,
                serde_json::json!({"concurrent_calls": 3, "backend": [b(none.clone())]}),
            ),
            (
                "cache-ttl",
                true,
                serde_json::json!({"cache_ttl": "60s", "backend": [b(none.clone())]}),
            ),
            (
                "status-handling",
                true,
                serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {"backend/http": {"return_error_code": true}}}))]}),
            ),
            (
                "breaker-ratelimit",
                true,
                serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {
                "qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 1},
                "qos/ratelimit/proxy": {"max_rate": 10, "capacity": 10}}}))]}),
            ),
            (
                "two-backends",
                false,
                serde_json::json!({"backend": [b(none.clone()), b(none.clone())]}),
            ),
            (
                "shadow",
                false,
                serde_json::json!({"backend": [b(none.clone()), b(serde_json::json!({"extra_config": {"proxy": {"shadow": true}}}))]}),
            ),
            (
                "static",
                false,
                serde_json::json!({"extra_config": {"proxy": {"static": {"strategy": "always", "data": {"a": 1}}}}, "backend": [b(none.clone())]}),
            ),
            (
                "sequential",
                false,
                serde_json::json!({"extra_config": {"proxy": {"sequential": true}}, "backend": [b(none.clone())]}),
            ),
            (
                "flatmap-endpoint",
                false,
                serde_json::json!({"extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["a"]}]}}, "backend": [b(none.clone())]}),
            ),
            (
                "flatmap-backend",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["a"]}]}}}))]}),
            ),
            (
                "allow",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"allow": ["a"]}))]}),
            ),
            (
                "deny",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"deny": ["a"]}))]}),
            ),
            (
                "mapping",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"mapping": {"a": "b"}}))]}),
            ),
            (
                "target",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"target": "a"}))]}),
            ),
            (
                "group",
                true,
                serde_json::json!({"backend": [b(serde_json::json!({"group": "g"}))]}),
            ),
            (
                "two-groups",
                true,
                serde_json::json!({"backend": [b(serde_json::json!({"group": "g"})), b(serde_json::json!({"group": "h"}))]}),
            ),
            (
                "one-group-twice",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"group": "g"})), b(serde_json::json!({"group": "g"}))]}),
            ),
            (
                "group-and-none",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"group": "g"})), b(none.clone())]}),
            ),
            (
                "two-groups-static",
                false,
                serde_json::json!({"extra_config": {"proxy": {"static": {"strategy": "always", "data": {"a": 1}}}}, "backend": [b(serde_json::json!({"group": "g"})), b(serde_json::json!({"group": "h"}))]}),
            ),
            (
                "collection",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"is_collection": true}))]}),
            ),
            (
                "safejson",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"encoding": "safejson"}))]}),
            ),
            (
                "xml-in",
                false,
                serde_json::json!({"backend": [b(serde_json::json!({"encoding": "xml"}))]}),
            ),
            (
                "noop-in",
                false,
                serde_json::json!({"output_encoding": "no-op", "backend": [b(serde_json::json!({"encoding": "no-op"}))]}),
            ),
            (
                "negotiate",
                false,
                serde_json::json!({"output_encoding": "negotiate", "backend": [b(none.clone())]}),
            ),
            (
                "xml-out",
                false,
                serde_json::json!({"output_encoding": "xml", "backend": [b(none.clone())]}),
            ),
            (
                "string-out",
                false,
                serde_json::json!({"output_encoding": "string", "backend": [b(none.clone())]}),
            ),
            (
                "json-collection-out",
                false,
                serde_json::json!({"output_encoding": "json-collection", "backend": [b(none.clone())]}),
            ),
            (
                "jsonschema",
                false,
                serde_json::json!({"extra_config": {"validation/json-schema": {"type": "object"}}, "backend": [b(none.clone())]}),
            ),
        ];
        #[cfg(feature = "lua")]
        let cases = {
            let mut cases = cases;
            cases.push(("lua-proxy", false, serde_json::json!({"extra_config": {"modifier/lua-proxy": {"post": "local r = response.load()"}}, "backend": [b(none.clone())]})));
            cases.push(("lua-backend", false, serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {"modifier/lua-backend": {"post": "local r = response.load()"}}}))]})));
            cases
        };
        #[cfg(feature = "cel")]
        let cases = {
            let mut cases = cases;
            cases.push(("cel-proxy", false, serde_json::json!({"extra_config": {"validation/cel": [{"check_expr": "resp_data.ok == true"}]}, "backend": [b(none.clone())]})));
            cases.push(("cel-proxy-pre", false, serde_json::json!({"extra_config": {"validation/cel": [{"check_expr": "req_method == 'GET'"}]}, "backend": [b(none.clone())]})));
            cases.push(("cel-backend", false, serde_json::json!({"backend": [b(serde_json::json!({"extra_config": {"validation/cel": [{"check_expr": "resp_data.ok == true"}]}}))]})));
            cases
        };
        let endpoints: Vec<serde_json::Value> = cases
            .iter()
            .map(|(name, _, ep)| {
                let mut ep = ep.clone();
                ep["endpoint"] = serde_json::Value::String(format!("/{name}"));
                ep
            })
            .collect();
        let build = |extra: serde_json::Value| {
            let mut cfg = serde_json::json!({"version": 3, "endpoints": endpoints.clone()});
            if let (Some(c), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
                c.extend(extra.clone());
            }
            let loaded = crate::config::load_str(
                &cfg.to_string(),
                "t.json",
                crate::config::Format::Json,
                &|_| None,
            )
            .unwrap();
            crate::app::build(loaded.config, false).unwrap()
        };
        // service-level metrics add a stage to every endpoint and backend: it only counts
        let metrics = serde_json::json!({"extra_config": {"telemetry/metrics": {"listen_address": "127.0.0.1:0"}}});
        for gw in [build(serde_json::json!({})), build(metrics)] {
            for (name, want, _) in &cases {
                let handler = gw
                    .routes
                    .iter()
                    .find_map(|r| match &r.target {
                        Target::Endpoint(h) if h.endpoint == format!("/{name}") => Some(h),
                        _ => None,
                    })
                    .unwrap();
                for b in &handler.pipe.backends {
                    assert_eq!(b.hands_on_canonical_json(), *want, "{name}");
                }
                assert!(handler
                    .pipe
                    .shadows
                    .iter()
                    .all(|b| !b.hands_on_canonical_json()));
            }
        }
    }

    #[test]
    fn only_bare_no_op_answers_keep_raw_header_lines() {
        let noop = |extra: serde_json::Value| {
            let mut b = serde_json::json!({"url_pattern": "/", "host": ["http://127.0.0.1:8081"], "encoding": "no-op"});
            if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
                b.extend(extra.clone());
            }
            b
        };
        let cases = [
            (
                "bare",
                true,
                serde_json::json!({"output_encoding": "no-op", "backend": [noop(serde_json::json!({}))]}),
            ),
            (
                "json",
                false,
                serde_json::json!({"backend": [{"url_pattern": "/", "host": ["http://127.0.0.1:8081"]}]}),
            ),
            (
                "backend-stage",
                false,
                serde_json::json!({"output_encoding": "no-op", "backend": [noop(serde_json::json!({"extra_config": {"modifier/martian": {"header.Modifier": {"scope": ["response"], "name": "X-A", "value": "1"}}}}))]}),
            ),
            // a guard answers before the backend or not at all: the answer stays bare
            (
                "guarded",
                true,
                serde_json::json!({"output_encoding": "no-op", "extra_config": {"qos/ratelimit/router": {"max_rate": 100}}, "backend": [noop(serde_json::json!({}))]}),
            ),
            (
                "endpoint-stage",
                false,
                serde_json::json!({"output_encoding": "no-op", "extra_config": {"validation/json-schema": {"type": "object"}}, "backend": [noop(serde_json::json!({}))]}),
            ),
        ];
        let build = |extra: serde_json::Value| {
            let endpoints: Vec<serde_json::Value> = cases
                .iter()
                .map(|(name, _, ep)| {
                    let mut ep = ep.clone();
                    ep["endpoint"] = serde_json::Value::String(format!("/{name}"));
                    ep
                })
                .collect();
            let mut cfg = serde_json::json!({"version": 3, "endpoints": endpoints});
            if let (Some(c), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
                c.extend(extra.clone());
            }
            let loaded = crate::config::load_str(
                &cfg.to_string(),
                "t.json",
                crate::config::Format::Json,
                &|_| None,
            )
            .unwrap();
            crate::app::build(loaded.config, false).unwrap()
        };
        let raw = |gw: &Gateway, name: &str| {
            gw.routes
                .iter()
                .find_map(|r| match &r.target {
                    Target::Endpoint(h) if h.endpoint == format!("/{name}") => Some(h),
                    _ => None,
                })
                .unwrap()
                .pipe
                .backends
                .iter()
                .any(|b| b.hands_on_raw_fields())
        };
        let gw = build(serde_json::json!({}));
        for (name, want, _) in &cases {
            assert_eq!(raw(&gw, name), *want, "{name}");
        }
        // a service layer sees every response's headers: none keeps raw lines
        let layered =
            build(serde_json::json!({"extra_config": {"security/http": {"frame_deny": true}}}));
        for (name, _, _) in &cases {
            assert!(!raw(&layered, name), "{name} behind a layer");
        }
    }

    #[test]
    fn patterns_and_param_conflicts() {
        assert_eq!(route_pattern("/a/{id}/b"), "/a/{id}/b");
        assert_eq!(route_pattern("/a/:id"), "/a/{id}");
        assert_eq!(route_pattern("/file.{ext}"), "/file.{{ext}}");
        assert_eq!(percent_decode("/a%20b%zz"), "/a b%zz");
        assert_eq!(percent_decode("/a/%+0x/% 1"), "/a/%+0x/% 1");
        assert!(param_conflict("/user/{a}", "/user/{b}/x").is_some());
        assert!(param_conflict("/user/{a}", "/user/{a}/x").is_none());
        assert!(param_conflict("/user/{a}", "/users/{b}").is_none());
        assert!(param_conflict("/__debug/{*rest}", "/__debug/{*rest}").is_none());
    }
}
