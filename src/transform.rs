//! Per-backend response manipulation in KrakenD's order: `target` → `allow` | `deny` →
//! `mapping` → `group` (flatmap_filter replaces allow/deny/mapping), plus the flatmap
//! operations (`move`, `del`, `append`) shared with the endpoint-level filter.

use serde_json::{Map, Value};

use crate::config::BackendConfig;
use crate::error::{Error, Result};

/// One flatmap operation, parsed at start-up.
#[derive(Debug, Clone, PartialEq)]
pub enum FlatmapOp {
    Move(Vec<String>, Vec<String>),
    Del(Vec<Vec<String>>),
    Append(Vec<String>, Vec<String>),
}

/// A backend's response formatter, built once.
#[derive(Debug, Clone, Default)]
pub struct Formatter {
    target: Option<Vec<String>>,
    allow: Vec<Vec<String>>,
    deny: Vec<Vec<String>>,
    mapping: Vec<(String, String)>,
    flatmap: Option<Vec<FlatmapOp>>,
    group: Option<String>,
}

fn split(path: &str) -> Vec<String> {
    path.split('.').map(str::to_string).collect()
}

/// Parses a `flatmap_filter` list; errors name the entry.
pub fn parse_flatmap(v: &Value) -> Result<Vec<FlatmapOp>> {
    let Value::Array(items) = v else {
        return Err(Error::other(
            "expected a list of {\"type\", \"args\"} operations",
        ));
    };
    let mut ops = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        let args = crate::config::strings(item.get("args"));
        let op = match (kind, args.len()) {
            ("move", 2) => FlatmapOp::Move(split(&args[0]), split(&args[1])),
            ("append", 2) => FlatmapOp::Append(split(&args[0]), split(&args[1])),
            ("del", n) if n > 0 => FlatmapOp::Del(args.iter().map(|a| split(a)).collect()),
            _ => {
                return Err(Error::config(format!("[{i}]"), format!(
                    "expected type \"move\" or \"append\" with 2 args, or \"del\" with at least 1 (found type {kind:?} with {} args)",
                    args.len()
                )))
            }
        };
        ops.push(op);
    }
    Ok(ops)
}

impl Formatter {
    pub fn new(b: &BackendConfig, flatmap: Option<Vec<FlatmapOp>>) -> Formatter {
        Formatter {
            target: b.target.as_deref().map(split),
            allow: b.allow.iter().map(|p| split(p)).collect(),
            deny: b.deny.iter().map(|p| split(p)).collect(),
            mapping: b
                .mapping
                .iter()
                .map(|(k, v)| (k.clone(), v.split('.').next().unwrap_or("").to_string()))
                .collect(),
            flatmap,
            group: b.group.clone(),
        }
    }

    /// True when formatting leaves data unchanged (the fast path).
    pub fn is_noop(&self) -> bool {
        self.group.is_none() && self.keeps_object()
    }

    /// Whether the object comes out as it went in, except for being wrapped in its `group`.
    pub fn keeps_object(&self) -> bool {
        self.target.is_none()
            && self.allow.is_empty()
            && self.deny.is_empty()
            && self.mapping.is_empty()
            && self.flatmap.is_none()
    }

    /// The key the object is wrapped in.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    pub fn format(&self, mut data: Map<String, Value>) -> Map<String, Value> {
        if let Some(target) = &self.target {
            data = match get_path(&Value::Object(data), target) {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
        }
        if let Some(ops) = &self.flatmap {
            apply_flatmap(&mut data, ops);
        } else {
            if !self.allow.is_empty() {
                data = allow(&data, &self.allow);
            } else if !self.deny.is_empty() {
                for path in &self.deny {
                    delete_path(&mut data, path);
                }
            }
            for (from, to) in &self.mapping {
                if let Some(v) = data.remove(from) {
                    data.insert(to.clone(), v);
                }
            }
        }
        if let Some(group) = &self.group {
            let mut wrapped = Map::new();
            wrapped.insert(group.clone(), Value::Object(data));
            data = wrapped;
        }
        data
    }
}

fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = cur.as_object()?.get(seg)?;
    }
    Some(cur)
}

fn allow(data: &Map<String, Value>, paths: &[Vec<String>]) -> Map<String, Value> {
    let mut out = Map::new();
    for path in paths {
        let Some((first, rest)) = path.split_first() else {
            continue;
        };
        let Some(v) = data.get(first) else { continue };
        if rest.is_empty() {
            out.insert(first.clone(), v.clone());
            continue;
        }
        if let Value::Object(inner) = v {
            let sub = allow(inner, &[rest.to_vec()]);
            if sub.is_empty() {
                continue;
            }
            match out.get_mut(first) {
                Some(Value::Object(existing)) => merge_deep(existing, sub),
                _ => {
                    out.insert(first.clone(), Value::Object(sub));
                }
            }
        }
    }
    out
}

