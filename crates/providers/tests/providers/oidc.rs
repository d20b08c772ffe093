//! OpenID Connect (the generic `oidc` social connector and enterprise SSO) against a wiremock
//! OpenID provider: discovery, JWKS, RS256-signed ID tokens, RFC 9207.

use crate::support;
use std::time::Duration;

use base64::Engine as _;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use strongroom_providers::{
    CallbackProblem, Connector, ProviderError, Providers, SocialConnector, SsoOidcConnector,
};
use support::jwt::{KEY_1, KEY_2, ROGUE, hs256, jwks, now, unsigned, with_payload};
use support::*;
use wiremock::matchers::{header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
const AUTHORIZE_PATH: &str = "/auth";
const TOKEN_PATH: &str = "/token";
const USERINFO_PATH: &str = "/me";
const JWKS_PATH: &str = "/jwks";
const REVOKE_PATH: &str = "/token/revocation";
const SUB: &str = "248289761001";

/// A fake OpenID provider; its issuer is the wiremock URI.
struct Op {
    server: MockServer,
    issuer: String,
}

impl Op {
    async fn start() -> Op {
        let server = MockServer::start().await;
        let issuer = server.uri();
        Op { server, issuer }
    }

    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.issuer)
    }

    fn discovery_doc(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": self.url(AUTHORIZE_PATH),
            "token_endpoint": self.url(TOKEN_PATH),
            "userinfo_endpoint": self.url(USERINFO_PATH),
            "jwks_uri": self.url(JWKS_PATH),
            "revocation_endpoint": self.url(REVOKE_PATH),
            "end_session_endpoint": self.url("/session/end"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "offline_access", "profile", "email"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name", "picture"],
            "claims_parameter_supported": false,
            "request_uri_parameter_supported": false,
        })
    }

    async fn mount_discovery(&self, doc: Value) {
        Mock::given(method("GET"))
            .and(path(DISCOVERY_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(doc))
            .named("discovery")
            .mount(&self.server)
            .await;
    }

    async fn mount_jwks(&self, set: Value) {
        Mock::given(method("GET"))
            .and(path(JWKS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(set))
            .named("JWKS")
            .mount(&self.server)
            .await;
    }

    fn token_answer(&self, id_token: &str) -> Value {
        json!({
            "access_token": ACCESS_TOKEN,
            "expires_in": 3600,
            "id_token": id_token,
            "refresh_token": REFRESH_TOKEN,
            "scope": "openid profile email",
            "token_type": "Bearer",
        })
    }

    async fn mount_token(&self, id_token: &str) {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(self.token_answer(id_token)))
            .named("token endpoint")
            .mount(&self.server)
            .await;
    }

    async fn mount_userinfo(&self, info: Value) {
        Mock::given(method("GET"))
            .and(path(USERINFO_PATH))
            .and(header_is(
                "authorization",
                format!("Bearer {ACCESS_TOKEN}").as_str(),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(info))
            .named("userinfo")
            .mount(&self.server)
            .await;
    }

    /// Discovery, the JWKS with KEY_1, and userinfo.
    async fn mount_standard(&self) {
        self.mount_discovery(self.discovery_doc()).await;
        self.mount_jwks(jwks(&[&KEY_1])).await;
        self.mount_userinfo(userinfo()).await;
    }

    fn claims(&self) -> Value {
        json!({
            "iss": self.issuer,
            "sub": SUB,
            "aud": CLIENT_ID,
            "exp": now() + 300,
            "iat": now(),
            "auth_time": now() - 5,
            "nonce": NONCE,
            "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
            "email": "janedoe@op.example",
            "email_verified": true,
        })
    }

    fn signed(&self) -> String {
        KEY_1.sign(&self.claims())
    }

    fn social(&self) -> Connector {
        self.social_with(json!({}))
    }

    fn social_with(&self, extra: Value) -> Connector {
        let mut config =
            json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": self.issuer });
        for (k, v) in extra.as_object().expect("object") {
            config[k] = v.clone();
        }
        Connector::from(SocialConnector::from_config("oidc", &config).expect("valid OIDC config"))
    }

    fn sso(&self) -> Connector {
        Connector::Sso(self.sso_connector())
    }

    fn sso_connector(&self) -> SsoOidcConnector {
        SsoOidcConnector::from_config(&json!({
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "issuer": self.issuer,
            "scope": "profile email",
        }))
        .expect("valid SSO config")
    }

    async fn count(&self, p: &str) -> usize {
        requests_to(&self.server, p).await.len()
    }
}

fn userinfo() -> Value {
    json!({
        "sub": SUB,
        "name": "Jane Doe",
        "picture": "https://op.example/janedoe.jpg",
        "email": "janedoe@op.example",
        "email_verified": true,
    })
}

fn expected_basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    )
}

