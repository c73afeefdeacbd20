//! Encrypted JWK files (`jwk_local_path` with `secret_url` and `cypher_key`), in the format of
//! KrakenD's JOSE components:
//!
//! * `secret_url` opens a key keeper. This build has the local one, `base64key://<key>`: a
//!   32-byte key written in base64 with the URL alphabet (NaCl secretbox);
//! * `cypher_key` (standard base64) is the data key encrypted by the keeper:
//!   a 24-byte nonce followed by the secretbox (XSalsa20-Poly1305, tag first);
//! * the file is encrypted with AES-256-GCM under the 32 ASCII bytes of the hexadecimal MD5
//!   of the data key: a 12-byte nonce, then the ciphertext and its tag.
//!
//! The cloud keepers (`awskms://`, `gcpkms://`, `azurekeyvault://`, `hashivault://`) need the
//! providers' SDKs and are refused when the gateway is built.

use crate::error::{Error, Result};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;

/// The keeper scheme this build supports.
pub const LOCAL_SCHEME: &str = "base64key";

/// Keeper schemes that exist in KrakenD but not in this build.
const CLOUD_SCHEMES: [&str; 4] = ["awskms", "gcpkms", "azurekeyvault", "hashivault"];

const SECRETBOX_NONCE: usize = 24;
const SECRETBOX_TAG: usize = 16;
const GCM_NONCE: usize = 12;

fn lenient(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// Decodes `cypher_key` (standard base64, as Go reads a `[]byte` from JSON).
pub fn decode_cypher_key(s: &str) -> Result<Vec<u8>> {
    lenient(&base64::alphabet::STANDARD)
        .decode(s.trim())
        .map_err(|e| Error::invalid("illegal base64 data", e))
}

/// The scheme of a keeper URL, lower-cased.
fn scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once("://")?;
    Some(scheme.to_ascii_lowercase())
}

/// Refuses a `secret_url` this build cannot open. `ns` prefixes the error.
pub fn check_url(ns: &str, url: &str) -> Result<()> {
    match scheme(url) {
        Some(s) if s == LOCAL_SCHEME => Ok(()),
        Some(s) if CLOUD_SCHEMES.contains(&s.as_str()) => Err(Error::other(format!("{ns}.secret_url: the {s}:// key keeper is not supported by this build \
             (only {LOCAL_SCHEME}://)"))),
        Some(s) => Err(Error::other(format!("{ns}.secret_url: unknown key keeper scheme {s:?} (this build supports {LOCAL_SCHEME}://)"))),
        None => Err(Error::other(format!("{ns}.secret_url: {url:?} is not a key keeper URL (expected {LOCAL_SCHEME}://<key>)"))),
    }
}

/// The 32-byte key of a `base64key://` URL.
fn local_key(url: &str) -> Result<[u8; 32]> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| Error::other("not a key keeper URL"))?;
    if let Some((_, q)) = rest.split_once('?') {
        return Err(Error::other(format!("invalid query parameter {q:?}")));
    }
    let encoded = rest.trim_end_matches('/');
    if encoded.is_empty() {
        return Err(Error::other(
            "the key is missing (a random key cannot decrypt cypher_key)",
        ));
    }
    let key = lenient(&base64::alphabet::URL_SAFE)
        .decode(encoded)
        .map_err(|e| Error::invalid("the key is not URL-safe base64", e))?;
    key.try_into()
        .map_err(|k: Vec<u8>| Error::other(format!("the key must be 32 bytes, got {}", k.len())))
}

/// What the local keeper decrypts: nonce, then the secretbox.
fn secretbox_open(key: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < SECRETBOX_NONCE + SECRETBOX_TAG {
        return Err(Error::other(format!(
            "invalid message length ({}, expected at least {})",
            sealed.len(),
            SECRETBOX_NONCE + SECRETBOX_TAG
        )));
    }
    let (nonce, rest) = sealed.split_at(SECRETBOX_NONCE);
    let (tag, ciphertext) = rest.split_at(SECRETBOX_TAG);
    let nonce: [u8; SECRETBOX_NONCE] = nonce
        .try_into()
        .map_err(|_| Error::other("invalid nonce"))?;
    let tag: [u8; SECRETBOX_TAG] = tag.try_into().map_err(|_| Error::other("invalid tag"))?;
    let cipher = XSalsa20Poly1305::new(&crypto_secretbox::Key::from(*key));
    let mut plain = ciphertext.to_vec();
    cipher
        .decrypt_in_place_detached(
            &crypto_secretbox::Nonce::from(nonce),
            b"",
            &mut plain,
            &crypto_secretbox::Tag::from(tag),
        )
        .map_err(|_| Error::other("decryption failed"))?;
    Ok(plain)
}

