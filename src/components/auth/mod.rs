//! `auth/*`: JWT validation and signing (`auth/validator`, `auth/signer`, the JWK cache) and
//! the OAuth 2.0 client credentials grant of a backend (`auth/client-credentials`).

pub mod client_credentials;
pub mod jwt;
