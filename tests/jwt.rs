//! `auth/validator` and `auth/signer` end to end: a gateway on 127.0.0.1, a fake JWK server and
//! backend, tokens signed with the fixture keys (tests/fixtures/jwt, written by generate.py
//! with an independent JOSE implementation).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::{json, Map, Value};
use tentacle::components::auth::jwt::jose::{self, Alg, Jwk};

const KEYS: &str = include_str!("fixtures/jwt/keys.json");
const TOKENS: &str = include_str!("fixtures/jwt/tokens.json");
const FAR: i64 = 4_102_444_800; // 2100-01-01

fn fixture_keys() -> Vec<Value> {
    let v: Value = serde_json::from_str(KEYS).unwrap();
    v["keys"].as_array().unwrap().clone()
}

/// The public JWK set of the fixture keys `(fixture kid, published kid)`.
fn public_set(kids: &[(&str, &str)]) -> String {
    let all = fixture_keys();
    let keys: Vec<Value> = kids
        .iter()
        .map(|(from, to)| {
            let mut k = all.iter().find(|k| k["kid"] == *from).unwrap().clone();
            let o = k.as_object_mut().unwrap();
            if o["kty"] != "oct" {
                for p in ["d", "p", "q", "dp", "dq", "qi"] {
                    o.remove(p);
                }
            }
            o.insert("kid".into(), json!(to));
            k
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

fn all_public() -> String {
    public_set(&[
        ("hs", "hs"),
        ("rsa", "rsa"),
        ("es256", "es256"),
        ("es384", "es384"),
        ("ed", "ed"),
    ])
}

fn private_key(kid: &str) -> Jwk {
    let k = fixture_keys()
        .into_iter()
        .find(|k| k["kid"] == kid)
        .unwrap();
    Jwk::from_json(&k).unwrap()
}

fn kid_for(alg: Alg) -> &'static str {
    match alg {
        Alg::HS256 | Alg::HS384 | Alg::HS512 => "hs",
        Alg::ES256 => "es256",
        Alg::ES384 => "es384",
        Alg::EdDSA => "ed",
        _ => "rsa",
    }
}

/// A token signed with fixture key `key`, announcing `kid`.
fn token_with(alg: Alg, key: &str, kid: &str, claims: Value) -> String {
    let payload = serde_json::to_vec(&claims).unwrap();
    jose::sign_jws(alg, &private_key(key).key, kid, &payload, false).unwrap()
}

fn claims() -> Value {
    json!({
        "aud": "http://api.example.com",
        "iss": "https://tentacle.test",
        "exp": FAR,
        "sub": "alice",
        "roles": ["role_a"],
        "scope": "read write",
        "http://example.com/custom": "cv",
        "org": {"team": "blue"}
    })
}

fn hs(claims: Value) -> String {
    token_with(Alg::HS256, "hs", "hs", claims)
}

/// The fake JWK server and backend: `/jwks` serves the set in `jwks` (503 while it is
/// empty), `/hang` never answers, `/token` answers a token document, and every other path
/// echoes the path and the claim headers it received.
struct Upstream {
    addr: SocketAddr,
    jwks: Arc<Mutex<String>>,
    backend: FakeBackend,
}

impl Upstream {
    /// How many JWK sets were asked for.
    fn jwks_hits(&self) -> usize {
        self.backend
            .requests()
            .iter()
            .filter(|r| r.path == "/jwks")
            .count()
    }
}

async fn start_upstream() -> Upstream {
    let jwks = Arc::new(Mutex::new(all_public()));
    let doc = jwks.clone();
    let backend = backend_async(move |r: Recorded| {
        let doc = doc.lock().unwrap().clone();
        async move {
            match r.path.as_str() {
                // an empty set: the JWK server is unavailable
                "/jwks" if doc.is_empty() => Reply::new(503),
                "/jwks" => Reply::json(doc),
                "/hang" => std::future::pending().await,
                "/token" => {
                    let v: Value = serde_json::from_str(TOKENS).unwrap();
                    Reply::json(json!({"access_token": v["claims"], "other": 1}).to_string())
                }
                path => Reply::json(
                    json!({
                        "path": path,
                        "x_user": r.header_all("x-user"),
                        "x_roles": r.header_all("x-roles"),
                        "x_team": r.header_all("x-team"),
                        "x_dropped": r.header_all("x-dropped"),
                    })
                    .to_string(),
                ),
            }
        }
    })
    .await;
    Upstream {
        addr: backend.addr,
        jwks,
        backend,
    }
}

/// `GET path` with this `Authorization` value.
async fn get_auth(gw: &Gw, path: &str, authorization: &str) -> Resp {
    get_with(&gw.at(path), &[("authorization", authorization)]).await
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn assert_refused(a: &Resp, status: u16) {
    assert_eq!(a.status, status, "{:?}", String::from_utf8_lossy(&a.body));
    assert!(a.body.is_empty());
    assert!(a.headers.get("content-type").is_none());
    assert!(a.headers.get("x-krakend-completed").is_none());
}

fn endpoint(path: &str, up: SocketAddr, url_pattern: &str, validator: Value) -> Value {
    json!({
        "endpoint": path,
        "input_headers": ["X-User", "X-Roles", "X-Team"],
        "backend": [{"host": [format!("http://{up}")], "url_pattern": url_pattern}],
        "extra_config": {"auth/validator": validator}
    })
}

fn gateway_config(endpoints: Vec<Value>) -> String {
    json!({"version": 3, "port": 8080, "timeout": "3s", "endpoints": endpoints}).to_string()
}

/// A gateway serving these endpoints (a 3 s timeout).
async fn jwt_gateway(endpoints: Vec<Value>) -> Gw {
    gateway_text(&gateway_config(endpoints), Format::Json).await
}

fn validator(up: SocketAddr, alg: &str) -> Value {
    json!({
        "alg": alg,
        "jwk_url": format!("http://{up}/jwks"),
        "disable_jwk_security": true,
        "audience": ["http://api.example.com"],
        "issuer": "https://tentacle.test",
    })
}

#[tokio::test]
async fn every_algorithm_family() {
    let up = start_upstream().await;
    let eps = Alg::ALL
        .iter()
        .map(|a| {
            let path = format!("/alg/{}", a.name());
            endpoint(&path, up.addr, "/echo", validator(up.addr, a.name()))
        })
        .collect();
    let gw = jwt_gateway(eps).await;
    let fixtures: Value = serde_json::from_str(TOKENS).unwrap();
    for alg in Alg::ALL {
        let path = format!("/alg/{}", alg.name());
        // signed by another implementation
        let theirs = fixtures["tokens"][alg.name()].as_str().unwrap();
        let a = get_auth(&gw, &path, &bearer(theirs)).await;
        assert_eq!(a.status, 200, "{} fixture token", alg.name());
        // signed here
        let ours = token_with(alg, kid_for(alg), kid_for(alg), claims());
        let a = get_with(&gw.at(&path), &[("authorization", &bearer(&ours))]).await;
        assert_eq!(a.status, 200, "{} own token", alg.name());
        // a tampered signature
        let tampered = format!("{}.{}", &ours[..ours.rfind('.').unwrap()], {
            let sig = jose::b64_decode(&ours[ours.rfind('.').unwrap() + 1..]).unwrap();
            let mut sig = sig.clone();
            sig[0] ^= 1;
            jose::b64_encode(&sig)
        });
        let a = get_with(&gw.at(&path), &[("authorization", &bearer(&tampered))]).await;
        assert_refused(&a, 401);
    }
    // a token of another algorithm than the configured one
    let rs = token_with(Alg::RS256, "rsa", "rsa", claims());
    assert_refused(
        &get_with(&gw.at("/alg/PS256"), &[("authorization", &bearer(&rs))]).await,
        401,
    );
    // an HS256 token on an RS256 endpoint
    let hs_token = hs(claims());
    assert_refused(
        &get_with(
            &gw.at("/alg/RS256"),
            &[("authorization", &bearer(&hs_token))],
        )
        .await,
        401,
    );
    // a key of the wrong type under the announced kid
    let es_as_rsa = token_with(Alg::ES256, "es256", "rsa", claims());
    assert_refused(
        &get_with(
            &gw.at("/alg/ES256"),
            &[("authorization", &bearer(&es_as_rsa))],
        )
        .await,
        401,
    );
}

#[tokio::test]
async fn claims_roles_scopes_and_token_sources() {
    let up = start_upstream().await;
    let mut roles = validator(up.addr, "HS256");
    roles["roles"] = json!(["role_x", "role_a"]);
    let mut other_roles = validator(up.addr, "HS256");
    other_roles["roles"] = json!(["role_x"]);
    let mut nested = validator(up.addr, "HS256");
    nested["roles"] = json!(["blue"]);
    nested["roles_key"] = json!("org.team");
    nested["roles_key_is_nested"] = json!(true);
    let mut scopes_any = validator(up.addr, "HS256");
    scopes_any["scopes"] = json!(["write", "admin"]);
    scopes_any["scopes_key"] = json!("scope");
    let mut scopes_all = scopes_any.clone();
    scopes_all["scopes_matcher"] = json!("all");
    let mut cookie = validator(up.addr, "HS256");
    cookie["cookie_key"] = json!("session");
    let mut header = validator(up.addr, "HS256");
    header["auth_header_name"] = json!("X-Token");
    let gw = jwt_gateway(vec![
        endpoint("/roles", up.addr, "/echo", roles),
        endpoint("/other-roles", up.addr, "/echo", other_roles),
        endpoint("/nested", up.addr, "/echo", nested),
        endpoint("/scopes-any", up.addr, "/echo", scopes_any),
        endpoint("/scopes-all", up.addr, "/echo", scopes_all),
        endpoint("/cookie", up.addr, "/echo", cookie),
        endpoint("/header", up.addr, "/echo", header),
    ])
    .await;
    let ok = hs(claims());
    let auth = bearer(&ok);
    // the claims with one change, as a bearer token
    let changed = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut c = claims();
        f(c.as_object_mut().unwrap());
        bearer(&hs(c))
    };
    let set = |k: &str, v: Value| {
        changed(&|c| {
            c.insert(k.into(), v.clone());
        })
    };
    let unset = |k: &str| {
        changed(&|c| {
            c.remove(k);
        })
    };
    let authz = |v: &str| vec![("authorization", v.to_string())];
    let cookie = |v: &str| vec![("cookie", v.to_string())];
    let session = format!("theme=dark; session={ok}");
    let other_kid = bearer(&token_with(Alg::HS256, "hs", "nope", claims()));
    // what, path, request headers, and the status: 200, or a refusal with an empty answer
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, &str, Headers, u16)> = vec![
        ("a valid token", "/roles", authz(&auth), 200),
        ("no token", "/roles", vec![], 401),
        ("an empty bearer", "/roles", authz("Bearer "), 401),
        // without the Bearer prefix the header still carries the token
        ("no Bearer prefix", "/roles", authz(&ok), 200),
        (
            "expired",
            "/roles",
            authz(&set("exp", json!(1_000_000_000))),
            401,
        ),
        (
            "not yet valid",
            "/roles",
            authz(&set("nbf", json!(FAR))),
            401,
        ),
        (
            "issued in the future",
            "/roles",
            authz(&set("iat", json!(FAR))),
            401,
        ),
        (
            "wrong audience",
            "/roles",
            authz(&set("aud", json!(["http://other.example.com"]))),
            401,
        ),
        ("no audience", "/roles", authz(&unset("aud")), 401),
        (
            "wrong issuer",
            "/roles",
            authz(&set("iss", json!("https://evil.test"))),
            401,
        ),
        ("unknown kid", "/roles", authz(&other_kid), 401),
        ("malformed", "/roles", authz("Bearer a.bad.token"), 401),
        ("not a JWS", "/roles", authz("Bearer nothing"), 401),
        (
            "several audiences in the token, one required",
            "/roles",
            authz(&set(
                "aud",
                json!(["http://x.example.com", "http://api.example.com"]),
            )),
            200,
        ),
        // roles
        ("no required role", "/other-roles", authz(&auth), 403),
        (
            "roles in a string",
            "/other-roles",
            authz(&set("roles", json!("role_b role_x"))),
            200,
        ),
        ("no roles", "/roles", authz(&unset("roles")), 403),
        ("a nested role", "/nested", authz(&auth), 200),
        (
            "another nested role",
            "/nested",
            authz(&set("org", json!({"team": "red"}))),
            403,
        ),
        // scopes
        ("any scope", "/scopes-any", authz(&auth), 200),
        ("not all scopes", "/scopes-all", authz(&auth), 403),
        (
            "all scopes",
            "/scopes-all",
            authz(&set("scope", json!("write admin"))),
            200,
        ),
        (
            "no required scope",
            "/scopes-any",
            authz(&set("scope", json!("read"))),
            403,
        ),
        // the token in a cookie
        ("the session cookie", "/cookie", cookie(&session), 200),
        (
            "a bad session cookie",
            "/cookie",
            cookie("session=a.bad.token"),
            401,
        ),
        (
            "a malformed header wins over a good cookie",
            "/cookie",
            vec![
                ("authorization", "Bearer x.y.z".to_string()),
                ("cookie", session.clone()),
            ],
            401,
        ),
        (
            "the default cookie is access_token",
            "/roles",
            cookie(&format!("access_token={ok}")),
            200,
        ),
        // auth_header_name
        (
            "the named header",
            "/header",
            vec![("x-token", auth.clone())],
            200,
        ),
        (
            "Authorization beside a named header",
            "/header",
            authz(&auth),
            401,
        ),
    ];
    for (what, path, headers, status) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = get_with(&gw.at(path), &headers).await;
        assert_eq!(a.status, status, "{what}: {}", a.text());
        if status != 200 {
            assert_refused(&a, status);
        }
    }
}