#[tokio::test]
async fn authorization_url_from_discovery() {
    let op = Op::start().await;
    Mock::given(method("GET"))
        .and(path(DISCOVERY_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.discovery_doc()))
        .expect(1)
        .named("discovery, fetched once and cached")
        .mount(&op.server)
        .await;
    let providers = providers();
    let c = op.social();
    assert!(matches!(&c, Connector::Social(s) if s.target() == "oidc"));
    let mut req = auth_request();
    req.login_hint = Some("janedoe@op.example");
    let url = expect_ok(providers.authorization_url(&c, &req).await);
    assert_eq!(
        url.as_str().split('?').next(),
        Some(op.url(AUTHORIZE_PATH).as_str())
    );
    let q = query_map(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["scope"], "openid profile email");
    assert_eq!(q["state"], STATE);
    assert_eq!(q["nonce"], NONCE);
    assert_eq!(q["code_challenge"], CHALLENGE);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["login_hint"], "janedoe@op.example");
    assert_eq!(q.len(), 9, "{q:?}");
    assert_clean("authorization URL", url.as_str());

    req.scope = Some("email offline_access");
    let q = query_map(&expect_ok(providers.authorization_url(&c, &req).await));
    assert_eq!(
        q["scope"], "openid email offline_access",
        "openid is always added"
    );

    let c = op.social_with(json!({
        "scope": "profile",
        "authRequestOptionalConfig": { "prompt": "login", "uiLocales": "de" },
        "customConfig": { "resource": "https://api.example", "nonce": "attacker-nonce" },
    }));
    let q = query_map(&expect_ok(
        providers.authorization_url(&c, &auth_request()).await,
    ));
    assert_eq!(q["scope"], "openid profile");
    assert_eq!(q["prompt"], "login");
    assert_eq!(q["ui_locales"], "de");
    assert_eq!(q["resource"], "https://api.example");
    assert_eq!(q["nonce"], NONCE, "customConfig cannot override the nonce");

    let debug = format!("{providers:?}");
    assert!(debug.contains("cached_discovery_documents: 1"), "{debug}");
}

#[tokio::test]
async fn exchange_happy_path() {
    let op = Op::start().await;
    op.mount_standard().await;
    let id_token = op.signed();
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header_is("authorization", expected_basic().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.token_answer(&id_token)))
        .expect(1)
        .mount(&op.server)
        .await;
    let c = op.social();
    let (tokens, profile) = expect_ok(providers().exchange(&c, &callback(Some(&op.issuer))).await);

    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN);
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(REFRESH_TOKEN)
    );
    assert_eq!(
        tokens.id_token.as_ref().map(|t| t.expose_secret()),
        Some(id_token.as_str())
    );
    assert_eq!(tokens.expires_in, Some(3600));
    assert_eq!(tokens.token_type.as_deref(), Some("Bearer"));

    assert_eq!(profile.id, SUB);
    assert_eq!(profile.email.as_deref(), Some("janedoe@op.example"));
    assert_eq!(profile.email_verified, Some(true));
    assert_eq!(profile.name.as_deref(), Some("Jane Doe"), "from userinfo");
    assert_eq!(
        profile.avatar.as_deref(),
        Some("https://op.example/janedoe.jpg")
    );
    assert_eq!(profile.details["iss"], op.issuer.as_str());
    assert_eq!(profile.details["auth_time"], op.claims()["auth_time"]);
    assert!(profile.details.get("nonce").is_none());
    assert!(profile.details.get("at_hash").is_none());

    let request = &requests_to(&op.server, TOKEN_PATH).await[0];
    let form = form_of(request);
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], CODE);
    assert_eq!(form["redirect_uri"], REDIRECT_URI);
    assert_eq!(form["code_verifier"], VERIFIER);
    assert!(
        !form.contains_key("client_secret"),
        "client_secret_basic by default"
    );

    assert_debug_clean("TokenResponse", &tokens);
    assert!(!format!("{tokens:?}").contains(&id_token));
    assert_debug_clean("UserProfile", &profile);
    assert_debug_clean("OIDC connector", &c);
    assert_clean(
        "profile JSON",
        &serde_json::to_string(&profile).expect("serializable"),
    );
}

#[tokio::test]
async fn sso_happy_path_without_userinfo() {
    let op = Op::start().await;
    let mut doc = op.discovery_doc();
    doc.as_object_mut()
        .expect("object")
        .remove("userinfo_endpoint");
    op.mount_discovery(doc).await;
    op.mount_jwks(jwks(&[&KEY_2, &KEY_1])).await;
    let mut claims = op.claims();
    claims["aud"] = json!([CLIENT_ID, "https://api.op.example"]);
    claims["azp"] = json!(CLIENT_ID);
    claims["name"] = json!("Jane From Claims");
    op.mount_token(&KEY_2.sign(&claims)).await;
    let providers = providers();
    assert_eq!(op.sso_connector().issuer(), op.issuer);
    let c = op.sso();

    let url = expect_ok(providers.authorization_url(&c, &auth_request()).await);
    let q = query_map(&url);
    assert_eq!(url.path(), AUTHORIZE_PATH);
    assert_eq!(q["scope"], "openid profile email");
    assert_eq!(q["nonce"], NONCE);
    assert_eq!(q["state"], STATE);
    assert_eq!(q["code_challenge"], CHALLENGE);
    assert_eq!(q["code_challenge_method"], "S256");

    let (tokens, profile) = expect_ok(providers.exchange(&c, &callback(None)).await);
    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN);
    assert_eq!(profile.id, SUB);
    assert_eq!(profile.name.as_deref(), Some("Jane From Claims"));
    assert_eq!(profile.email.as_deref(), Some("janedoe@op.example"));
    assert_eq!(profile.avatar, None);
    assert_eq!(requests_to(&op.server, USERINFO_PATH).await.len(), 0);
    assert_debug_clean("SSO connector", &c);
    assert_debug_clean("Providers", &providers);
}

#[tokio::test]
async fn client_secret_post_when_discovery_lists_only_that() {
    let op = Op::start().await;
    let mut doc = op.discovery_doc();
    doc["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"]);
    op.mount_discovery(doc).await;
    op.mount_jwks(jwks(&[&KEY_1])).await;
    op.mount_userinfo(userinfo()).await;
    op.mount_token(&op.signed()).await;
    expect_ok(providers().exchange(&op.social(), &callback(None)).await);
    let request = &requests_to(&op.server, TOKEN_PATH).await[0];
    assert_eq!(header(request, "authorization"), None);
    let form = form_of(request);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
}

