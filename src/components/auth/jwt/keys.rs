//! Where the keys come from: a local JWK set file, or a JWK URL fetched through the gateway's
//! HTTP client, with KrakenD's caching rules:
//!
//! * without `cache`, the set is downloaded for every lookup;
//! * with `cache`, every downloaded key is kept for `cache_duration`; an unknown key id
//!   downloads the set again (one download at a time), at most once per
//!   `failed_jwk_key_cooldown` for the same id. The set is also fetched once when the
//!   gateway starts, in the background: a JWK server that is down then only means refused
//!   tokens until it answers;
//! * with `cache` and the service-level `shared_cache_duration`, a second-level cache is
//!   shared by every endpoint that reads the same set: a key missing from (or expired in) an
//!   endpoint's cache is taken from it before any download, and the endpoints download one at
//!   a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method};
use tokio::time::Instant;

use super::jose::{self, CompactJws, Jwk};
use crate::error::{Error, Result};
use crate::hooks::Transport;
use crate::message::OutRequest;
use crate::vocab::body::read_body;
use crate::vocab::body::OutBody;

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
    exec: Arc<dyn Transport>,
    state: Mutex<State>,
    /// One download at a time (cached mode).
    download: tokio::sync::Mutex<()>,
    /// The second-level cache, when the service has `shared_cache_duration`.
    shared: Option<Arc<SharedCache>>,
}

/// The keys of one JWK set shared by every endpoint that reads it (`shared_cache_duration`).
pub struct SharedCache {
    max_age: Duration,
    keys: Mutex<HashMap<String, (Arc<Jwk>, Instant)>>,
    /// One download at a time across the endpoints.
    download: tokio::sync::Mutex<()>,
}

impl SharedCache {
    pub fn new(max_age: Duration) -> SharedCache {
        SharedCache {
            max_age,
            keys: Mutex::new(HashMap::new()),
            download: tokio::sync::Mutex::new(()),
        }
    }

    fn get(&self, id: &str) -> Option<Arc<Jwk>> {
        let keys = self.keys.lock().ok()?;
        let (k, added) = keys.get(id)?;
        (added.elapsed() < self.max_age).then(|| k.clone())
    }

    /// Every key still fresh.
    fn fresh(&self) -> Vec<(String, Arc<Jwk>)> {
        let Ok(keys) = self.keys.lock() else {
            return Vec::new();
        };
        keys.iter()
            .filter(|(_, (_, added))| added.elapsed() < self.max_age)
            .map(|(id, (k, _))| (id.clone(), k.clone()))
            .collect()
    }

    fn store(&self, keys: &HashMap<String, Arc<Jwk>>, now: Instant) {
        if let Ok(mut st) = self.keys.lock() {
            let max_age = self.max_age;
            st.retain(|_, (_, added)| added.elapsed() < max_age);
            for (id, k) in keys {
                st.insert(id.clone(), (k.clone(), now));
            }
        }
    }
}

#[derive(Default)]
struct State {
    keys: HashMap<String, (Arc<Jwk>, Instant)>,
    failed: HashMap<String, Instant>,
}

