//! The answer to a request no route serves, as gin gives it: the trailing-slash and
//! fixed-path redirects (Go's path cleaning), the automatic `OPTIONS` answer,
//! `405 method not allowed`, `404 page not found`.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::{builtin, endpoint, Gateway};
use crate::vocab::body::{full_body, Body};

impl Gateway {
    /// The answer to a request no route serves.
    pub(super) fn unrouted(&self, req: &Request<Body>, path: &str) -> Response<Body> {
        let opts = &self.shared.opts;
        let method = req.method().clone();
        if method != Method::CONNECT && path != "/" {
            let code = if method == Method::GET {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::TEMPORARY_REDIRECT
            };
            if !opts.disable_redirect_trailing_slash {
                let alt = match path.strip_suffix('/') {
                    Some(p) => p.to_string(),
                    None => format!("{path}/"),
                };
                if self.has_method(&alt, &method) {
                    return redirect(code, &alt, req.uri().query(), &method);
                }
            }
            if !opts.disable_redirect_fixed_path {
                if let Some(fixed) = self.fixed_path(&clean_path(path), &method) {
                    return redirect(code, &fixed, req.uri().query(), &method);
                }
            }
        }
        if method == Method::OPTIONS && opts.auto_options {
            // KrakenD lists the endpoint methods registered for the path, sorted
            let mut allow: Vec<&str> = self
                .tables
                .iter()
                .filter(|t| t.tree.at(path).is_ok())
                .map(|t| t.method.as_str())
                .collect();
            if !allow.is_empty() {
                allow.sort_unstable();
                let mut r = Response::new(crate::vocab::body::empty_body());
                if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                    r.headers_mut().insert(header::ALLOW, v);
                }
                r.headers_mut()
                    .insert(endpoint::X_KRAKEND, self.shared.version_header.clone());
                return r;
            }
        }
        if !opts.disable_handle_method_not_allowed
            && self
                .tables
                .iter()
                .any(|t| t.method != method && t.tree.at(path).is_ok())
        {
            return self.error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                &opts.error_body_405,
                "405 method not allowed",
            );
        }
        self.error_page(
            StatusCode::NOT_FOUND,
            &opts.error_body_404,
            "404 page not found",
        )
    }

    /// `404 page not found` or `405 method not allowed`, or the body the router options set
    /// for it.
    fn error_page(
        &self,
        status: StatusCode,
        custom: &Option<Vec<u8>>,
        text: &'static str,
    ) -> Response<Body> {
        let mut r = match custom {
            Some(body) => builtin::json_response(status.as_u16(), body.clone()),
            None => {
                let mut r = Response::new(full_body(Bytes::from_static(text.as_bytes())));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                r
            }
        };
        *r.status_mut() = status;
        r.headers_mut().insert(
            endpoint::X_KRAKEND_COMPLETED,
            HeaderValue::from_static("false"),
        );
        r.headers_mut()
            .insert(endpoint::X_KRAKEND, self.shared.version_header.clone());
        r
    }
}

/// gin's redirect to `path` (the request's query kept), with Go's `http.Redirect` body for
/// `GET` and `HEAD`.
fn redirect(code: StatusCode, path: &str, query: Option<&str>, method: &Method) -> Response<Body> {
    let location = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let body = if *method == Method::GET || *method == Method::HEAD {
        format!(
            "<a href=\"{}\">{}</a>.\n\n",
            location
                .replace('&', "&amp;")
                .replace('"', "&#34;")
                .replace('<', "&lt;"),
            code.canonical_reason().unwrap_or("")
        )
    } else {
        String::new()
    };
    let mut r = Response::new(full_body(body));
    *r.status_mut() = code;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if *method == Method::GET || *method == Method::HEAD {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    r
}

/// Runs of slashes as one (`remove_extra_slash`).
pub(super) fn collapse_slashes(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut prev = false;
    for c in p.chars() {
        if c == '/' {
            if prev {
                continue;
            }
            prev = true;
        } else {
            prev = false;
        }
        out.push(c);
    }
    out
}

/// Go's `path.Clean` as gin's `cleanPath` applies it (keeping a trailing slash).
fn clean_path(p: &str) -> String {
    let trailing = p.len() > 1 && p.ends_with('/');
    let mut stack: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut out = format!("/{}", stack.join("/"));
    if trailing && out != "/" {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_cleaning() {
        assert_eq!(clean_path("/a/../b//c/"), "/b/c/");
        assert_eq!(collapse_slashes("//a///b"), "/a/b");
    }
}
