//! Command-line options, the store they select and the signing key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use session_axum::{Key, SessionStore};
use session_core::CookieStore;
use session_core::token::KeyFileError;

/// Sessions the memory and file stores hold at most (in memory, about
/// 16 MB of them).
pub const MAX_SESSIONS: usize = 100_000;

/// The session cookie's name over plain HTTP.
pub const COOKIE_NAME: &str = "id";

/// The session cookie's name with `--secure`: the `__Host-` prefix makes
/// browsers take the cookie only when `Secure`, with `Path=/` and no
/// `Domain`, so neither a sibling subdomain nor a plain-HTTP response can
/// plant a cookie of that name to shadow or clear the session's.
pub const SECURE_COOKIE_NAME: &str = "__Host-id";

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
    /// The prefix of every key `--store redis` writes: apps sharing one
    /// Redis need one each, or they share users' session lists (and one
    /// app's "log out everywhere else" ends the other's sessions).
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        hide_env_values = true,
        default_value = session_redis::DEFAULT_PREFIX
    )]
    pub redis_key_prefix: String,
    /// Mark the cookie `Secure` and name it `__Host-id` (serve over HTTPS
    /// then): a sibling subdomain or a plain-HTTP page cannot plant a cookie
    /// of that name. Without it the cookie is `id`.
    #[arg(long)]
    pub secure: bool,
    /// Signing keys in hex, as the key file holds them (64 digits or more
    /// each), separated by commas: the first signs, all verify. To rotate
    /// across several servers, add the new key last on every one, then
    /// move it first. Default: generated per start for `--store memory`,
    /// kept in `<data-dir>/session.key` otherwise.
    #[arg(
        long,
        env = "SESSION_SECRET",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub secret: Vec<String>,
}

/// Why the demo cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A key given is unusable.
    #[error("--secret (or SESSION_SECRET), key {position}: {reason}")]
    Secret {
        /// Which key of the list, from 1.
        position: usize,
        /// Why.
        reason: session_axum::core::KeyError,
    },
    /// The key file cannot be read or written, or holds no key.
    #[error("{0}{hint}", hint = key_file_hint(.0))]
    KeyFile(#[from] KeyFileError),
    /// The file store cannot be opened.
    #[error("file store: {0}{hint}", hint = file_store_hint(.0))]
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

/// What to do about a file store that does not open, where the demo knows.
fn file_store_hint(error: &session_file::OpenError) -> &'static str {
    match error {
        session_file::OpenError::Locked { .. } => {
            " (another demo running on this --data-dir? stop it, or give this one another --data-dir)"
        }
        session_file::OpenError::Io { source, .. } => data_dir_hint(source),
        _ => "",
    }
}

/// What to do about a key file that cannot be read or written, where the
/// demo knows.
fn key_file_hint(error: &KeyFileError) -> &'static str {
    match error {
        KeyFileError::Io { source, .. } => data_dir_hint(source),
        KeyFileError::Malformed { .. } => "",
    }
}

/// What to do about `--data-dir` (the default one, in the current
/// directory, included) when it cannot be written.
fn data_dir_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            " (the demo keeps its data there: give a writable --data-dir)"
        }
        _ => "",
    }
}

/// The signing key, as [`Config::key`] finds it: a new one for a store
/// that keeps sessions is made and saved to its key file only by
/// [`keep`](Self::keep), once the store is up, so that a demo that does not
/// start leaves no key file behind.
#[derive(Debug)]
pub enum SigningKey {
    /// Given (the first signs), generated for the memory store, or read
    /// from the key file.
    Ready(Vec<Key>),
    /// To be made and saved at this path.
    Unsaved(PathBuf),
}

impl SigningKey {
    /// The key, saving a new one to its key file first. Should another demo
    /// on the same data directory have saved one meanwhile, that one is used.
    pub fn keep(self) -> Result<Vec<Key>, StartError> {
        match self {
            SigningKey::Ready(keys) => Ok(keys),
            SigningKey::Unsaved(path) => Ok(vec![Key::load_or_create(path)?]),
        }
    }
}

