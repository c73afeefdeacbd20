//! KrakenD's Lua modifiers: `modifier/lua-proxy` (around the endpoint pipe) and
//! `modifier/lua-backend` (around each backend call), with a Lua 5.1 interpreter.
//!
//! Configuration: `sources` (files read at start-up, relative to the working directory, or on
//! every call with `live`), `pre` and `post` (code run before and after the wrapped call),
//! `allow_open_libs` (the standard libraries; the base library is always there),
//! `skip_next` (backend: do not call the backend, `post` sees an empty response) and `md5`
//! (`{source: checksum}` checked at start-up).
//!
//! Each script runs in a state taken from a small pool (created with the sources loaded, never
//! used by two requests at once); a state that raised an error is dropped. A Lua error fails the
//! call (`custom_error(msg, status)` with that status and message), it never reaches the
//! process.

mod api;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method};
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, VmState};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::components::{keys, Build, BuildCx, Built, ComponentSpec, Scope};
use crate::error::{Error, Result};
use crate::hooks::{BackendCall, BackendStage, BoxFuture, ProxyStage};
use crate::message::{ProxyError, ProxyRequest, ProxyResponse, RequestBody};
use crate::vocab::body::read_body;
use crate::vocab::body::OutBody;
pub use api::CustomError;
use api::{CallCtx, ReqData, RespData};

pub const PROXY_NAMESPACE: &str = "modifier/lua-proxy";
pub const BACKEND_NAMESPACE: &str = "modifier/lua-backend";

/// The registry entry of `modifier/lua-proxy`.
pub const PROXY_SPEC: ComponentSpec = ComponentSpec::active(
    PROXY_NAMESPACE,
    &[Scope::Endpoint],
    keys::struct_check::<LuaConfig>,
    &[Build::Proxy(20, proxy_stage)],
);

/// The registry entry of `modifier/lua-backend`.
pub const BACKEND_SPEC: ComponentSpec = ComponentSpec::active(
    BACKEND_NAMESPACE,
    &[Scope::Backend],
    keys::struct_check::<LuaConfig>,
    &[Build::Backend(40, backend_stage)],
);

fn proxy_stage(ep: &crate::config::EndpointConfig, _: &BuildCx<'_>) -> Built<dyn ProxyStage> {
    let Some(v) = ep.extra_config.get(PROXY_NAMESPACE) else {
        return Ok(None);
    };
    let stage = build_proxy(v).map_err(|e| e.within(format!("{}.extra_config.", ep.json_path)))?;
    Ok(Some(std::sync::Arc::new(stage)))
}

fn backend_stage(b: &crate::config::BackendConfig, _: &BuildCx<'_>) -> Built<dyn BackendStage> {
    let Some(v) = b.extra_config.get(BACKEND_NAMESPACE) else {
        return Ok(None);
    };
    let stage = build_backend(v).map_err(|e| e.within(format!("{}.extra_config.", b.json_path)))?;
    Ok(Some(std::sync::Arc::new(stage)))
}

/// The largest request body a script may read.
const MAX_BODY: usize = 64 << 20;
/// States kept for reuse per component.
const POOL_SIZE: usize = 8;
/// How long one script may run before it is stopped.
const SCRIPT_BUDGET: Duration = Duration::from_secs(2);

/// The configuration shared by the Lua namespaces.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LuaConfig {
    pub sources: Vec<String>,
    pub pre: String,
    pub post: String,
    pub live: bool,
    pub allow_open_libs: bool,
    pub skip_next: bool,
    pub md5: Map<String, Value>,
}

