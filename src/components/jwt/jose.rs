//! JOSE primitives: signature algorithms, JSON Web Keys, compact and JSON JWS.
//!
//! Pure Rust (RustCrypto): HMAC-SHA2, RSA PKCS#1 v1.5 and PSS, ECDSA P-256/P-384, Ed25519.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use hmac::{Hmac, Mac};
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value};
use sha2::{Sha256, Sha384, Sha512};
use signature::{RandomizedSigner, SignatureEncoding, Signer, Verifier};

/// base64url as Go's JOSE stack reads it: padding optional, trailing bits tolerated.
pub const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

pub fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    B64.decode(s.trim_end_matches('='))
        .map_err(|e| format!("illegal base64 data: {e}"))
}

pub fn b64_encode(data: &[u8]) -> String {
    B64.encode(data)
}

/// A JWS signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 12] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Reads a configured `alg`; the error says why it cannot be used.
    pub fn parse(s: &str) -> Result<Alg, String> {
        if let Some(a) = Alg::ALL.iter().find(|a| a.name() == s) {
            return Ok(*a);
        }
        if s == "ES512" {
            return Err("ES512 is not supported by this build".into());
        }
        Err(format!("unknown algorithm {s:?}"))
    }
}

/// The key material of one JWK. Private parts are present only when the JWK has them.
pub enum KeyMaterial {
    Oct(Vec<u8>),
    Rsa {
        public: RsaPublicKey,
        private: Option<Box<RsaPrivateKey>>,
    },
    P256 {
        public: p256::ecdsa::VerifyingKey,
        private: Option<p256::ecdsa::SigningKey>,
    },
    P384 {
        public: p384::ecdsa::VerifyingKey,
        private: Option<p384::ecdsa::SigningKey>,
    },
    Ed25519 {
        public: ed25519_dalek::VerifyingKey,
        private: Option<ed25519_dalek::SigningKey>,
    },
}

/// One parsed JSON Web Key.
pub struct Jwk {
    pub kid: String,
    /// `x5t` and `x5t#S256`, re-encoded without padding ("" when absent).
    pub x5t: String,
    pub x5t_s256: String,
    pub key: KeyMaterial,
}

fn str_field<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

fn bytes_field(o: &Map<String, Value>, k: &str) -> Result<Vec<u8>, String> {
    let s = str_field(o, k).ok_or_else(|| format!("missing {k:?}"))?;
    b64_decode(s).map_err(|e| format!("{k:?}: {e}"))
}

fn opt_bytes_field(o: &Map<String, Value>, k: &str) -> Result<Option<Vec<u8>>, String> {
    match str_field(o, k) {
        Some(_) => bytes_field(o, k).map(Some),
        None => Ok(None),
    }
}

fn thumbprint(o: &Map<String, Value>, k: &str) -> Result<String, String> {
    match str_field(o, k) {
        Some(s) => Ok(b64_encode(
            &b64_decode(s).map_err(|e| format!("{k:?}: {e}"))?,
        )),
        None => Ok(String::new()),
    }
}

fn fixed<const N: usize>(v: &[u8], what: &str) -> Result<[u8; N], String> {
    v.try_into()
        .map_err(|_| format!("{what}: expected {N} bytes, got {}", v.len()))
}

