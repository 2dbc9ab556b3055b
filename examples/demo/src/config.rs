//! Command-line options, the store they select and the signing key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use session_axum::{Key, SessionStore};
use session_core::CookieStore;

/// Sessions the memory and file stores hold at most (in memory, about
/// 16 MB of them).
pub const MAX_SESSIONS: usize = 100_000;

/// Which store sessions live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// In process memory (the default; sessions end with the process).
    Memory,
    /// A single file under `--data-dir` (survives restarts).
    File,
    /// Inside the (encrypted) cookie.
    Cookie,
    /// Redis at `--redis-url`.
    Redis,
}

/// The demo's options.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "demo", about = "Sessions demo server")]
pub struct Config {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Session store.
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    pub store: StoreKind,
    /// Directory for the file store and the generated key file.
    #[arg(long, default_value = "demo-data")]
    pub data_dir: PathBuf,
    /// Redis URL for `--store redis`.
    #[arg(
        long,
        env = "REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Sessions `--store redis` keeps in this process, kept coherent by
    /// Redis's invalidation messages (0: no local cache).
    #[arg(long, default_value_t = 0)]
    pub redis_local_cache: usize,
    /// Mark the cookie `Secure` (serve over HTTPS then).
    #[arg(long)]
    pub secure: bool,
    /// Signing secret, at least 32 bytes. Default: generated per start for
    /// `--store memory`, kept in `<data-dir>/session.key` otherwise.
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

/// Why the demo cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The secret is unusable.
    #[error("--secret (or SESSION_SECRET): {0}")]
    Secret(#[from] session_axum::core::KeyError),
    /// The key file cannot be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file holds something else than a key.
    #[error("key file {0} does not hold a hex key of at least 32 bytes")]
    BadKeyFile(PathBuf),
    /// The file store cannot be opened.
    #[error("file store: {0}")]
    File(#[from] session_file::OpenError),
    /// Redis is misconfigured or unreachable.
    #[error("redis store at {url}: {reason}")]
    Redis {
        /// The URL tried, without its password.
        url: String,
        /// Why.
        reason: String,
    },
}

/// The signing key, as [`Config::key`] finds it: a new one for a store
/// that keeps sessions is saved to its key file only by [`keep`](Self::keep),
/// once the store is up, so that a demo that does not start leaves no key
/// file behind.
pub struct SigningKey {
    key: Key,
    // A new key's file and secret, not written yet.
    unsaved: Option<(PathBuf, [u8; 64])>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("unsaved", &self.unsaved.as_ref().map(|(path, _)| path))
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key, saving a new one to its key file first. Should another demo
    /// on the same data directory have saved one meanwhile, that one is used.
    pub fn keep(self) -> Result<Key, StartError> {
        let Some((path, secret)) = self.unsaved else {
            return Ok(self.key);
        };
        save_new_key(&path, &secret, self.key)
    }
}

impl Config {
    /// The signing key: given, read from the data directory, or fresh. The
    /// key file is read here (a bad one is an error before any store file is
    /// created), but a new key is written only by [`SigningKey::keep`].
    pub fn key(&self) -> Result<SigningKey, StartError> {
        if let Some(secret) = &self.secret {
            return Ok(SigningKey {
                key: Key::new(secret.as_bytes())?,
                unsaved: None,
            });
        }
        if self.store == StoreKind::Memory {
            tracing::info!("using a fresh signing key: sessions end when the demo stops");
            return Ok(SigningKey {
                key: Key::generate(),
                unsaved: None,
            });
        }
        let path = self.data_dir.join("session.key");
        if let Some(key) = read_key(&path)? {
            return Ok(SigningKey { key, unsaved: None });
        }
        let mut secret = [0u8; 64];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        let key = Key::new(secret).map_err(|_| StartError::BadKeyFile(path.clone()))?;
        Ok(SigningKey {
            key,
            unsaved: Some((path, secret)),
        })
    }

    /// The selected store.
    pub async fn store(&self) -> Result<Arc<dyn SessionStore>, StartError> {
        Ok(match self.store {
            // `GET /` writes on every visit: capped, a flood of cookieless
            // visits gets 503s instead of the process's memory or the disk.
            StoreKind::Memory => {
                Arc::new(session_axum::MemoryStore::new().with_max_sessions(MAX_SESSIONS))
            }
            StoreKind::Cookie => Arc::new(CookieStore::encrypted()),
            StoreKind::File => Arc::new(
                session_file::FileStore::builder(self.data_dir.join("sessions.redb"))
                    .max_sessions(MAX_SESSIONS)
                    .open()?,
            ),
            StoreKind::Redis => {
                let failed = |e: &dyn std::fmt::Display| StartError::Redis {
                    url: session_redis::display_url(&self.redis_url),
                    reason: e.to_string(),
                };
                let store = session_redis::RedisStore::builder()
                    .url(self.redis_url.clone())
                    .local_cache(self.redis_local_cache)
                    .build()
                    .map_err(|e| failed(&e))?;
                store.ping().await.map_err(|e| failed(&e))?;
                Arc::new(store)
            }
        })
    }
}

fn key_file_error(path: &Path) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::KeyFile {
        path: path.to_owned(),
        source,
    }
}

/// The key in `path`; `None` when there is no such file.
fn read_key(path: &Path) -> Result<Option<Key>, StartError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes =
                hex::decode(text.trim()).map_err(|_| StartError::BadKeyFile(path.to_owned()))?;
            let key = Key::new(bytes).map_err(|_| StartError::BadKeyFile(path.to_owned()))?;
            Ok(Some(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(key_file_error(path)(e)),
    }
}

/// Writes `secret` (`key`'s) to a new file at `path`, readable by its owner
/// only; if another process created the file first, its key is the one to
/// use.
///
/// The file is written whole under a name of its own first, then linked
/// into place, which fails if the file exists: so the key file appears
/// complete or not at all, and another start on the same directory never
/// reads it half written (which it would take for a bad key file). Where
/// the file system takes no hard links, the file is created in place.
fn save_new_key(path: &Path, secret: &[u8], key: Key) -> Result<Key, StartError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(key_file_error(path))?;
    }
    let text = hex::encode(secret);
    let mut suffix = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut suffix);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", hex::encode(suffix)));
    if let Err(e) = write_private(&temp, &text) {
        let _ = std::fs::remove_file(&temp);
        return Err(key_file_error(path)(e));
    }
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    let saved = match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => write_private(path, &text),
        linked => linked,
    };
    match saved {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a signing key");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(path)?.ok_or_else(|| StartError::BadKeyFile(path.to_owned()))
        }
        Err(e) => Err(key_file_error(path)(e)),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        let unique = format!("demo-key-{}-{}", std::process::id(), name);
        std::env::temp_dir().join(unique).join("session.key")
    }

    fn file_config(path: &Path) -> Config {
        use clap::Parser as _;
        let dir = path.parent().unwrap().to_string_lossy().into_owned();
        Config::parse_from(["demo", "--store", "file", "--data-dir", &dir])
    }

    #[test]
    fn a_new_key_is_saved_only_when_kept_and_loads_back_as_the_same_key() {
        let path = temp_path("roundtrip");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        let config = file_config(&path);
        let pending = config.key().unwrap();
        assert!(!path.exists(), "written before it was kept");
        let created = pending.keep().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 128);
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        let loaded = config.key().unwrap().keep().unwrap();
        assert_eq!(created.derive("check"), loaded.derive("check"));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_key_saved_meanwhile_by_another_start_is_the_one_used() {
        let path = temp_path("race");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        let config = file_config(&path);
        let (first, second) = (config.key().unwrap(), config.key().unwrap());
        let first = first.keep().unwrap();
        let second = second.keep().unwrap();
        assert_eq!(first.derive("check"), second.derive("check"));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// Starts on one data directory at the same time: whichever saves its
    /// key first, the other reads that key, never a file still being
    /// written (which it would take for a bad key file and fail).
    #[test]
    fn concurrent_starts_never_read_a_key_file_half_written() {
        let path = temp_path("concurrent");
        for round in 0..300 {
            let _ = std::fs::remove_dir_all(path.parent().unwrap());
            let config = file_config(&path);
            let barrier = std::sync::Barrier::new(2);
            let (a, b) = std::thread::scope(|scope| {
                let start = || {
                    barrier.wait();
                    config.key().and_then(SigningKey::keep)
                };
                let a = scope.spawn(start);
                let b = scope.spawn(start);
                (a.join().unwrap(), b.join().unwrap())
            });
            match (a, b) {
                (Ok(a), Ok(b)) => assert_eq!(a.derive("check"), b.derive("check"), "{round}"),
                (a, b) => panic!("round {round}: {:?} {:?}", a.err(), b.err()),
            }
            let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
                .unwrap()
                .map(|entry| entry.unwrap().file_name())
                .collect();
            assert_eq!(
                names,
                ["session.key"],
                "round {round}: only the key file is left"
            );
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_key_file_without_a_long_enough_hex_key_is_refused() {
        for (name, text) in [("odd", "abc"), ("not-hex", "zz"), ("short", "00ff")] {
            let path = temp_path(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            let error = file_config(&path).key().unwrap_err();
            assert!(
                matches!(error, StartError::BadKeyFile(_)),
                "{name}: {error}"
            );
            std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
        }
    }

    #[test]
    fn a_short_secret_is_refused_naming_both_ways_to_give_it() {
        use clap::Parser as _;
        let config = Config::parse_from(["demo", "--secret", "short"]);
        let error = config.key().unwrap_err().to_string();
        assert!(
            error.starts_with("--secret (or SESSION_SECRET): "),
            "{error}"
        );
    }
}
