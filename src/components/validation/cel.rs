//! `validation/cel`: Common Expression Language checks, at endpoint scope (around the pipe) and
//! at backend scope (around one backend call).
//!
//! The namespace holds a list of `{"check_expr": "..."}`. As KrakenD does, each expression is
//! sorted by the variables its text names:
//! - request checks (the text contains `req`): `req_method`, `req_path`, `req_params`
//!   (keys first-letter upper-cased: `req_params.Id`), `req_headers` (canonical names → list),
//!   `req_querystring` (name → list), `now` (RFC 3339, UTC) and `JWT` (the validated claims,
//!   an empty map without `auth/validator`), evaluated before the pipe (or backend call);
//! - response checks (the text contains `resp`): `resp_completed`, `resp_data`, `now`,
//!   evaluated on a successful response;
//! - token checks (the text contains `JWT`, endpoint scope): evaluated with `JWT` and `now`
//!   when the request carries validated claims; a failure answers 401 with an empty body.
//!
//! A request or response check that is false (or fails to evaluate) as check #N of its list
//! aborts the pipe with `request aborted by evaluator #N` (status 500); at backend scope only
//! that backend fails, so a merge becomes partial. Expressions are parsed once, at start-up:
//! one that does not parse fails the configuration.

use crate::components::{keys, Build, BuildCx, Built, ComponentSpec, Scope};
use crate::vocab::go::canonical_header;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cel::objects::{Key, Map as CelMap};
use cel::{Context, Env, Program, Value as CelValue};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::backend::url::UrlTemplate;
use crate::config::{BackendConfig, EndpointConfig};
use crate::error::{Error, Result};
use crate::hooks::{BackendStage, BoxFuture, ProxyStage};
use crate::message::{ProxyError, ProxyRequest, ProxyResponse};

pub const NAMESPACE: &str = "validation/cel";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Endpoint, Scope::Backend],
    check_keys,
    &[
        Build::Proxy(30, proxy_stage),
        Build::Backend(50, backend_stage),
    ],
);

fn proxy_stage(ep: &EndpointConfig, _: &BuildCx<'_>) -> Built<dyn ProxyStage> {
    let Some(v) = ep.extra_config.get(NAMESPACE) else {
        return Ok(None);
    };
    Ok(build_endpoint(ep, v)?.map(|s| Arc::new(s) as Arc<dyn ProxyStage>))
}

fn backend_stage(b: &BackendConfig, _: &BuildCx<'_>) -> Built<dyn BackendStage> {
    let Some(v) = b.extra_config.get(NAMESPACE) else {
        return Ok(None);
    };
    Ok(build_backend(b, v)?.map(|s| Arc::new(s) as Arc<dyn BackendStage>))
}

#[derive(Deserialize)]
struct Definition {
    #[serde(default)]
    check_expr: String,
}

/// Checks the keys of each [`Definition`] in a `validation/cel` list.
pub fn check_keys(_: Scope, v: &Value, out: &mut Vec<keys::UnknownKey>) {
    keys::list(out, "", v, |out, at, def| {
        keys::of_struct::<Definition>(out, at, def)
    });
}

/// The parsed checks of one scope, sorted into KrakenD's lists.
struct Checks {
    pre: Vec<Program>,
    post: Vec<Program>,
    jwt: Vec<Program>,
}

/// Parses the namespace's list; an expression that does not parse is an error naming its
/// position in the list.
fn parse(v: &Value, path: &str) -> Result<Checks> {
    let defs: Vec<Definition> = Vec::<Definition>::deserialize(v).map_err(|e| {
        Error::invalid(
            format!(
                "{path}extra_config.{NAMESPACE}: expected a list of {{\"check_expr\": \"...\"}}"
            ),
            e,
        )
    })?;
    let mut checks = Checks {
        pre: Vec::new(),
        post: Vec::new(),
        jwt: Vec::new(),
    };
    for (i, d) in defs.iter().enumerate() {
        let expr = d.check_expr.as_str();
        let (pre, post, jwt) = (
            expr.contains("req"),
            expr.contains("resp"),
            expr.contains("JWT"),
        );
        if !(pre || post || jwt) {
            if !expr.trim().is_empty() {
                tracing::warn!(
                    "{path}extra_config.{NAMESPACE}[{i}]: the expression {expr:?} uses none of \
                     req_*, resp_* or JWT: never evaluated"
                );
            }
            continue;
        }
        let compile = || {
            Program::compile(expr).map_err(|e| {
                Error::invalid(
                    format!(
                        "{path}extra_config.{NAMESPACE}[{i}].check_expr: cannot parse {expr:?}"
                    ),
                    e,
                )
            })
        };
        if pre {
            checks.pre.push(compile()?);
        }
        if post {
            checks.post.push(compile()?);
        }
        if jwt {
            checks.jwt.push(compile()?);
        }
    }
    Ok(checks)
}