impl Jwk {
    pub fn from_json(v: &Value) -> Result<Jwk, String> {
        let o = v.as_object().ok_or("a JWK must be an object")?;
        let kid = str_field(o, "kid").unwrap_or_default().to_string();
        let x5t = thumbprint(o, "x5t")?;
        let x5t_s256 = thumbprint(o, "x5t#S256")?;
        let kty = str_field(o, "kty").unwrap_or_default();
        let key = match kty {
            "oct" => KeyMaterial::Oct(bytes_field(o, "k")?),
            "RSA" => {
                let n = BigUint::from_bytes_be(&bytes_field(o, "n")?);
                let e = BigUint::from_bytes_be(&bytes_field(o, "e")?);
                let public = RsaPublicKey::new(n.clone(), e.clone())
                    .map_err(|err| format!("invalid RSA public key: {err}"))?;
                let private = match opt_bytes_field(o, "d")? {
                    None => None,
                    Some(d) => {
                        let d = BigUint::from_bytes_be(&d);
                        let mut primes = Vec::new();
                        if let (Some(p), Some(q)) =
                            (opt_bytes_field(o, "p")?, opt_bytes_field(o, "q")?)
                        {
                            primes.push(BigUint::from_bytes_be(&p));
                            primes.push(BigUint::from_bytes_be(&q));
                        }
                        let mut k = RsaPrivateKey::from_components(n, e, d, primes)
                            .map_err(|err| format!("invalid RSA private key: {err}"))?;
                        k.precompute()
                            .map_err(|err| format!("invalid RSA private key: {err}"))?;
                        Some(Box::new(k))
                    }
                };
                KeyMaterial::Rsa { public, private }
            }
            "EC" => {
                let x = bytes_field(o, "x")?;
                let y = bytes_field(o, "y")?;
                let d = opt_bytes_field(o, "d")?;
                match str_field(o, "crv").unwrap_or_default() {
                    "P-256" => {
                        let point = p256::EncodedPoint::from_affine_coordinates(
                            &fixed::<32>(&x, "x")?.into(),
                            &fixed::<32>(&y, "y")?.into(),
                            false,
                        );
                        let public = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                            .map_err(|_| "invalid P-256 public key".to_string())?;
                        let private = match d {
                            Some(d) => Some(
                                p256::ecdsa::SigningKey::from_slice(&d)
                                    .map_err(|_| "invalid P-256 private key".to_string())?,
                            ),
                            None => None,
                        };
                        KeyMaterial::P256 { public, private }
                    }
                    "P-384" => {
                        let point = p384::EncodedPoint::from_affine_coordinates(
                            &fixed::<48>(&x, "x")?.into(),
                            &fixed::<48>(&y, "y")?.into(),
                            false,
                        );
                        let public = p384::ecdsa::VerifyingKey::from_encoded_point(&point)
                            .map_err(|_| "invalid P-384 public key".to_string())?;
                        let private = match d {
                            Some(d) => Some(
                                p384::ecdsa::SigningKey::from_slice(&d)
                                    .map_err(|_| "invalid P-384 private key".to_string())?,
                            ),
                            None => None,
                        };
                        KeyMaterial::P384 { public, private }
                    }
                    other => return Err(format!("unsupported elliptic curve {other:?}")),
                }
            }
            "OKP" => {
                let crv = str_field(o, "crv").unwrap_or_default();
                if crv != "Ed25519" {
                    return Err(format!("unsupported OKP curve {crv:?}"));
                }
                let x = fixed::<32>(&bytes_field(o, "x")?, "x")?;
                let public = ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| "invalid Ed25519 public key".to_string())?;
                let private = match opt_bytes_field(o, "d")? {
                    Some(d) => Some(ed25519_dalek::SigningKey::from_bytes(&fixed::<32>(
                        &d, "d",
                    )?)),
                    None => None,
                };
                KeyMaterial::Ed25519 { public, private }
            }
            other => return Err(format!("unknown JWK key type {other:?}")),
        };
        Ok(Jwk {
            kid,
            x5t,
            x5t_s256,
            key,
        })
    }

    pub fn is_private(&self) -> bool {
        match &self.key {
            KeyMaterial::Oct(_) => true,
            KeyMaterial::Rsa { private, .. } => private.is_some(),
            KeyMaterial::P256 { private, .. } => private.is_some(),
            KeyMaterial::P384 { private, .. } => private.is_some(),
            KeyMaterial::Ed25519 { private, .. } => private.is_some(),
        }
    }
}

/// Parses a JWK set (`{"keys":[...]}`). Keys this build cannot use are skipped and reported.
pub fn parse_set(body: &[u8]) -> Result<(Vec<Jwk>, Vec<String>), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JWK set: {e}"))?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("invalid JWK set: no \"keys\" array")?;
    let mut out = Vec::with_capacity(keys.len());
    let mut skipped = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match Jwk::from_json(k) {
            Ok(j) => out.push(j),
            Err(e) => skipped.push(format!("key #{i}: {e}")),
        }
    }
    Ok((out, skipped))
}

fn mismatch(alg: Alg) -> String {
    format!("the key cannot be used with {}", alg.name())
}

