//! Helper for `bench/token-retrieval.sh` and `bench/users-list.sh`.
//!
//! `token_bench seed URL COUNT TOKENS_FILE [TOKENS]`
//!     seeds COUNT users, each with a `github` identity and a valid sealed token set (the
//!     testkit seeder: access token `at-<n>`, `expiresAt` in 2100), under the KEK in
//!     SECRET_VAULT_KEK; then registers one application (`bench-app`, client secret
//!     `bench-app-secret`, allowed to exchange tokens for `urn:strongroom:connector:github`)
//!     and mints TOKENS (default 4000)
//!     Strongroom access tokens with the scope `openid identities`, one grant each, for
//!     distinct seeded users spread over the whole population (round-robin over every user
//!     when COUNT < TOKENS, so both populations get the same number of tokens). Writes
//!     `<token>\t<n>` lines to TOKENS_FILE (n: the user's seed number, whose stored access
//!     token is `at-<n>`) and prints `seeded=N seed_seconds=S tokens=T mint_seconds=S`.
//!
//! `token_bench management URL ENDPOINT`
//!     registers a machine-to-machine application and prints a Management API access token
//!     for the server at ENDPOINT (what `client_credentials` would issue it, minted directly).

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use strongroom_core::crypto::{random_token, token_hash};
use strongroom_core::token_sets::TokenSets;
use strongroom_core::{Clock, SystemClock, keys};
use strongroom_store::{
    AccessTokenRow, ApplicationId, ApplicationRow, GrantRow, Store, TokenExchangeSettings, UserId,
};
use strongroom_vault::{Kek, Keyring};

const APP_ID: &str = "bench-app";
/// The benchmark application's client secret (for token exchange requests).
const APP_SECRET: &str = "bench-app-secret";
const SCOPE: &str = "openid identities";
/// Minted tokens live long enough for any run (milliseconds).
const TOKEN_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// Inserts in flight at once while minting.
const MINT_CONCURRENCY: usize = 8;