/// The current time as Go's `time.RFC3339`, in UTC.
fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = crate::vocab::go::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// A JSON value as a CEL value (integers stay integers).
pub fn json_to_cel(v: &Value) -> CelValue {
    match v {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                CelValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                CelValue::UInt(u)
            } else {
                CelValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(a) => CelValue::List(Arc::new(a.iter().map(json_to_cel).collect())),
        Value::Object(o) => object_to_cel(o),
    }
}

fn object_to_cel(o: &Map<String, Value>) -> CelValue {
    let map: std::collections::HashMap<Key, CelValue> = o
        .iter()
        .map(|(k, v)| (Key::from(k.as_str()), json_to_cel(v)))
        .collect();
    CelValue::Map(CelMap { map: Arc::new(map) })
}

fn string_lists<'a>(pairs: impl Iterator<Item = (String, &'a str)>) -> CelValue {
    let mut grouped: Vec<(String, Vec<CelValue>)> = Vec::new();
    for (k, v) in pairs {
        let v = CelValue::String(Arc::new(v.to_string()));
        match grouped.iter_mut().find(|(n, _)| *n == k) {
            Some((_, list)) => list.push(v),
            None => grouped.push((k, vec![v])),
        }
    }
    let map: std::collections::HashMap<Key, CelValue> = grouped
        .into_iter()
        .map(|(k, list)| (Key::from(k), CelValue::List(Arc::new(list))))
        .collect();
    CelValue::Map(CelMap { map: Arc::new(map) })
}

fn headers_to_cel(h: &HeaderMap) -> CelValue {
    string_lists(
        h.iter()
            .map(|(k, v)| (canonical_header(k.as_str()), v.to_str().unwrap_or_default())),
    )
}

/// Evaluates a list of checks; the index of the first that is not `true` (false, not a bool,
/// or an evaluation error).
fn first_failing(checks: &[Program], ctx: &Context<'_, '_>, label: &str) -> Option<usize> {
    for (i, p) in checks.iter().enumerate() {
        match p.execute(ctx) {
            Ok(CelValue::Bool(true)) => {
                tracing::debug!("{label} Evaluator #{i} result: true");
            }
            Ok(other) => {
                tracing::info!("{label} Evaluator #{i} result: {other:?}");
                return Some(i);
            }
            Err(e) => {
                tracing::info!("{label} Evaluator #{i} failed: {e}");
                return Some(i);
            }
        }
    }
    None
}

fn aborted(i: usize) -> ProxyError {
    ProxyError::Rejected {
        status: 500,
        message: format!("request aborted by evaluator #{i}"),
    }
}

/// The shared evaluation of one scope.
struct Evaluator {
    env: Arc<Env>,
    checks: Checks,
    /// Renders `req_path`: the endpoint pattern, or the backend's `url_pattern`.
    path: UrlTemplate,
    /// The backend's method (backend scope); the request's otherwise.
    method: Option<String>,
    label: String,
}