fn merge_deep(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge_deep(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn delete_path(data: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        data.remove(first);
    } else if let Some(Value::Object(inner)) = data.get_mut(first) {
        delete_path(inner, rest);
    }
}

/// Applies flatmap operations to a data map.
pub fn apply_flatmap(data: &mut Map<String, Value>, ops: &[FlatmapOp]) {
    let mut root = Value::Object(std::mem::take(data));
    for op in ops {
        match op {
            FlatmapOp::Del(paths) => {
                for p in paths {
                    del(&mut root, p);
                }
            }
            FlatmapOp::Move(from, to) => move_value(&mut root, from, to),
            FlatmapOp::Append(from, to) => append(&mut root, from, to),
        }
    }
    if let Value::Object(m) = root {
        *data = m;
    }
}

fn child_mut<'a>(v: &'a mut Value, seg: &str) -> Option<&'a mut Value> {
    match v {
        Value::Object(m) => m.get_mut(seg),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    }
}

/// Whether a container holds something (scalars count as holding their value).
fn is_emptied(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Removes the child labelled `seg` (a key, or an index in a list).
fn remove_child(v: &mut Value, seg: &str) -> Option<Value> {
    match v {
        Value::Object(m) => m.remove(seg),
        Value::Array(items) => {
            let i = seg.parse::<usize>().ok()?;
            (i < items.len()).then(|| items.remove(i))
        }
        _ => None,
    }
}

/// KrakenD's flatmap works on a tree where a container is a node with children: once its
/// last child is removed the node has no value left and is written as `null` (a container
/// that arrived empty keeps its value, `{}` or `[]`).
fn del(v: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if !matches!(v, Value::Object(_) | Value::Array(_)) || is_emptied(v) {
        return;
    }
    if first == "*" {
        if rest.is_empty() {
            *v = Value::Null;
        } else {
            match v {
                Value::Array(items) => items.iter_mut().for_each(|i| del(i, rest)),
                Value::Object(m) => m.values_mut().for_each(|i| del(i, rest)),
                _ => {}
            }
        }
        return;
    }
    if rest.is_empty() {
        if remove_child(v, first).is_some() && is_emptied(v) {
            *v = Value::Null;
        }
    } else if let Some(c) = child_mut(v, first) {
        del(c, rest);
    }
}

fn child<'a>(v: &'a Value, seg: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(seg),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |cur, seg| child_mut(cur, seg))
}

fn set(v: &mut Value, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = value;
        return;
    };
    if !matches!(v, Value::Object(_) | Value::Array(_)) {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => {
            let entry = m.entry(first.clone()).or_insert(Value::Null);
            if rest.is_empty() {
                *entry = value;
            } else {
                set(entry, rest, value);
            }
        }
        Value::Array(items) => {
            if let Some(item) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                if rest.is_empty() {
                    *item = value;
                } else {
                    set(item, rest, value);
                }
            }
        }
        _ => {}
    }
}

/// The paths of the nodes matching `prefix` (`*` matches every child).
fn collect_paths(v: &Value, prefix: &[String], cur: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let Some((first, rest)) = prefix.split_first() else {
        out.push(cur.clone());
        return;
    };
    if first == "*" {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    cur.push(k.clone());
                    collect_paths(c, rest, cur, out);
                    cur.pop();
                }
            }
            Value::Array(items) => {
                for (i, c) in items.iter().enumerate() {
                    cur.push(i.to_string());
                    collect_paths(c, rest, cur, out);
                    cur.pop();
                }
            }
            _ => {}
        }
    } else if let Some(c) = child(v, first) {
        cur.push(first.clone());
        collect_paths(c, rest, cur, out);
        cur.pop();
    }
}

/// Adds `value` under `label`: a key of an object, the next item of a list; a scalar or
/// `null` node becomes an object.
fn attach(parent: &mut Value, label: &str, value: Value) {
    match parent {
        Value::Object(m) => {
            m.insert(label.to_string(), value);
        }
        Value::Array(items) => items.push(value),
        other => {
            let mut m = Map::new();
            m.insert(label.to_string(), value);
            *other = Value::Object(m);
        }
    }
}