impl LuaConfig {
    pub fn parse(namespace: &str, v: &Value) -> Result<LuaConfig> {
        let obj = crate::components::config_object(namespace, v)?;
        let mut cfg = LuaConfig::default();
        if let Some(s) = crate::components::field::<Vec<String>>(namespace, obj, "sources")? {
            cfg.sources = s;
        }
        if let Some(s) = crate::components::field::<String>(namespace, obj, "pre")? {
            cfg.pre = s;
        }
        if let Some(s) = crate::components::field::<String>(namespace, obj, "post")? {
            cfg.post = s;
        }
        cfg.live = crate::components::field::<bool>(namespace, obj, "live")?.unwrap_or(false);
        cfg.allow_open_libs =
            crate::components::field::<bool>(namespace, obj, "allow_open_libs")?.unwrap_or(false);
        cfg.skip_next =
            crate::components::field::<bool>(namespace, obj, "skip_next")?.unwrap_or(false);
        if let Some(m) = crate::components::field::<Map<String, Value>>(namespace, obj, "md5")? {
            cfg.md5 = m;
        }
        Ok(cfg)
    }
}

/// Why a script failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptError {
    /// `custom_error(...)`.
    Custom(CustomError),
    /// Any other Lua error (syntax, runtime, a missing source).
    Lua(String),
}

impl ScriptError {
    pub fn into_proxy_error(self) -> ProxyError {
        match self {
            ScriptError::Custom(c) => match (c.status, c.content_type) {
                (Some(status), Some(ct)) => ProxyError::Response {
                    status,
                    body: Bytes::from(c.message),
                    content_type: Some(ct),
                },
                (Some(status), None) => ProxyError::Rejected {
                    status,
                    message: c.message,
                },
                (None, _) => ProxyError::Backend(c.message),
            },
            ScriptError::Lua(msg) => ProxyError::Backend(msg),
        }
    }
}

/// A response handed to a script: its metadata and its data.
pub type ScriptResponse = (RespData, Map<String, Value>);

/// Compiled-once sources and a pool of ready states.
pub struct Runner {
    namespace: &'static str,
    /// `(name, code)`, read at start-up; with `live`, only the names matter.
    sources: Vec<(String, String)>,
    live: bool,
    libs: StdLib,
    pool: Mutex<Vec<Lua>>,
    next_call: AtomicU64,
}

impl Runner {
    pub fn new(namespace: &'static str, cfg: &LuaConfig) -> Result<Runner> {
        let mut sources = Vec::with_capacity(cfg.sources.len());
        for name in &cfg.sources {
            match std::fs::read_to_string(name) {
                Ok(code) => sources.push((name.clone(), code)),
                Err(e) if cfg.live => {
                    tracing::warn!("{namespace}: source {name}: {e}");
                    sources.push((name.clone(), String::new()));
                }
                Err(e) => return Err(Error::io(format!("{namespace}: sources: {name}"), e)),
            }
        }
        for (name, sum) in &cfg.md5 {
            let Some(want) = sum.as_str() else {
                return Err(Error::config(
                    namespace,
                    format!("md5: {name}: the checksum must be a string"),
                ));
            };
            let Some((_, code)) = sources.iter().find(|(n, _)| n == name) else {
                return Err(Error::config(
                    namespace,
                    format!("md5: {name} is not one of the sources"),
                ));
            };
            let have = format!("{:x}", md5::compute(code.as_bytes()));
            if !have.eq_ignore_ascii_case(want) {
                return Err(Error::config(
                    namespace,
                    format!("md5: wrong checksum for source {name}: have {have}, want {want}"),
                ));
            }
        }
        let libs = if cfg.allow_open_libs {
            StdLib::ALL_SAFE
        } else {
            StdLib::NONE
        };
        let runner = Runner {
            namespace,
            sources,
            live: cfg.live,
            libs,
            pool: Mutex::new(Vec::new()),
            next_call: AtomicU64::new(1),
        };
        // a broken source fails the requests, as KrakenD does; say so at start-up
        match runner.new_state() {
            Ok(lua) => runner.release(lua),
            Err(e) => tracing::warn!("{namespace}: {e}"),
        }
        Ok(runner)
    }