/// A scopes claim written as a JSON array (`"scp": ["write", "read"]`) holds its scopes as
/// one written as a space-separated string does, for both matchers.
#[tokio::test]
async fn scopes_in_a_json_array_claim() {
    let up = start_upstream().await;
    let mut any = validator(up.addr, "HS256");
    any["scopes"] = json!(["read", "admin"]);
    any["scopes_key"] = json!("scp");
    let mut all = any.clone();
    all["scopes"] = json!(["read", "write"]);
    all["scopes_matcher"] = json!("all");
    let gw = jwt_gateway(vec![
        endpoint("/any", up.addr, "/echo", any),
        endpoint("/all", up.addr, "/echo", all),
    ])
    .await;
    let token = |scp: Value| {
        let mut c = claims();
        c["scp"] = scp;
        bearer(&hs(c))
    };
    let status = |a: Resp| a.status;
    for scp in [json!(["write", "read"]), json!("write read")] {
        let auth = token(scp.clone());
        let h = [("authorization", auth.as_str())];
        assert_eq!(status(get_with(&gw.at("/any"), &h).await), 200, "{scp}");
        assert_eq!(status(get_with(&gw.at("/all"), &h).await), 200, "{scp}");
    }
    // the array lacks one of the scopes "all" needs, and every scope "any" accepts
    for (path, scp) in [
        ("/all", json!(["read"])),
        ("/any", json!(["write", "other"])),
    ] {
        let auth = token(scp.clone());
        assert_refused(&get_auth(&gw, path, &auth).await, 403);
    }
    // an empty array holds no scope
    let auth = token(json!([]));
    assert_refused(&get_auth(&gw, "/any", &auth).await, 403);
}