fn hmac_tag(alg: Alg, key: &[u8], input: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |_| "invalid HMAC key".to_string();
    Ok(match alg {
        Alg::HS256 => {
            let mut m = Hmac::<Sha256>::new_from_slice(key).map_err(bad)?;
            m.update(input);
            m.finalize().into_bytes().to_vec()
        }
        Alg::HS384 => {
            let mut m = Hmac::<Sha384>::new_from_slice(key).map_err(bad)?;
            m.update(input);
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut m = Hmac::<Sha512>::new_from_slice(key).map_err(bad)?;
            m.update(input);
            m.finalize().into_bytes().to_vec()
        }
    })
}

fn hmac_verify(alg: Alg, key: &[u8], input: &[u8], sig: &[u8]) -> bool {
    fn check<M: Mac + hmac::digest::KeyInit>(key: &[u8], input: &[u8], sig: &[u8]) -> bool {
        match <M as Mac>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(input);
                m.verify_slice(sig).is_ok()
            }
            Err(_) => false,
        }
    }
    match alg {
        Alg::HS256 => check::<Hmac<Sha256>>(key, input, sig),
        Alg::HS384 => check::<Hmac<Sha384>>(key, input, sig),
        _ => check::<Hmac<Sha512>>(key, input, sig),
    }
}

fn rsa_verify(alg: Alg, key: &RsaPublicKey, input: &[u8], sig: &[u8]) -> bool {
    use rsa::{pkcs1v15, pss};
    let key = key.clone();
    match alg {
        Alg::RS256 | Alg::RS384 | Alg::RS512 => {
            let Ok(sig) = pkcs1v15::Signature::try_from(sig) else {
                return false;
            };
            match alg {
                Alg::RS256 => pkcs1v15::VerifyingKey::<Sha256>::new(key).verify(input, &sig),
                Alg::RS384 => pkcs1v15::VerifyingKey::<Sha384>::new(key).verify(input, &sig),
                _ => pkcs1v15::VerifyingKey::<Sha512>::new(key).verify(input, &sig),
            }
            .is_ok()
        }
        _ => {
            let Ok(sig) = pss::Signature::try_from(sig) else {
                return false;
            };
            match alg {
                Alg::PS256 => pss::VerifyingKey::<Sha256>::new(key).verify(input, &sig),
                Alg::PS384 => pss::VerifyingKey::<Sha384>::new(key).verify(input, &sig),
                _ => pss::VerifyingKey::<Sha512>::new(key).verify(input, &sig),
            }
            .is_ok()
        }
    }
}

/// Checks a JWS signature over `input` (`header.payload`).
pub fn verify(alg: Alg, key: &KeyMaterial, input: &[u8], sig: &[u8]) -> Result<(), String> {
    let ok = match (alg, key) {
        (Alg::HS256 | Alg::HS384 | Alg::HS512, KeyMaterial::Oct(k)) => {
            hmac_verify(alg, k, input, sig)
        }
        (
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512,
            KeyMaterial::Rsa { public, .. },
        ) => rsa_verify(alg, public, input, sig),
        (Alg::ES256, KeyMaterial::P256 { public, .. }) => p256::ecdsa::Signature::from_slice(sig)
            .map(|s| public.verify(input, &s).is_ok())
            .unwrap_or(false),
        (Alg::ES384, KeyMaterial::P384 { public, .. }) => p384::ecdsa::Signature::from_slice(sig)
            .map(|s| public.verify(input, &s).is_ok())
            .unwrap_or(false),
        (Alg::EdDSA, KeyMaterial::Ed25519 { public, .. }) => {
            ed25519_dalek::Signature::from_slice(sig)
                .map(|s| public.verify(input, &s).is_ok())
                .unwrap_or(false)
        }
        _ => return Err(mismatch(alg)),
    };
    if ok {
        Ok(())
    } else {
        Err("error in cryptographic primitive".into())
    }
}

