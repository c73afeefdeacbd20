//! Where the keys come from: a local JWK set file, or a JWK URL fetched through the gateway's
//! HTTP client, with KrakenD's caching rules:
//!
//! * without `cache`, the set is downloaded for every lookup;
//! * with `cache`, every downloaded key is kept for `cache_duration`; an unknown key id
//!   downloads the set again (one download at a time), at most once per
//!   `failed_jwk_key_cooldown` for the same id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method};
use tokio::time::Instant;

use super::jose::{self, CompactJws, Jwk};
use crate::backend::{read_body, OutBody};
use crate::components::hooks::{Executor, OutRequest};

/// Largest JWK set accepted.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// Failed key ids remembered for the cooldown, at most.
const MAX_FAILED_IDS: usize = 1024;

/// How a token names its key (`key_identify_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIdStrategy {
    Kid,
    X5t,
    KidX5t,
    X5tS256,
}

impl KeyIdStrategy {
    /// Unknown names fall back to `kid`, as KrakenD does.
    pub fn parse(s: &str) -> KeyIdStrategy {
        match s {
            "x5t" => KeyIdStrategy::X5t,
            "kid_x5t" => KeyIdStrategy::KidX5t,
            "x5t#S256" => KeyIdStrategy::X5tS256,
            _ => KeyIdStrategy::Kid,
        }
    }

    /// The id a token asks for.
    pub fn token_id(self, jws: &CompactJws<'_>) -> String {
        let kid = jws.header_str("kid");
        let or_kid = |name: &str| match jws.header.get(name).and_then(|v| v.as_str()) {
            Some(v) => v.to_string(),
            None => kid.to_string(),
        };
        match self {
            KeyIdStrategy::Kid => kid.to_string(),
            KeyIdStrategy::X5t => or_kid("x5t"),
            KeyIdStrategy::KidX5t => format!("{kid}{}", or_kid("x5t")),
            KeyIdStrategy::X5tS256 => or_kid("x5t#S256"),
        }
    }

    /// The id a key is stored under.
    pub fn key_id(self, jwk: &Jwk) -> String {
        match self {
            KeyIdStrategy::Kid => jwk.kid.clone(),
            KeyIdStrategy::X5t => jwk.x5t.clone(),
            KeyIdStrategy::KidX5t => format!("{}{}", jwk.kid, jwk.x5t),
            KeyIdStrategy::X5tS256 => jwk.x5t_s256.clone(),
        }
    }
}

/// How a remote set is fetched and kept.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    pub url: String,
    /// Deadline of one download.
    pub timeout: Duration,
    /// `cache_duration` when `cache` is on.
    pub cache: Option<Duration>,
    /// `failed_jwk_key_cooldown`.
    pub cooldown: Duration,
}

struct Remote {
    opts: RemoteOptions,
    exec: Arc<dyn Executor>,
    state: Mutex<State>,
    /// One download at a time (cached mode).
    download: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, (Arc<Jwk>, Instant)>,
    failed: HashMap<String, Instant>,
}

enum Source {
    Local(HashMap<String, Arc<Jwk>>),
    Remote(Box<Remote>),
    /// A key source that cannot work (bad configuration): every lookup fails.
    Broken(String),
}

/// The keys of one validator or signer.
pub struct KeySet {
    strategy: KeyIdStrategy,
    source: Source,
}

fn index(keys: Vec<Jwk>, strategy: KeyIdStrategy) -> HashMap<String, Arc<Jwk>> {
    let mut out = HashMap::with_capacity(keys.len());
    for k in keys {
        out.entry(strategy.key_id(&k))
            .or_insert_with(|| Arc::new(k));
    }
    out
}

impl KeySet {
    /// A set read once from a JWK set document (`jwk_local_path`).
    pub fn local(data: &[u8], strategy: KeyIdStrategy) -> Result<KeySet, String> {
        let (keys, skipped) = jose::parse_set(data)?;
        for s in skipped {
            tracing::warn!("JOSE: ignoring a key of the local JWK set: {s}");
        }
        Ok(KeySet {
            strategy,
            source: Source::Local(index(keys, strategy)),
        })
    }

    /// A set downloaded from a URL with `exec`.
    pub fn remote(opts: RemoteOptions, exec: Arc<dyn Executor>, strategy: KeyIdStrategy) -> KeySet {
        KeySet {
            strategy,
            source: Source::Remote(Box::new(Remote {
                opts,
                exec,
                state: Mutex::new(State::default()),
                download: tokio::sync::Mutex::new(()),
            })),
        }
    }