const BAD_ID_TOKENS: &[&str] = &[
    "wrong nonce",
    "missing nonce",
    "wrong audience",
    "audience list without us",
    "azp of another client",
    "wrong issuer",
    "issuer with a trailing slash",
    "expired",
    "not yet valid",
    "missing exp",
    "missing sub",
    "empty sub",
    "alg none",
    "alg NONE with a signature",
    "HS256 keyed with the client secret",
    "HS256 keyed with the public key",
    "tampered payload",
    "tampered signature",
    "signed by a rogue key claiming a published kid",
    "algorithm not advertised",
    "two segments",
    "not base64",
];

fn bad_id_token(op: &Op, case: &str) -> String {
    let mut c = op.claims();
    let remove = |c: &mut Value, key: &str| {
        c.as_object_mut().expect("object").remove(key);
    };
    match case {
        "wrong nonce" => c["nonce"] = json!("nonce-of-another-request"),
        "missing nonce" => remove(&mut c, "nonce"),
        "wrong audience" => c["aud"] = json!("another-client"),
        "audience list without us" => c["aud"] = json!(["another-client", "a-third-one"]),
        "azp of another client" => {
            c["aud"] = json!([CLIENT_ID, "another-client"]);
            c["azp"] = json!("another-client");
        }
        "wrong issuer" => c["iss"] = json!("https://evil.example"),
        "issuer with a trailing slash" => c["iss"] = json!(format!("{}/", op.issuer)),
        "expired" => {
            c["iat"] = json!(now() - 4200);
            c["exp"] = json!(now() - 600);
        }
        "not yet valid" => c["nbf"] = json!(now() + 600),
        "missing exp" => remove(&mut c, "exp"),
        "missing sub" => remove(&mut c, "sub"),
        "empty sub" => c["sub"] = json!(""),
        "alg none" => return unsigned(&json!({ "alg": "none", "typ": "JWT" }), &c, ""),
        "alg NONE with a signature" => {
            return unsigned(
                &json!({ "alg": "NONE", "kid": "key-1" }),
                &c,
                "c2lnbmF0dXJl",
            );
        }
        "HS256 keyed with the client secret" => {
            return hs256(
                CLIENT_SECRET.as_bytes(),
                &json!({ "alg": "HS256", "typ": "JWT", "kid": "key-1" }),
                &c,
            );
        }
        "HS256 keyed with the public key" => {
            let n = KEY_1.jwk()["n"].as_str().expect("n").to_owned();
            return hs256(n.as_bytes(), &json!({ "alg": "HS256", "kid": "key-1" }), &c);
        }
        "tampered payload" => {
            let genuine = KEY_1.sign(&c);
            c["sub"] = json!("admin");
            return with_payload(&genuine, &c);
        }
        "tampered signature" => {
            let genuine = KEY_1.sign(&c);
            let (signed_part, signature) = genuine.rsplit_once('.').expect("JWS");
            let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(signature)
                .expect("base64url");
            bytes[17] ^= 0x01;
            return format!(
                "{signed_part}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
            );
        }
        "signed by a rogue key claiming a published kid" => return ROGUE.sign(&c),
        "algorithm not advertised" => {
            // PS256 is a real RSA algorithm, but the provider advertises only RS256.
            return KEY_1.sign_with_header(&json!({ "alg": "PS256", "kid": "key-1" }), &c);
        }
        "two segments" => {
            let genuine = KEY_1.sign(&c);
            return genuine.rsplit_once('.').expect("JWS").0.to_owned();
        }
        "not base64" => return "%%%.%%%.%%%".to_owned(),
        other => panic!("unknown case {other}"),
    }
    KEY_1.sign(&c)
}