/// The file cipher: AES-256-GCM under the hex MD5 of the data key, nonce first.
fn gcm_open(data_key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    if data.len() < GCM_NONCE {
        return Err(Error::other(format!(
            "the data is too short ({} bytes)",
            data.len()
        )));
    }
    let key = format!("{:x}", md5::compute(data_key));
    let key = UnboundKey::new(&AES_256_GCM, key.as_bytes())
        .map_err(|_| Error::other("invalid data key"))?;
    let key = LessSafeKey::new(key);
    let (nonce, sealed) = data.split_at(GCM_NONCE);
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::other("invalid nonce"))?;
    let mut buf = sealed.to_vec();
    let len = key
        .open_in_place(nonce, Aad::empty(), &mut buf)
        .map_err(|_| Error::other("message authentication failed"))?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// Decrypts an encrypted JWK file. The error says which step failed.
pub fn decrypt(secret_url: &str, cypher_key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    let key = local_key(secret_url).map_err(|e| Error::invalid("secret_url", e))?;
    let data_key = secretbox_open(&key, cypher_key).map_err(|e| Error::invalid("cypher_key", e))?;
    gcm_open(&data_key, data).map_err(|e| Error::invalid("decrypting the JWK file", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert!(check_url("auth/validator", "base64key://abc").is_ok());
        assert!(check_url("auth/validator", "BASE64KEY://abc").is_ok());
        for s in [
            "awskms://alias/k",
            "gcpkms://p/k",
            "hashivault://k",
            "azurekeyvault://v",
        ] {
            let e = check_url("auth/validator", s).unwrap_err().to_string();
            assert!(e.starts_with("auth/validator.secret_url:"), "{e}");
            assert!(e.contains(s.split("://").next().unwrap()), "{e}");
        }
        assert!(check_url("auth/signer", "file:///k").is_err());
        assert!(check_url("auth/signer", "nokey").is_err());
    }

    #[test]
    fn local_keys() {
        let k = "smGbjm71Nxd1Ig5FS0wj9SlbzAIrnolCz9bQQ6uAhl4=";
        assert_eq!(local_key(&format!("base64key://{k}")).unwrap().len(), 32);
        assert!(local_key(&format!("base64key://{k}?x=1")).is_err());
        assert!(local_key("base64key://").is_err());
        assert!(local_key("base64key://c2hvcnQ=").is_err());
    }

    #[test]
    fn opens_a_data_key_sealed_by_the_go_keeper() {
        // a 32-byte data key sealed by the Go CDK local keeper under its documented sample key
        let key = local_key("base64key://smGbjm71Nxd1Ig5FS0wj9SlbzAIrnolCz9bQQ6uAhl4=").unwrap();
        let sealed = decode_cypher_key(
            "7vcfai7g8DvLjFeaFKtUBaTvmuql+RNG1X+zqZ390duK1BkQjC7FIuVHZD2LoSdFoOEukVqwAsoQjYjU2KL4e/ktAJdDucNv",
        )
        .unwrap();
        let data_key = secretbox_open(&key, &sealed).unwrap();
        assert_eq!(data_key.len(), 32);
        let mut other = key;
        other[0] ^= 1;
        assert!(secretbox_open(&other, &sealed).is_err());
    }

    #[test]
    fn short_or_forged_inputs_are_errors() {
        let key = [7u8; 32];
        assert!(secretbox_open(&key, &[0; 10]).is_err());
        assert!(secretbox_open(&key, &[0; 60]).is_err());
        assert!(gcm_open(b"k", &[0; 5]).is_err());
        assert!(gcm_open(b"k", &[0; 40]).is_err());
    }
}
