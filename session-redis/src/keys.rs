//! Key names: one hash per session, one sorted set per user.
//!
//! - session: `<prefix>s:{<id>}`, a hash (see [`codec`](crate::codec));
//! - user index: `<prefix>u:{<user id>}`, a sorted set of session ids scored
//!   by their expiry (milliseconds since the epoch);
//! - writer marker: `<prefix>s:{<id>}:w:<writer>`, never stored: a store with
//!   a local cache sets and deletes it in the script that writes session
//!   `<id>`, so the write's invalidation names its writer;
//! - tombstone: `<prefix>s:{<id>}:d`, a small hash living about a minute:
//!   left by a cluster store's delete of session `<id>` with the call's write
//!   id and reply, so an attempt its client sends again gets that reply;
//! - create marker: `<user index>:c:<id>`, living a minute: set beside a new
//!   session's index entry when the session itself is written on another
//!   node, so that a cleanup running before the session exists keeps it.
//!
//! The braces are Redis Cluster hash tags: the slot of a session key depends
//! on the id only and the slot of an index key on the user id only, whatever
//! the prefix. A prefix that itself holds a hash tag (such as `{app}:`) pins
//! every key to one slot, and so to one node. Redis takes the first `{` of a
//! key, so a prefix whose first `{` is followed at once by `}` (an empty tag)
//! would have each key hashed whole: the builder refuses it
//! ([`Keys::empty_hash_tag`]). A lone `{` takes the session key's `{` into a
//! longer tag that still ends at the id's `}`; a lone `}` is never a tag.

use redis::cluster_routing::Slot;
use redis::{RedisWrite, ToRedisArgs as _};
use session_core::SessionId;
use session_core::id::SESSION_ID_LEN;

use crate::codec::Concat;

/// What follows the id in a writer marker key, before the writer.
const MARKER: &str = "}:w:";
/// What follows the id in a tombstone key.
const TOMBSTONE: &str = "}:d";

