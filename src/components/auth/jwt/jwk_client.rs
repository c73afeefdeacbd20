//! The HTTP client that downloads JWK sets. As in KrakenD's JOSE components it has TLS
//! settings of its own, not the backends' `client_tls`:
//!
//! * the system roots plus the PEM certificates of `jwk_local_ca`;
//! * `disable_jwk_security`: the server certificate is not verified;
//! * `cipher_suites`: the TLS 1.2 suites offered (TLS 1.3 suites are always on, as in Go);
//! * `jwk_fingerprints`: on top of the checks above, the connection is refused unless one of
//!   the certificates the server presents has a public key whose SHA-256 digest (of the DER
//!   `SubjectPublicKeyInfo`) is in the list.

use std::sync::Arc;

use crate::error::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// The TLS settings of one key source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct JwkTls {
    /// `disable_jwk_security`.
    pub insecure: bool,
    /// `jwk_local_ca`.
    pub local_ca: String,
    /// `jwk_fingerprints`, decoded.
    pub pins: Vec<Vec<u8>>,
    /// `cipher_suites` (Go's numeric ids).
    pub cipher_suites: Vec<u16>,
}

/// The SHA-256 digest of a certificate's `SubjectPublicKeyInfo`.
pub fn spki_sha256(cert: &CertificateDer<'_>) -> Option<[u8; 32]> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    Some(Sha256::digest(spki.as_ref()).into())
}

/// Verifies as `inner` does, then asks for a pinned key in the presented chain.
#[derive(Debug)]
struct Pinned {
    inner: Arc<dyn ServerCertVerifier>,
    pins: Vec<Vec<u8>>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let pinned = std::iter::once(end_entity)
            .chain(intermediates)
            .filter_map(spki_sha256)
            .any(|digest| self.pins.iter().any(|p| p.as_slice() == digest));
        if pinned {
            Ok(verified)
        } else {
            Err(rustls::Error::General(
                "JWK client did not find a pinned key".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The crypto provider with the TLS 1.2 suites limited to `ids` (all of them when empty).
fn provider(ids: &[u16]) -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    if !ids.is_empty() {
        p.cipher_suites.retain(|cs| {
            matches!(cs, rustls::SupportedCipherSuite::Tls13(_))
                || ids.contains(&u16::from(cs.suite()))
        });
    }
    Arc::new(p)
}

/// The TLS configuration of the JWK client. `ns` prefixes the errors.
pub fn client_config(ns: &str, t: &JwkTls) -> Result<ClientConfig> {
    let provider = provider(&t.cipher_suites);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| Error::invalid(format!("{ns}.cipher_suites"), e))?;
    let verifier: Arc<dyn ServerCertVerifier> = if t.insecure {
        Arc::new(crate::tls::NoVerify(provider.clone()))
    } else {
        let mut roots = RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if !t.local_ca.is_empty() {
            let certs = crate::tls::load_certs(&t.local_ca).map_err(|e| {
                Error::invalid(
                    format!("{ns}.jwk_local_ca: failed to append to the root CAs"),
                    e,
                )
            })?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| Error::tls(format!("{ns}.jwk_local_ca: {}", t.local_ca), e))?;
            }
        }
        if roots.is_empty() {
            return Err(Error::config(
                ns,
                "no root certificate to verify the JWK server with (set jwk_local_ca)",
            ));
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| Error::invalid(ns, e))?
    };
    let verifier: Arc<dyn ServerCertVerifier> = if t.pins.is_empty() {
        verifier
    } else {
        Arc::new(Pinned {
            inner: verifier,
            pins: t.pins.clone(),
        })
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_suites_limit_tls12_only() {
        let all = provider(&[]).cipher_suites.len();
        let some = provider(&[0xc02f]);
        assert!(some.cipher_suites.len() < all);
        assert!(some
            .cipher_suites
            .iter()
            .any(|cs| u16::from(cs.suite()) == 0xc02f));
        assert!(some
            .cipher_suites
            .iter()
            .all(|cs| matches!(cs, rustls::SupportedCipherSuite::Tls13(_))
                || u16::from(cs.suite()) == 0xc02f));
        assert!(client_config(
            "auth/validator",
            &JwkTls {
                insecure: true,
                cipher_suites: vec![0xffff],
                ..JwkTls::default()
            }
        )
        .is_ok());
    }

    #[test]
    fn unreadable_local_ca_names_the_field() {
        let e = client_config(
            "auth/validator",
            &JwkTls {
                local_ca: "/nonexistent/ca.pem".into(),
                ..JwkTls::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("auth/validator.jwk_local_ca:"), "{e}");
    }
}