impl Evaluator {
    fn request_context(&self, req: &ProxyRequest, now: &str) -> Context<'static, 'static> {
        let mut ctx = Context::with_env(self.env.clone());
        let method = self
            .method
            .clone()
            .unwrap_or_else(|| req.method.as_str().to_string());
        let mut path = String::new();
        self.path.render(|k| req.param(k), &mut path);
        ctx.add_variable_from_value("req_method", method);
        ctx.add_variable_from_value("req_path", path);
        let params: std::collections::HashMap<Key, CelValue> = req
            .params
            .iter()
            .map(|(k, v)| (Key::from(k.as_str()), CelValue::from(v.as_str())))
            .collect();
        ctx.add_variable_from_value("req_params", CelValue::Map(CelMap { map: params.into() }));
        ctx.add_variable_from_value("req_headers", headers_to_cel(&req.headers));
        ctx.add_variable_from_value(
            "req_querystring",
            string_lists(req.query.iter().map(|(k, v)| (k.clone(), v.as_str()))),
        );
        ctx.add_variable_from_value("now", now.to_string());
        ctx.add_variable_from_value("JWT", claims_to_cel(req));
        ctx
    }

    fn check_request(&self, req: &ProxyRequest) -> Result<(), ProxyError> {
        if self.checks.pre.is_empty() {
            return Ok(());
        }
        let ctx = self.request_context(req, &now_rfc3339());
        match first_failing(&self.checks.pre, &ctx, &format!("{}[pre]", self.label)) {
            Some(i) => Err(aborted(i)),
            None => Ok(()),
        }
    }

    fn check_response(&self, resp: &ProxyResponse) -> Result<(), ProxyError> {
        if self.checks.post.is_empty() {
            return Ok(());
        }
        let mut ctx = Context::with_env(self.env.clone());
        ctx.add_variable_from_value("resp_completed", resp.is_complete);
        let empty = Map::new();
        ctx.add_variable_from_value("resp_data", object_to_cel(resp.data().unwrap_or(&empty)));
        ctx.add_variable_from_value("now", now_rfc3339());
        match first_failing(&self.checks.post, &ctx, &format!("{}[post]", self.label)) {
            Some(i) => Err(aborted(i)),
            None => Ok(()),
        }
    }
}

fn claims_to_cel(req: &ProxyRequest) -> CelValue {
    match &req.claims {
        Some(c) => object_to_cel(c),
        None => object_to_cel(&Map::new()),
    }
}

/// The endpoint-scope checks, around the pipe.
pub struct CelEndpoint {
    eval: Evaluator,
}

/// Builds the endpoint stage, or `None` when no expression applies.
pub fn build_endpoint(ep: &EndpointConfig, v: &Value) -> Result<Option<CelEndpoint>> {
    let checks = parse(v, &format!("{}.", ep.json_path))?;
    if checks.pre.is_empty() && checks.post.is_empty() && checks.jwt.is_empty() {
        return Ok(None);
    }
    Ok(Some(CelEndpoint {
        eval: Evaluator {
            env: Arc::new(Env::stdlib()),
            checks,
            path: UrlTemplate::parse(&ep.endpoint),
            method: None,
            label: format!("[ENDPOINT: {}][CEL]", ep.endpoint),
        },
    }))
}

impl CelEndpoint {
    /// The token checks (`auth/validator`'s rejecter): false → the request is refused.
    fn check_claims(&self, claims: &Map<String, Value>) -> Result<(), ProxyError> {
        if self.eval.checks.jwt.is_empty() {
            return Ok(());
        }
        let mut ctx = Context::with_env(self.eval.env.clone());
        ctx.add_variable_from_value("JWT", object_to_cel(claims));
        ctx.add_variable_from_value("now", now_rfc3339());
        match first_failing(
            &self.eval.checks.jwt,
            &ctx,
            &format!("{}[JWT]", self.eval.label),
        ) {
            Some(_) => Err(ProxyError::Rejected {
                status: 401,
                message: String::new(),
            }),
            None => Ok(()),
        }
    }
}

impl ProxyStage for CelEndpoint {
    fn before<'a>(&'a self, req: &'a mut ProxyRequest) -> BoxFuture<'a, Result<(), ProxyError>> {
        let res = match &req.claims {
            Some(c) => self.check_claims(c),
            None => Ok(()),
        }
        .and_then(|()| self.eval.check_request(req));
        Box::pin(async move { res })
    }

    fn after(&self, resp: &mut Option<ProxyResponse>, err: &mut Option<ProxyError>) {
        if err.is_some() {
            return;
        }
        if let Some(r) = resp.as_ref() {
            if let Err(e) = self.eval.check_response(r) {
                *resp = None;
                *err = Some(e);
            }
        }
    }
}

