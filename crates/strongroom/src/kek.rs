//! Loading the KEKs: `SECRET_VAULT_KEK` (or, for a SQLite quick start, a generated key file in
//! the data folder) and `SECRET_VAULT_PREVIOUS_KEKS`. Key material goes from the environment or
//! the file straight into zeroizing buffers and is never printed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use strongroom_vault::{Kek, Keyring};
use zeroize::Zeroizing;

use crate::config::{ENV_KEK, ENV_PREVIOUS_KEKS, Settings};

/// The quick-start key file in the data folder.
pub const KEK_FILE: &str = "secret-vault.kek";

/// Whether a missing quick-start key file may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generate {
    Allowed,
    Forbidden,
}

fn read_env(name: &str) -> anyhow::Result<Option<Zeroizing<String>>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(Zeroizing::new(v))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{name} is not valid UTF-8"),
    }
}

/// Whether any KEK variable is set (so a failure to load it is an error, not an absence).
pub fn configured() -> bool {
    [ENV_KEK, ENV_PREVIOUS_KEKS]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Loads the keyring for `settings`.
pub fn load_keyring(settings: &Settings, generate: Generate) -> anyhow::Result<Keyring> {
    let active = match read_env(ENV_KEK)? {
        Some(value) => Kek::from_base64(&value).map_err(|e| anyhow::anyhow!("{ENV_KEK} {e}"))?,
        None if settings.is_sqlite() => {
            quick_start_kek(&settings.data_dir.join(KEK_FILE), generate)?
        }
        None => bail!(
            "{ENV_KEK} is not set. With a PostgreSQL DATABASE_URL the key-encryption key must come from \
             {ENV_KEK} (base64 of 32 bytes; `strongroom kek generate` prints one)"
        ),
    };
    let mut previous = Vec::new();
    if let Some(list) = read_env(ENV_PREVIOUS_KEKS)? {
        for (i, item) in list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            previous.push(
                Kek::from_base64(item)
                    .map_err(|e| anyhow::anyhow!("{ENV_PREVIOUS_KEKS}: entry {} {e}", i + 1))?,
            );
        }
    }
    Ok(Keyring::new(active, previous))
}

/// Reads the quick-start key file, creating it (mode 0600) with a loud warning when allowed.
fn quick_start_kek(path: &Path, generate: Generate) -> anyhow::Result<Kek> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            warn_quick_start(path, false);
            Kek::from_base64(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{ENV_KEK} is unset and the quick-start key file {} {e}",
                    path.display()
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if generate == Generate::Forbidden {
                bail!(
                    "{ENV_KEK} is not set and there is no quick-start key file at {}",
                    path.display()
                );
            }
            let kek = Kek::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
            write_key_file(path, &kek.to_base64())?;
            warn_quick_start(path, true);
            Ok(kek)
        }
        Err(e) => Err(e)
            .with_context(|| format!("cannot read the quick-start key file {}", path.display())),
    }
}

fn write_key_file(path: &Path, encoded: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the quick-start key file {}", path.display()))?;
    file.write_all(encoded.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write the quick-start key file {}", path.display()))
}

fn warn_quick_start(path: &Path, created: bool) {
    let what = if created {
        "generated a key-encryption key in"
    } else {
        "using the key-encryption key in"
    };
    eprintln!(
        "\n  WARNING  {ENV_KEK} is not set: {what}\n           {}\n           \
         This is for a local quick start only. In production set {ENV_KEK}\n           \
         (`strongroom kek generate` prints one) and keep it outside the data folder.\n",
        display_path(path).display()
    );
}

fn display_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