/// Every way an ID token can be wrong; each is rejected as `IdToken`, and the access token is
/// not used for userinfo then.
#[tokio::test]
async fn bad_id_tokens_are_rejected() {
    let mut failures = Vec::new();
    for &case in BAD_ID_TOKENS {
        let op = Op::start().await;
        op.mount_discovery(op.discovery_doc()).await;
        op.mount_jwks(jwks(&[&KEY_1])).await;
        op.mount_token(&bad_id_token(&op, case)).await;
        Mock::given(path(USERINFO_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(userinfo()))
            .expect(0)
            .named(format!("userinfo after a bad ID token ({case})"))
            .mount(&op.server)
            .await;
        match providers().exchange(&op.social(), &callback(None)).await {
            Err(e @ ProviderError::IdToken(_)) => {
                assert_clean("error", &format!("{e} {e:?}"));
            }
            Err(other) => failures.push(format!("{case}: {other:?}")),
            Ok((_, profile)) => failures.push(format!("{case}: ACCEPTED, profile {profile:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "bad ID tokens not rejected as IdToken:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn sso_rejects_bad_id_tokens_too() {
    for case in [
        "wrong nonce",
        "wrong audience",
        "wrong issuer",
        "expired",
        "alg none",
        "HS256 keyed with the client secret",
        "tampered payload",
    ] {
        let op = Op::start().await;
        op.mount_discovery(op.discovery_doc()).await;
        op.mount_jwks(jwks(&[&KEY_1])).await;
        op.mount_token(&bad_id_token(&op, case)).await;
        let e = expect_err(providers().exchange(&op.sso(), &callback(None)).await);
        assert!(matches!(e, ProviderError::IdToken(_)), "{case}: {e:?}");
    }
}

#[tokio::test]
async fn expiry_leeway_is_one_minute() {
    let op = Op::start().await;
    op.mount_standard().await;
    let mut claims = op.claims();
    claims["exp"] = json!(now() - 20);
    op.mount_token(&KEY_1.sign(&claims)).await;
    let (_, profile) = expect_ok(providers().exchange(&op.social(), &callback(None)).await);
    assert_eq!(profile.id, SUB);
}

#[tokio::test]
async fn error_texts_name_the_failed_check() {
    for (case, fragment) in [
        ("wrong nonce", "nonce"),
        ("wrong audience", "aud"),
        ("wrong issuer", "iss"),
        ("expired", "expired"),
        ("alg none", "none"),
        ("HS256 keyed with the client secret", "HS"),
        ("tampered payload", "signature"),
    ] {
        let op = Op::start().await;
        op.mount_discovery(op.discovery_doc()).await;
        op.mount_jwks(jwks(&[&KEY_1])).await;
        op.mount_token(&bad_id_token(&op, case)).await;
        let e = expect_err(providers().exchange(&op.social(), &callback(None)).await);
        assert!(
            matches!(&e, ProviderError::IdToken(t) if t.contains(fragment)),
            "{case}: {e:?}"
        );
    }
}

#[tokio::test]
async fn unknown_kid_after_a_key_rotation_refetches_the_jwks_once() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    op.mount_userinfo(userinfo()).await;
    // Before the rotation the JWKS has key-1 only; afterwards key-1 and key-2.
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[&KEY_1])))
        .up_to_n_times(1)
        .expect(1)
        .named("JWKS before the rotation")
        .mount(&op.server)
        .await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[&KEY_1, &KEY_2])))
        .expect(1)
        .named("JWKS after the rotation")
        .mount(&op.server)
        .await;
    let providers = providers();
    let c = op.social();

    let token = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(op.token_answer(&KEY_1.sign(&op.claims()))),
        )
        .mount_as_scoped(&op.server)
        .await;
    expect_ok(providers.exchange(&c, &callback(None)).await);
    expect_ok(providers.exchange(&c, &callback(None)).await);
    assert_eq!(op.count(JWKS_PATH).await, 1, "the key set is cached");
    drop(token);

    let token = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(op.token_answer(&KEY_2.sign(&op.claims()))),
        )
        .mount_as_scoped(&op.server)
        .await;
    let (_, profile) = expect_ok(providers.exchange(&c, &callback(None)).await);
    assert_eq!(profile.id, SUB);
    assert_eq!(
        op.count(JWKS_PATH).await,
        2,
        "exactly one refetch for the new kid"
    );
    expect_ok(providers.exchange(&c, &callback(None)).await);
    assert_eq!(op.count(JWKS_PATH).await, 2, "the refetched set is cached");
    drop(token);

    // Another unknown kid within the minute: no further fetch (no JWKS hammering).
    let _token = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.token_answer(
            &KEY_2.sign_with_header(&json!({ "alg": "RS256", "kid": "key-3" }), &op.claims()),
        )))
        .mount_as_scoped(&op.server)
        .await;
    let e = expect_err(providers.exchange(&c, &callback(None)).await);
    assert!(matches!(e, ProviderError::IdToken(_)), "{e:?}");
    assert_eq!(op.count(JWKS_PATH).await, 2);
}

#[tokio::test]
async fn unknown_kid_refetches_exactly_once_then_fails() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    op.mount_userinfo(userinfo()).await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[&KEY_1])))
        .expect(2)
        .named("JWKS: the first fetch and one refetch")
        .mount(&op.server)
        .await;
    let providers = providers();
    let c = op.social();
    let token = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.token_answer(&op.signed())))
        .mount_as_scoped(&op.server)
        .await;
    expect_ok(providers.exchange(&c, &callback(None)).await);
    drop(token);
    let _token = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(op.token_answer(&KEY_2.sign(&op.claims()))),
        )
        .mount_as_scoped(&op.server)
        .await;
    let e = expect_err(providers.exchange(&c, &callback(None)).await);
    assert!(
        matches!(&e, ProviderError::IdToken(t) if t.contains("kid")),
        "{e:?}"
    );
    assert_eq!(op.count(JWKS_PATH).await, 2);
}

