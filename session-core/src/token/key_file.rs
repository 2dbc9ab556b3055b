//! A signing key kept in a file, so sessions outlive a restart.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rand::RngCore as _;

use super::{Key, KeyError};

/// Bytes of secret in a key file [`Key::load_or_create`] writes.
const NEW_KEY_LEN: usize = 64;

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing the file failed.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file holds something else than a key.
    #[error("key file {} does not hold a hex key: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with its text.
        #[source]
        reason: KeyError,
    },
}

impl Key {
    /// A key from its hex text (surrounding whitespace ignored), as
    /// [`load_or_create`](Self::load_or_create) writes it: at least
    /// [`MIN_KEY_LEN`](super::MIN_KEY_LEN) bytes, so 64 hex digits. The
    /// error says what is wrong without quoting the text.
    ///
    /// ```
    /// use session_core::{Key, KeyError};
    ///
    /// let key = Key::from_hex(&"3f".repeat(32));
    /// assert!(key.is_ok());
    /// assert_eq!(
    ///     Key::from_hex("00ff").unwrap_err(),
    ///     KeyError::TooShort { len: 2, min: 32 }
    /// );
    /// ```
    pub fn from_hex(text: &str) -> Result<Key, KeyError> {
        let text = text.trim();
        // Before the length: `SECRET=<hex>` is text that is no key, not a
        // key with a digit missing.
        if let Some(index) = text.bytes().position(|b| !b.is_ascii_hexdigit()) {
            return Err(KeyError::NotHex { index });
        }
        let secret = hex::decode(text).map_err(|error| match error {
            hex::FromHexError::InvalidHexCharacter { index, .. } => KeyError::NotHex { index },
            _ => KeyError::OddLength,
        })?;
        Key::new(secret)
    }

    /// The key in the file at `path` (hex, as
    /// [`load_or_create`](Self::load_or_create) writes it); `None` when
    /// there is no such file.
    pub fn read_file(path: impl AsRef<Path>) -> Result<Option<Key>, KeyFileError> {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(text) => match Key::from_hex(&text) {
                Ok(key) => Ok(Some(key)),
                Err(reason) => Err(KeyFileError::Malformed {
                    path: path.to_owned(),
                    reason,
                }),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io_error(path, source)),
        }
    }

    /// The key in the file at `path`, or a new random one written there
    /// (its directory created): so a server keeps its key across restarts
    /// without a secret to configure. The file holds 64 random bytes in
    /// hex, readable by its owner only (on Unix).
    ///
    /// A new file appears whole or not at all: it is written under a name
    /// of its own, then linked into place, which fails if the file exists.
    /// Servers starting together on one directory therefore agree on one
    /// key, and none reads a file half written. Where the file system takes
    /// no hard links, the file is created in place.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("key-file-doc-{}", std::process::id()));
    /// use session_core::Key;
    ///
    /// let path = dir.join("session.key");
    /// let first = Key::load_or_create(&path)?;
    /// let again = Key::load_or_create(&path)?; // a restart
    /// assert_eq!(first.derive("check"), again.derive("check"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), session_core::token::KeyFileError>(())
    /// ```
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<Key, KeyFileError> {
        let path = path.as_ref();
        if let Some(key) = Key::read_file(path)? {
            return Ok(key);
        }
        let mut secret = [0u8; NEW_KEY_LEN];
        rand::rng().fill_bytes(&mut secret);
        let text = hex::encode(secret);
        match create_whole(path, &text) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a signing key");
                Key::new(secret).map_err(|reason| KeyFileError::Malformed {
                    path: path.to_owned(),
                    reason,
                })
            }
            // Another process created it first: its key is the one to use.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match Key::read_file(path)? {
                Some(key) => Ok(key),
                // Linked, then removed before the read: a race to report.
                None => Err(io_error(path, io::ErrorKind::NotFound.into())),
            },
            Err(source) => Err(io_error(path, source)),
        }
    }
}

