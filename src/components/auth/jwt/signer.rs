//! `auth/signer`: signs the listed `keys_to_sign` of the endpoint's response as JWS (compact,
//! or JSON with `full`), with the JWK named by `kid`.
//!
//! Like KrakenD CE's signing handler, an endpoint with a signer always answers JSON with
//! status 200 and no `X-Krakend-Completed`/`Cache-Control`, and any failure (of the pipe or
//! of the signing) with an empty 400.
//!
//! An RSA key ring cannot sign with (under 2048 bits, more than 4096, without its primes:
//! see [`jose`]) is a configuration error when it comes from `jwk_local_path`; from a
//! `jwk_url`, it is known only once downloaded, and every request is refused with the
//! reason logged.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::jose::{self, Alg, Jwk};
use super::keys::{KeyIdStrategy, KeySet};
use super::{key_set, parse_config, JwkSourceConfig};
use crate::components::{keys, Build, BuildCx, ComponentSpec, Scope};
use crate::config::EndpointConfig;
use crate::error::{Error, Result};
use crate::hooks::{BoxFuture, ProxyStage};
use crate::message::{ProxyError, ProxyRequest, ProxyResponse};

pub const NAMESPACE: &str = "auth/signer";

/// This component's registry entry.
pub const SPEC: ComponentSpec = ComponentSpec::active(
    NAMESPACE,
    &[Scope::Endpoint],
    check_keys,
    &[Build::Proxy(50, stage)],
);

/// The `auth/signer` object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignerConfig {
    pub alg: String,
    pub kid: String,
    pub keys_to_sign: Vec<String>,
    pub full: bool,
    /// Accepted as KrakenD documents it; signing has no use for a leeway.
    pub leeway: Option<Value>,
    /// Read from the same object by `JwkSourceConfig`'s own fields.
    #[serde(skip)]
    pub source: JwkSourceConfig,
}

/// Checks the keys of an `auth/signer` object: [`SignerConfig`]'s and its key source's.
pub fn check_keys(_: Scope, v: &Value, out: &mut Vec<keys::UnknownKey>) {
    super::check_keys_with_source::<SignerConfig>(v, out);
}

/// The proxy stage.
pub struct Signer {
    endpoint: String,
    alg: Alg,
    kid: String,
    keys_to_sign: Vec<String>,
    full: bool,
    keys: KeySet,
    /// The signing key, fetched once.
    key: tokio::sync::OnceCell<Arc<Jwk>>,
}

pub fn build(ep: &EndpointConfig, cx: &BuildCx<'_>) -> Result<Option<Signer>> {
    let Some(raw) = ep.extra_config.get(NAMESPACE) else {
        return Ok(None);
    };
    let mut cfg: SignerConfig = parse_config(NAMESPACE, raw)?;
    cfg.source = parse_config(NAMESPACE, raw)?;
    if cfg.alg.is_empty() {
        return Err(Error::other(format!("{NAMESPACE}.alg is required")));
    }
    let alg = Alg::parse(&cfg.alg).map_err(|e| Error::invalid(format!("{NAMESPACE}.alg"), e))?;
    let keys = key_set(
        NAMESPACE,
        &cfg.source,
        KeyIdStrategy::Kid,
        None,
        std::time::Duration::ZERO,
        ep,
        cx,
    )?;
    if let Some(e) = keys
        .local_key(&cfg.kid)
        .as_deref()
        .and_then(|k| k.key.signing_error())
    {
        return Err(Error::config(
            NAMESPACE,
            format!(
                "the key '{}' of {:?} cannot sign: {e}",
                cfg.kid, cfg.source.jwk_local_path
            ),
        ));
    }
    Ok(Some(Signer {
        endpoint: ep.endpoint.clone(),
        alg,
        kid: cfg.kid,
        keys_to_sign: cfg.keys_to_sign,
        full: cfg.full,
        keys,
        key: tokio::sync::OnceCell::new(),
    }))
}

pub fn stage(ep: &EndpointConfig, cx: &BuildCx<'_>) -> Result<Option<Arc<dyn ProxyStage>>> {
    Ok(build(ep, cx)?.map(|s| Arc::new(s) as Arc<dyn ProxyStage>))
}

fn refuse(message: String) -> ProxyError {
    ProxyError::Rejected {
        status: 400,
        message,
    }
}

impl Signer {
    /// Replaces every listed object of `data` by its signature.
    pub fn sign_fields(&self, key: &Jwk, resp: &mut ProxyResponse) -> Result<()> {
        let Some(data) = resp.data_mut() else {
            return Ok(());
        };
        for name in &self.keys_to_sign {
            let Some(Value::Object(obj)) = data.get(name) else {
                continue;
            };
            let payload = crate::encoding::json::map_to_vec(obj);
            let token = jose::sign_jws(self.alg, &key.key, &key.kid, &payload, self.full)
                .map_err(|e| Error::invalid("unable to sign payload", e))?;
            data.insert(name.clone(), Value::String(token));
        }
        Ok(())
    }
}

impl ProxyStage for Signer {
    fn before<'a>(&'a self, _req: &'a mut ProxyRequest) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move {
            if self.key.initialized() {
                return Ok(());
            }
            let loaded = self
                .key
                .get_or_try_init(|| async {
                    let key = self.keys.get(&self.kid).await?;
                    if !key.is_private() {
                        return Err(Error::other(format!(
                            "the key '{}' has no private part",
                            self.kid
                        )));
                    }
                    if let Some(e) = key.key.signing_error() {
                        return Err(Error::other(format!(
                            "the key '{}' cannot sign: {e}",
                            self.kid
                        )));
                    }
                    Ok::<_, Error>(key)
                })
                .await;
            match loaded {
                Ok(_) => Ok(()),
                Err(e) => {
                    tracing::error!(
                        "JOSE: unable to create the signer for the endpoint {}: {e}",
                        self.endpoint
                    );
                    Err(refuse(e.to_string()))
                }
            }
        })
    }

    fn after(&self, resp: &mut Option<ProxyResponse>, err: &mut Option<ProxyError>) {
        if err.is_some() {
            return;
        }
        let (Some(r), Some(key)) = (resp.as_mut(), self.key.get()) else {
            return;
        };
        if let Err(e) = self.sign_fields(key, r) {
            tracing::error!("JOSE: signer for {}: {e}", self.endpoint);
            *resp = None;
            *err = Some(refuse(e.to_string()));
        }
    }

    fn bare_json_response(&self) -> bool {
        true
    }
}