#[tokio::test]
async fn the_caches_expire_on_the_injected_clock() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    op.mount_userinfo(userinfo()).await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[&KEY_1])))
        .mount(&op.server)
        .await;
    let _token = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.token_answer(&op.signed())))
        .mount(&op.server)
        .await;
    let now = ManualNow::new();
    let providers = now.providers();
    let c = op.social();
    expect_ok(providers.exchange(&c, &callback(None)).await);
    now.advance(Duration::from_secs(3599));
    expect_ok(providers.exchange(&c, &callback(None)).await);
    assert_eq!(
        (op.count(DISCOVERY_PATH).await, op.count(JWKS_PATH).await),
        (1, 1),
        "both are cached for an hour"
    );
    now.advance(Duration::from_secs(1));
    expect_ok(providers.exchange(&c, &callback(None)).await);
    assert_eq!(
        (op.count(DISCOVERY_PATH).await, op.count(JWKS_PATH).await),
        (2, 2),
        "after an hour both are fetched again"
    );
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_at_most_once_a_minute() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    op.mount_userinfo(userinfo()).await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[&KEY_1])))
        .mount(&op.server)
        .await;
    let now = ManualNow::new();
    let providers = now.providers();
    let c = op.social();
    let token = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.token_answer(&op.signed())))
        .mount_as_scoped(&op.server)
        .await;
    expect_ok(providers.exchange(&c, &callback(None)).await);
    drop(token);
    // Tokens signed by a key the set lacks: one refetch, then none within the minute.
    let _token = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(op.token_answer(&KEY_2.sign(&op.claims()))),
        )
        .mount_as_scoped(&op.server)
        .await;
    for _ in 0..2 {
        expect_err(providers.exchange(&c, &callback(None)).await);
    }
    assert_eq!(
        op.count(JWKS_PATH).await,
        2,
        "one refetch for the unknown kid"
    );
    now.advance(Duration::from_secs(59));
    expect_err(providers.exchange(&c, &callback(None)).await);
    assert_eq!(op.count(JWKS_PATH).await, 2, "none within the minute");
    now.advance(Duration::from_secs(1));
    expect_err(providers.exchange(&c, &callback(None)).await);
    assert_eq!(op.count(JWKS_PATH).await, 3, "one more after the minute");
}

#[tokio::test]
async fn callback_iss_mismatch_is_rejected_before_the_token_endpoint() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    Mock::given(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.token_answer(&op.signed())))
        .expect(0)
        .named("token endpoint (must not receive the code)")
        .mount(&op.server)
        .await;
    let providers = providers();
    for iss in ["https://attacker.example", &format!("{}/", op.issuer), ""] {
        let e = expect_err(providers.exchange(&op.social(), &callback(Some(iss))).await);
        assert!(
            matches!(&e, ProviderError::Callback(CallbackProblem::WrongIss)),
            "{iss}: {e:?}"
        );
        let e = expect_err(providers.exchange(&op.sso(), &callback(Some(iss))).await);
        assert!(
            matches!(&e, ProviderError::Callback(CallbackProblem::WrongIss)),
            "{iss}: {e:?}"
        );
    }
}

#[tokio::test]
async fn missing_callback_iss_is_rejected_when_discovery_promises_it() {
    let op = Op::start().await;
    let mut doc = op.discovery_doc();
    doc["authorization_response_iss_parameter_supported"] = json!(true);
    op.mount_discovery(doc).await;
    op.mount_jwks(jwks(&[&KEY_1])).await;
    op.mount_userinfo(userinfo()).await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.token_answer(&op.signed())))
        .expect(2)
        .named("token endpoint (only for callbacks with iss)")
        .mount(&op.server)
        .await;
    let providers = providers();
    let e = expect_err(providers.exchange(&op.social(), &callback(None)).await);
    assert!(
        matches!(&e, ProviderError::Callback(CallbackProblem::MissingIss)),
        "{e:?}"
    );
    let e = expect_err(providers.exchange(&op.sso(), &callback(None)).await);
    assert!(
        matches!(&e, ProviderError::Callback(CallbackProblem::MissingIss)),
        "{e:?}"
    );
    assert_eq!(op.count(TOKEN_PATH).await, 0);

    expect_ok(
        providers
            .exchange(&op.social(), &callback(Some(&op.issuer)))
            .await,
    );
    expect_ok(
        providers
            .exchange(&op.sso(), &callback(Some(&op.issuer)))
            .await,
    );
}

#[tokio::test]
async fn discovery_issuer_must_equal_the_configured_issuer() {
    for discovered in ["https://other-tenant.op.example".to_owned(), String::new()] {
        let op = Op::start().await;
        let mut doc = op.discovery_doc();
        doc["issuer"] = if discovered.is_empty() {
            json!(format!("{}/", op.issuer))
        } else {
            json!(discovered)
        };
        op.mount_discovery(doc).await;
        op.mount_jwks(jwks(&[&KEY_1])).await;
        Mock::given(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(op.token_answer(&op.signed())))
            .expect(0)
            .mount(&op.server)
            .await;
        let providers = providers();
        let e = expect_err(
            providers
                .authorization_url(&op.social(), &auth_request())
                .await,
        );
        assert!(
            matches!(&e, ProviderError::InvalidResponse(t) if t.contains("issuer")),
            "{e:?}"
        );
        let e = expect_err(
            providers
                .exchange(&op.social(), &callback(Some(&op.issuer)))
                .await,
        );
        assert!(
            matches!(&e, ProviderError::InvalidResponse(t) if t.contains("issuer")),
            "{e:?}"
        );
        let e = expect_err(
            providers
                .authorization_url(&op.sso(), &auth_request())
                .await,
        );
        assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
    }
}

#[tokio::test]
async fn discovery_failures() {
    let cases = [
        (
            ResponseTemplate::new(503),
            Some(ProviderError::Unavailable { status: 503 }),
        ),
        (
            ResponseTemplate::new(429),
            Some(ProviderError::Unavailable { status: 429 }),
        ),
        (
            ResponseTemplate::new(404).set_body_string("Not Found"),
            None,
        ),
        (html_page(), None),
        (
            ResponseTemplate::new(200).set_body_json(json!(["not", "an", "object"])),
            None,
        ),
        (
            ResponseTemplate::new(301).insert_header("Location", "/elsewhere"),
            None,
        ),
    ];
    for (answer, expected) in cases {
        let op = Op::start().await;
        Mock::given(path(DISCOVERY_PATH))
            .respond_with(answer)
            .mount(&op.server)
            .await;
        let e = expect_err(
            providers()
                .authorization_url(&op.social(), &auth_request())
                .await,
        );
        match expected {
            Some(expected) => assert_eq!(e, expected),
            None => assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}"),
        }
    }
    let op = Op::start().await;
    Mock::given(path(DISCOVERY_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(op.discovery_doc())
                .set_delay(SLOW),
        )
        .mount(&op.server)
        .await;
    let e = expect_err(
        impatient_providers()
            .authorization_url(&op.sso(), &auth_request())
            .await,
    );
    assert_eq!(e, ProviderError::Timeout);
}