fn io_error(path: &Path, source: io::Error) -> KeyFileError {
    KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` holding `text`, whole or not at all; `AlreadyExists`
/// when it exists.
fn create_whole(path: &Path, text: &str) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut suffix = [0u8; 8];
    rand::rng().fill_bytes(&mut suffix);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", hex::encode(suffix)));
    if let Err(e) = write_private(&temp, text) {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => write_private(path, text)?,
        linked => linked?,
    }
    sync_parent(path);
    Ok(())
}

/// Flushes the directory entry of a new file, so a crash cannot take the
/// key back while sessions signed with it live on. Some file systems
/// refuse to sync a directory; the key is in place, so that is logged.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => dir,
            None => Path::new("."),
        };
        if let Err(error) = std::fs::File::open(dir).and_then(|dir| dir.sync_all()) {
            tracing::warn!(path = %dir.display(), %error, "could not flush the key file's directory");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes a new file readable by its owner only, flushed to disk.
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "session-core-key-file-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn same(a: &Key, b: &Key) -> bool {
        a.derive("check") == b.derive("check")
    }

    #[test]
    fn a_new_key_is_written_in_hex_for_its_owner_and_loads_back() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("nested").join("session.key");
        assert!(Key::read_file(&path).unwrap().is_none());
        let created = Key::load_or_create(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 2 * NEW_KEY_LEN);
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(same(&created, &Key::load_or_create(&path).unwrap()));
        assert!(same(&created, &Key::read_file(&path).unwrap().unwrap()));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["session.key"], "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Starts on one directory at the same time: whichever saves its key
    /// first, the other reads that key, never a file still being written
    /// (which it would take for a malformed one and fail).
    #[test]
    fn concurrent_creations_agree_on_one_key_and_never_read_half_a_file() {
        let dir = temp_dir("concurrent");
        let path = dir.join("session.key");
        for round in 0..300 {
            let _ = std::fs::remove_dir_all(&dir);
            let barrier = std::sync::Barrier::new(2);
            let (a, b) = std::thread::scope(|scope| {
                let start = || {
                    barrier.wait();
                    Key::load_or_create(&path)
                };
                let a = scope.spawn(start);
                let b = scope.spawn(start);
                (a.join().unwrap(), b.join().unwrap())
            });
            match (a, b) {
                (Ok(a), Ok(b)) => assert!(same(&a, &b), "round {round}"),
                (a, b) => panic!("round {round}: {:?} {:?}", a.err(), b.err()),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_without_a_long_enough_hex_key_is_refused_and_left_alone() {
        let dir = temp_dir("malformed");
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("odd", "abc", KeyError::OddLength),
            ("not-hex", " 0z", KeyError::NotHex { index: 1 }),
            ("assignment", "SECRET=00ff", KeyError::NotHex { index: 0 }),
            ("short", "00ff", KeyError::TooShort { len: 2, min: 32 }),
        ];
        for (name, text, expected) in cases {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            let error = Key::load_or_create(&path).unwrap_err();
            assert!(
                matches!(&error, KeyFileError::Malformed { path: p, reason } if *p == path && *reason == expected),
                "{name}: {error}"
            );
            let message = error.to_string();
            assert!(message.contains(name), "{message}");
            assert!(message.contains(&expected.to_string()), "{message}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hex_text_decodes_to_the_same_key_in_either_case() {
        let text = "0123456789abcdef".repeat(4);
        let lower = Key::from_hex(&text).unwrap();
        let upper = Key::from_hex(&format!("  {}\n", text.to_uppercase())).unwrap();
        assert!(same(&lower, &upper));
        assert_eq!(
            Key::from_hex(&text[..62]).unwrap_err(),
            KeyError::TooShort { len: 31, min: 32 }
        );
        assert_eq!(
            Key::from_hex("é").unwrap_err(),
            KeyError::NotHex { index: 0 }
        );
        let error = Key::from_hex(&format!("{}x", &text[..63])).unwrap_err();
        assert_eq!(error, KeyError::NotHex { index: 63 });
    }

    #[test]
    fn a_directory_in_the_way_is_an_io_error_naming_the_file() {
        let dir = temp_dir("directory");
        let path = dir.join("session.key");
        std::fs::create_dir_all(&path).unwrap();
        let error = Key::load_or_create(&path).unwrap_err();
        assert!(matches!(error, KeyFileError::Io { .. }), "{error}");
        assert!(error.to_string().contains("session.key"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