/// The child labelled `seg`, created (as an object) when missing.
fn child_or_insert<'a>(v: &'a mut Value, seg: &str) -> &'a mut Value {
    if !matches!(v, Value::Object(_) | Value::Array(_)) {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Array(items) => {
            let i = match seg.parse::<usize>() {
                Ok(i) if i < items.len() => i,
                _ => {
                    items.push(Value::Object(Map::new()));
                    items.len() - 1
                }
            };
            &mut items[i]
        }
        Value::Object(m) => m
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new())),
        // unreachable: made an object above
        other => other,
    }
}

/// KrakenD's flatmap `move`, on the nodes matching every segment of `from` but the last:
/// - same length: the child is relabelled in place (`a.x` → `b.y` gives `a.y`);
/// - `to` shorter (promotion): the child goes under `to`'s parent, found from the root,
///   a `*` of `to` standing for the label the source had at that depth;
/// - `to` longer (embedding): the child goes under the extra segments of `to`, created
///   below the node it was taken from.
fn move_value(root: &mut Value, from: &[String], to: &[String]) {
    let (Some((last, prefix)), Some(dst_last)) = (from.split_last(), to.last()) else {
        return;
    };
    let mut parents = Vec::new();
    collect_paths(
        root,
        prefix,
        &mut Vec::with_capacity(prefix.len()),
        &mut parents,
    );
    if from.len() == to.len() {
        for p in &parents {
            if let Some(Value::Object(m)) = at_mut(root, p) {
                if let Some(val) = m.remove(last) {
                    m.insert(dst_last.clone(), val);
                }
            }
        }
        return;
    }
    let mut moved = Vec::with_capacity(parents.len());
    let mut emptied = Vec::new();
    for p in parents {
        let Some(parent) = at_mut(root, &p) else {
            continue;
        };
        if let Some(val) = remove_child(parent, last) {
            if is_emptied(parent) {
                emptied.push(p.clone());
            }
            moved.push((p, val));
        }
    }
    let dst_prefix = &to[..to.len() - 1];
    for (src, val) in moved {
        if from.len() > to.len() {
            let labels: Vec<&str> = dst_prefix
                .iter()
                .enumerate()
                .map(|(i, s)| match (s.as_str(), src.get(i)) {
                    ("*", Some(l)) => l.as_str(),
                    (s, _) => s,
                })
                .collect();
            // walk down as far as the nodes exist
            let mut depth = 0;
            let mut cur: &Value = root;
            while let Some(c) = labels.get(depth).and_then(|l| child(cur, l)) {
                cur = c;
                depth += 1;
            }
            let owned: Vec<String> = labels[..depth].iter().map(|s| s.to_string()).collect();
            if let Some(parent) = at_mut(root, &owned) {
                attach(parent, dst_last, val);
            }
        } else if let Some(mut cur) = at_mut(root, &src) {
            for seg in &to[from.len() - 1..to.len() - 1] {
                cur = child_or_insert(cur, seg);
            }
            attach(cur, dst_last, val);
        }
    }
    for p in emptied {
        if let Some(v) = at_mut(root, &p) {
            if is_emptied(v) {
                *v = Value::Null;
            }
        }
    }
}

/// The flatmap tree's `Get`: the value at `path`, a `*` giving the list of what every child
/// holds at the rest of the path (`null` where nothing is).
fn get_tree(v: &Value, path: &[String]) -> Option<Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v.clone());
    };
    if first == "*" {
        let children: Vec<&Value> = match v {
            Value::Object(m) => m.values().collect(),
            Value::Array(items) => items.iter().collect(),
            _ => Vec::new(),
        };
        if children.is_empty() {
            return None;
        }
        return Some(Value::Array(
            children
                .into_iter()
                .map(|c| get_tree(c, rest).unwrap_or(Value::Null))
                .collect(),
        ));
    }
    get_tree(child(v, first)?, rest)
}