    fn load_sources(&self, lua: &Lua) -> Result<()> {
        for (name, code) in &self.sources {
            let code = if self.live {
                std::fs::read_to_string(name).map_err(|e| {
                    Error::io(format!("lua: unable to load required source {name}"), e)
                })?
            } else {
                code.clone()
            };
            lua.load(code.as_str())
                .set_name(format!("@{name}"))
                .exec()
                .map_err(|e| Error::other(lua_message(&e)))?;
        }
        Ok(())
    }

    fn new_state(&self) -> Result<Lua> {
        let lua = Lua::new_with(self.libs, LuaOptions::default()).map_err(Error::wrap)?;
        api::register(&lua).map_err(Error::wrap)?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(10_000),
            |lua, _| {
                let started = lua.app_data_ref::<Instant>().map(|t| *t);
                match started {
                    Some(t) if t.elapsed() > SCRIPT_BUDGET => Err(mlua::Error::RuntimeError(
                        "lua: the script ran for too long".into(),
                    )),
                    _ => Ok(VmState::Continue),
                }
            },
        )
        .map_err(Error::wrap)?;
        if !self.live {
            self.load_sources(&lua)?;
        }
        Ok(lua)
    }

    fn acquire(&self) -> Result<Lua> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        match pooled {
            Some(lua) => Ok(lua),
            None => self.new_state(),
        }
    }

    fn release(&self, lua: Lua) {
        if self.live {
            return;
        }
        if let Ok(mut p) = self.pool.lock() {
            if p.len() < POOL_SIZE {
                p.push(lua);
            }
        }
    }

    /// Runs `code` with the given request and/or response; returns them as the script left
    /// them.
    /// Runs a `post` script on a response: its data (none for a raw `no-op` answer, whose
    /// script sees an empty table) and completeness, as the script leaves them.
    fn run_post(&self, post: &str, r: &mut ProxyResponse, status: u16) -> Result<(), ProxyError> {
        let meta = RespData {
            is_complete: r.is_complete,
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        };
        let data = r.data_mut().map(std::mem::take).unwrap_or_default();
        match self.run(post, None, Some((meta, data))) {
            Ok((_, Some((meta, data)))) => {
                if let Some(into) = r.data_mut() {
                    *into = data;
                }
                r.is_complete = meta.is_complete;
                Ok(())
            }
            Ok((_, None)) => Ok(()),
            Err(e) => Err(e.into_proxy_error()),
        }
    }

    pub fn run(
        &self,
        code: &str,
        req: Option<ReqData>,
        resp: Option<ScriptResponse>,
    ) -> Result<(Option<ReqData>, Option<ScriptResponse>), ScriptError> {
        let lua = self
            .acquire()
            .map_err(|e| ScriptError::Lua(format!("{}: {e}", self.namespace)))?;
        if self.live {
            self.load_sources(&lua)
                .map_err(|e| ScriptError::Lua(e.to_string()))?;
        }
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        let mut ctx = CallCtx::new(id);
        ctx.req = req;
        if let Some((r, data)) = resp {
            ctx.resp = Some(r);
            ctx.roots[0] = Value::Object(data);
        }
        lua.set_app_data(ctx);
        lua.set_app_data(Instant::now());
        let outcome = lua.load(code).set_name("=script").exec();
        let _ = lua.remove_app_data::<Instant>();
        let mut ctx = lua
            .remove_app_data::<CallCtx>()
            .unwrap_or_else(|| CallCtx::new(id));
        match outcome {
            Ok(()) => {
                self.release(lua);
                let resp = ctx.resp.take().map(|r| {
                    let data = match std::mem::take(&mut ctx.roots[0]) {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    (r, data)
                });
                Ok((ctx.req.take(), resp))
            }
            Err(e) => match ctx.custom_error.take() {
                Some(c) => Err(ScriptError::Custom(c)),
                None => Err(ScriptError::Lua(lua_message(&e))),
            },
        }
    }
}

