//! `auth/client-credentials`: the OAuth2 client-credentials grant in front of a backend, as
//! KrakenD's krakend-oauth2-clientcredentials (golang.org/x/oauth2/clientcredentials).
//!
//! A token is requested from `token_url` (`grant_type=client_credentials`, `scope` = the
//! comma-separated `scopes` joined by spaces, plus `endpoint_params`), with the client
//! credentials in a Basic `Authorization` header, or in the form when the server refuses
//! that. It is kept until ten seconds before it expires (`expires_in`) and sent to the backend
//! as `Authorization: Bearer <token>`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::components::{keys, Build, BuildCx, Built, ComponentSpec, Scope};
use crate::config::BackendConfig;
use crate::error::Error;
use crate::hooks::{BackendStage, BoxFuture, Exchanged, Next};
use crate::message::OutRequest;
use crate::vocab::body::OutBody;

pub const NAMESPACE: &str = "auth/client-credentials";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Backend],
    keys::struct_check::<ClientCredentialsConfig>,
    &[Build::Backend(80, stage)],
);

/// Tokens are renewed this long before they expire (oauth2's `expiryDelta`).
const EXPIRY_DELTA: Duration = Duration::from_secs(10);
/// The largest token response read.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// The `auth/client-credentials` object.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientCredentialsConfig {
    pub client_id: String,
    pub client_secret: String,
    pub token_url: String,
    #[serde(default)]
    pub scopes: String,
    #[serde(default)]
    pub endpoint_params: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone)]
struct Token {
    value: HeaderValue,
    expiry: Option<Instant>,
}