/// KrakenD's flatmap `append`: when both `from` and `to` hold lists, `to` becomes their
/// concatenation and `from` is deleted; otherwise nothing changes.
fn append(root: &mut Value, from: &[String], to: &[String]) {
    if to.iter().any(|s| s == "*") {
        return;
    }
    let Some(Value::Array(more)) = get_tree(root, from) else {
        return;
    };
    let Some(Value::Array(mut items)) = at_mut(root, to).map(std::mem::take) else {
        return;
    };
    items.extend(more);
    set(root, to, Value::Array(items));
    del(root, from);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn backend(extra: Value) -> BackendConfig {
        let text = json!({"version": 3, "endpoints": [{"endpoint": "/x", "backend": [
            {"url_pattern": "/", "host": ["http://h"]}]}]});
        let mut v = text;
        for (k, val) in extra.as_object().unwrap() {
            v["endpoints"][0]["backend"][0][k] = val.clone();
        }
        crate::config::load_str(&v.to_string(), "t", crate::config::Format::Json, &|_| None)
            .unwrap()
            .config
            .endpoints[0]
            .backend[0]
            .clone()
    }

    #[test]
    fn order_target_allow_mapping_group() {
        let b = backend(
            json!({"target": "data", "allow": ["a", "b.c"], "mapping": {"a": "z"}, "group": "g"}),
        );
        let out = Formatter::new(&b, None).format(obj(
            json!({"data": {"a": 1, "b": {"c": 2, "d": 3}, "x": 4}}),
        ));
        assert_eq!(Value::Object(out), json!({"g": {"z": 1, "b": {"c": 2}}}));
    }

    #[test]
    fn deny_removes_nested_paths() {
        let b = backend(json!({"deny": ["a.b", "c"]}));
        let out = Formatter::new(&b, None).format(obj(json!({"a": {"b": 1, "k": 2}, "c": 3})));
        assert_eq!(Value::Object(out), json!({"a": {"k": 2}}));
    }

    #[test]
    fn missing_target_gives_empty_object() {
        let b = backend(json!({"target": "nope"}));
        assert!(Formatter::new(&b, None)
            .format(obj(json!({"a": 1})))
            .is_empty());
    }

    #[test]
    fn flatmap_move_del_wildcards() {
        let ops = parse_flatmap(&json!([
            {"type": "move", "args": ["collection", "paths"]},
            {"type": "del", "args": ["paths.*.i"]},
            {"type": "move", "args": ["paths.*.path", "paths.*.url"]}
        ]))
        .unwrap();
        let mut data = obj(json!({"collection": [{"i": 0, "path": "/a"}, {"i": 1, "path": "/b"}]}));
        apply_flatmap(&mut data, &ops);
        assert_eq!(
            Value::Object(data),
            json!({"paths": [{"url": "/a"}, {"url": "/b"}]})
        );
    }

    #[test]
    fn flatmap_indices_and_append() {
        let ops = parse_flatmap(&json!([
            {"type": "del", "args": ["a.0"]},
            {"type": "append", "args": ["b", "a"]}
        ]))
        .unwrap();
        let mut data = obj(json!({"a": [1, 2], "b": [3]}));
        apply_flatmap(&mut data, &ops);
        assert_eq!(Value::Object(data), json!({"a": [2, 3]}));
        assert!(parse_flatmap(&json!([{"type": "move", "args": ["a"]}])).is_err());
    }

    fn flat(data: Value, ops: Value) -> Value {
        let ops = parse_flatmap(&ops).unwrap();
        let mut data = obj(data);
        apply_flatmap(&mut data, &ops);
        Value::Object(data)
    }

    #[test]
    fn flatmap_follows_the_tree_semantics() {
        // a container emptied by del or move has no value left; one that came empty stays
        assert_eq!(
            flat(
                json!({"a": {"x": 1}, "e": {}, "l": [1], "w": [1, 2]}),
                json!([{"type": "move", "args": ["a.x", "x"]},
                       {"type": "del", "args": ["l.0", "w.*", "e.z"]}])
            ),
            json!({"a": null, "x": 1, "e": {}, "l": null, "w": null})
        );
        // promotion: a `*` of the destination stands for the source's label
        assert_eq!(
            flat(
                json!({"a": [{"b": {"c": 1}}, {"b": {"c": 2}}]}),
                json!([{"type": "move", "args": ["a.*.b.c", "a.*.c"]}])
            ),
            json!({"a": [{"b": null, "c": 1}, {"b": null, "c": 2}]})
        );
        // embedding: the extra segments are created below the source's parent
        assert_eq!(
            flat(
                json!({"x": {"a": 1, "k": 2}}),
                json!([{"type": "move", "args": ["x.a", "y.b.c"]}])
            ),
            json!({"x": {"b": {"c": 1}, "k": 2}})
        );
        // append needs two lists; the source is deleted like `del` does
        assert_eq!(
            flat(
                json!({"a": [1], "b": {"c": [2, 3]}, "s": 4, "w": [{"v": 5}, {"v": 6}]}),
                json!([{"type": "append", "args": ["b.c", "a"]},
                       {"type": "append", "args": ["s", "a"]},
                       {"type": "append", "args": ["w.*.v", "a"]},
                       {"type": "append", "args": ["a", "nope"]}])
            ),
            json!({"a": [1, 2, 3, 5, 6], "b": null, "s": 4, "w": [null, null]})
        );
        // relabelling inside a list changes nothing
        assert_eq!(
            flat(
                json!({"l": [1, 2]}),
                json!([{"type": "move", "args": ["l.0", "l.z"]}])
            ),
            json!({"l": [1, 2]})
        );
    }
}