/// Builds and parses the store's key names.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    session_head: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            session_head: format!("{prefix}s:{{"),
        }
    }

    /// Whether `prefix` opens an empty hash tag: its first `{` followed at
    /// once by `}`. Redis then hashes each key whole, so a session key and
    /// its tombstone or marker would not share a slot.
    pub(crate) fn empty_hash_tag(prefix: &str) -> bool {
        prefix
            .split_once('{')
            .is_some_and(|(_, rest)| rest.starts_with('}'))
    }

    /// What every session key starts with.
    pub(crate) fn session_head(&self) -> &str {
        &self.session_head
    }

    /// The hash of session `id`.
    pub(crate) fn session(&self, id: &SessionId) -> String {
        let mut buf = [0u8; SESSION_ID_LEN];
        let mut key = String::with_capacity(self.session_head.len() + SESSION_ID_LEN + 1);
        key.push_str(&self.session_head);
        key.push_str(id.encode_into(&mut buf));
        key.push('}');
        key
    }

    /// Writes the hash of session `id` as one command argument (no `String`
    /// of its own).
    pub(crate) fn write_session<W: ?Sized + RedisWrite>(&self, id: &SessionId, out: &mut W) {
        self.write_keyed(id, [b"}", b""], out);
    }

    /// Writes `<session head><id><tail>` as one command argument: the keys
    /// named after session `id` (its hash, marker and tombstone).
    fn write_keyed<W: ?Sized + RedisWrite>(&self, id: &SessionId, tail: [&[u8]; 2], out: &mut W) {
        let mut buf = [0u8; SESSION_ID_LEN];
        let id = id.encode_into(&mut buf);
        Concat([
            self.session_head.as_bytes(),
            id.as_bytes(),
            tail[0],
            tail[1],
        ])
        .write_redis_args(out);
    }

    /// The index of `user_id`'s sessions.
    pub(crate) fn user(&self, user_id: &str) -> String {
        format!("{}u:{{{user_id}}}", self.prefix)
    }

    /// The create marker of session `id` in `index` (a user index key):
    /// set, with a short life, by the index step of a create whose session
    /// lives on another node, so that a listing or revocation running
    /// before the session exists keeps the new entry. It shares the index
    /// key's hash tag, so its slot, unless that tag is empty (`None` then).
    pub(crate) fn creating(index: &str, id: &str) -> Option<String> {
        let key = format!("{index}:c:{id}");
        (Slot::for_key(&key) == Slot::for_key(index)).then_some(key)
    }

    /// The `SCAN MATCH` pattern of every session hash under this prefix.
    pub(crate) fn session_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.session_head.len() + 3);
        for c in self.session_head.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push_str("*}");
        pattern
    }

    /// Writes the marker key of session `id` for `writer` as one command
    /// argument.
    pub(crate) fn write_marker<W: ?Sized + RedisWrite>(
        &self,
        id: &SessionId,
        writer: &str,
        out: &mut W,
    ) {
        self.write_keyed(id, [MARKER.as_bytes(), writer.as_bytes()], out);
    }

    /// Writes the tombstone key of session `id` as one command argument.
    pub(crate) fn write_tombstone<W: ?Sized + RedisWrite>(&self, id: &SessionId, out: &mut W) {
        self.write_keyed(id, [TOMBSTONE.as_bytes(), b""], out);
    }

    /// The session id and writer of a marker key, if it is one.
    pub(crate) fn marker_of<'k>(&self, key: &'k [u8]) -> Option<(SessionId, &'k [u8])> {
        let rest = key.strip_prefix(self.session_head.as_bytes())?;
        let id = rest.get(..SESSION_ID_LEN)?;
        let writer = rest[SESSION_ID_LEN..].strip_prefix(MARKER.as_bytes())?;
        Some((std::str::from_utf8(id).ok()?.parse().ok()?, writer))
    }

    /// The session id of a session key, if it is one.
    pub(crate) fn id_of(&self, key: &[u8]) -> Option<SessionId> {
        let rest = key.strip_prefix(self.session_head.as_bytes())?;
        let id = rest.strip_suffix(b"}")?;
        std::str::from_utf8(id).ok()?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_hash_tags_and_parse_back() {
        let keys = Keys::new("app:");
        let id = SessionId::generate();
        let key = keys.session(&id);
        assert_eq!(key, format!("app:s:{{{id}}}"));
        let mut written: Vec<Vec<u8>> = Vec::new();
        keys.write_session(&id, &mut written);
        assert_eq!(written, [key.clone().into_bytes()]);
        assert_eq!(keys.id_of(key.as_bytes()), Some(id));
        assert_eq!(keys.user("ada"), "app:u:{ada}");
        assert_eq!(keys.id_of(b"app:u:{ada}"), None);
        assert_eq!(keys.id_of(b"other:s:{x}"), None);
        assert_eq!(keys.id_of(b"app:s:{not-an-id}"), None);

        let mut marker: Vec<Vec<u8>> = Vec::new();
        keys.write_marker(&id, "w1", &mut marker);
        assert_eq!(marker, [format!("app:s:{{{id}}}:w:w1").into_bytes()]);
        assert_eq!(keys.marker_of(&marker[0]), Some((id, &b"w1"[..])));
        assert_eq!(keys.id_of(&marker[0]), None);
        assert_eq!(keys.marker_of(key.as_bytes()), None);
        assert_eq!(keys.marker_of(b"app:u:{ada}"), None);

        let mut tombstone: Vec<Vec<u8>> = Vec::new();
        keys.write_tombstone(&id, &mut tombstone);
        assert_eq!(tombstone, [format!("app:s:{{{id}}}:d").into_bytes()]);
        assert_eq!(Slot::for_key(&tombstone[0]), Slot::for_key(key.as_bytes()));
        assert_eq!(keys.id_of(&tombstone[0]), None);
        assert_eq!(keys.marker_of(&tombstone[0]), None);
    }

    #[test]
    fn create_markers_share_their_index_slot() {
        let keys = Keys::new("app:");
        let id = SessionId::generate().to_string();
        for user in ["ada", "a}b", "{x}", "späť"] {
            let index = keys.user(user);
            let marker = Keys::creating(&index, &id).expect("same slot");
            assert_eq!(marker, format!("{index}:c:{id}"));
            assert_eq!(Slot::for_key(&marker), Slot::for_key(&index));
        }
        // An empty hash tag hashes the whole key: no marker then.
        assert_eq!(Keys::creating(&keys.user(""), &id), None);
        let tagged = Keys::new("{app}:").user("");
        assert!(Keys::creating(&tagged, &id).is_some());
    }

    #[test]
    fn only_an_empty_hash_tag_splits_a_sessions_keys_over_slots() {
        let ids: Vec<SessionId> = (0..16).map(|_| SessionId::generate()).collect();
        for (prefix, refused) in [
            ("", false),
            ("app:", false),
            ("{app}:", false),
            ("{a}{}:", false),
            ("a{b:", false),
            ("app{", false),
            ("{", false),
            ("}", false),
            ("a}b{", false),
            ("x{{}:", false),
            ("{}app:", true),
            ("x{}:", true),
            ("}{}", true),
            ("{}{a}:", true),
        ] {
            assert_eq!(Keys::empty_hash_tag(prefix), refused, "{prefix:?}");
            let keys = Keys::new(prefix);
            let split = ids.iter().any(|id| {
                let (mut tombstone, mut marker): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (vec![], vec![]);
                keys.write_tombstone(id, &mut tombstone);
                keys.write_marker(id, "w1", &mut marker);
                let slot = Slot::for_key(keys.session(id).as_bytes());
                slot != Slot::for_key(&tombstone[0]) || slot != Slot::for_key(&marker[0])
            });
            assert_eq!(split, refused, "{prefix:?}");
        }
    }

    #[test]
    fn the_pattern_escapes_glob_characters_of_the_prefix() {
        assert_eq!(
            Keys::new("a*b?[c]\\:").session_pattern(),
            "a\\*b\\?\\[c\\]\\\\:s:{*}"
        );
        assert_eq!(Keys::new("").session_pattern(), "s:{*}");
    }
}

