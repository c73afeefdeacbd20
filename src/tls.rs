//! TLS: the backend client's configuration (`client_tls`, `allow_insecure_connections`) and
//! the server's (`tls`: certificates, versions, mTLS), with rustls on the `ring` provider.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use serde_json::Value;

use crate::error::{Error, Result};

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let rank = |v: &str| match v {
        "TLS13" => 13,
        "TLS12" => 12,
        _ => 10, // SSL3.0, TLS10, TLS11: rustls speaks 1.2 and 1.3 only
    };
    let lo = min.map(rank).unwrap_or(12);
    let hi = max.map(rank).unwrap_or(13);
    let mut out = Vec::new();
    if lo <= 12 && hi >= 12 {
        out.push(&rustls::version::TLS12);
    }
    if hi >= 13 {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        out.push(&rustls::version::TLS13);
    }
    out
}

pub(crate) fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(Path::new(path))
        .map_err(|e| Error::tls(path, e))?
        .collect();
    let certs = certs.map_err(|e| Error::tls(path, e))?;
    if certs.is_empty() {
        return Err(Error::config(path, "no PEM certificate found"));
    }
    Ok(certs)
}

/// Accepts any certificate: `allow_insecure_connections`.
#[derive(Debug)]
pub(crate) struct NoVerify(pub(crate) Arc<rustls::crypto::CryptoProvider>);

impl NoVerify {
    /// The provider's signature algorithms: handshake signatures are still checked.
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.0.signature_verification_algorithms
    }
}

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

/// The backend client's TLS configuration.
pub fn client_config(client_tls: Option<&Value>, allow_insecure: bool) -> Result<ClientConfig> {
    let ct = client_tls.and_then(Value::as_object);
    let get = |k: &str| ct.and_then(|m| m.get(k));
    let insecure = allow_insecure
        || get("allow_insecure_connections")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions(
            get("min_version").and_then(Value::as_str),
            get("max_version").and_then(Value::as_str),
        ))
        .map_err(|e| Error::tls("client_tls", e))?;
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        if !get("disable_system_ca_pool")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
        for path in crate::config::strings(get("ca_certs")) {
            for cert in load_certs(&path).map_err(|e| e.within("client_tls.ca_certs: "))? {
                roots
                    .add(cert)
                    .map_err(|e| Error::tls(format!("client_tls.ca_certs: {path}"), e))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut certs = get("client_certs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter();
    let cfg = match certs.next() {
        Some(pair) => {
            let cert = pair
                .get("certificate")
                .and_then(Value::as_str)
                .unwrap_or("");
            let key = pair
                .get("private_key")
                .and_then(Value::as_str)
                .unwrap_or("");
            let chain = load_certs(cert).map_err(|e| e.within("client_tls.client_certs: "))?;
            let key = PrivateKeyDer::from_pem_file(Path::new(key))
                .map_err(|e| Error::tls(format!("client_tls.client_certs: {key}"), e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::tls("client_tls.client_certs", e))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(cfg)
}

/// The server's TLS configuration, or `None` when `tls` is absent or disabled.
pub fn server_config(tls: Option<&Value>) -> Result<Option<ServerConfig>> {
    let Some(tls) = tls.and_then(Value::as_object) else {
        return Ok(None);
    };
    if tls
        .get("disabled")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Ok(None);
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let (Some(c), Some(k)) = (
        tls.get("public_key").and_then(Value::as_str),
        tls.get("private_key").and_then(Value::as_str),
    ) {
        pairs.push((c.to_string(), k.to_string()));
    }
    for kp in tls
        .get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(c), Some(k)) = (
            kp.get("public_key").and_then(Value::as_str),
            kp.get("private_key").and_then(Value::as_str),
        ) {
            pairs.push((c.to_string(), k.to_string()));
        }
    }
    let Some((cert_path, key_path)) = pairs.first() else {
        return Err(Error::config(
            "tls",
            "expected public_key and private_key (PEM file paths)",
        ));
    };
    let chain = load_certs(cert_path).map_err(|e| e.within("tls.public_key: "))?;
    let key = PrivateKeyDer::from_pem_file(Path::new(key_path))
        .map_err(|e| Error::tls(format!("tls.private_key: {key_path}"), e))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions(
            tls.get("min_version").and_then(Value::as_str),
            tls.get("max_version").and_then(Value::as_str),
        ))
        .map_err(|e| Error::tls("tls", e))?;
    let builder = if tls
        .get("enable_mtls")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        let mut roots = RootCertStore::empty();
        for path in crate::config::strings(tls.get("ca_certs")) {
            for cert in load_certs(&path).map_err(|e| e.within("tls.ca_certs: "))? {
                roots
                    .add(cert)
                    .map_err(|e| Error::tls(format!("tls.ca_certs: {path}"), e))?;
            }
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .map_err(|e| Error::tls("tls.enable_mtls", e))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| Error::tls("tls", e))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(cfg))
}
