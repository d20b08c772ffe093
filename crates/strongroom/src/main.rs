//! The `strongroom` binary. Thin: parse the command, load configuration, call the core.

mod config;
mod kek;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use strongroom_core::admins::{self, FirstAdmin};
use strongroom_core::providers::{Http, Providers};
use strongroom_core::rewrap::{self, RewrapOptions};
use strongroom_core::token_access::RefreshOptions;
use strongroom_core::{Clock, SystemClock, keys};
use strongroom_server::{AppState, Application};
use strongroom_store::Store;
use strongroom_vault::Kek;

use crate::config::Settings;
use crate::kek::Generate;

#[derive(Debug, Parser)]
#[command(
    name = "strongroom",
    version,
    about = "Self-hosted identity broker with a secret vault"
)]
struct Cli {
    /// Optional TOML configuration file (also STRONGROOM_CONFIG). Environment variables win.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (with no configuration: the SQLite quick start in ./strongroom-data).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Key-encryption keys.
    Kek {
        #[command(subcommand)]
        command: KekCommand,
    },
    /// Applications.
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
    /// The Secret Vault.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Console administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a console administrator. Prints a generated password once, unless
    /// --password-stdin reads one (8 characters at least) from standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (generated and printed once, or read with --password-stdin), unlock
    /// the account and end its console sessions.
    ResetPassword {
        #[arg(long, default_value = admins::FIRST_ADMIN)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KekCommand {
    /// Print a fresh random KEK (base64 of 32 bytes) for SECRET_VAULT_KEK.
    Generate,
}

#[derive(Debug, Subcommand)]
enum AppsCommand {
    /// Create a machine-to-machine application that may call the Management API; prints
    /// {"id": ..., "secret": ...} (the secret is shown this once).
    CreateM2m {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// Show how many sealed records each KEK wraps.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Re-wrap every data key under the active KEK (online, batched, resumable).
    Rewrap {
        /// Records per batch; each batch commits atomically.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch_size: u64,
        /// Batches written concurrently, each on its own database connection.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=16))]
        parallel: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Kek {
        command: KekCommand::Generate,
    } = cli.command
    {
        return match Kek::generate() {
            Ok(kek) => {
                println!("{}", kek.to_base64().as_str());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&anyhow::anyhow!("{e}")),
        };
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    init_logging(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&e.into()),
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match command {
        Command::Kek { .. } => unreachable!("handled before the runtime starts"),
        Command::Migrate => {
            let store = connect(&settings).await?;
            println!(
                "database migrated to schema version {}",
                store.schema_version().await?
            );
            store.close().await;
        }
        Command::Serve => serve(settings, clock).await?,
        Command::Apps {
            command: AppsCommand::CreateM2m { name },
        } => {
            let store = connect(&settings).await?;
            let revocations = std::sync::Arc::new(strongroom_core::oidc::Revocations::new(
                store.clone(),
                clock.clone(),
            ));
            let apps =
                strongroom_core::applications::Applications::new(store.clone(), clock, revocations);
            let (app, secret) = apps
                .create(strongroom_core::applications::NewApplication {
                    name,
                    app_type: "MachineToMachine".into(),
                    ..Default::default()
                })
                .await?;
            store.close().await;
            let secret = secret.as_ref().map(|s| s.expose_secret().to_owned());
            println!("{}", serde_json::json!({ "id": app.id, "secret": secret }));
        }
        Command::Admin { command } => {
            let (username, password_stdin) = match &command {
                AdminCommand::Create {
                    username,
                    password_stdin,
                }
                | AdminCommand::ResetPassword {
                    username,
                    password_stdin,
                } => (username.clone(), *password_stdin),
            };
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let store = connect(&settings).await?;
            let outcome = match command {
                AdminCommand::Create { .. } => {
                    admins::create_admin(&store, &username, password, clock.as_ref())
                        .await
                        .map_err(|e| match e {
                            strongroom_core::CoreError::Store(
                                strongroom_store::StoreError::Conflict(_),
                            ) => {
                                anyhow::anyhow!(
                                    "a console administrator named `{username}` exists already"
                                )
                            }
                            e => e.into(),
                        })
                }
                AdminCommand::ResetPassword { .. } => {
                    admins::reset_password(&store, &username, password, clock.as_ref())
                        .await
                        .map_err(Into::into)
                }
            };
            store.close().await;
            match outcome? {
                Some(generated) => println!(
                    "Console administrator `{username}`: its password is shown this once:\n\n    {}\n",
                    generated.expose_secret()
                ),
                None => println!("Console administrator `{username}`: password set."),
            }
        }
        Command::Vault {
            command: VaultCommand::Status { json },
        } => {
            // Without any configured key, status still counts records per KEK id.
            let keyring = match kek::load_keyring(&settings, Generate::Forbidden) {
                Ok(k) => Some(k),
                Err(e) if kek::configured() => return Err(e),
                Err(_) => None,
            };
            let store = connect(&settings).await?;
            let counts = store.kek_counts().await?;
            store.close().await;
            print_status(&counts, keyring.as_ref(), json);
        }
        Command::Vault {
            command:
                VaultCommand::Rewrap {
                    batch_size,
                    parallel,
                },
        } => {
            let keyring = kek::load_keyring(&settings, Generate::Forbidden)?;
            let store = connect(&settings).await?;
            keys::verify_and_register(&store, &keyring, clock.as_ref()).await?;
            let options = RewrapOptions {
                batch_size: usize::try_from(batch_size)?,
                max_batches: None,
                parallel: usize::try_from(parallel)?,
            };
            let started = std::time::Instant::now();
            let report = rewrap::rewrap_all(&store, &keyring, &options, |p| {
                if p.report.batches % 100 == 0 {
                    eprintln!(
                        "rewrap: {} records re-wrapped ({} batches, at {})",
                        p.report.rewrapped, p.report.batches, p.table
                    );
                }
            })
            .await?;
            store.close().await;
            println!(
                "rewrap finished: {} records re-wrapped under KEK {} in {:.2}s ({} batches)",
                report.rewrapped,
                keyring.active().id(),
                started.elapsed().as_secs_f64(),
                report.batches
            );
            if !report.failures.is_empty() {
                for f in &report.failures {
                    eprintln!("rewrap: {} {}: {}", f.table, f.id, f.reason);
                }
                eprintln!(
                    "rewrap: {} records could not be re-wrapped",
                    report.failures.len()
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of standard input, without its line end.
fn read_password() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(SecretString::from(
        line.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    if settings.database == config::Database::QuickStartSqlite {
        // The data folder holds the database (users' PII, the audit trail, hashes) and maybe
        // the key file: its owner only, whatever the KEK's source.
        private_dir(&settings.data_dir)?;
    }
    let url = settings.database_url();
    Store::connect_and_migrate(&url)
        .await
        .with_context(|| format!("cannot open the database at {}", config::redact_url(&url)))
}

/// Creates `dir` with mode 0700, or restricts it to 0700 when it exists.
fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {} to its owner", dir.display()))?;
    }
    Ok(())
}

async fn serve(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let keyring = Arc::new(kek::load_keyring(&settings, Generate::Allowed)?);
    let store = connect(&settings).await?;
    keys::verify_and_register(&store, &keyring, clock.as_ref()).await?;
    match admins::ensure_first_admin(&store, settings.admin_password.as_ref(), clock.as_ref())
        .await?
    {
        FirstAdmin::AlreadyPresent => {}
        FirstAdmin::CreatedWithConfiguredPassword => {
            println!(
                "Created the console administrator `admin` with the password from STRONGROOM_ADMIN_PASSWORD."
            );
        }
        FirstAdmin::CreatedWithGeneratedPassword(password) => {
            println!(
                "\nCreated the console administrator `admin`. Its password is shown this once:\n\n    {}\n",
                password.expose_secret()
            );
        }
    }
    let timeout = std::time::Duration::from_secs(settings.provider_timeout_secs);
    let providers = Providers::new(Http::with_egress(timeout, settings.egress.clone())?);
    let refresh = RefreshOptions::new(
        i64::try_from(settings.refresh_skew_secs)?,
        // A lease outlives one provider call, so a slow holder is never joined by a second.
        timeout * 2 + std::time::Duration::from_secs(1),
    )
    .with_test_hooks_from_env();
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("cannot listen on {} (STRONGROOM_BIND)", settings.bind))?;
    let addr = listener.local_addr()?;
    // Without STRONGROOM_ENDPOINT the endpoint is the address actually bound (port 0 picks one).
    let endpoint = settings
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let state = AppState::new(
        store.clone(),
        keyring,
        clock,
        providers,
        refresh,
        endpoint.clone(),
        network(&settings),
    )
    .await?
    .with_metrics_token(settings.metrics_token.clone());
    let app = Application::from_listener(listener, state);
    println!("Console: {endpoint}/console");
    println!("Strongroom is listening on http://{addr}");
    tracing::info!(%addr, %endpoint, "serving");
    app.run_until(shutdown_signal()).await?;
    store.close().await;
    Ok(())
}

/// The server's connection limits and trusted proxies from the settings.
fn network(settings: &Settings) -> strongroom_server::Network {
    let defaults = strongroom_server::Network::default();
    let max_connections = settings.max_connections.unwrap_or(defaults.max_connections);
    strongroom_server::Network {
        trusted_proxies: settings.trusted_proxies.clone(),
        max_connections,
        max_connections_per_address: settings
            .max_connections_per_ip
            .unwrap_or_else(|| strongroom_server::Network::per_address_for(max_connections)),
        ..defaults
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

fn print_status(
    counts: &[strongroom_store::KekCount],
    keyring: Option<&strongroom_vault::Keyring>,
    json: bool,
) {
    use std::collections::BTreeMap;
    let mut per_kek: BTreeMap<String, BTreeMap<&str, i64>> = BTreeMap::new();
    for c in counts {
        *per_kek
            .entry(c.kek_id.to_string())
            .or_default()
            .entry(c.table)
            .or_default() += c.count;
    }
    let role = |id: &str| match keyring {
        Some(k) if k.active().id().as_str() == id => "active",
        Some(k) if k.kek_ids().any(|k| k.as_str() == id) => "previous",
        Some(_) => "missing",
        None => "unknown",
    };
    if json {
        let keks: Vec<_> = per_kek
            .iter()
            .map(|(id, tables)| {
                serde_json::json!({
                    "kekId": id,
                    "role": role(id),
                    "total": tables.values().sum::<i64>(),
                    "tables": tables,
                })
            })
            .collect();
        let out = serde_json::json!({
            "activeKekId": keyring.map(|k| k.active().id().to_string()),
            "keks": keks,
        });
        println!("{out:#}");
        return;
    }
    match keyring {
        Some(k) => println!("active KEK: {}", k.active().id()),
        None => println!("active KEK: not configured (set SECRET_VAULT_KEK)"),
    }
    if per_kek.is_empty() {
        println!("no sealed records");
    }
    for (id, tables) in &per_kek {
        let detail: Vec<String> = tables.iter().map(|(t, n)| format!("{t}={n}")).collect();
        println!(
            "KEK {id} ({}): {} records [{}]",
            role(id),
            tables.values().sum::<i64>(),
            detail.join(", ")
        );
    }
}