/// The message of a Lua error without mlua's traceback.
fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => {
            m.lines().next().unwrap_or_default().to_string()
        }
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

fn method_of(s: &str, fallback: &Method) -> Method {
    Method::from_bytes(s.as_bytes()).unwrap_or_else(|_| fallback.clone())
}

/// The path and query of an absolute or relative URL.
fn split_url(url: &str) -> (&str, &str, &str) {
    let (without_frag, _) = url.split_once('#').unwrap_or((url, ""));
    let (base, query) = without_frag.split_once('?').unwrap_or((without_frag, ""));
    let path_start = match base.find("://") {
        Some(i) => base[i + 3..]
            .find('/')
            .map(|j| i + 3 + j)
            .unwrap_or(base.len()),
        None => 0,
    };
    (&base[..path_start], &base[path_start..], query)
}

/// Go's `url.Values.Encode`: keys sorted, values in order.
fn encode_query(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in sorted {
        s.append_pair(k, v);
    }
    s.finish()
}

/// `modifier/lua-proxy`: `pre` before the endpoint pipe, `post` after it.
pub struct LuaProxy {
    runner: Runner,
    pre: String,
    post: String,
}

pub fn build_proxy(v: &Value) -> Result<LuaProxy> {
    let cfg = LuaConfig::parse(PROXY_NAMESPACE, v)?;
    Ok(LuaProxy {
        runner: Runner::new(PROXY_NAMESPACE, &cfg)?,
        pre: cfg.pre,
        post: cfg.post,
    })
}

impl ProxyStage for LuaProxy {
    fn before<'a>(&'a self, req: &'a mut ProxyRequest) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move {
            if self.pre.trim().is_empty() {
                return Ok(());
            }
            if let RequestBody::Stream(_) = req.body {
                let RequestBody::Stream(s) = std::mem::replace(&mut req.body, RequestBody::Empty)
                else {
                    return Ok(());
                };
                let b = read_body(s, MAX_BODY)
                    .await
                    .map_err(|e| ProxyError::Backend(format!("reading the request body: {e}")))?;
                req.body = RequestBody::Buffered(b);
            }
            let data = ReqData {
                method: req.method.to_string(),
                url: String::new(),
                path: String::new(),
                query: encode_query(&req.query),
                params: std::mem::take(&mut req.params),
                headers: (*req.headers).clone(),
                body: Some(match &req.body {
                    RequestBody::Buffered(b) => b.clone(),
                    _ => Bytes::new(),
                }),
                body_changed: false,
            };
            let original_query = data.query.clone();
            let (out, _) = self
                .runner
                .run(&self.pre, Some(data), None)
                .map_err(ScriptError::into_proxy_error)?;
            let Some(out) = out else {
                return Ok(());
            };
            req.method = method_of(&out.method, &req.method);
            req.params = out.params;
            if out.query != original_query {
                req.query = std::sync::Arc::new(
                    form_urlencoded::parse(out.query.as_bytes())
                        .into_owned()
                        .collect(),
                );
            }
            if out.headers != *req.headers {
                let mut h = out.headers;
                if out.body_changed {
                    fix_length(&mut h, out.body.as_ref().map_or(0, Bytes::len));
                }
                req.headers = std::sync::Arc::new(h);
            } else if out.body_changed {
                let mut h = (*req.headers).clone();
                fix_length(&mut h, out.body.as_ref().map_or(0, Bytes::len));
                req.headers = std::sync::Arc::new(h);
            }
            if out.body_changed {
                req.body = match out.body {
                    Some(b) if !b.is_empty() => RequestBody::Buffered(b),
                    _ => RequestBody::Empty,
                };
            }
            Ok(())
        })
    }

    fn after(&self, resp: &mut Option<ProxyResponse>, err: &mut Option<ProxyError>) {
        if self.post.trim().is_empty() || err.is_some() {
            return;
        }
        let r = resp.get_or_insert_with(ProxyResponse::default);
        if let Err(e) = self.runner.run_post(&self.post, r, 200) {
            *resp = None;
            *err = Some(e);
        }
    }
}

