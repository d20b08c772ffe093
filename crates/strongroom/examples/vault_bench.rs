//! Helper for `bench/vault-rewrap.sh`.
//!
//! `vault_bench seed URL COUNT`        seeds COUNT token sets under the KEK in SECRET_VAULT_KEK.
//! `vault_bench read URL COUNT STOP`   reads random seeded sets (opening them with
//!                                     SECRET_VAULT_KEK and SECRET_VAULT_PREVIOUS_KEKS) until the
//!                                     file STOP exists, then prints `reads=N errors=N seconds=S`.

use std::sync::Arc;
use std::time::Instant;

use secrecy::ExposeSecret;
use strongroom_core::token_sets::TokenSets;
use strongroom_core::{SystemClock, keys};
use strongroom_store::{SecretId, Store};
use strongroom_vault::{Kek, Keyring};

fn keyring() -> Keyring {
    let active = std::env::var("SECRET_VAULT_KEK").expect("SECRET_VAULT_KEK");
    let previous = std::env::var("SECRET_VAULT_PREVIOUS_KEKS").unwrap_or_default();
    Keyring::new(
        Kek::from_base64(&active).expect("SECRET_VAULT_KEK"),
        previous
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|k| Kek::from_base64(k).expect("previous KEK"))
            .collect(),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, url, count) = match args.as_slice() {
        [_, mode, url, count, ..] => (
            mode.as_str(),
            url.as_str(),
            count.parse::<u64>().expect("COUNT"),
        ),
        _ => panic!("usage: vault_bench seed|read URL COUNT [STOP_FILE]"),
    };
    let store = Store::connect_and_migrate(url).await.expect("store");
    let keyring = Arc::new(keyring());
    let clock = Arc::new(SystemClock);
    let sets = TokenSets::new(store.clone(), keyring.clone(), clock.clone());
    match mode {
        "seed" => {
            keys::verify_and_register(&store, &keyring, clock.as_ref())
                .await
                .expect("key check");
            let started = Instant::now();
            strongroom_testkit::seed::token_sets(&store, &sets, 0, count).await;
            println!(
                "seeded={count} seconds={:.2}",
                started.elapsed().as_secs_f64()
            );
        }
        "read" => {
            let stop = std::path::PathBuf::from(args.get(4).expect("STOP_FILE"));
            let started = Instant::now();
            let (mut reads, mut errors) = (0u64, 0u64);
            let mut state = 0x9E37_79B9_7F4A_7C15u64;
            while !stop.exists() {
                // xorshift: a cheap, uniform-enough pick of the next secret.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let n = state % count;
                let id = SecretId::from(format!("seed-secret-{n:09}"));
                let ok = match store.get_secret(&id).await {
                    Ok(Some(row)) => sets
                        .open(&row)
                        .is_ok_and(|set| set.access_token.expose_secret() == format!("at-{n}")),
                    _ => false,
                };
                if ok { reads += 1 } else { errors += 1 }
            }
            println!(
                "reads={reads} errors={errors} seconds={:.2}",
                started.elapsed().as_secs_f64()
            );
        }
        other => panic!("unknown mode {other}"),
    }
    store.close().await;
}