impl Config {
    /// The session cookie's name: [`SECURE_COOKIE_NAME`] with `--secure`,
    /// else [`COOKIE_NAME`] (browsers refuse a `__Host-` cookie without
    /// `Secure`).
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            SECURE_COOKIE_NAME
        } else {
            COOKIE_NAME
        }
    }

    /// The signing key: given, read from the data directory, or fresh. The
    /// key file is read here (a bad one is an error before any store file is
    /// created), but a new key is written only by [`SigningKey::keep`].
    pub fn key(&self) -> Result<SigningKey, StartError> {
        if !self.secret.is_empty() {
            let keys = self.secret.iter().enumerate().map(|(i, text)| {
                Key::from_hex(text).map_err(|reason| StartError::Secret {
                    position: i + 1,
                    reason,
                })
            });
            return Ok(SigningKey::Ready(keys.collect::<Result<_, _>>()?));
        }
        if self.store == StoreKind::Memory {
            tracing::info!("using a fresh signing key: sessions end when the demo stops");
            return Ok(SigningKey::Ready(vec![Key::generate()]));
        }
        let path = self.data_dir.join("session.key");
        Ok(match Key::read_file(&path)? {
            Some(key) => SigningKey::Ready(vec![key]),
            None => SigningKey::Unsaved(path),
        })
    }

    /// The selected store.
    pub async fn store(&self) -> Result<Arc<dyn SessionStore>, StartError> {
        Ok(match self.store {
            // `GET /` writes on every visit: capped, a flood of cookieless
            // visits gets 503s instead of the process's memory or the disk.
            StoreKind::Memory => {
                tracing::info!("sessions kept in memory");
                Arc::new(session_axum::MemoryStore::new().with_max_sessions(MAX_SESSIONS))
            }
            StoreKind::Cookie => {
                tracing::info!("sessions kept in the clients' encrypted cookies");
                Arc::new(CookieStore::encrypted())
            }
            StoreKind::File => {
                let path = self.data_dir.join("sessions.redb");
                let store = session_file::FileStore::builder(&path)
                    .max_sessions(MAX_SESSIONS)
                    .open()?;
                tracing::info!(path = %path.display(), "sessions kept in a file store");
                Arc::new(store)
            }
            StoreKind::Redis => {
                let failed = |e: &dyn std::fmt::Display| StartError::Redis {
                    url: session_redis::display_url(&self.redis_url),
                    reason: e.to_string(),
                };
                let store = session_redis::RedisStore::builder()
                    .url(self.redis_url.clone())
                    .local_cache(self.redis_local_cache)
                    .key_prefix(self.redis_key_prefix.clone())
                    .build()
                    .map_err(|e| failed(&e))?;
                store.ping().await.map_err(|e| failed(&e))?;
                tracing::info!(
                    url = %session_redis::display_url(&self.redis_url),
                    prefix = %self.redis_key_prefix,
                    "sessions kept in redis"
                );
                Arc::new(store)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn temp_path(name: &str) -> PathBuf {
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
        assert!(path.exists());
        let loaded = config.key().unwrap();
        assert!(matches!(loaded, SigningKey::Ready(_)), "read at once");
        assert_eq!(
            created[0].derive("check"),
            loaded.keep().unwrap()[0].derive("check")
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_bad_key_file_is_refused_before_the_store_opens() {
        let path = temp_path("malformed");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "00ff").unwrap();
        let error = file_config(&path).key().unwrap_err();
        assert!(
            matches!(error, StartError::KeyFile(KeyFileError::Malformed { .. })),
            "{error}"
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_short_secret_is_refused_naming_both_ways_to_give_it() {
        use clap::Parser as _;
        let config = Config::parse_from(["demo", "--secret", "00ff"]);
        let error = config.key().unwrap_err().to_string();
        assert!(
            error.starts_with("--secret (or SESSION_SECRET), key 1: ")
                && error.contains("at least 32"),
            "{error}"
        );
    }

    /// `--help` names each variable an option reads without showing a value
    /// for it: an unset one read as `[env: NAME=]`, as if set to nothing.
    #[test]
    fn help_names_the_environment_variables_without_values() {
        use clap::CommandFactory as _;
        let help = Config::command().render_long_help().to_string();
        for name in ["REDIS_URL", "REDIS_KEY_PREFIX", "SESSION_SECRET"] {
            assert!(help.contains(&format!("[env: {name}]")), "{name}: {help}");
        }
    }

    /// A data directory the demo may not write to is named with what to do
    /// (the default one is in the current directory, which may be read-only).
    #[test]
    fn an_unwritable_data_dir_is_named_with_what_to_do() {
        let denied = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let store = StartError::File(session_file::OpenError::Io {
            path: PathBuf::from("demo-data"),
            source: denied(),
        });
        let key = StartError::KeyFile(KeyFileError::Io {
            path: PathBuf::from("demo-data/session.key"),
            source: denied(),
        });
        for error in [store, key] {
            let text = error.to_string();
            assert!(text.contains("demo-data"), "{text}");
            assert!(text.ends_with("give a writable --data-dir)"), "{text}");
        }
        let missing = StartError::KeyFile(KeyFileError::Io {
            path: PathBuf::from("demo-data/session.key"),
            source: std::io::Error::from(std::io::ErrorKind::NotADirectory),
        });
        assert!(!missing.to_string().contains("writable"), "{missing}");
    }

    /// Keys are hex, as the key file holds them, the first signing: a key
    /// file's text given as the secret is the same key.
    #[test]
    fn secrets_are_hex_keys_the_first_signing() {
        use clap::Parser as _;
        let (a, b) = ("ab".repeat(32), "cd".repeat(32));
        let config = Config::parse_from(["demo", "--secret", &format!("{a},{b}")]);
        let keys = config.key().unwrap().keep().unwrap();
        assert_eq!(keys.len(), 2);
        let first = Key::from_hex(&a).unwrap();
        assert_eq!(keys[0].derive("check"), first.derive("check"));
        let config = Config::parse_from(["demo", "--secret", &format!("{a},not-hex")]);
        let error = config.key().unwrap_err().to_string();
        assert!(
            error.contains("key 2: ") && error.contains("non-hex"),
            "{error}"
        );
    }
}