    /// A set that refuses every lookup with `reason`.
    pub fn broken(reason: String) -> KeySet {
        KeySet {
            strategy: KeyIdStrategy::Kid,
            source: Source::Broken(reason),
        }
    }

    pub fn strategy(&self) -> KeyIdStrategy {
        self.strategy
    }

    /// The key stored under `id`.
    pub async fn get(&self, id: &str) -> Result<Arc<Jwk>, String> {
        match &self.source {
            Source::Local(keys) => keys
                .get(id)
                .cloned()
                .ok_or_else(|| format!("key '{id}' not found in the key set")),
            Source::Remote(r) => r.get(id, self.strategy).await,
            Source::Broken(reason) => Err(reason.clone()),
        }
    }
}

impl Remote {
    fn cached(&self, id: &str, max_age: Duration) -> Option<Arc<Jwk>> {
        let st = self.state.lock().ok()?;
        let (k, added) = st.keys.get(id)?;
        (added.elapsed() < max_age).then(|| k.clone())
    }

    fn in_cooldown(&self, id: &str) -> bool {
        if self.opts.cooldown.is_zero() {
            return false;
        }
        let Ok(st) = self.state.lock() else {
            return false;
        };
        st.failed
            .get(id)
            .is_some_and(|t| t.elapsed() < self.opts.cooldown)
    }

    fn remember_failure(&self, id: &str) {
        if self.opts.cooldown.is_zero() {
            return;
        }
        if let Ok(mut st) = self.state.lock() {
            if st.failed.len() >= MAX_FAILED_IDS {
                let cooldown = self.opts.cooldown;
                st.failed.retain(|_, t| t.elapsed() < cooldown);
                if st.failed.len() >= MAX_FAILED_IDS {
                    st.failed.clear();
                }
            }
            st.failed.insert(id.to_string(), Instant::now());
        }
    }

    async fn get(&self, id: &str, strategy: KeyIdStrategy) -> Result<Arc<Jwk>, String> {
        let Some(max_age) = self.opts.cache else {
            // no cache: every lookup downloads the set
            let keys = index(self.download().await?, strategy);
            return keys
                .get(id)
                .cloned()
                .ok_or_else(|| format!("no key '{id}' in the JWK set"));
        };
        if let Some(k) = self.cached(id, max_age) {
            return Ok(k);
        }
        if self.in_cooldown(id) {
            return Err(format!("key '{id}' not found (cooling down)"));
        }
        let _one = self.download.lock().await;
        // another request may have refreshed the set while this one waited
        if let Some(k) = self.cached(id, max_age) {
            return Ok(k);
        }
        if self.in_cooldown(id) {
            return Err(format!("key '{id}' not found (cooling down)"));
        }
        let keys = match self.download().await {
            Ok(k) => k,
            Err(e) => {
                self.remember_failure(id);
                return Err(e);
            }
        };
        let now = Instant::now();
        let found = {
            let mut st = self.state.lock().map_err(|_| "JWK cache unavailable")?;
            st.keys.retain(|_, (_, added)| added.elapsed() < max_age);
            for (kid, k) in index(keys, strategy) {
                st.keys.insert(kid, (k, now));
            }
            st.keys.get(id).map(|(k, _)| k.clone())
        };
        match found {
            Some(k) => Ok(k),
            None => {
                self.remember_failure(id);
                Err(format!("no key '{id}' in the JWK set"))
            }
        }
    }