#[tokio::test]
async fn claims_reach_the_backend() {
    let up = start_upstream().await;
    let mut v = validator(up.addr, "HS256");
    v["propagate_claims"] = json!([
        ["sub", "X-User"],
        ["roles", "X-Roles"],
        ["org.team", "X-Team"],
        ["sub", "X-Dropped"]
    ]);
    let mut arrays = v.clone();
    arrays["propagate_claims_preserve_array"] = json!(true);
    let gw = jwt_gateway(vec![
        endpoint(
            "/claims/{id}",
            up.addr,
            "/echo/{id}/{JWT.sub}/{JWT.http://example.com/custom}",
            v,
        ),
        endpoint("/arrays", up.addr, "/echo", arrays),
    ])
    .await;
    let mut c = claims();
    c["roles"] = json!(["a", "b"]);
    let auth = bearer(&hs(c));
    let a = get_with(
        &gw.at("/claims/7"),
        &[("authorization", &auth), ("x-user", "mallory")],
    )
    .await;
    assert_eq!(a.status, 200);
    let body = a.json();
    assert_eq!(body["path"], "/echo/7/alice/cv");
    // the claim replaces what the client sent
    assert_eq!(body["x_user"], json!(["alice"]));
    assert_eq!(body["x_roles"], json!(["a,b"]));
    assert_eq!(body["x_team"], json!(["blue"]));
    // not in input_headers: not propagated
    assert_eq!(body["x_dropped"], json!([]));
    let a = get_auth(&gw, "/arrays", &auth).await;
    assert_eq!(a.json()["x_roles"], json!(["a", "b"]));
}

/// The `propagate_claims` headers replace the client's before the rate limit reads them (KrakenD's
/// handler chain: bot detector, JWT validation, rate limit, endpoint): a client with a valid
/// token cannot pick another client's rate-limit bucket by sending the header itself, and the
/// backend sees the token's value only.
#[tokio::test]
async fn claim_headers_replace_the_clients_before_the_rate_limit() {
    let up = start_upstream().await;
    let mut v = validator(up.addr, "HS256");
    v["propagate_claims"] = json!([["sub", "X-User"]]);
    let mut limited = endpoint("/limited", up.addr, "/echo", v);
    limited["extra_config"]["qos/ratelimit/router"] = json!({
        "client_max_rate": 2, "client_capacity": 2, "every": "1h",
        "strategy": "header", "key": "X-User"
    });
    let gw = jwt_gateway(vec![limited]).await;
    let token = |sub: &str| {
        let mut c = claims();
        c["sub"] = json!(sub);
        bearer(&hs(c))
    };
    let (bob, carol) = (token("bob"), token("carol"));
    let limited = gw.at("/limited");
    let call = |auth: String| {
        let url = limited.clone();
        async move { get_with(&url, &[("authorization", &auth), ("x-user", "carol")]).await }
    };
    // bob names carol's bucket: his token decides, twice
    for _ in 0..2 {
        let a = call(bob.clone()).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.json()["x_user"], json!(["bob"]));
    }
    // carol's bucket is untouched
    for _ in 0..2 {
        let a = call(carol.clone()).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.json()["x_user"], json!(["carol"]));
    }
    // and each is refused once their own bucket is empty
    for auth in [&bob, &carol] {
        let a = call(auth.clone()).await;
        assert_eq!(a.status, 429);
        assert!(a.body.is_empty());
    }
}