/// Signs `input` with a private (or symmetric) key.
pub fn sign(alg: Alg, key: &KeyMaterial, input: &[u8]) -> Result<Vec<u8>, String> {
    use rsa::{pkcs1v15, pss};
    let no_private = || format!("the key has no private part to sign with {}", alg.name());
    match (alg, key) {
        (Alg::HS256 | Alg::HS384 | Alg::HS512, KeyMaterial::Oct(k)) => hmac_tag(alg, k, input),
        (Alg::RS256 | Alg::RS384 | Alg::RS512, KeyMaterial::Rsa { private, .. }) => {
            let k = private.as_deref().ok_or_else(no_private)?.clone();
            Ok(match alg {
                Alg::RS256 => pkcs1v15::SigningKey::<Sha256>::new(k).sign(input).to_vec(),
                Alg::RS384 => pkcs1v15::SigningKey::<Sha384>::new(k).sign(input).to_vec(),
                _ => pkcs1v15::SigningKey::<Sha512>::new(k).sign(input).to_vec(),
            })
        }
        (Alg::PS256 | Alg::PS384 | Alg::PS512, KeyMaterial::Rsa { private, .. }) => {
            let k = private.as_deref().ok_or_else(no_private)?.clone();
            let mut rng = rand_core::OsRng;
            Ok(match alg {
                Alg::PS256 => pss::SigningKey::<Sha256>::new(k)
                    .sign_with_rng(&mut rng, input)
                    .to_vec(),
                Alg::PS384 => pss::SigningKey::<Sha384>::new(k)
                    .sign_with_rng(&mut rng, input)
                    .to_vec(),
                _ => pss::SigningKey::<Sha512>::new(k)
                    .sign_with_rng(&mut rng, input)
                    .to_vec(),
            })
        }
        (Alg::ES256, KeyMaterial::P256 { private, .. }) => {
            let k = private.as_ref().ok_or_else(no_private)?;
            let s: p256::ecdsa::Signature = k.sign(input);
            Ok(s.to_bytes().to_vec())
        }
        (Alg::ES384, KeyMaterial::P384 { private, .. }) => {
            let k = private.as_ref().ok_or_else(no_private)?;
            let s: p384::ecdsa::Signature = k.sign(input);
            Ok(s.to_bytes().to_vec())
        }
        (Alg::EdDSA, KeyMaterial::Ed25519 { private, .. }) => {
            let k = private.as_ref().ok_or_else(no_private)?;
            Ok(k.sign(input).to_bytes().to_vec())
        }
        _ => Err(mismatch(alg)),
    }
}

/// A parsed compact JWS.
pub struct CompactJws<'a> {
    pub header: Map<String, Value>,
    /// `header.payload`, the signed bytes.
    pub signing_input: &'a str,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

impl CompactJws<'_> {
    pub fn header_str(&self, k: &str) -> &str {
        self.header.get(k).and_then(Value::as_str).unwrap_or("")
    }
}

/// Splits and decodes a compact JWS (`header.payload.signature`).
pub fn parse_compact(token: &str) -> Result<CompactJws<'_>, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("compact JWS format must have three parts".into());
    };
    let header_bytes = b64_decode(h)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header_bytes).map_err(|e| format!("invalid JWS header: {e}"))?;
    if header.contains_key("crit") {
        return Err("unsupported critical header".into());
    }
    let payload = b64_decode(p)?;
    let signature = b64_decode(s)?;
    Ok(CompactJws {
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload,
        signature,
    })
}

/// Signs `payload` and returns the compact serialization, or the JSON (flattened)
/// serialization when `full`.
pub fn sign_jws(
    alg: Alg,
    key: &KeyMaterial,
    kid: &str,
    payload: &[u8],
    full: bool,
) -> Result<String, String> {
    let mut header = Map::new();
    header.insert("alg".into(), Value::String(alg.name().into()));
    if !kid.is_empty() {
        header.insert("kid".into(), Value::String(kid.into()));
    }
    header.insert("typ".into(), Value::String("JWT".into()));
    let protected = b64_encode(&crate::encoding::json::map_to_vec(&header));
    let body = b64_encode(payload);
    let input = format!("{protected}.{body}");
    let sig = b64_encode(&sign(alg, key, input.as_bytes())?);
    if full {
        Ok(format!(
            "{{\"payload\":\"{body}\",\"protected\":\"{protected}\",\"signature\":\"{sig}\"}}"
        ))
    } else {
        Ok(format!("{input}.{sig}"))
    }
}
