//! The Lua API of KrakenD's Lua modifiers: `request`, `response`, `luaTable`, `luaList`,
//! `custom_error`.
//!
//! Every call runs with a [`CallCtx`] stored in the state's app data; the values that scripts
//! get (`request.load()`, `resp:data()`, ...) are handles naming the call they belong to and a
//! path into the data of that call, so a handle kept in a global by one call cannot reach the
//! data of another.

use crate::vocab::go::canonical_header;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use mlua::{Lua, MultiValue, UserData, UserDataMethods, Value as LuaValue};
use serde_json::{Map, Number, Value};

/// The request a script sees, copied in before the script and written back after it.
#[derive(Default)]
pub struct ReqData {
    pub method: String,
    pub url: String,
    pub path: String,
    pub query: String,
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// `None`: the body is not available at this stage.
    pub body: Option<Bytes>,
    pub body_changed: bool,
}

/// The response a script sees.
pub struct RespData {
    pub is_complete: bool,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a script aborted through `custom_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomError {
    pub message: String,
    /// `None` when no status was given.
    pub status: Option<u16>,
    pub content_type: Option<String>,
}

/// The state of one script execution.
pub struct CallCtx {
    pub id: u64,
    pub req: Option<ReqData>,
    pub resp: Option<RespData>,
    /// Data trees reachable from handles: 0 is the response data (an object) when there is a
    /// response; `luaTable.new()`, `luaList.new()`, `req:params()` and `req:headers()` add more.
    pub roots: Vec<Value>,
    pub custom_error: Option<CustomError>,
}

impl CallCtx {
    pub fn new(id: u64) -> CallCtx {
        CallCtx {
            id,
            req: None,
            resp: None,
            roots: vec![Value::Object(Map::new())],
            custom_error: None,
        }
    }
}

fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

fn with_ctx<R>(
    lua: &Lua,
    call: u64,
    f: impl FnOnce(&mut CallCtx) -> mlua::Result<R>,
) -> mlua::Result<R> {
    let mut ctx = lua
        .app_data_mut::<CallCtx>()
        .ok_or_else(|| rt("lua: no request in progress"))?;
    if ctx.id != call {
        return Err(rt("lua: the value belongs to another request"));
    }
    f(&mut ctx)
}

fn current_call(lua: &Lua) -> mlua::Result<u64> {
    lua.app_data_ref::<CallCtx>()
        .map(|c| c.id)
        .ok_or_else(|| rt("lua: no request in progress"))
}

/// Registers the globals of the API in a fresh state.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();

    let global = |name: &str, method: &str, f: mlua::Function| -> mlua::Result<()> {
        let table = lua.create_table()?;
        table.set(method, f)?;
        g.set(name, table)
    };
    global(
        "request",
        "load",
        lua.create_function(|lua, ()| {
            let call = loaded(lua, |c| c.req.is_some(), "request")?;
            Ok(ReqHandle { call })
        })?,
    )?;
    global(
        "response",
        "load",
        lua.create_function(|lua, ()| {
            let call = loaded(lua, |c| c.resp.is_some(), "response")?;
            Ok(RespHandle { call })
        })?,
    )?;
    global(
        "luaTable",
        "new",
        lua.create_function(|lua, ()| {
            new_root(lua, current_call(lua)?, Value::Object(Map::new()), false)
        })?,
    )?;
    global(
        "luaList",
        "new",
        lua.create_function(|lua, ()| {
            new_root(lua, current_call(lua)?, Value::Array(Vec::new()), true)
        })?,
    )?;

    g.set(
        "custom_error",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<LuaValue> = args.into_iter().collect();
            let Some(first) = args.first() else {
                return Err(rt("need arguments"));
            };
            let message = to_go_string(first);
            let status = match args.get(1).and_then(as_number) {
                Some(n) if (100.0..1000.0).contains(&n) => Some(n as u16),
                _ => None,
            };
            let content_type = args.get(2).map(to_go_string);
            if let Some(mut c) = lua.app_data_mut::<CallCtx>() {
                c.custom_error = Some(CustomError {
                    message: message.clone(),
                    status,
                    content_type,
                });
            }
            Err::<(), _>(rt(message))
        })?,
    )?;
    Ok(())
}

/// The current call, for `request.load()` or `response.load()`, when the call `has` the
/// request or the response (`what`).
fn loaded(lua: &Lua, has: fn(&CallCtx) -> bool, what: &str) -> mlua::Result<u64> {
    let call = current_call(lua)?;
    with_ctx(lua, call, |c| {
        if has(c) {
            Ok(call)
        } else {
            Err(rt(format!("lua: no {what} at this stage")))
        }
    })
}

/// `request.load()`.
struct ReqHandle {
    call: u64,
}

/// `response.load()`.
struct RespHandle {
    call: u64,
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A `luaTable` (`list == false`) or `luaList` over a node of one of the call's data trees.
#[derive(Debug, Clone)]
struct DataHandle {
    call: u64,
    root: usize,
    path: Vec<Seg>,
    list: bool,
}

fn args_vec(args: MultiValue) -> Vec<LuaValue> {
    args.into_iter().collect()
}

fn as_number(v: &LuaValue) -> Option<f64> {
    match v {
        LuaValue::Integer(i) => Some(*i as f64),
        LuaValue::Number(n) => Some(*n),
        LuaValue::String(s) => s.to_str().ok().and_then(|s| s.trim().parse().ok()),
        _ => None,
    }
}

/// Formats a Lua number as Lua prints it (integers without a fraction).
fn number_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A Lua value as a string, the way the Go binding reads an argument as a string.
fn to_go_string(v: &LuaValue) -> String {
    match v {
        LuaValue::String(s) => s.to_string_lossy(),
        LuaValue::Integer(i) => i.to_string(),
        LuaValue::Number(n) => number_string(*n),
        LuaValue::Boolean(b) => b.to_string(),
        LuaValue::Nil => "nil".into(),
        other => other.type_name().to_string(),
    }
}

/// A JSON number as Go's `encoding/json` writes a float64.
fn json_number(n: f64) -> Value {
    if !n.is_finite() {
        return Value::Null;
    }
    if n.fract() == 0.0 && n.abs() < 1e21 {
        if n.abs() < 9.0e15 {
            return Value::Number(Number::from(n as i64));
        }
        return format!("{n}")
            .parse::<Number>()
            .map(Value::Number)
            .unwrap_or(Value::Null);
    }
    let abs = n.abs();
    let text = if (1e-6..1e21).contains(&abs) {
        format!("{n}")
    } else {
        let e = format!("{n:e}");
        match e.split_once('e') {
            Some((m, exp)) if !exp.starts_with('-') => format!("{m}e+{exp}"),
            _ => e,
        }
    };
    text.parse::<Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn key_string(k: &LuaValue) -> String {
    to_go_string(k)
}

/// A Lua value to JSON, as the Go binding stores it; `None` for values it ignores.
fn lua_to_json(lua: &Lua, v: &LuaValue, nested: bool) -> mlua::Result<Option<Value>> {
    Ok(match v {
        LuaValue::String(s) => Some(Value::String(s.to_string_lossy())),
        LuaValue::Integer(i) => Some(Value::Number(Number::from(*i))),
        LuaValue::Number(n) => Some(json_number(*n)),
        LuaValue::Boolean(b) => Some(Value::Bool(*b)),
        LuaValue::Table(t) => {
            let mut obj = Map::new();
            for pair in t.clone().pairs::<LuaValue, LuaValue>() {
                let (k, item) = pair?;
                if let Some(j) = lua_to_json(lua, &item, true)? {
                    obj.insert(key_string(&k), j);
                }
            }
            if nested {
                // a nested table with integer keys only becomes a list, in key order
                let mut keyed: Vec<(i64, Value)> = Vec::with_capacity(obj.len());
                let mut all_int = true;
                for (k, item) in &obj {
                    match k.parse::<i64>() {
                        Ok(i) => keyed.push((i, item.clone())),
                        Err(_) => {
                            all_int = false;
                            break;
                        }
                    }
                }
                if all_int {
                    if keyed.is_empty() {
                        return Ok(Some(Value::Null));
                    }
                    keyed.sort_by_key(|(i, _)| *i);
                    return Ok(Some(Value::Array(
                        keyed.into_iter().map(|(_, v)| v).collect(),
                    )));
                }
            }
            Some(Value::Object(obj))
        }
        LuaValue::UserData(ud) => {
            if let Ok(h) = ud.borrow::<DataHandle>() {
                let h = h.clone();
                with_ctx(lua, h.call, |c| Ok(resolve(c, &h).cloned()))?
            } else {
                None
            }
        }
        _ => None,
    })
}

fn resolve<'a>(ctx: &'a mut CallCtx, h: &DataHandle) -> Option<&'a mut Value> {
    let mut cur = ctx.roots.get_mut(h.root)?;
    for seg in &h.path {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// A JSON value handed to Lua: scalars by value, objects and arrays as handles.
fn json_to_lua(lua: &Lua, v: &Value, handle: DataHandle) -> mlua::Result<LuaValue> {
    Ok(match v {
        Value::Null => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => LuaValue::Number(n.to_string().parse::<f64>().unwrap_or(0.0)),
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(_) => LuaValue::UserData(lua.create_userdata(DataHandle {
            list: true,
            ..handle
        })?),
        Value::Object(_) => LuaValue::UserData(lua.create_userdata(DataHandle {
            list: false,
            ..handle
        })?),
    })
}

fn child(h: &DataHandle, seg: Seg) -> DataHandle {
    let mut path = h.path.clone();
    path.push(seg);
    DataHandle {
        call: h.call,
        root: h.root,
        path,
        list: false,
    }
}

impl UserData for DataHandle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("get", |lua, this, args: MultiValue| {
            let args = args_vec(args);
            let Some(k) = args.first() else {
                return Err(rt("need arguments"));
            };
            let seg = if this.list {
                match as_number(k) {
                    Some(n) if n >= 0.0 => Seg::Index(n as usize),
                    _ => return Ok(LuaValue::Nil),
                }
            } else {
                Seg::Key(key_string(k))
            };
            let h = child(this, seg);
            let value = with_ctx(lua, this.call, |c| Ok(resolve(c, &h).cloned()))?;
            match value {
                Some(v) => json_to_lua(lua, &v, h),
                None => Ok(LuaValue::Nil),
            }
        });
        methods.add_method("set", |lua, this, args: MultiValue| {
            let args = args_vec(args);
            if args.len() < 2 {
                return Err(rt("need arguments"));
            }
            let Some(value) = lua_to_json(lua, &args[1], false)? else {
                return Ok(());
            };
            let list = this.list;
            let key = args[0].clone();
            with_ctx(lua, this.call, |c| {
                match resolve(c, this) {
                    Some(Value::Object(m)) if !list => {
                        m.insert(key_string(&key), value);
                    }
                    Some(Value::Array(a)) if list => {
                        if let Some(n) = as_number(&key).filter(|n| *n >= 0.0) {
                            let i = n as usize;
                            if i >= a.len() {
                                a.resize(i + 1, Value::Null);
                            }
                            a[i] = value;
                        }
                    }
                    _ => {}
                }
                Ok(())
            })
        });
        methods.add_method("len", |lua, this, ()| {
            with_ctx(lua, this.call, |c| {
                Ok(match resolve(c, this) {
                    Some(Value::Object(m)) => m.len(),
                    Some(Value::Array(a)) => a.len(),
                    _ => 0,
                } as f64)
            })
        });
        methods.add_method("del", |lua, this, k: LuaValue| {
            let list = this.list;
            with_ctx(lua, this.call, |c| {
                match resolve(c, this) {
                    Some(Value::Object(m)) if !list => {
                        m.remove(&key_string(&k));
                    }
                    Some(Value::Array(a)) if list => {
                        if let Some(n) = as_number(&k).filter(|n| *n >= 0.0) {
                            if (n as usize) < a.len() {
                                a.remove(n as usize);
                            }
                        }
                    }
                    _ => {}
                }
                Ok(())
            })
        });
        methods.add_method("keys", |lua, this, ()| {
            let keys: Vec<Value> = with_ctx(lua, this.call, |c| {
                Ok(match resolve(c, this) {
                    Some(Value::Object(m)) => m.keys().map(|k| Value::String(k.clone())).collect(),
                    _ => Vec::new(),
                })
            })?;
            new_root(lua, this.call, Value::Array(keys), true)
        });
        methods.add_method("keyExists", |lua, this, k: LuaValue| {
            let key = key_string(&k);
            with_ctx(lua, this.call, |c| {
                Ok(matches!(resolve(c, this), Some(Value::Object(m)) if m.contains_key(&key)))
            })
        });
    }
}

fn new_root(lua: &Lua, call: u64, v: Value, list: bool) -> mlua::Result<DataHandle> {
    let root = with_ctx(lua, call, |c| {
        c.roots.push(v);
        Ok(c.roots.len() - 1)
    })?;
    Ok(DataHandle {
        call,
        root,
        path: Vec::new(),
        list,
    })
}

fn headers_object(h: &HeaderMap) -> Value {
    let mut m = Map::new();
    for name in h.keys() {
        let values: Vec<Value> = h
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        m.insert(canonical_header(name.as_str()), Value::Array(values));
    }
    Value::Object(m)
}

fn header_get(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

fn header_set(h: &mut HeaderMap, name: &str, value: &LuaValue) -> mlua::Result<()> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| rt(format!("lua: invalid header name {name:?}")))?;
    if let LuaValue::Nil = value {
        h.remove(&name);
        return Ok(());
    }
    let v = HeaderValue::from_str(&to_go_string(value))
        .map_err(|_| rt(format!("lua: invalid value for header {name}")))?;
    h.insert(name, v);
    Ok(())
}

fn header_list_set(lua: &Lua, h: &mut HeaderMap, name: &str, list: &Value) -> mlua::Result<()> {
    let _ = lua;
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| rt(format!("lua: invalid header name {name:?}")))?;
    h.remove(&name);
    if let Value::Array(items) = list {
        for item in items {
            let text = match item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let v = HeaderValue::from_str(&text)
                .map_err(|_| rt(format!("lua: invalid value for header {name}")))?;
            h.append(name.clone(), v);
        }
    }
    Ok(())
}

fn header_list_get(h: &HeaderMap, name: &str) -> Value {
    Value::Array(
        h.get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
    )
}

fn list_arg(lua: &Lua, v: &LuaValue) -> mlua::Result<Value> {
    match v {
        LuaValue::UserData(ud) => match ud.borrow::<DataHandle>() {
            Ok(h) if h.list => {
                let h = h.clone();
                Ok(with_ctx(lua, h.call, |c| Ok(resolve(c, &h).cloned()))?.unwrap_or(Value::Null))
            }
            _ => Err(rt("invalid header value, must be a luaList")),
        },
        _ => Err(rt("invalid header value, must be a luaList")),
    }
}

fn req_mut<R>(
    lua: &Lua,
    call: u64,
    f: impl FnOnce(&mut ReqData) -> mlua::Result<R>,
) -> mlua::Result<R> {
    with_ctx(lua, call, |c| {
        let r = c.req.as_mut().ok_or_else(|| rt("request expected"))?;
        f(r)
    })
}

fn resp_mut<R>(
    lua: &Lua,
    call: u64,
    f: impl FnOnce(&mut RespData) -> mlua::Result<R>,
) -> mlua::Result<R> {
    with_ctx(lua, call, |c| {
        let r = c.resp.as_mut().ok_or_else(|| rt("response expected"))?;
        f(r)
    })
}

/// A string field of the request (`method`, `url`, ...).
type StringField = fn(&mut ReqData) -> &mut String;

/// The headers of the call's request or response.
type Headers = fn(&mut CallCtx) -> mlua::Result<&mut HeaderMap>;

fn req_headers(c: &mut CallCtx) -> mlua::Result<&mut HeaderMap> {
    Ok(&mut c
        .req
        .as_mut()
        .ok_or_else(|| rt("request expected"))?
        .headers)
}

fn resp_headers(c: &mut CallCtx) -> mlua::Result<&mut HeaderMap> {
    Ok(&mut c
        .resp
        .as_mut()
        .ok_or_else(|| rt("response expected"))?
        .headers)
}

/// `headers(name)` reads a header's first value; `headers(name, value)` sets it (`nil`
/// removes it). `args` holds one argument at least.
fn header_method(
    lua: &Lua,
    call: u64,
    args: &[LuaValue],
    headers: Headers,
) -> mlua::Result<LuaValue> {
    let name = to_go_string(&args[0]);
    match args.get(1) {
        None => {
            let v = with_ctx(lua, call, |c| Ok(header_get(headers(c)?, &name)))?;
            string_value(lua, &v)
        }
        Some(value) => {
            with_ctx(lua, call, |c| header_set(headers(c)?, &name, value))?;
            Ok(LuaValue::Nil)
        }
    }
}

/// `headerList(name)` reads all the values of a header as a `luaList`; `headerList(name, list)`
/// sets them.
fn header_list_method(
    lua: &Lua,
    call: u64,
    args: &[LuaValue],
    headers: Headers,
) -> mlua::Result<LuaValue> {
    let Some(first) = args.first() else {
        return Err(rt("need arguments"));
    };
    let name = to_go_string(first);
    match args.get(1) {
        None => {
            let list = with_ctx(lua, call, |c| Ok(header_list_get(headers(c)?, &name)))?;
            Ok(LuaValue::UserData(
                lua.create_userdata(new_root(lua, call, list, true)?)?,
            ))
        }
        Some(value) => {
            let list = list_arg(lua, value)?;
            with_ctx(lua, call, |c| {
                header_list_set(lua, headers(c)?, &name, &list)
            })?;
            Ok(LuaValue::Nil)
        }
    }
}

fn string_value(lua: &Lua, s: &str) -> mlua::Result<LuaValue> {
    Ok(LuaValue::String(lua.create_string(s)?))
}

impl UserData for ReqHandle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // `req:method()` reads the method, `req:method("POST")` sets it; the same for the others
        let strings: [(&str, StringField); 4] = [
            ("method", |r| &mut r.method),
            ("url", |r| &mut r.url),
            ("path", |r| &mut r.path),
            ("query", |r| &mut r.query),
        ];
        for (name, field) in strings {
            methods.add_method(name, move |lua, this, args: MultiValue| {
                let args = args_vec(args);
                req_mut(lua, this.call, |r| match args.first() {
                    None => string_value(lua, field(r)),
                    Some(v) => {
                        *field(r) = to_go_string(v);
                        Ok(LuaValue::Nil)
                    }
                })
            });
        }
        methods.add_method("params", |lua, this, args: MultiValue| {
            let args = args_vec(args);
            match args.len() {
                0 => {
                    let obj = req_mut(lua, this.call, |r| {
                        let mut m = Map::new();
                        for (k, v) in &r.params {
                            m.insert(k.clone(), Value::String(v.clone()));
                        }
                        Ok(Value::Object(m))
                    })?;
                    Ok(LuaValue::UserData(
                        lua.create_userdata(new_root(lua, this.call, obj, false)?)?,
                    ))
                }
                1 => {
                    let key = to_go_string(&args[0]);
                    let v = req_mut(lua, this.call, |r| {
                        Ok(r.params
                            .iter()
                            .rev()
                            .find(|(k, _)| *k == key)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default())
                    })?;
                    string_value(lua, &v)
                }
                _ => {
                    let key = to_go_string(&args[0]);
                    let value = to_go_string(&args[1]);
                    req_mut(lua, this.call, |r| {
                        r.params.retain(|(k, _)| *k != key);
                        r.params.push((key, value));
                        Ok(LuaValue::Nil)
                    })
                }
            }
        });
        methods.add_method("headers", |lua, this, args: MultiValue| {
            let args = args_vec(args);
            match args.len() {
                0 => {
                    let obj = req_mut(lua, this.call, |r| Ok(headers_object(&r.headers)))?;
                    Ok(LuaValue::UserData(
                        lua.create_userdata(new_root(lua, this.call, obj, false)?)?,
                    ))
                }
                _ => header_method(lua, this.call, &args, req_headers),
            }
        });
        methods.add_method("headerList", |lua, this, args: MultiValue| {
            header_list_method(lua, this.call, &args_vec(args), req_headers)
        });
        methods.add_method("body", |lua, this, args: MultiValue| {
            let args = args_vec(args);
            req_mut(lua, this.call, |r| match args.first() {
                None => {
                    let b = r.body.clone().unwrap_or_default();
                    Ok(LuaValue::String(lua.create_string(&b)?))
                }
                Some(v) => {
                    let bytes = match v {
                        LuaValue::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
                        other => Bytes::from(to_go_string(other)),
                    };
                    r.body = Some(bytes);
                    r.body_changed = true;
                    Ok(LuaValue::Nil)
                }
            })
        });
    }
}

impl UserData for RespHandle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("isComplete", |lua, this, args: MultiValue| {
            let args = args_vec(args);
            resp_mut(lua, this.call, |r| match args.first() {
                None => Ok(LuaValue::Boolean(r.is_complete)),
                Some(v) => {
                    r.is_complete = !matches!(v, LuaValue::Nil | LuaValue::Boolean(false));
                    Ok(LuaValue::Nil)
                }
            })
        });
        methods.add_method("statusCode", |lua, this, args: MultiValue| {
            let args = args_vec(args);
            resp_mut(lua, this.call, |r| match args.first() {
                None => Ok(LuaValue::Number(f64::from(r.status))),
                Some(v) => {
                    if let Some(n) = as_number(v).filter(|n| (0.0..1000.0).contains(n)) {
                        r.status = n as u16;
                    }
                    Ok(LuaValue::Nil)
                }
            })
        });
        methods.add_method("headers", |lua, this, args: MultiValue| {
            let args = args_vec(args);
            match args.len() {
                0 => Err(rt("need arguments")),
                _ => header_method(lua, this.call, &args, resp_headers),
            }
        });
        methods.add_method("headerList", |lua, this, args: MultiValue| {
            header_list_method(lua, this.call, &args_vec(args), resp_headers)
        });
        methods.add_method("body", |lua, this, args: MultiValue| {
            let args = args_vec(args);
            resp_mut(lua, this.call, |r| match args.first() {
                None => Ok(LuaValue::String(lua.create_string(&r.body)?)),
                Some(v) => {
                    r.body = match v {
                        LuaValue::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
                        other => Bytes::from(to_go_string(other)),
                    };
                    Ok(LuaValue::Nil)
                }
            })
        });
        methods.add_method("data", |lua, this, ()| {
            resp_mut(lua, this.call, |_| Ok(()))?;
            Ok(DataHandle {
                call: this.call,
                root: 0,
                path: Vec::new(),
                list: false,
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_go_writes_a_float64() {
        let s = |n: f64| crate::encoding::json::to_vec(&json_number(n));
        assert_eq!(s(10.0), b"10");
        assert_eq!(s(-3.0), b"-3");
        assert_eq!(s(0.5), b"0.5");
        assert_eq!(s(1e-7), b"1e-7");
        assert_eq!(s(1e21), b"1e+21");
        assert_eq!(s(f64::NAN), b"null");
    }

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(canonical_header("AUTHORIZATION"), "Authorization");
    }

    #[test]
    fn a_handle_from_another_call_is_refused() {
        let lua = Lua::new();
        register(&lua).unwrap();
        let mut ctx = CallCtx::new(1);
        ctx.resp = Some(RespData {
            is_complete: true,
            status: 200,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        });
        lua.set_app_data(ctx);
        lua.load("kept = response.load():data()").exec().unwrap();
        lua.remove_app_data::<CallCtx>();
        lua.set_app_data(CallCtx::new(2));
        let err = lua.load("kept:set('a', 1)").exec().unwrap_err();
        assert!(err.to_string().contains("another request"), "{err}");
    }
}