/// The backend-scope checks, around one backend call.
pub struct CelBackend {
    eval: Evaluator,
}

/// Builds the backend stage, or `None` when no expression applies.
pub fn build_backend(b: &BackendConfig, v: &Value) -> Result<Option<CelBackend>> {
    let checks = parse(v, &format!("{}.", b.json_path))?;
    if checks.pre.is_empty() && checks.post.is_empty() {
        return Ok(None);
    }
    let pattern = b.url_pattern.split('?').next().unwrap_or_default();
    Ok(Some(CelBackend {
        eval: Evaluator {
            env: Arc::new(Env::stdlib()),
            checks,
            path: UrlTemplate::parse(pattern),
            method: Some(b.method.clone()),
            label: format!("[BACKEND: {}][CEL]", b.url_pattern),
        },
    }))
}

impl BackendStage for CelBackend {
    fn admit(&self, req: &ProxyRequest) -> Result<u64, ProxyError> {
        self.eval.check_request(req).map(|()| 0)
    }

    fn response(&self, result: &mut Result<ProxyResponse, ProxyError>) {
        if let Ok(resp) = result {
            if let Err(e) = self.eval.check_response(resp) {
                *result = Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, Method};
    use serde_json::json;

    fn load(ep: Value) -> EndpointConfig {
        let text = json!({"version": 3, "host": ["http://127.0.0.1:8080"], "endpoints": [ep]});
        let loaded = crate::config::load_str(
            &text.to_string(),
            "test.json",
            crate::config::Format::Json,
            &|_| None,
        )
        .expect("config");
        loaded.config.endpoints[0].clone()
    }

    fn endpoint(pattern: &str, checks: Value) -> Result<Option<CelEndpoint>> {
        let ep = load(json!({"endpoint": pattern, "backend": [{"url_pattern": "/"}]}));
        build_endpoint(&ep, &checks)
    }

    fn request(params: &[(&str, &str)], headers: &[(&str, &str)]) -> ProxyRequest {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        ProxyRequest {
            method: Method::GET,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            query: Arc::new(vec![
                ("a".into(), "1".into()),
                ("a".into(), "2".into()),
                ("b".into(), "x".into()),
            ]),
            headers: Arc::new(h),
            body: crate::message::RequestBody::Empty,
            forwards_user_agent: false,
            claims: None,
        }
    }

    async fn run_before(stage: &CelEndpoint, mut req: ProxyRequest) -> Result<(), String> {
        stage.before(&mut req).await.map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn request_variables() {
        let stage = endpoint(
            "/cel/{id}",
            json!([
                {"check_expr": "'something' in req_headers['X-Header']"},
                {"check_expr": "int(req_params.Id) % 2 == 0"},
                {"check_expr": "req_method == 'GET' && req_path == '/cel/' + req_params.Id"},
                {"check_expr": "req_querystring.a == ['1', '2'] && size(req_querystring) == 2"},
                {"check_expr": "has(req_params.Id) && !has(req_params.Other)"},
                {"check_expr": "size(JWT) == 0 && now.endsWith('Z') && req_method in ['GET']"}
            ]),
        )
        .expect("valid")
        .expect("stage");
        let ok = request(&[("Id", "4")], &[("x-header", "something")]);
        assert_eq!(run_before(&stage, ok).await, Ok(()));
        let odd = request(&[("Id", "3")], &[("x-header", "something")]);
        assert_eq!(
            run_before(&stage, odd).await,
            Err("request aborted by evaluator #1".into())
        );
        // a missing header is an evaluation error: the first check aborts
        let none = request(&[("Id", "4")], &[]);
        assert_eq!(
            run_before(&stage, none).await,
            Err("request aborted by evaluator #0".into())
        );
        // not a number
        let nan = request(&[("Id", "x")], &[("x-header", "something")]);
        assert_eq!(
            run_before(&stage, nan).await,
            Err("request aborted by evaluator #1".into())
        );
    }

    #[tokio::test]
    async fn token_checks_answer_401_only_with_claims() {
        let stage = endpoint("/j", json!([{"check_expr": "size(JWT.roles) > 1"}]))
            .expect("valid")
            .expect("stage");
        // without auth/validator the token checks are not evaluated
        assert_eq!(run_before(&stage, request(&[], &[])).await, Ok(()));
        let mut req = request(&[], &[]);
        let claims = json!({"roles": ["a", "b"], "sub": "x"});
        req.claims = Some(Arc::new(claims.as_object().cloned().expect("object")));
        assert_eq!(run_before(&stage, req).await, Ok(()));
        let mut req = request(&[], &[]);
        let claims = json!({"roles": ["a"]});
        req.claims = Some(Arc::new(claims.as_object().cloned().expect("object")));
        let err = stage.before(&mut req).await.expect_err("rejected");
        assert_eq!(err.status(), 401);
        assert_eq!(err.to_string(), "");
    }

    #[test]
    fn response_checks() {
        let stage = endpoint(
            "/r",
            json!([
                {"check_expr": "resp_completed"},
                {"check_expr": "resp_data.n > 2 && resp_data.list[1] == 'b'"}
            ]),
        )
        .expect("valid")
        .expect("stage");
        let data = json!({"n": 3, "list": ["a", "b"]});
        let mut resp = Some(ProxyResponse::complete(
            data.as_object().cloned().expect("object"),
        ));
        let mut err = None;
        stage.after(&mut resp, &mut err);
        assert!(err.is_none() && resp.is_some());
        let data = json!({"n": 1, "list": ["a", "b"]});
        let mut resp = Some(ProxyResponse::complete(
            data.as_object().cloned().expect("object"),
        ));
        stage.after(&mut resp, &mut err);
        assert!(resp.is_none());
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("request aborted by evaluator #1")
        );
    }

    #[test]
    fn a_bad_expression_names_its_position() {
        let err = endpoint(
            "/x",
            json!([{"check_expr": "req_method == 'GET'"}, {"check_expr": "req_method == ("}]),
        )
        .err()
        .expect("rejected")
        .to_string();
        assert!(
            err.contains("extra_config.validation/cel[1].check_expr"),
            "{err}"
        );
        let err = endpoint("/x", json!({"check_expr": "true"}))
            .err()
            .expect("rejected")
            .to_string();
        assert!(err.contains("validation/cel"), "{err}");
    }

    #[test]
    fn expressions_without_variables_are_ignored() {
        assert!(
            endpoint("/x", json!([{"check_expr": "1 == 2"}, {"check_expr": ""}]))
                .expect("valid")
                .is_none()
        );
    }

    #[test]
    fn backend_scope_sees_the_backend_path_and_method() {
        let ep = load(json!({"endpoint": "/u/{id}", "method": "POST",
            "backend": [{"url_pattern": "/users/{id}?x=1", "host": ["http://127.0.0.1:8080"]}]}));
        let b = &ep.backend[0];
        let stage = build_backend(
            b,
            &json!([{"check_expr": "req_path == '/users/7' && req_method == 'POST'"}]),
        )
        .expect("valid")
        .expect("stage");
        assert!(stage.admit(&request(&[("Id", "7")], &[])).is_ok());
        let err = stage
            .admit(&request(&[("Id", "8")], &[]))
            .expect_err("false");
        assert_eq!(err.to_string(), "request aborted by evaluator #0");
        assert_eq!(err.status(), 500);
    }

    #[tokio::test]
    async fn evaluation_errors_abort_instead_of_crashing() {
        for expr in [
            "int(req_params.Id) / 0 == 1",
            "int(req_params.Id) % 0 == 1",
            "int('99999999999999999999') == 1 && req_method == 'GET'",
            "-9223372036854775807 - int(req_params.Id) == 0",
            "req_params.Missing == 'x'",
            "req_method",
            "unknown_var == 1 && req_method == 'GET'",
        ] {
            let stage = endpoint("/x/{id}", json!([{ "check_expr": expr }]))
                .expect("valid")
                .expect("stage");
            assert_eq!(
                run_before(&stage, request(&[("Id", "9")], &[])).await,
                Err("request aborted by evaluator #0".into()),
                "{expr}"
            );
        }
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_header("x-header"), "X-Header");
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("bad name"), "bad name");
    }
}