/// A `propagate_claims` header can only come from the token: when the token lacks the claim (or
/// holds an empty list of it), the client's header of that name is removed all the same, and a
/// rate limit keyed on it finds no client.
#[tokio::test]
async fn a_claim_header_the_token_lacks_is_removed() {
    let up = start_upstream().await;
    let mut v = validator(up.addr, "HS256");
    v["propagate_claims"] = json!([["dept", "X-Team"], ["groups", "X-Roles"]]);
    v["propagate_claims_preserve_array"] = json!(true);
    let plain = endpoint("/plain", up.addr, "/echo", v.clone());
    let mut limited = endpoint("/limited", up.addr, "/echo", v);
    limited["extra_config"]["qos/ratelimit/router"] = json!({
        "client_max_rate": 100, "strategy": "header", "key": "X-Team"
    });
    let gw = jwt_gateway(vec![plain, limited]).await;
    let mut c = claims();
    c["groups"] = json!([]);
    let auth = bearer(&hs(c));
    let forged = [
        ("authorization", auth.as_str()),
        ("x-team", "red"),
        ("x-roles", "admin"),
    ];
    let a = get_with(&gw.at("/plain"), &forged).await;
    assert_eq!(a.status, 200);
    let body = a.json();
    assert_eq!(body["x_team"], json!([]), "{body}");
    assert_eq!(body["x_roles"], json!([]), "{body}");
    assert_eq!(get_with(&gw.at("/limited"), &forged).await.status, 429);
}

#[tokio::test]
async fn jwk_rotation_and_caching() {
    let up = start_upstream().await;
    *up.jwks.lock().unwrap() = public_set(&[("hs", "k1")]);
    let mut cached = validator(up.addr, "HS256");
    cached["cache"] = json!(true);
    let uncached = validator(up.addr, "HS256");
    let gw = jwt_gateway(vec![
        endpoint("/cached", up.addr, "/echo", cached),
        endpoint("/uncached", up.addr, "/echo", uncached),
    ])
    .await;
    let k1 = bearer(&token_with(Alg::HS256, "hs", "k1", claims()));
    let k2 = bearer(&token_with(Alg::HS256, "hs", "k2", claims()));
    for _ in 0..3 {
        let a = get_auth(&gw, "/cached", &k1).await;
        assert_eq!(a.status, 200);
    }
    assert_eq!(up.jwks_hits(), 1);
    // k2 is not published yet
    assert_refused(&get_auth(&gw, "/cached", &k2).await, 401);
    assert_eq!(up.jwks_hits(), 2);
    // rotation: k2 appears at the JWK URL and is picked up on first sight
    *up.jwks.lock().unwrap() = public_set(&[("hs", "k1"), ("hs", "k2")]);
    assert_eq!(get_auth(&gw, "/cached", &k2).await.status, 200);
    assert_eq!(up.jwks_hits(), 3);
    assert_eq!(get_auth(&gw, "/cached", &k1).await.status, 200);
    assert_eq!(up.jwks_hits(), 3);
    // k1 retired: without cache the set is read on every request
    *up.jwks.lock().unwrap() = public_set(&[("hs", "k2")]);
    assert_refused(&get_auth(&gw, "/uncached", &k1).await, 401);
    assert_eq!(get_auth(&gw, "/uncached", &k2).await.status, 200);
    assert_eq!(up.jwks_hits(), 5);
}

#[tokio::test]
async fn jwk_server_down_or_hanging() {
    let up = start_upstream().await;
    // a port nothing listens on
    let mut down = validator(up.addr, "HS256");
    down["jwk_url"] = json!(format!("{}/jwks", closed_url()));
    let mut hanging = validator(up.addr, "HS256");
    hanging["jwk_url"] = json!(format!("http://{}/hang", up.addr));
    let mut hang_ep = endpoint("/hanging", up.addr, "/echo", hanging);
    hang_ep["timeout"] = json!("300ms");
    let mut html = validator(up.addr, "HS256");
    html["jwk_url"] = json!(format!("http://{}/echo", up.addr));
    let gw = jwt_gateway(vec![
        endpoint("/down", up.addr, "/echo", down),
        hang_ep,
        endpoint("/not-a-set", up.addr, "/echo", html),
    ])
    .await;
    let auth = bearer(&hs(claims()));
    for path in ["/down", "/hanging", "/not-a-set"] {
        let a = get_auth(&gw, path, &auth).await;
        assert_refused(&a, 401);
    }
    // the gateway still serves
    assert_refused(&get_auth(&gw, "/down", &auth).await, 401);
}

#[tokio::test]
async fn local_key_set() {
    let up = start_upstream().await;
    let v = json!({
        "alg": "ES256",
        "jwk_local_path": "tests/fixtures/jwt/keys.json",
        "key_identify_strategy": "kid",
    });
    let gw = jwt_gateway(vec![endpoint("/local", up.addr, "/echo", v)]).await;
    let t = bearer(&token_with(Alg::ES256, "es256", "es256", claims()));
    assert_eq!(get_auth(&gw, "/local", &t).await.status, 200);
    let other = bearer(&token_with(Alg::ES256, "es256", "es384", claims()));
    assert_refused(&get_auth(&gw, "/local", &other).await, 401);
    assert_eq!(up.jwks_hits(), 0);
}

