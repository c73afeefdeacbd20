//! `security/*`: CORS, the HTTP security headers (`security/http`) and the bot detector.

pub mod botdetector;
pub mod cors;
pub mod httpsecure;