/// Key names come back from Redis (`SCAN`, invalidation messages): under
/// generated cases the store's own keys read back as the session they name,
/// and any other name as none, never a panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn marker(keys: &Keys, id: &SessionId, writer: &str) -> Vec<u8> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        keys.write_marker(id, writer, &mut out);
        out.remove(0)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn session_keys_and_markers_read_back(
            prefix in ".{0,12}",
            raw in any::<[u8; 16]>(),
            writer in "[A-Za-z0-9_-]{0,24}",
        ) {
            let keys = Keys::new(&prefix);
            let id = SessionId::from_bytes(raw);
            let key = keys.session(&id);
            prop_assert_eq!(keys.id_of(key.as_bytes()), Some(id));
            prop_assert_eq!(keys.marker_of(key.as_bytes()), None);
            let marker = marker(&keys, &id, &writer);
            prop_assert_eq!(keys.marker_of(&marker), Some((id, writer.as_bytes())));
            prop_assert_eq!(keys.id_of(&marker), None);
        }

        #[test]
        fn any_name_under_the_prefix_is_one_session_key_or_none(
            prefix in ".{0,12}",
            tail in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..40),
                "[A-Za-z0-9_-]{21,23}\\}?(:w:.{0,4})?".prop_map(String::into_bytes),
            ],
        ) {
            let keys = Keys::new(&prefix);
            let name = [keys.session_head().as_bytes(), &tail].concat();
            // One text form per id: a name that reads as a session's key is it.
            if let Some(id) = keys.id_of(&name) {
                prop_assert_eq!(keys.session(&id).into_bytes(), name.clone());
            }
            if let Some((id, writer)) = keys.marker_of(&name) {
                let key = keys.session(&id);
                prop_assert_eq!([key.as_bytes(), b":w:", writer].concat(), name);
            }
        }
    }
}