impl Token {
    fn valid(&self, now: Instant) -> bool {
        self.expiry.is_none_or(|e| now + EXPIRY_DELTA < e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthStyle {
    Unknown,
    Header,
    Params,
}

struct State {
    token: Option<Token>,
    style: AuthStyle,
}

/// The client-credentials stage: adds the token to each exchange.
pub struct ClientCredentials {
    cfg: ClientCredentialsConfig,
    scopes: Vec<String>,
    params: Vec<(String, Vec<String>)>,
    state: Mutex<State>,
}

/// Standard base64 with padding, as Go's `base64.StdEncoding` writes it.
fn base64(input: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(input)
}

fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// oauth2's `Token.Type()`.
fn token_type(t: &str) -> String {
    match t.to_ascii_lowercase().as_str() {
        "" | "bearer" => "Bearer".into(),
        "mac" => "MAC".into(),
        "basic" => "Basic".into(),
        _ => t.to_string(),
    }
}

/// Reads a token response: JSON, or a form for `application/x-www-form-urlencoded` and
/// `text/plain`.
fn parse_token(content_type: &str, body: &[u8]) -> Result<(String, String, u64), Error> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (access, kind, expires) = if ct == "application/x-www-form-urlencoded" || ct == "text/plain"
    {
        let mut access = String::new();
        let mut kind = String::new();
        let mut expires = 0;
        for (k, v) in form_urlencoded::parse(body) {
            match k.as_ref() {
                "access_token" => access = v.into_owned(),
                "token_type" => kind = v.into_owned(),
                "expires_in" => expires = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        (access, kind, expires)
    } else {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| Error::json("oauth2: cannot parse json", e))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let expires = match v.get("expires_in") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0).max(0.0) as u64,
            Some(Value::String(s)) => s.parse().unwrap_or(0),
            _ => 0,
        };
        (s("access_token"), s("token_type"), expires)
    };
    if access.is_empty() {
        return Err(Error::decode(
            "oauth2: server response missing access_token",
        ));
    }
    Ok((access, kind, expires))
}

impl ClientCredentials {
    pub fn new(cfg: ClientCredentialsConfig) -> ClientCredentials {
        let scopes = cfg
            .scopes
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let params = cfg
            .endpoint_params
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let values = match v {
                    Value::Array(items) => items.iter().map(text).collect(),
                    other => vec![text(other)],
                };
                (k.clone(), values)
            })
            .collect();
        ClientCredentials {
            cfg,
            scopes,
            params,
            state: Mutex::new(State {
                token: None,
                style: AuthStyle::Unknown,
            }),
        }
    }

    /// The token request's form, encoded as Go's `url.Values` (keys sorted; endpoint params
    /// replace the standard ones of the same name).
    fn token_form(&self, style: AuthStyle) -> String {
        let mut values: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        values.insert("grant_type", vec!["client_credentials"]);
        let scope = self.scopes.join(" ");
        if !self.scopes.is_empty() {
            values.insert("scope", vec![&scope]);
        }
        for (k, vs) in &self.params {
            values.insert(k, vs.iter().map(String::as_str).collect());
        }
        if style == AuthStyle::Params {
            values.insert("client_id", vec![&self.cfg.client_id]);
            if !self.cfg.client_secret.is_empty() {
                values.insert("client_secret", vec![&self.cfg.client_secret]);
            }
        }
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, vs) in values {
            for v in vs {
                form.append_pair(k, v);
            }
        }
        form.finish()
    }

    async fn request_token(
        &self,
        style: AuthStyle,
        next: Next<'_>,
    ) -> Result<(String, String, u64), Error> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        if style != AuthStyle::Params {
            let creds = format!(
                "{}:{}",
                url_encode(&self.cfg.client_id),
                url_encode(&self.cfg.client_secret)
            );
            let value = HeaderValue::from_str(&format!("Basic {}", base64(creds.as_bytes())))
                .map_err(|e| Error::component("oauth2", e))?;
            headers.insert(header::AUTHORIZATION, value);
        }
        let body = self.token_form(style);
        let (resp, _) = next
            .run(OutRequest {
                method: Method::POST,
                url: self.cfg.token_url.clone(),
                headers,
                body: OutBody::Buffered(Bytes::from(body)),
            })
            .await
            .map_err(|e| Error::component("oauth2: cannot fetch token", e))?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = crate::vocab::body::read_body(resp.into_body(), MAX_TOKEN_RESPONSE)
            .await
            .map_err(|e| Error::component("oauth2: cannot fetch token", e))?;
        if !status.is_success() {
            return Err(Error::other(format!(
                "oauth2: cannot fetch token: {}\nResponse: {}",
                status,
                String::from_utf8_lossy(&bytes)
            )));
        }
        parse_token(&content_type, &bytes)
    }

    /// The `Authorization` value to send, fetching a token when there is no valid one.
    async fn authorization(&self, next: Next<'_>) -> Result<HeaderValue, Error> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(t) = &state.token {
            if t.valid(now) {
                return Ok(t.value.clone());
            }
        }
        let (access, kind, expires_in) = match state.style {
            AuthStyle::Unknown => match self.request_token(AuthStyle::Header, next).await {
                Ok(t) => {
                    state.style = AuthStyle::Header;
                    t
                }
                Err(first) => match self.request_token(AuthStyle::Params, next).await {
                    Ok(t) => {
                        state.style = AuthStyle::Params;
                        t
                    }
                    Err(_) => return Err(first),
                },
            },
            style => self.request_token(style, next).await?,
        };
        let value = HeaderValue::from_str(&format!("{} {}", token_type(&kind), access))
            .map_err(|_| Error::other("oauth2: the access token is not a valid header value"))?;
        let received = Instant::now();
        state.token = Some(Token {
            value: value.clone(),
            expiry: (expires_in > 0).then(|| received + Duration::from_secs(expires_in)),
        });
        Ok(value)
    }

    async fn run(&self, mut req: OutRequest, next: Next<'_>) -> Exchanged {
        let auth = self
            .authorization(next)
            .await
            .map_err(|e| crate::error::Error::Upstream {
                message: format!(
                    "{} {:?}: {e}",
                    crate::vocab::go::client_verb(&req.method),
                    req.url
                ),
                source: Some(Box::new(e)),
            })?;
        req.headers.insert(header::AUTHORIZATION, auth);
        next.run(req).await
    }
}

impl BackendStage for ClientCredentials {
    fn exchange<'a>(&'a self, req: OutRequest, next: Next<'a>) -> BoxFuture<'a, Exchanged> {
        Box::pin(self.run(req, next))
    }

    fn reads_data(&self) -> bool {
        false
    }
}

