//! Hashing for maps keyed by session id.

use std::hash::{BuildHasher, Hasher};

/// Session ids are 128 random bits, so their bytes already are a good hash:
/// hashing them again would only cost time. Ids reach the map only after the
/// server generated them, so an attacker cannot choose colliding keys.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Used only for the fixed-size byte array of an id; fold in every byte.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _len: usize) {
        // The array length prefix carries no information.
    }
}

#[derive(Default, Clone, Copy)]
pub(crate) struct BuildIdHasher;

impl BuildHasher for BuildIdHasher {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}