#[tokio::test]
async fn bad_configurations() {
    let up = start_upstream().await;
    let case = |v: Value| build_error(&gateway_config(vec![endpoint("/x", up.addr, "/echo", v)]));
    assert!(case(validator(up.addr, "HS999")).contains("auth/validator.alg"));
    assert!(case(validator(up.addr, "ES512")).contains("auth/validator.alg"));
    let mut bad_type = validator(up.addr, "HS256");
    bad_type["cache"] = json!("yes");
    assert!(case(bad_type).contains("auth/validator.cache"));
    let mut bad_header = validator(up.addr, "HS256");
    bad_header["propagate_claims"] = json!([["sub", "X Bad"]]);
    assert!(case(bad_header).contains("auth/validator.propagate_claims[0]"));
    // key sources that cannot work: the gateway starts, the endpoints refuse everything
    let mut insecure = validator(up.addr, "HS256");
    insecure
        .as_object_mut()
        .unwrap()
        .remove("disable_jwk_security");
    let mut missing_file = validator(up.addr, "HS256");
    missing_file["jwk_local_path"] = json!("tests/fixtures/jwt/none.json");
    let gw = jwt_gateway(vec![
        endpoint("/insecure", up.addr, "/echo", insecure),
        endpoint("/no-source", up.addr, "/echo", json!({"alg": "HS256"})),
        endpoint("/missing-file", up.addr, "/echo", missing_file),
        signer_endpoint(
            "/signer",
            up.addr,
            json!({"alg": "HS256", "kid": "hs", "keys_to_sign": ["access_token"],
                   "jwk_url": format!("http://{}/jwks", up.addr)}),
        ),
    ])
    .await;
    let auth = bearer(&hs(claims()));
    for path in ["/insecure", "/no-source", "/missing-file"] {
        let a = get_auth(&gw, path, &auth).await;
        assert_refused(&a, 401);
    }
    let a = get_with(&gw.at("/signer"), &[]).await;
    assert_eq!(a.status, 400);
    assert!(a.body.is_empty());
    assert_eq!(up.jwks_hits(), 0);
}

fn signer_endpoint(path: &str, up: SocketAddr, signer: Value) -> Value {
    json!({
        "endpoint": path,
        "cache_ttl": "1h",
        "backend": [{"host": [format!("http://{up}")], "url_pattern": "/token"}],
        "extra_config": {"auth/signer": signer}
    })
}

#[tokio::test]
async fn signer() {
    let up = start_upstream().await;
    let url = format!("http://{}/jwks", up.addr);
    let private = format!(
        "{}",
        json!({"keys": fixture_keys().into_iter().filter(|k| k["kid"] == "hs").collect::<Vec<_>>()})
    );
    *up.jwks.lock().unwrap() = private;
    let gw = jwt_gateway(vec![
        signer_endpoint(
            "/hs",
            up.addr,
            json!({"alg": "HS256", "kid": "hs", "keys_to_sign": ["access_token", "missing", "other"],
                   "jwk_url": url, "disable_jwk_security": true}),
        ),
        signer_endpoint(
            "/full",
            up.addr,
            json!({"alg": "HS256", "kid": "hs", "keys_to_sign": ["access_token"], "full": true,
                   "jwk_url": url, "disable_jwk_security": true}),
        ),
        signer_endpoint(
            "/rs",
            up.addr,
            json!({"alg": "RS256", "kid": "rsa", "keys_to_sign": ["access_token"],
                   "jwk_local_path": "tests/fixtures/jwt/keys.json"}),
        ),
        signer_endpoint(
            "/ed",
            up.addr,
            json!({"alg": "EdDSA", "kid": "ed", "keys_to_sign": ["access_token"],
                   "jwk_local_path": "tests/fixtures/jwt/keys.json"}),
        ),
        signer_endpoint(
            "/es",
            up.addr,
            json!({"alg": "ES256", "kid": "es256", "keys_to_sign": ["access_token"],
                   "jwk_local_path": "tests/fixtures/jwt/keys.json"}),
        ),
        signer_endpoint(
            "/no-key",
            up.addr,
            json!({"alg": "HS256", "kid": "nope", "keys_to_sign": ["access_token"],
                   "jwk_url": url, "disable_jwk_security": true}),
        ),
    ])
    .await;
    let fixtures: Value = serde_json::from_str(TOKENS).unwrap();
    let a = get_with(&gw.at("/hs"), &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "application/json; charset=utf-8");
    assert!(a.headers.get("x-krakend-completed").is_none());
    assert!(a.headers.get("cache-control").is_none());
    let body = a.json();
    assert_eq!(body["access_token"], fixtures["tokens"]["HS256"]);
    // not objects: left as they are
    assert_eq!(body["other"], 1);
    assert!(body.get("missing").is_none());
    // JSON serialization
    let full = get_with(&gw.at("/full"), &[]).await.json();
    let jws: Value = serde_json::from_str(full["access_token"].as_str().unwrap()).unwrap();
    let compact = fixtures["tokens"]["HS256"].as_str().unwrap();
    let parts: Vec<&str> = compact.split('.').collect();
    assert_eq!(
        jws,
        json!({"protected": parts[0], "payload": parts[1], "signature": parts[2]})
    );
    // deterministic signatures match the other implementation byte for byte
    for (path, alg) in [("/rs", "RS256"), ("/ed", "EdDSA")] {
        let body = get_with(&gw.at(path), &[]).await.json();
        assert_eq!(body["access_token"], fixtures["tokens"][alg], "{alg}");
    }
    // ECDSA is randomized: check it verifies
    let es = get_with(&gw.at("/es"), &[]).await.json();
    let t = es["access_token"].as_str().unwrap().to_string();
    let jws = jose::parse_compact(&t).unwrap();
    jose::verify(
        Alg::ES256,
        &private_key("es256").key,
        jws.signing_input.as_bytes(),
        &jws.signature,
    )
    .unwrap();
    // no such key: an empty 400
    let a = get_with(&gw.at("/no-key"), &[]).await;
    assert_eq!(a.status, 400);
    assert!(a.body.is_empty());
}

/// Waits (bounded) until `up` has served `n` JWK sets.
async fn wait_jwks_hits(up: &Upstream, n: usize) {
    for _ in 0..2000 {
        if up.jwks_hits() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the JWK server saw {} downloads, expected {n}",
        up.jwks_hits()
    );
}