    async fn download(&self) -> Result<Vec<Jwk>, String> {
        let url = &self.opts.url;
        let fetch = async {
            let req = OutRequest {
                method: Method::GET,
                url: url.clone(),
                headers: HeaderMap::new(),
                body: OutBody::Empty,
            };
            let (resp, _) = self.exec.execute(req).await?;
            let ct = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !(ct.starts_with("application/json") || ct.starts_with("application/jwk-set+json")) {
                return Err("should have a JSON content type for JWKS endpoint".to_string());
            }
            let body = read_body(resp.into_body(), MAX_JWKS_BYTES).await?;
            let (keys, skipped) = jose::parse_set(&body)?;
            for s in skipped {
                tracing::debug!("JOSE: ignoring a key of {url}: {s}");
            }
            if keys.is_empty() {
                return Err("no Keys has been found".to_string());
            }
            Ok(keys)
        };
        match tokio::time::timeout(self.opts.timeout, fetch).await {
            Ok(Ok(keys)) => Ok(keys),
            Ok(Err(e)) => Err(format!("fetching the JWK set from {url}: {e}")),
            Err(_) => Err(format!(
                "fetching the JWK set from {url}: no answer within {:?}",
                self.opts.timeout
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{full_body, Body};
    use crate::components::hooks::BoxFuture;
    use http::Response;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Serves JWK sets from memory and counts downloads.
    struct FakeJwks {
        sets: Mutex<Vec<String>>,
        calls: AtomicUsize,
    }

    impl FakeJwks {
        fn serve(&self, doc: &str) {
            self.sets.lock().unwrap().push(doc.to_string());
        }
    }

    impl Executor for FakeJwks {
        fn execute(
            &self,
            _req: OutRequest,
        ) -> BoxFuture<'_, Result<(Response<Body>, String), String>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let doc = self.sets.lock().unwrap().last().cloned();
            Box::pin(async move {
                let doc = doc.ok_or("connection refused")?;
                let mut r = Response::new(full_body(doc));
                r.headers_mut()
                    .insert(CONTENT_TYPE, "application/json".parse().unwrap());
                Ok((r, "http://jwks/".to_string()))
            })
        }
    }

    fn set(kids: &[&str]) -> String {
        let keys: Vec<String> = kids
            .iter()
            .map(|k| format!(r#"{{"kty":"oct","k":"c2VjcmV0","kid":"{k}"}}"#))
            .collect();
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    fn remote(cache: Option<u64>, cooldown: u64) -> (Arc<FakeJwks>, KeySet) {
        let fake = Arc::new(FakeJwks {
            sets: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
        });
        let ks = KeySet::remote(
            RemoteOptions {
                url: "http://jwks/".into(),
                timeout: Duration::from_secs(1),
                cache: cache.map(Duration::from_secs),
                cooldown: Duration::from_secs(cooldown),
            },
            fake.clone(),
            KeyIdStrategy::Kid,
        );
        (fake, ks)
    }

    #[tokio::test(start_paused = true)]
    async fn cached_keys_expire_after_cache_duration() {
        let (fake, ks) = remote(Some(900), 0);
        fake.serve(&set(&["a"]));
        assert!(ks.get("a").await.is_ok());
        assert!(ks.get("a").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(899)).await;
        assert!(ks.get("a").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(ks.get("a").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn without_cache_every_lookup_downloads() {
        let (fake, ks) = remote(None, 0);
        fake.serve(&set(&["a"]));
        assert!(ks.get("a").await.is_ok());
        assert!(ks.get("a").await.is_ok());
        assert!(ks.get("b").await.is_err());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_kid_refreshes_with_cooldown() {
        let (fake, ks) = remote(Some(900), 10);
        fake.serve(&set(&["a"]));
        assert!(ks.get("a").await.is_ok());
        // rotation: "b" appears at the URL; the unknown id triggers a download
        fake.serve(&set(&["a", "b"]));
        assert!(ks.get("b").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
        // an id that is not there: one download, then the cooldown
        assert!(ks.get("zz").await.is_err());
        assert!(ks.get("zz").await.is_err());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(ks.get("zz").await.is_err());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 4);
        // known keys still answer from the cache
        assert!(ks.get("a").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn download_failures_are_errors() {
        let (fake, ks) = remote(Some(900), 0);
        assert!(ks.get("a").await.is_err());
        fake.serve("not json");
        assert!(ks.get("a").await.is_err());
        fake.serve(r#"{"keys":[]}"#);
        assert!(ks.get("a").await.is_err());
        fake.serve(&set(&["a"]));
        assert!(ks.get("a").await.is_ok());
    }

    #[test]
    fn local_sets_index_by_strategy() {
        let doc = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k1","x5t":"dGh1bWI="}]}"#;
        let ks = KeySet::local(doc.as_bytes(), KeyIdStrategy::X5t).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(ks.get("dGh1bWI")).is_ok());
        assert!(rt.block_on(ks.get("k1")).is_err());
        let ks = KeySet::local(doc.as_bytes(), KeyIdStrategy::KidX5t).unwrap();
        assert!(rt.block_on(ks.get("k1dGh1bWI")).is_ok());
    }
}