#[tokio::test]
async fn jwks_failures() {
    let cases = [
        (
            ResponseTemplate::new(503),
            Some(ProviderError::Unavailable { status: 503 }),
        ),
        (html_page(), None),
        (
            ResponseTemplate::new(200).set_body_json(json!({ "not_keys": [] })),
            None,
        ),
    ];
    for (answer, expected) in cases {
        let op = Op::start().await;
        op.mount_discovery(op.discovery_doc()).await;
        Mock::given(path(JWKS_PATH))
            .respond_with(answer)
            .mount(&op.server)
            .await;
        op.mount_token(&op.signed()).await;
        let e = expect_err(providers().exchange(&op.social(), &callback(None)).await);
        match expected {
            Some(expected) => assert_eq!(e, expected),
            None => assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}"),
        }
    }
    // A JWKS whose only key is an encryption key: nothing to verify with.
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    let mut jwk = KEY_1.jwk();
    jwk["use"] = json!("enc");
    op.mount_jwks(json!({ "keys": [jwk] })).await;
    op.mount_token(&op.signed()).await;
    let e = expect_err(providers().exchange(&op.social(), &callback(None)).await);
    assert!(matches!(e, ProviderError::IdToken(_)), "{e:?}");
}

#[tokio::test]
async fn userinfo_problems() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    op.mount_jwks(jwks(&[&KEY_1])).await;
    op.mount_token(&op.signed()).await;
    let providers = providers();
    let c = op.social();

    let mut other = userinfo();
    other["sub"] = json!("someone-else");
    let guard = Mock::given(path(USERINFO_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(other))
        .mount_as_scoped(&op.server)
        .await;
    let e = expect_err(providers.exchange(&c, &callback(None)).await);
    assert!(matches!(e, ProviderError::IdToken(_)), "{e:?}");
    drop(guard);

    let guard = Mock::given(path(USERINFO_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "application/jwt"),
        )
        .mount_as_scoped(&op.server)
        .await;
    let e = expect_err(providers.exchange(&c, &callback(None)).await);
    assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
    drop(guard);

    let guard = Mock::given(path(USERINFO_PATH))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", "Bearer error=\"invalid_token\""),
        )
        .mount_as_scoped(&op.server)
        .await;
    let e = expect_err(providers.exchange(&c, &callback(None)).await);
    assert!(
        matches!(&e, ProviderError::OAuth { error, .. } if error == "invalid_token"),
        "{e:?}"
    );
    drop(guard);

    let _guard = Mock::given(path(USERINFO_PATH))
        .respond_with(ResponseTemplate::new(502))
        .mount_as_scoped(&op.server)
        .await;
    assert_eq!(
        expect_err(providers.exchange(&c, &callback(None)).await),
        ProviderError::Unavailable { status: 502 }
    );
}

#[tokio::test]
async fn token_answer_without_id_token_is_rejected() {
    let op = Op::start().await;
    op.mount_standard().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN,
            "expires_in": 3600,
            "token_type": "Bearer",
        })))
        .mount(&op.server)
        .await;
    let e = expect_err(providers().exchange(&op.social(), &callback(None)).await);
    assert!(matches!(e, ProviderError::IdToken(_)), "{e:?}");
}

#[tokio::test]
async fn token_endpoint_errors() {
    let cases = [
        (
            ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "invalid_grant", "error_description": "grant request is invalid" })),
            ProviderError::InvalidGrant("grant request is invalid".into()),
        ),
        (
            ResponseTemplate::new(401).set_body_json(
                json!({ "error": "invalid_client", "error_description": "client authentication failed" }),
            ),
            ProviderError::OAuth {
                error: "invalid_client".into(),
                description: Some("client authentication failed".into()),
            },
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_request" })),
            ProviderError::OAuth {
                error: "invalid_request".into(),
                description: None,
            },
        ),
    ];
    for (answer, expected) in cases {
        let op = Op::start().await;
        op.mount_discovery(op.discovery_doc()).await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(answer)
            .expect(2)
            .mount(&op.server)
            .await;
        let providers = providers();
        assert_eq!(
            expect_err(providers.exchange(&op.social(), &callback(None)).await),
            expected
        );
        assert_eq!(
            expect_err(providers.exchange(&op.sso(), &callback(None)).await),
            expected
        );
    }
}

#[tokio::test]
async fn token_endpoint_unavailable() {
    for status in UNAVAILABLE_STATUSES {
        let op = Op::start().await;
        op.mount_discovery(op.discovery_doc()).await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(status))
            .expect(3)
            .mount(&op.server)
            .await;
        let providers = providers();
        let e = expect_err(providers.exchange(&op.social(), &callback(None)).await);
        assert_eq!(e, ProviderError::Unavailable { status });
        assert!(e.is_transient());
        let e = expect_err(providers.exchange(&op.sso(), &callback(None)).await);
        assert_eq!(e, ProviderError::Unavailable { status });
        let e = expect_err(
            providers
                .refresh(&op.social(), &secret(REFRESH_TOKEN))
                .await,
        );
        assert_eq!(e, ProviderError::Unavailable { status });
    }
}