#[tokio::test]
async fn cached_jwk_sets_are_fetched_at_start_up() {
    let up = start_upstream().await;
    let mut cached = validator(up.addr, "HS256");
    cached["cache"] = json!(true);
    let gw = jwt_gateway(vec![
        endpoint("/cached", up.addr, "/echo", cached),
        endpoint("/uncached", up.addr, "/echo", validator(up.addr, "HS256")),
    ])
    .await;
    // no request yet: the cached endpoint fetched its set, the uncached one did not
    wait_jwks_hits(&up, 1).await;
    let auth = bearer(&hs(claims()));
    assert_eq!(get_auth(&gw, "/cached", &auth).await.status, 200);
    assert_eq!(up.jwks_hits(), 1);
}

#[tokio::test]
async fn a_jwk_server_down_at_start_up_is_retried() {
    let up = start_upstream().await;
    *up.jwks.lock().unwrap() = String::new();
    let mut cached = validator(up.addr, "HS256");
    cached["cache"] = json!(true);
    let mut hanging = validator(up.addr, "HS256");
    hanging["cache"] = json!(true);
    hanging["jwk_url"] = json!(format!("http://{}/hang", up.addr));
    let mut hang_ep = endpoint("/hanging", up.addr, "/echo", hanging);
    hang_ep["timeout"] = json!("300ms");
    let gw = jwt_gateway(vec![endpoint("/cached", up.addr, "/echo", cached), hang_ep]).await;
    // the start-up fetch failed: the gateway serves anyway
    wait_jwks_hits(&up, 1).await;
    assert_eq!(get_with(&gw.at("/__health"), &[]).await.status, 200);
    let auth = bearer(&hs(claims()));
    assert_refused(&get_auth(&gw, "/cached", &auth).await, 401);
    assert_refused(&get_auth(&gw, "/hanging", &auth).await, 401);
    // the JWK server is back: the next token downloads the set
    *up.jwks.lock().unwrap() = all_public();
    assert_eq!(get_auth(&gw, "/cached", &auth).await.status, 200);
}

#[tokio::test]
async fn shared_jwk_cache_between_endpoints() {
    let up = start_upstream().await;
    let mut cached = validator(up.addr, "HS256");
    cached["cache"] = json!(true);
    cached["cache_duration"] = json!(1);
    let endpoints = vec![
        endpoint("/one", up.addr, "/echo", cached.clone()),
        endpoint("/two", up.addr, "/echo", cached.clone()),
    ];
    let auth = bearer(&hs(claims()));
    // with the service-level object, the endpoints share one download
    let shared = json!({"version": 3, "timeout": "3s", "endpoints": endpoints,
        "extra_config": {"auth/validator": {"shared_cache_duration": 300}}});
    let gw = gateway_text(&shared.to_string(), Format::Json).await;
    for path in ["/one", "/two", "/one", "/two"] {
        assert_eq!(get_auth(&gw, path, &auth).await.status, 200);
    }
    assert_eq!(up.jwks_hits(), 1);
    // without it, each endpoint downloads the set
    let other = start_upstream().await;
    let mut cached = validator(other.addr, "HS256");
    cached["cache"] = json!(true);
    let gw = jwt_gateway(vec![
        endpoint("/one", other.addr, "/echo", cached.clone()),
        endpoint("/two", other.addr, "/echo", cached),
    ])
    .await;
    for path in ["/one", "/two", "/one", "/two"] {
        assert_eq!(get_auth(&gw, path, &auth).await.status, 200);
    }
    assert_eq!(other.jwks_hits(), 2);
    // a bad service-level object names its field
    let bad = json!({"version": 3, "endpoints": [],
        "extra_config": {"auth/validator": {"shared_cache_duration": "5m"}}});
    assert!(build_error(&bad.to_string()).contains("auth/validator.shared_cache_duration"));
}

const TLS_DIR: &str = "tests/fixtures/jwt/tls";

/// A JWK server over HTTPS presenting tests/fixtures/jwt/tls/chain.pem; counts the sets served.
async fn start_tls_jwks() -> (TcpServer, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = tls_backend(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Bytes::from(all_public())
    })
    .await;
    (server, hits)
}

fn pin(name: &str) -> String {
    std::fs::read_to_string(format!("{TLS_DIR}/{name}.pin"))
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test]
async fn jwk_fingerprints_pin_the_jwk_server() {
    let up = start_upstream().await;
    let (jwks, hits) = start_tls_jwks().await;
    let url = format!("https://{}/jwks", jwks.addr);
    // the pin of a key that is not in the chain
    let stranger = jose::b64_encode(&[7u8; 32]) + "=";
    let v = |extra: Value| {
        let mut v = json!({
            "alg": "HS256",
            "jwk_url": url,
            "audience": ["http://api.example.com"],
            "issuer": "https://tentacle.test",
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let ca = format!("{TLS_DIR}/ca.pem");
    let cases = [
        ("/ca", v(json!({"jwk_local_ca": ca})), true),
        (
            "/pinned",
            v(json!({"jwk_local_ca": ca, "jwk_fingerprints": [pin("server")]})),
            true,
        ),
        (
            "/pinned-ca-key",
            v(json!({"jwk_local_ca": ca, "jwk_fingerprints": [stranger, pin("ca")]})),
            true,
        ),
        (
            "/wrong-pin",
            v(json!({"jwk_local_ca": ca, "jwk_fingerprints": [stranger]})),
            false,
        ),
        (
            "/insecure-pinned",
            v(json!({"disable_jwk_security": true, "jwk_fingerprints": [pin("server")]})),
            true,
        ),
        (
            "/insecure-wrong-pin",
            v(json!({"disable_jwk_security": true, "jwk_fingerprints": [stranger]})),
            false,
        ),
        // the pin does not replace the chain verification
        (
            "/unknown-ca",
            v(json!({"jwk_fingerprints": [pin("server")]})),
            false,
        ),
    ];
    let gw = jwt_gateway(
        cases
            .iter()
            .map(|(path, v, _)| endpoint(path, up.addr, "/echo", v.clone()))
            .collect(),
    )
    .await;
    let auth = bearer(&hs(claims()));
    for (path, _, accepted) in &cases {
        let before = hits.load(Ordering::SeqCst);
        let a = get_auth(&gw, path, &auth).await;
        if *accepted {
            assert_eq!(a.status, 200, "{path}");
            assert_eq!(hits.load(Ordering::SeqCst), before + 1, "{path}");
        } else {
            assert_refused(&a, 401);
            assert_eq!(hits.load(Ordering::SeqCst), before, "{path}");
        }
    }
    // a fingerprint that is not URL-safe base64: the endpoint refuses every token
    let gw = jwt_gateway(vec![endpoint(
        "/bad-pin",
        up.addr,
        "/echo",
        v(json!({"jwk_local_ca": ca, "jwk_fingerprints": ["not/base64+"]})),
    )])
    .await;
    assert_refused(&get_auth(&gw, "/bad-pin", &auth).await, 401);
}

/// Encrypts a JWK file as KrakenD's JOSE components read it: the data key sealed by the
/// local keeper (24-byte nonce, then the NaCl secretbox), the file under AES-256-GCM with the
/// hex MD5 of the data key (12-byte nonce, then ciphertext and tag). Gives
/// `(secret_url, cypher_key, file)`.
fn encrypt_jwk_file(
    plain: &[u8],
    keeper_key: [u8; 32],
    data_key: [u8; 32],
) -> (String, String, Vec<u8>) {
    use base64::Engine;
    use crypto_secretbox::aead::{AeadInPlace, KeyInit};
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let nonce24 = [3u8; 24];
    let keeper = crypto_secretbox::XSalsa20Poly1305::new(&crypto_secretbox::Key::from(keeper_key));
    let mut sealed_key = data_key.to_vec();
    let tag = keeper
        .encrypt_in_place_detached(
            &crypto_secretbox::Nonce::from(nonce24),
            b"",
            &mut sealed_key,
        )
        .unwrap();
    let tag: &[u8] = &tag;
    let cypher_key = [nonce24.as_slice(), tag, &sealed_key].concat();
    let file_key = format!("{:x}", md5::compute(data_key));
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, file_key.as_bytes()).unwrap());
    let nonce12 = [9u8; 12];
    let mut body = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce12),
        Aad::empty(),
        &mut body,
    )
    .unwrap();
    (
        format!(
            "base64key://{}",
            base64::engine::general_purpose::URL_SAFE.encode(keeper_key)
        ),
        base64::engine::general_purpose::STANDARD.encode(cypher_key),
        [nonce12.as_slice(), &body].concat(),
    )
}