/// The stage of a backend with `auth/client-credentials`.
fn stage(b: &BackendConfig, _: &BuildCx<'_>) -> Built<dyn BackendStage> {
    let Some(cfg) = crate::components::typed_config::<ClientCredentialsConfig>(
        &b.extra_config,
        &b.json_path,
        NAMESPACE,
    )?
    else {
        return Ok(None);
    };
    Ok(Some(Arc::new(ClientCredentials::new(cfg))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::body::{full_body, Body};
    use http::Response;
    use http_body_util::BodyExt;
    use std::sync::Mutex as StdMutex;

    async fn drain(body: Body) -> Bytes {
        body.collect().await.unwrap().to_bytes()
    }

    /// A token server and backend in one: token requests are answered from `token`, others
    /// echo their Authorization header.
    type TokenAnswer = Box<dyn Fn(usize, &HeaderMap) -> (u16, &'static str, String) + Send + Sync>;

    struct Fake {
        token_calls: StdMutex<Vec<(HeaderMap, String)>>,
        token: TokenAnswer,
    }

    impl crate::hooks::Transport for Fake {
        fn exchange(&self, req: OutRequest) -> BoxFuture<'_, Exchanged> {
            Box::pin(async move {
                if req.url == "http://127.0.0.1:1/token" {
                    let body = match req.body {
                        OutBody::Buffered(b) => String::from_utf8(b.to_vec()).unwrap(),
                        _ => String::new(),
                    };
                    let n = {
                        let mut calls = self.token_calls.lock().unwrap();
                        calls.push((req.headers.clone(), body));
                        calls.len() - 1
                    };
                    let (status, ct, body) = (self.token)(n, &req.headers);
                    let mut r = Response::new(full_body(body));
                    *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                    r.headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
                    return Ok((r, req.url));
                }
                let auth = req
                    .headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                Ok((Response::new(full_body(auth)), req.url))
            })
        }
    }

    fn cc(
        json: &str,
        token: impl Fn(usize, &HeaderMap) -> (u16, &'static str, String) + Send + Sync + 'static,
    ) -> (ClientCredentials, Arc<Fake>) {
        let fake = Arc::new(Fake {
            token_calls: StdMutex::new(Vec::new()),
            token: Box::new(token),
        });
        let cfg: ClientCredentialsConfig = serde_json::from_str(json).unwrap();
        (ClientCredentials::new(cfg), fake)
    }

    const CFG: &str = r#"{"client_id": "my id", "client_secret": "s3cr3t",
        "token_url": "http://127.0.0.1:1/token", "scopes": "read, write",
        "endpoint_params": {"audience": ["api"]}}"#;

    async fn call(c: &ClientCredentials, fake: &Fake) -> Result<String, String> {
        let (r, _) = c
            .exchange(
                OutRequest {
                    method: Method::GET,
                    url: "http://127.0.0.1:1/api".into(),
                    headers: HeaderMap::new(),
                    body: OutBody::Empty,
                },
                Next::new(&[], fake),
            )
            .await?;
        Ok(String::from_utf8(drain(r.into_body()).await.to_vec()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn fetches_caches_and_renews_the_token() {
        let (c, fake) = cc(CFG, |n, _| {
            (
                200,
                "application/json",
                format!(r#"{{"access_token":"tok{n}","token_type":"bearer","expires_in":60}}"#),
            )
        });
        assert_eq!(call(&c, &fake).await.unwrap(), "Bearer tok0");
        {
            let calls = fake.token_calls.lock().unwrap();
            let (headers, body) = &calls[0];
            assert_eq!(
                headers.get(header::AUTHORIZATION).unwrap(),
                &format!("Basic {}", base64(b"my+id:s3cr3t"))
            );
            assert_eq!(
                body,
                "audience=api&grant_type=client_credentials&scope=read+write"
            );
        }
        tokio::time::advance(Duration::from_secs(49)).await;
        assert_eq!(call(&c, &fake).await.unwrap(), "Bearer tok0");
        assert_eq!(fake.token_calls.lock().unwrap().len(), 1);
        // within ten seconds of the expiry a new token is fetched
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(call(&c, &fake).await.unwrap(), "Bearer tok1");
        assert_eq!(fake.token_calls.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn falls_back_to_credentials_in_the_form() {
        let (c, fake) = cc(CFG, |_, headers| {
            if headers.contains_key(header::AUTHORIZATION) {
                (
                    401,
                    "application/json",
                    r#"{"error":"invalid_client"}"#.into(),
                )
            } else {
                (
                    200,
                    "application/x-www-form-urlencoded",
                    "access_token=formtok&token_type=bearer".into(),
                )
            }
        });
        assert_eq!(call(&c, &fake).await.unwrap(), "Bearer formtok");
        let calls = fake.token_calls.lock().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[1].1,
            "audience=api&client_id=my+id&client_secret=s3cr3t&grant_type=client_credentials&scope=read+write"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_token_request_fails_the_call() {
        let (c, fake) = cc(CFG, |_, _| (500, "text/plain", "down".into()));
        let err = call(&c, &fake).await.unwrap_err();
        assert!(
            err.starts_with(r#"Get "http://127.0.0.1:1/api": oauth2: cannot fetch token: 500"#),
            "{err}"
        );
    }

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn missing_fields_are_reported() {
        let err = serde_json::from_str::<ClientCredentialsConfig>(r#"{"client_id": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("client_secret"), "{err}");
    }
}