#[tokio::test]
async fn slow_token_endpoint_times_out() {
    let op = Op::start().await;
    op.mount_standard().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(op.token_answer(&op.signed()))
                .set_delay(SLOW),
        )
        .mount(&op.server)
        .await;
    let providers = impatient_providers();
    assert_eq!(
        expect_err(providers.exchange(&op.social(), &callback(None)).await),
        ProviderError::Timeout
    );
    assert_eq!(
        expect_err(providers.refresh(&op.sso(), &secret(REFRESH_TOKEN)).await),
        ProviderError::Timeout
    );
}

#[tokio::test]
async fn redirect_on_the_token_endpoint_is_not_followed() {
    let op = Op::start().await;
    op.mount_standard().await;
    mount_redirect(&op.server, "POST", TOKEN_PATH).await;
    let e = expect_err(providers().exchange(&op.social(), &callback(None)).await);
    assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
    assert!(requests_to(&op.server, REDIRECT_TARGET).await.is_empty());
}

#[tokio::test]
async fn garbage_token_answers_are_invalid_responses() {
    for answer in [
        html_page(),
        ResponseTemplate::new(200).set_body_raw("{\"access_token\":", "application/json"),
        ResponseTemplate::new(200).set_body_json(json!({ "id_token": "x.y.z" })),
        ResponseTemplate::new(418).set_body_string("I'm a teapot"),
    ] {
        let op = Op::start().await;
        op.mount_standard().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(answer)
            .mount(&op.server)
            .await;
        let e = expect_err(providers().exchange(&op.sso(), &callback(None)).await);
        assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
    }
}

#[tokio::test]
async fn refresh_uses_the_cached_discovery() {
    let op = Op::start().await;
    Mock::given(method("GET"))
        .and(path(DISCOVERY_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.discovery_doc()))
        .expect(1)
        .mount(&op.server)
        .await;
    op.mount_jwks(jwks(&[&KEY_1])).await;
    op.mount_userinfo(userinfo()).await;
    let refreshed = json!({
        "access_token": ACCESS_TOKEN_2,
        "expires_in": 3600,
        "refresh_token": REFRESH_TOKEN_2,
        "token_type": "Bearer",
    });
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=refresh_token",
        ))
        .and(header_is("authorization", expected_basic().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(refreshed))
        .expect(2)
        .mount(&op.server)
        .await;
    let providers = providers();
    let tokens = expect_ok(
        providers
            .refresh(&op.social(), &secret(REFRESH_TOKEN))
            .await,
    );
    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN_2);
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(REFRESH_TOKEN_2)
    );
    assert!(tokens.id_token.is_none());
    let tokens = expect_ok(providers.refresh(&op.sso(), &secret(REFRESH_TOKEN)).await);
    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN_2);
    let form = form_of(&requests_to(&op.server, TOKEN_PATH).await[0]);
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], REFRESH_TOKEN);
    assert_debug_clean("refreshed tokens", &tokens);
}

#[tokio::test]
async fn refresh_invalid_grant() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "grant request is invalid",
        })))
        .mount(&op.server)
        .await;
    let e = expect_err(providers().refresh(&op.sso(), &secret(REFRESH_TOKEN)).await);
    assert_eq!(
        e,
        ProviderError::InvalidGrant("grant request is invalid".into())
    );
    assert!(!e.is_transient());
}

#[tokio::test]
async fn revoke_at_the_discovered_endpoint() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    Mock::given(method("POST"))
        .and(path(REVOKE_PATH))
        .and(header_is("authorization", expected_basic().as_str()))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&op.server)
        .await;
    let providers = providers();
    expect_ok(providers.revoke(&op.social(), &secret(REFRESH_TOKEN)).await);
    assert_eq!(
        form_of(&requests_to(&op.server, REVOKE_PATH).await[0])["token"],
        REFRESH_TOKEN
    );

    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    Mock::given(method("POST"))
        .and(path(REVOKE_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_token" })))
        .expect(1)
        .mount(&op.server)
        .await;
    expect_ok(providers.revoke(&op.sso(), &secret(ACCESS_TOKEN)).await);

    let op = Op::start().await;
    let mut doc = op.discovery_doc();
    doc.as_object_mut()
        .expect("object")
        .remove("revocation_endpoint");
    op.mount_discovery(doc).await;
    let e = expect_err(providers.revoke(&op.sso(), &secret(ACCESS_TOKEN)).await);
    assert!(matches!(e, ProviderError::NotSupported(_)), "{e:?}");
}

/// A connector configured Logto's way (explicit endpoints) never discovered the provider, so
/// it never learnt the revocation endpoint: revocation looks it up then.
#[tokio::test]
async fn revoke_discovers_the_endpoint_of_a_connector_configured_with_endpoints() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    Mock::given(method("POST"))
        .and(path(REVOKE_PATH))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&op.server)
        .await;
    let c = op.social_with(json!({
        "authorizationEndpoint": op.url("/custom/authorize"),
        "tokenEndpoint": op.url(TOKEN_PATH),
        "userInfoEndpoint": op.url(USERINFO_PATH),
        "idTokenVerificationConfig": { "jwksUri": op.url(JWKS_PATH) },
    }));
    expect_ok(providers().revoke(&c, &secret(REFRESH_TOKEN)).await);
    assert_eq!(
        form_of(&requests_to(&op.server, REVOKE_PATH).await[0])["token"],
        REFRESH_TOKEN
    );
}