#[tokio::test]
async fn encrypted_local_key_set() {
    let up = start_upstream().await;
    let dir = std::env::temp_dir().join(format!("tentacle-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (secret_url, cypher_key, file) = encrypt_jwk_file(KEYS.as_bytes(), [1u8; 32], [2u8; 32]);
    let path = dir.join("keys.enc");
    std::fs::write(&path, &file).unwrap();
    let mut tampered = file.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let tampered_path = dir.join("tampered.enc");
    std::fs::write(&tampered_path, &tampered).unwrap();
    let source = |p: &std::path::Path, secret_url: &str| {
        json!({
            "alg": "ES256",
            "jwk_local_path": p.to_str().unwrap(),
            "secret_url": secret_url,
            "cypher_key": cypher_key,
        })
    };
    let other_keeper = format!(
        "base64key://{}",
        jose::b64_encode(&[5u8; 32]).replace('=', "") + "="
    );
    let mut signed = source(&path, &secret_url);
    signed["kid"] = json!("hs");
    signed["alg"] = json!("HS256");
    signed["keys_to_sign"] = json!(["access_token"]);
    let gw = jwt_gateway(vec![
        endpoint("/encrypted", up.addr, "/echo", source(&path, &secret_url)),
        endpoint(
            "/wrong-keeper",
            up.addr,
            "/echo",
            source(&path, &other_keeper),
        ),
        endpoint(
            "/tampered",
            up.addr,
            "/echo",
            source(&tampered_path, &secret_url),
        ),
        signer_endpoint("/signed", up.addr, signed),
    ])
    .await;
    let t = bearer(&token_with(Alg::ES256, "es256", "es256", claims()));
    assert_eq!(get_auth(&gw, "/encrypted", &t).await.status, 200);
    for path in ["/wrong-keeper", "/tampered"] {
        assert_refused(&get_auth(&gw, path, &t).await, 401);
    }
    let fixtures: Value = serde_json::from_str(TOKENS).unwrap();
    let a = get_with(&gw.at("/signed"), &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["access_token"], fixtures["tokens"]["HS256"]);
    // a cloud key keeper cannot be used by this build: the gateway does not start
    for scheme in ["awskms", "gcpkms", "azurekeyvault", "hashivault"] {
        let e = build_error(&gateway_config(vec![endpoint(
            "/x",
            up.addr,
            "/echo",
            source(&path, &format!("{scheme}://key")),
        )]));
        assert!(e.contains("auth/validator.secret_url"), "{e}");
        assert!(e.contains(scheme), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A 1024-bit RSA private JWK (kid `rsa1024`) and tokens signed with it by an independent
/// implementation (tests/fixtures/jwt/small_rsa.py).
const SMALL_RSA: &str = "tests/fixtures/jwt/small_rsa.json";

fn small_rsa() -> Value {
    serde_json::from_str(&std::fs::read_to_string(SMALL_RSA).unwrap()).unwrap()
}

/// `token` with one bit of its signature flipped.
fn tamper_signature(token: &str) -> String {
    let dot = token.rfind('.').unwrap();
    let mut sig = jose::b64_decode(&token[dot + 1..]).unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    format!("{}.{}", &token[..dot], jose::b64_encode(&sig))
}

/// `token` with another payload under the same signature.
fn tamper_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = jose::b64_encode(&serde_json::to_vec(claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// RS256 and PS256 on ring: tokens signed with the fixture key, by the other implementation
/// and here, verify; a tampered signature or payload is refused.
#[tokio::test]
async fn rsa_tokens_verify_and_tampered_ones_are_refused() {
    let up = start_upstream().await;
    let gw = jwt_gateway(vec![
        endpoint("/rs256", up.addr, "/echo", validator(up.addr, "RS256")),
        endpoint("/ps256", up.addr, "/echo", validator(up.addr, "PS256")),
    ])
    .await;
    let fixtures: Value = serde_json::from_str(TOKENS).unwrap();
    let mut admin = claims();
    admin["sub"] = json!("admin");
    for (path, alg) in [("/rs256", Alg::RS256), ("/ps256", Alg::PS256)] {
        let theirs = fixtures["tokens"][alg.name()].as_str().unwrap().to_string();
        let ours = token_with(alg, "rsa", "rsa", claims());
        for token in [&theirs, &ours] {
            let a = get_auth(&gw, path, &bearer(token)).await;
            assert_eq!(a.status, 200, "{}", alg.name());
            for bad in [
                tamper_signature(token),
                tamper_payload(token, &admin),
                token[..token.len() - 4].to_string(),
            ] {
                assert_refused(
                    &get_with(&gw.at(path), &[("authorization", &bearer(&bad))]).await,
                    401,
                );
            }
        }
    }
}

/// A 1024-bit key still verifies RS256 and RS512 tokens (ring's legacy algorithms, for
/// KrakenD setups with such keys); RS384 and PS256 need 2048 bits: refused, never accepted.
#[tokio::test]
async fn rsa_keys_of_1024_bits_verify_rs256_and_rs512_only() {
    let up = start_upstream().await;
    let v = |alg: &str| {
        json!({
            "alg": alg,
            "jwk_local_path": SMALL_RSA,
            "audience": ["http://api.example.com"],
            "issuer": "https://tentacle.test",
        })
    };
    let algs = ["RS256", "RS512", "RS384", "PS256"];
    let eps = algs
        .iter()
        .map(|a| endpoint(&format!("/{a}"), up.addr, "/echo", v(a)))
        .collect();
    let gw = jwt_gateway(eps).await;
    let small = small_rsa();
    for alg in algs {
        let token = small["tokens"][alg].as_str().unwrap();
        let a = get_with(
            &gw.at(&format!("/{alg}")),
            &[("authorization", &bearer(token))],
        )
        .await;
        if alg == "RS256" || alg == "RS512" {
            assert_eq!(a.status, 200, "{alg}");
            let bad = tamper_signature(token);
            let a = get_with(
                &gw.at(&format!("/{alg}")),
                &[("authorization", &bearer(&bad))],
            )
            .await;
            assert_refused(&a, 401);
        } else {
            assert_refused(&a, 401);
        }
    }
}

/// What the signer writes with RS256 (and PS256) verifies against the public key alone, here
/// and through a validator that reads the public JWK set.
#[tokio::test]
async fn the_signers_rsa_tokens_verify_against_the_public_key() {
    let up = start_upstream().await;
    let signer = |alg: &str| {
        json!({"alg": alg, "kid": "rsa", "keys_to_sign": ["access_token"],
               "jwk_local_path": "tests/fixtures/jwt/keys.json"})
    };
    let gw = jwt_gateway(vec![
        signer_endpoint("/sign/RS256", up.addr, signer("RS256")),
        signer_endpoint("/sign/PS256", up.addr, signer("PS256")),
        endpoint(
            "/check/RS256",
            up.addr,
            "/echo",
            validator(up.addr, "RS256"),
        ),
        endpoint(
            "/check/PS256",
            up.addr,
            "/echo",
            validator(up.addr, "PS256"),
        ),
    ])
    .await;
    let public_set: Value = serde_json::from_str(&public_set(&[("rsa", "rsa")])).unwrap();
    let public = Jwk::from_json(&public_set["keys"][0]).unwrap();
    assert!(!public.is_private());
    for alg in [Alg::RS256, Alg::PS256] {
        let a = get_with(&gw.at(&format!("/sign/{}", alg.name())), &[]).await;
        assert_eq!(a.status, 200, "{}", alg.name());
        let token = a.json()["access_token"].as_str().unwrap().to_string();
        let jws = jose::parse_compact(&token).unwrap();
        assert_eq!(jws.header_str("alg"), alg.name());
        assert_eq!(jws.header_str("kid"), "rsa");
        jose::verify(
            alg,
            &public.key,
            jws.signing_input.as_bytes(),
            &jws.signature,
        )
        .unwrap();
        let bad = tamper_signature(&token);
        let bad_jws = jose::parse_compact(&bad).unwrap();
        assert!(jose::verify(
            alg,
            &public.key,
            bad_jws.signing_input.as_bytes(),
            &bad_jws.signature
        )
        .is_err());
        // the signed object holds the fixture claims, which a validator accepts
        let check = format!("/check/{}", alg.name());
        let a = get_with(&gw.at(&check), &[("authorization", &bearer(&token))]).await;
        assert_eq!(a.status, 200, "{}", alg.name());
        assert_refused(
            &get_with(&gw.at(&check), &[("authorization", &bearer(&bad))]).await,
            401,
        );
    }
}

/// ring signs only with RSA keys of 2048 bits or more: a smaller key in a local JWK set is a
/// configuration error naming the key; from a JWK URL it is known only once downloaded, and
/// the endpoint answers an empty 400.
#[tokio::test]
async fn an_rsa_signing_key_under_2048_bits_is_a_configuration_error() {
    let up = start_upstream().await;
    for alg in ["RS256", "PS256"] {
        let e = build_error(&gateway_config(vec![signer_endpoint(
            "/sign",
            up.addr,
            json!({"alg": alg, "kid": "rsa1024", "keys_to_sign": ["access_token"],
                   "jwk_local_path": SMALL_RSA}),
        )]));
        assert!(e.contains("auth/signer"), "{e}");
        assert!(e.contains("rsa1024"), "{e}");
        assert!(e.contains("2048") && e.contains("1024 bits"), "{e}");
    }
    // from a JWK URL: the gateway starts, the endpoint refuses
    let small = small_rsa();
    *up.jwks.lock().unwrap() = json!({"keys": small["keys"]}).to_string();
    let gw = jwt_gateway(vec![signer_endpoint(
        "/remote",
        up.addr,
        json!({"alg": "RS256", "kid": "rsa1024", "keys_to_sign": ["access_token"],
               "jwk_url": format!("http://{}/jwks", up.addr), "disable_jwk_security": true}),
    )])
    .await;
    let a = get_with(&gw.at("/remote"), &[]).await;
    assert_eq!(a.status, 400);
    assert!(a.body.is_empty());
}