enum Source {
    Local(HashMap<String, Arc<Jwk>>),
    Remote(Arc<Remote>),
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
    pub fn local(data: &[u8], strategy: KeyIdStrategy) -> Result<KeySet> {
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
    pub fn remote(
        opts: RemoteOptions,
        exec: Arc<dyn Transport>,
        strategy: KeyIdStrategy,
    ) -> KeySet {
        KeySet::remote_shared(opts, exec, strategy, None)
    }

    /// A downloaded set whose cache has `shared` as second level (only with `cache`).
    pub fn remote_shared(
        opts: RemoteOptions,
        exec: Arc<dyn Transport>,
        strategy: KeyIdStrategy,
        shared: Option<Arc<SharedCache>>,
    ) -> KeySet {
        let shared = if opts.cache.is_some() { shared } else { None };
        KeySet {
            strategy,
            source: Source::Remote(Arc::new(Remote {
                opts,
                exec,
                state: Mutex::new(State::default()),
                download: tokio::sync::Mutex::new(()),
                shared,
            })),
        }
    }

    /// With a cached remote set, fetches the set in the background, as KrakenD does when it
    /// builds a validator; `limit` bounds the fetches under way. Failures are logged, and
    /// lookups download again later. Without a tokio runtime (`check`), nothing is fetched.
    pub fn prefetch(&self, what: &str, limit: Arc<tokio::sync::Semaphore>) {
        let Source::Remote(r) = &self.source else {
            return;
        };
        if r.opts.cache.is_none() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let r = r.clone();
        let strategy = self.strategy;
        let what = what.to_string();
        rt.spawn(async move {
            let Ok(_permit) = limit.acquire_owned().await else {
                return;
            };
            match r.refresh(strategy).await {
                Ok(n) => tracing::debug!("JOSE: {what}: {n} keys fetched from {}", r.opts.url),
                Err(e) => tracing::warn!("JOSE: {what}: {e}"),
            }
        });
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

    /// The key stored under `id` in a local set, read when the gateway starts; `None` for
    /// the other sources (their keys are only known once downloaded).
    pub fn local_key(&self, id: &str) -> Option<Arc<Jwk>> {
        match &self.source {
            Source::Local(keys) => keys.get(id).cloned(),
            _ => None,
        }
    }

    /// The key stored under `id`.
    pub async fn get(&self, id: &str) -> Result<Arc<Jwk>> {
        match &self.source {
            Source::Local(keys) => keys
                .get(id)
                .cloned()
                .ok_or_else(|| Error::other(format!("key '{id}' not found in the key set"))),
            Source::Remote(r) => r.get(id, self.strategy).await,
            Source::Broken(reason) => Err(Error::other(reason)),
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

    async fn get(&self, id: &str, strategy: KeyIdStrategy) -> Result<Arc<Jwk>> {
        let Some(max_age) = self.opts.cache else {
            // no cache: every lookup downloads the set
            let keys = index(self.download().await?, strategy);
            return keys
                .get(id)
                .cloned()
                .ok_or_else(|| Error::other(format!("no key '{id}' in the JWK set")));
        };
        if let Some(k) = self.cached_or_shared(id, max_age) {
            return Ok(k);
        }
        if self.in_cooldown(id) {
            return Err(Error::other(format!("key '{id}' not found (cooling down)")));
        }
        let _one = self.download_lock().lock().await;
        // another request (or endpoint) may have refreshed the set while this one waited
        if let Some(k) = self.cached_or_shared(id, max_age) {
            return Ok(k);
        }
        if self.in_cooldown(id) {
            return Err(Error::other(format!("key '{id}' not found (cooling down)")));
        }
        let keys = match self.download().await {
            Ok(k) => k,
            Err(e) => {
                self.remember_failure(id);
                return Err(e);
            }
        };
        let found = self.store(index(keys, strategy), max_age)?.get(id).cloned();
        match found {
            Some(k) => Ok(k),
            None => {
                self.remember_failure(id);
                Err(Error::other(format!("no key '{id}' in the JWK set")))
            }
        }
    }

    /// The lock that serialises downloads: the shared cache's when there is one.
    fn download_lock(&self) -> &tokio::sync::Mutex<()> {
        match &self.shared {
            Some(s) => &s.download,
            None => &self.download,
        }
    }

    /// The key from this endpoint's cache, else from the shared one (then kept here too).
    fn cached_or_shared(&self, id: &str, max_age: Duration) -> Option<Arc<Jwk>> {
        if let Some(k) = self.cached(id, max_age) {
            return Some(k);
        }
        let k = self.shared.as_ref()?.get(id)?;
        if let Ok(mut st) = self.state.lock() {
            st.keys.insert(id.to_string(), (k.clone(), Instant::now()));
        }
        Some(k)
    }

    /// Keeps a downloaded set here and in the shared cache; gives it back.
    fn store(
        &self,
        keys: HashMap<String, Arc<Jwk>>,
        max_age: Duration,
    ) -> Result<HashMap<String, Arc<Jwk>>> {
        let now = Instant::now();
        if let Some(shared) = &self.shared {
            shared.store(&keys, now);
        }
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::other("JWK cache unavailable"))?;
        st.keys.retain(|_, (_, added)| added.elapsed() < max_age);
        for (kid, k) in &keys {
            st.keys.insert(kid.clone(), (k.clone(), now));
        }
        Ok(keys)
    }

    /// Fills the cache (start-up fetch): from the shared cache when another endpoint already
    /// fetched the set, else by downloading it. The number of keys.
    async fn refresh(&self, strategy: KeyIdStrategy) -> Result<usize> {
        let Some(max_age) = self.opts.cache else {
            return Ok(0);
        };
        let _one = self.download_lock().lock().await;
        // a request may have downloaded the set first
        if let Ok(st) = self.state.lock() {
            let n = st
                .keys
                .values()
                .filter(|(_, added)| added.elapsed() < max_age)
                .count();
            if n > 0 {
                return Ok(n);
            }
        }
        if let Some(shared) = &self.shared {
            let fresh = shared.fresh();
            if !fresh.is_empty() {
                let now = Instant::now();
                let mut st = self
                    .state
                    .lock()
                    .map_err(|_| Error::other("JWK cache unavailable"))?;
                for (id, k) in &fresh {
                    st.keys.insert(id.clone(), (k.clone(), now));
                }
                return Ok(fresh.len());
            }
        }
        let keys = self.download().await?;
        Ok(self.store(index(keys, strategy), max_age)?.len())
    }

    async fn download(&self) -> Result<Vec<Jwk>> {
        let url = &self.opts.url;
        let fetch = async {
            let req = OutRequest {
                method: Method::GET,
                url: url.clone(),
                headers: HeaderMap::new(),
                body: OutBody::Empty,
            };
            let (resp, _) = self.exec.exchange(req).await.map_err(Error::other)?;
            let ct = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !(ct.starts_with("application/json") || ct.starts_with("application/jwk-set+json")) {
                return Err(Error::other(
                    "should have a JSON content type for JWKS endpoint",
                ));
            }
            let body = read_body(resp.into_body(), MAX_JWKS_BYTES)
                .await
                .map_err(Error::other)?;
            let (keys, skipped) = jose::parse_set(&body)?;
            for s in skipped {
                tracing::debug!("JOSE: ignoring a key of {url}: {s}");
            }
            if keys.is_empty() {
                return Err(Error::other("no Keys has been found"));
            }
            Ok(keys)
        };
        match tokio::time::timeout(self.opts.timeout, fetch).await {
            Ok(Ok(keys)) => Ok(keys),
            Ok(Err(e)) => Err(Error::component(
                format!("fetching the JWK set from {url}"),
                e,
            )),
            Err(_) => Err(Error::other(format!(
                "fetching the JWK set from {url}: no answer within {:?}",
                self.opts.timeout
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::BoxFuture;
    use crate::vocab::body::full_body;
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

    impl Transport for FakeJwks {
        fn exchange(&self, _req: OutRequest) -> BoxFuture<'_, crate::hooks::Exchanged> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let doc = self.sets.lock().unwrap().last().cloned();
            Box::pin(async move {
                let doc = doc.ok_or_else(|| Error::other("connection refused"))?;
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

    fn remote_with(fake: &Arc<FakeJwks>, cache: u64, shared: Option<Arc<SharedCache>>) -> KeySet {
        KeySet::remote_shared(
            RemoteOptions {
                url: "http://jwks/".into(),
                timeout: Duration::from_secs(1),
                cache: Some(Duration::from_secs(cache)),
                cooldown: Duration::ZERO,
            },
            fake.clone(),
            KeyIdStrategy::Kid,
            shared,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn the_shared_cache_serves_every_endpoint() {
        let fake = Arc::new(FakeJwks {
            sets: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
        });
        fake.serve(&set(&["a"]));
        let shared = Arc::new(SharedCache::new(Duration::from_secs(60)));
        let one = remote_with(&fake, 10, Some(shared.clone()));
        let two = remote_with(&fake, 10, Some(shared.clone()));
        assert!(one.get("a").await.is_ok());
        assert!(two.get("a").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        // past the endpoints' cache_duration, within shared_cache_duration: no download
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(one.get("a").await.is_ok());
        assert!(two.get("a").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        // past both: one download, shared again
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(two.get("a").await.is_ok());
        assert!(one.get("a").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
        // without the shared cache every endpoint downloads for itself
        let three = remote_with(&fake, 10, None);
        assert!(three.get("a").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn start_up_fetch_fills_the_cache_once() {
        let fake = Arc::new(FakeJwks {
            sets: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
        });
        fake.serve(&set(&["a", "b"]));
        let shared = Arc::new(SharedCache::new(Duration::from_secs(60)));
        let one = remote_with(&fake, 10, Some(shared.clone()));
        let two = remote_with(&fake, 10, Some(shared.clone()));
        let Source::Remote(r1) = &one.source else {
            panic!("remote")
        };
        let Source::Remote(r2) = &two.source else {
            panic!("remote")
        };
        assert_eq!(r1.refresh(KeyIdStrategy::Kid).await.ok(), Some(2));
        assert_eq!(r2.refresh(KeyIdStrategy::Kid).await.ok(), Some(2));
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        assert!(one.get("b").await.is_ok());
        assert!(two.get("a").await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        // a failed start-up fetch is an error, and lookups try again
        let broken = Arc::new(FakeJwks {
            sets: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
        });
        let three = remote_with(&broken, 10, None);
        let Source::Remote(r3) = &three.source else {
            panic!("remote")
        };
        assert!(r3.refresh(KeyIdStrategy::Kid).await.is_err());
        broken.serve(&set(&["a"]));
        assert!(three.get("a").await.is_ok());
        assert_eq!(broken.calls.load(Ordering::SeqCst), 2);
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