fn keyring() -> Keyring {
    let active = std::env::var("SECRET_VAULT_KEK").expect("SECRET_VAULT_KEK");
    Keyring::new(
        Kek::from_base64(&active).expect("SECRET_VAULT_KEK"),
        Vec::new(),
    )
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The seed number of the user who gets token `i`: a fixed stride coprime to `count` visits
/// distinct users scattered over the whole id range (and every user in turn when count is
/// smaller than the number of tokens).
fn user_for(i: u64, count: u64) -> u64 {
    let mut stride = 2_654_435_761u64 % count;
    while stride == 0 || gcd(stride, count) != 1 {
        stride += 1;
    }
    (i.wrapping_mul(stride) + 12_345) % count
}

async fn mint(store: &Store, app: &ApplicationId, n: u64, now: i64) -> String {
    let user = UserId::from(format!("seed-user-{n:09}"));
    let grant = GrantRow {
        id: strongroom_store::new_id(),
        user_id: Some(user.clone()),
        application_id: app.clone(),
        scope: SCOPE.to_owned(),
        resource: None,
        auth_time: Some(strongroom_core::store::UnixSecs::from_ms(now)),
        created_at: now,
        revoked_at: None,
    };
    store.insert_grant(&grant).await.expect("insert grant");
    let token = random_token().expect("random token");
    store
        .insert_access_token(&AccessTokenRow {
            token_hash: token_hash(&token),
            grant_id: Some(grant.id),
            application_id: app.clone(),
            user_id: Some(user),
            scope: SCOPE.to_owned(),
            resource: None,
            created_at: now,
            expires_at: now + TOKEN_TTL_MS,
        })
        .await
        .expect("insert access token");
    token
}

fn application(id: &ApplicationId, app_type: &str, now: i64) -> ApplicationRow {
    ApplicationRow {
        id: id.clone(),
        name: format!("{} benchmark", id),
        description: None,
        app_type: app_type.to_owned(),
        secret_hash: None,
        oidc_client_metadata: serde_json::json!({"redirectUris": ["http://127.0.0.1/callback"]}),
        custom_client_metadata: serde_json::json!({}),
        custom_data: serde_json::json!({}),
        is_third_party: false,
        allow_provider_tokens: false,
        token_exchange: Default::default(),
        created_at: now,
        updated_at: now,
    }
}

/// Prints a Management API token for the server at `endpoint`.
async fn management(url: &str, endpoint: &str) {
    let store = Store::connect_and_migrate(url).await.expect("store");
    let now = SystemClock.now_ms();
    let app = ApplicationId::from("bench-m2m");
    store
        .save_application(&application(&app, "MachineToMachine", now))
        .await
        .expect("save application");
    let token = random_token().expect("random token");
    store
        .insert_access_token(&AccessTokenRow {
            token_hash: token_hash(&token),
            grant_id: None,
            application_id: app,
            user_id: None,
            scope: strongroom_core::oidc::MANAGEMENT_SCOPE.to_owned(),
            resource: Some(format!("{}/api", endpoint.trim_end_matches('/'))),
            created_at: now,
            expires_at: now + TOKEN_TTL_MS,
        })
        .await
        .expect("insert access token");
    println!("{token}");
    store.close().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, count, file, tokens) = match args.as_slice() {
        [_, mode, url, count, file, rest @ ..] if mode == "seed" => (
            url.clone(),
            count.parse::<u64>().expect("COUNT"),
            std::path::PathBuf::from(file),
            rest.first()
                .map_or(4000, |t| t.parse::<u64>().expect("TOKENS")),
        ),
        [_, mode, url, endpoint] if mode == "management" => {
            return management(url, endpoint).await;
        }
        _ => panic!(
            "usage: token_bench seed URL COUNT TOKENS_FILE [TOKENS] | token_bench management URL ENDPOINT"
        ),
    };
    assert!(count > 0 && tokens > 0, "COUNT and TOKENS must be positive");
    let store = Store::connect_and_migrate(&url).await.expect("store");
    let keyring = Arc::new(keyring());
    let clock = Arc::new(SystemClock);
    let sets = TokenSets::new(store.clone(), keyring.clone(), clock.clone());
    keys::verify_and_register(&store, &keyring, clock.as_ref())
        .await
        .expect("key check");

    let started = Instant::now();
    strongroom_testkit::seed::token_sets(&store, &sets, 0, count).await;
    let seed_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let now = clock.now_ms();
    let app = ApplicationId::from(APP_ID.to_owned());
    store
        .save_application(&ApplicationRow {
            secret_hash: Some(token_hash(APP_SECRET)),
            token_exchange: TokenExchangeSettings {
                enabled: true,
                connectors: vec!["urn:strongroom:connector:github".to_owned()],
                ..Default::default()
            },
            ..application(&app, "Traditional", now)
        })
        .await
        .expect("save application");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("tokens file"));
    let mut next = 0u64;
    while next < tokens {
        let end = (next + MINT_CONCURRENCY as u64 * 64).min(tokens);
        let mut tasks = tokio::task::JoinSet::new();
        for lane in 0..MINT_CONCURRENCY as u64 {
            let (store, app) = (store.clone(), app.clone());
            let mine: Vec<u64> = (next + lane..end).step_by(MINT_CONCURRENCY).collect();
            tasks.spawn(async move {
                let mut minted = Vec::with_capacity(mine.len());
                for i in mine {
                    let n = user_for(i, count);
                    minted.push((mint(&store, &app, n, now).await, n));
                }
                minted
            });
        }
        for minted in tasks.join_all().await {
            for (token, n) in minted {
                writeln!(out, "{token}\t{n}").expect("write tokens file");
            }
        }
        next = end;
    }
    out.flush().expect("write tokens file");
    println!(
        "seeded={count} seed_seconds={seed_seconds:.2} tokens={tokens} mint_seconds={:.2}",
        started.elapsed().as_secs_f64()
    );
    store.close().await;
}