/// Sets `Content-Length` for a body a script replaced.
fn fix_length(h: &mut HeaderMap, len: usize) {
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// `modifier/lua-backend`: `pre` on the upstream request, `post` on the backend's response.
pub struct LuaBackend {
    runner: Runner,
    pre: String,
    post: String,
    skip_next: bool,
}

pub fn build_backend(v: &Value) -> Result<LuaBackend> {
    let cfg = LuaConfig::parse(BACKEND_NAMESPACE, v)?;
    Ok(LuaBackend {
        runner: Runner::new(BACKEND_NAMESPACE, &cfg)?,
        pre: cfg.pre,
        post: cfg.post,
        skip_next: cfg.skip_next,
    })
}

impl BackendStage for LuaBackend {
    fn request<'a>(
        &'a self,
        call: &'a mut BackendCall,
    ) -> BoxFuture<'a, Result<Option<ProxyResponse>, ProxyError>> {
        Box::pin(async move {
            if !self.pre.trim().is_empty() {
                self.run_pre(call).await?;
            }
            if self.skip_next {
                // `post` (in `response`) sees an empty, incomplete response
                return Ok(Some(ProxyResponse::default()));
            }
            Ok(None)
        })
    }

    fn response(&self, result: &mut Result<ProxyResponse, ProxyError>) {
        if self.post.trim().is_empty() {
            return;
        }
        let Ok(r) = result else {
            return;
        };
        let status = if r.is_complete || r.has_data() {
            200
        } else {
            0
        };
        if let Err(e) = self.runner.run_post(&self.post, r, status) {
            *result = Err(e);
        }
    }
}

impl LuaBackend {
    async fn run_pre(&self, call: &mut BackendCall) -> Result<(), ProxyError> {
        let out = &mut call.request;
        if let OutBody::Stream(_) = out.body {
            let OutBody::Stream(s) = std::mem::replace(&mut out.body, OutBody::Empty) else {
                return Ok(());
            };
            let b = read_body(s, MAX_BODY)
                .await
                .map_err(|e| ProxyError::Backend(format!("reading the request body: {e}")))?;
            out.body = OutBody::Buffered(b);
        }
        let (_, path, query) = split_url(&out.url);
        let data = ReqData {
            method: out.method.to_string(),
            url: out.url.clone(),
            path: path.to_string(),
            query: query.to_string(),
            params: std::mem::take(&mut call.params),
            headers: std::mem::take(&mut out.headers),
            body: Some(match &out.body {
                OutBody::Buffered(b) => b.clone(),
                _ => Bytes::new(),
            }),
            body_changed: false,
        };
        let (original_path, original_query) = (data.path.clone(), data.query.clone());
        let result = self.runner.run(&self.pre, Some(data), None);
        let got = match result {
            Ok((Some(r), _)) => r,
            Ok((None, _)) => return Ok(()),
            Err(e) => return Err(e.into_proxy_error()),
        };
        out.method = method_of(&got.method, &out.method);
        out.headers = got.headers;
        call.params = got.params;
        let mut url = got.url;
        if got.path != original_path || got.query != original_query {
            let (origin, path, query) = split_url(&url);
            let path = if got.path != original_path {
                got.path.as_str()
            } else {
                path
            };
            let query = if got.query != original_query {
                got.query.as_str()
            } else {
                query
            };
            let mut rebuilt = format!("{origin}{path}");
            if !query.is_empty() {
                rebuilt.push('?');
                rebuilt.push_str(query);
            }
            url = rebuilt;
        }
        out.url = url;
        if got.body_changed {
            let body = got.body.unwrap_or_default();
            fix_length(&mut out.headers, body.len());
            out.body = if body.is_empty() {
                OutBody::Empty
            } else {
                OutBody::Buffered(body)
            };
        }
        Ok(())
    }
}