#[tokio::test]
async fn configured_endpoints_need_no_discovery() {
    let op = Op::start().await;
    Mock::given(path(DISCOVERY_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.discovery_doc()))
        .expect(0)
        .mount(&op.server)
        .await;
    op.mount_jwks(jwks(&[&KEY_1])).await;
    op.mount_userinfo(userinfo()).await;
    op.mount_token(&op.signed()).await;
    let c = op.social_with(json!({
        "authorizationEndpoint": op.url("/custom/authorize"),
        "tokenEndpoint": op.url(TOKEN_PATH),
        "userInfoEndpoint": op.url(USERINFO_PATH),
        "idTokenVerificationConfig": { "jwksUri": op.url(JWKS_PATH) },
    }));
    let providers: Providers = providers();
    let url = expect_ok(providers.authorization_url(&c, &auth_request()).await);
    assert_eq!(url.path(), "/custom/authorize");
    let (_, profile) = expect_ok(providers.exchange(&c, &callback(None)).await);
    assert_eq!(profile.id, SUB);
}

#[test]
fn config_errors() {
    let e = expect_err(SsoOidcConnector::from_config(
        &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET }),
    ));
    assert_eq!(e, ProviderError::Config("issuer is required".into()));
    let e = expect_err(SsoOidcConnector::from_config(
        &json!({ "clientId": CLIENT_ID, "issuer": "https://op.example" }),
    ));
    assert_eq!(e, ProviderError::Config("clientSecret is required".into()));
    let e = expect_err(SsoOidcConnector::from_config(
        &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": "not a url" }),
    ));
    assert_eq!(
        e,
        ProviderError::Config("issuer must be an absolute http(s) URL".into())
    );
    let e = expect_err(SocialConnector::from_config(
        "oidc",
        &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET }),
    ));
    assert_eq!(e, ProviderError::Config("issuer is required".into()));
    let e = expect_err(SsoOidcConnector::from_config(&json!({
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "issuer": "https://op.example",
        "tokenEndpointAuthMethod": "private_key_jwt",
    })));
    assert!(
        matches!(&e, ProviderError::Config(t) if t.contains("tokenEndpointAuthMethod")),
        "{e:?}"
    );

    let c = SsoOidcConnector::from_config(
        &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": "https://op.example/" }),
    )
    .expect("config");
    assert_eq!(c.issuer(), "https://op.example/", "exactly as configured");
    assert_debug_clean("SSO connector", &c);
}

#[tokio::test]
async fn token_without_kid_is_tried_against_each_fitting_key() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    op.mount_jwks(jwks(&[&KEY_2, &KEY_1])).await;
    op.mount_userinfo(userinfo()).await;
    op.mount_token(&KEY_1.sign_with_header(&json!({ "alg": "RS256", "typ": "JWT" }), &op.claims()))
        .await;
    let (_, profile) = expect_ok(providers().exchange(&op.social(), &callback(None)).await);
    assert_eq!(profile.id, SUB);
}

#[tokio::test]
async fn concurrent_exchanges_share_one_jwks_refetch() {
    let op = Op::start().await;
    op.mount_discovery(op.discovery_doc()).await;
    op.mount_userinfo(userinfo()).await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[&KEY_1])))
        .up_to_n_times(1)
        .mount(&op.server)
        .await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(jwks(&[&KEY_1, &KEY_2]))
                .set_delay(std::time::Duration::from_millis(100)),
        )
        .mount(&op.server)
        .await;
    let providers = providers();
    let c = op.social();
    let first = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(op.token_answer(&op.signed())))
        .mount_as_scoped(&op.server)
        .await;
    expect_ok(providers.exchange(&c, &callback(None)).await);
    drop(first);
    let _rotated = Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(op.token_answer(&KEY_2.sign(&op.claims()))),
        )
        .mount_as_scoped(&op.server)
        .await;
    let cb = callback(None);
    let (a, b, c3) = tokio::join!(
        providers.exchange(&c, &cb),
        providers.exchange(&c, &cb),
        providers.exchange(&c, &cb)
    );
    for result in [a, b, c3] {
        assert_eq!(expect_ok(result).1.id, SUB);
    }
    assert_eq!(
        op.count(JWKS_PATH).await,
        2,
        "one initial fetch, one shared refetch"
    );
}

#[tokio::test]
async fn sso_honours_a_configured_auth_method() {
    let op = Op::start().await;
    op.mount_standard().await;
    op.mount_token(&op.signed()).await;
    let c = Connector::from(
        SsoOidcConnector::from_config(&json!({
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "issuer": op.issuer,
            "tokenEndpointAuthMethod": "client_secret_post",
        }))
        .expect("config"),
    );
    expect_ok(providers().exchange(&c, &callback(None)).await);
    let request = &requests_to(&op.server, TOKEN_PATH).await[0];
    assert_eq!(header(request, "authorization"), None);
    assert_eq!(form_of(request)["client_secret"], CLIENT_SECRET);
}

#[tokio::test]
async fn logto_style_id_token_verification_config() {
    let op = Op::start().await;
    op.mount_standard().await;
    op.mount_token(&op.signed()).await;
    let c = Connector::from(
        SocialConnector::from_config(
            "oidc",
            &json!({
                "clientId": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
                "idTokenVerificationConfig": { "issuer": [op.issuer], "algorithms": ["RS256"] },
            }),
        )
        .expect("config"),
    );
    let (_, profile) = expect_ok(providers().exchange(&c, &callback(Some(&op.issuer))).await);
    assert_eq!(profile.id, SUB);
}
