//! The compact form a record takes inside the memory store.

use std::cmp::Ordering;

use crate::{Binding, FieldMap, SessionId, SessionInfo, SessionPatch, SessionRecord, Timestamp};

/// One stored session, without its id (the map key) and with data and flash
/// packed into a single allocation: a counter session costs one small heap
/// block instead of a vector and two strings per field.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) created_at: Timestamp,
    pub(super) last_seen: Timestamp,
    pub(super) expires_at: Timestamp,
    pub(super) revision: u64,
    pub(super) binding: Option<Box<Binding>>,
    packed: Box<[u8]>,
}

impl Entry {
    pub(super) fn from_record(record: &SessionRecord) -> Self {
        Self {
            created_at: record.created_at,
            last_seen: record.last_seen,
            expires_at: record.expires_at,
            revision: record.revision,
            binding: record.binding.clone(),
            packed: pack(&record.fields, &record.flash),
        }
    }

    pub(super) fn to_record(&self, id: SessionId) -> SessionRecord {
        let (fields, flash) = unpack(&self.packed);
        SessionRecord {
            id,
            created_at: self.created_at,
            last_seen: self.last_seen,
            expires_at: self.expires_at,
            binding: self.binding.clone(),
            fields,
            flash,
            revision: self.revision,
        }
    }

    pub(super) fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    pub(super) fn user_id(&self) -> Option<&str> {
        self.binding.as_deref().map(|b| b.user_id.as_str())
    }

    pub(super) fn info(&self, id: SessionId) -> SessionInfo {
        SessionInfo::new(
            id,
            self.binding.as_deref(),
            self.created_at,
            self.last_seen,
            self.expires_at,
        )
    }

    /// The bytes of the binding, as the size limit counts them: measured
    /// when checked, so the entry keeps no size of its own.
    pub(super) fn binding_size(&self) -> usize {
        self.binding.as_deref().map_or(0, Binding::byte_size)
    }

    /// What `patch` makes of this entry's data and flash, measured, and
    /// merged once into a buffer on the stack when they fit (the merged
    /// entries are not built as maps): see [`apply`](Self::apply).
    pub(super) fn measure(&self, patch: &SessionPatch) -> Patched {
        let mut patched = Patched::default();
        self.merged(patch, |flash, name, value| {
            let block = if flash {
                &mut patched.flash
            } else {
                &mut patched.fields
            };
            let packed = block.add(name, value);
            patched.stage(packed, name, value);
        });
        patched
    }

    /// Applies `patch`, which [`measure`](Self::measure) measured as
    /// `patched`. Into the entry's own allocation when the packed size does
    /// not change (a counter going from 41 to 42, say), else into one of
    /// the new size.
    pub(super) fn apply(&mut self, patch: &SessionPatch, patched: &Patched) {
        // A patch of expiry and last-seen alone leaves the bytes as they are.
        if patch.changes_data() {
            let len = patched.packed_len();
            match patched.staged() {
                _ if len == 0 => self.packed = Box::default(),
                Some((fields, flash)) if len == self.packed.len() => {
                    let mut sink = SliceSink {
                        buf: &mut self.packed,
                        pos: 0,
                    };
                    patched.put_staged(&mut sink, fields, flash);
                }
                Some((fields, flash)) => {
                    let mut out = Vec::with_capacity(len);
                    patched.put_staged(&mut out, fields, flash);
                    self.packed = out.into_boxed_slice();
                }
                // Too large for the stack: merged again, into its allocation.
                None => {
                    let mut out = Vec::with_capacity(len);
                    self.pack_patched(patch, patched, &mut out);
                    self.packed = out.into_boxed_slice();
                }
            }
        }
        self.last_seen = self.last_seen.max(patch.last_seen);
        self.expires_at = patch.expires_at.unwrap_or(self.expires_at);
        self.revision = self
            .revision
            .saturating_add(u64::from(patch.changes_data()));
    }

    /// Writes the merged entries in the packed layout (see `pack_entries`).
    fn pack_patched(&self, patch: &SessionPatch, patched: &Patched, out: &mut impl Sink) {
        put_len(out, patched.fields.count);
        let mut flash_started = false;
        self.merged(patch, |flash, name, value| {
            if flash && !flash_started {
                flash_started = true;
                put_len(out, patched.flash.count);
            }
            put_len(out, name.len());
            out.put(name);
            put_len(out, value.len());
            out.put(value);
        });
        if !flash_started {
            put_len(out, patched.flash.count);
        }
    }

    /// Calls `emit` with each entry of this entry's data (`false`), then
    /// of its flash (`true`), with `patch` applied, in name order.
    fn merged<'a>(
        &'a self,
        patch: &'a SessionPatch,
        mut emit: impl FnMut(bool, &'a [u8], &'a [u8]),
    ) {
        let mut reader = Reader {
            bytes: &self.packed,
        };
        merge(
            reader.entries(),
            &patch.set_fields,
            |name, _| patch.removed_fields.iter().any(|r| r.as_bytes() == name),
            |name, value| emit(false, name, value),
        );
        // A taken flash goes only while it holds the value read.
        merge(
            reader.entries(),
            &patch.set_flash,
            |name, value| {
                !patch.taken_flash.is_empty()
                    && std::str::from_utf8(name)
                        .ok()
                        .and_then(|name| patch.taken_flash.get(name))
                        .is_some_and(|taken| taken.as_bytes() == value)
            },
            |name, value| emit(true, name, value),
        );
    }
}

/// Patched entries up to this size are merged once, on the stack.
const INLINE_PACK: usize = 256;

/// An entry's data and flash with a patch applied, as measured before it
/// is applied; while they fit, their packed entries too.
#[derive(Debug)]
pub(super) struct Patched {
    fields: Block,
    flash: Block,
    /// The data's packed entries, then the flash's, without their counts;
    /// in use up to `staged_len`, unless `overflow`.
    staged: [u8; INLINE_PACK],
    staged_len: usize,
    overflow: bool,
}

impl Default for Patched {
    fn default() -> Self {
        Self {
            fields: Block::default(),
            flash: Block::default(),
            staged: [0; INLINE_PACK],
            staged_len: 0,
            overflow: false,
        }
    }
}

impl Patched {
    /// The data size of the patched record (data plus flash, the binding
    /// not included), as the size limit counts it.
    pub(super) fn size(&self) -> usize {
        self.fields.bytes + self.flash.bytes
    }

    /// The bytes `pack_entries` would write for the patched entries.
    fn packed_len(&self) -> usize {
        if self.fields.count == 0 && self.flash.count == 0 {
            return 0;
        }
        len_len(self.fields.count)
            + self.fields.packed
            + len_len(self.flash.count)
            + self.flash.packed
    }

    /// Appends one merged entry, `packed` bytes long, to the staged bytes
    /// while they fit.
    fn stage(&mut self, packed: usize, name: &[u8], value: &[u8]) {
        if self.overflow {
            return;
        }
        let Some(buf) = self
            .staged
            .get_mut(self.staged_len..self.staged_len + packed)
        else {
            self.overflow = true;
            return;
        };
        let mut sink = SliceSink { buf, pos: 0 };
        put_len(&mut sink, name.len());
        sink.put(name);
        put_len(&mut sink, value.len());
        sink.put(value);
        self.staged_len += packed;
    }

    /// The staged data and flash entries; `None` when they did not fit.
    fn staged(&self) -> Option<(&[u8], &[u8])> {
        if self.overflow {
            return None;
        }
        let (fields, rest) = self.staged.split_at(self.fields.packed);
        Some((fields, &rest[..self.flash.packed]))
    }

    /// Writes the packed layout from the staged entries.
    fn put_staged(&self, out: &mut impl Sink, fields: &[u8], flash: &[u8]) {
        put_len(out, self.fields.count);
        out.put(fields);
        put_len(out, self.flash.count);
        out.put(flash);
    }
}

/// The entries of one packed map.
#[derive(Debug, Default)]
struct Block {
    count: usize,
    /// Names' and values' bytes.
    bytes: usize,
    /// Packed bytes, lengths included, the count not.
    packed: usize,
}

impl Block {
    /// Counts one entry; answers its packed bytes.
    fn add(&mut self, name: &[u8], value: &[u8]) -> usize {
        let packed = len_len(name.len()) + name.len() + len_len(value.len()) + value.len();
        self.count += 1;
        self.bytes += name.len() + value.len();
        self.packed += packed;
        packed
    }
}

/// Sorted stored entries, with `set` applied and the entries `removed` picks
/// dropped, each given to `emit`; both inputs are sorted by name, so this is
/// one merge pass.
fn merge<'a>(
    stored: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    set: &'a FieldMap,
    removed: impl Fn(&[u8], &[u8]) -> bool,
    mut emit: impl FnMut(&'a [u8], &'a [u8]),
) {
    let mut stored = stored.peekable();
    // Byte order is `str` order.
    let mut set = set
        .iter()
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .peekable();
    loop {
        let next = match (stored.peek(), set.peek()) {
            (Some(a), Some(b)) => match a.0.cmp(b.0) {
                Ordering::Less => stored.next(),
                Ordering::Equal => {
                    stored.next();
                    set.next()
                }
                Ordering::Greater => set.next(),
            },
            (None, Some(_)) => set.next(),
            (Some(_), None) => stored.next(),
            (None, None) => break,
        };
        if let Some((name, value)) = next
            && !removed(name, value)
        {
            emit(name, value);
        }
    }
}

/// Where packed bytes go.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A buffer of exactly the packed size.
struct SliceSink<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        self.buf[self.pos..end].copy_from_slice(bytes);
        self.pos = end;
    }
}

// Layout: field count, then (name length, name, value length, value) per
// field, then the same for flash; lengths as LEB128. No data: no allocation.
// `size` is the names' and values' bytes.
fn pack_entries<'a>(
    fields: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    flash: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    size: usize,
) -> Box<[u8]> {
    if fields.len() == 0 && flash.len() == 0 {
        return Box::default();
    }
    let mut out = Vec::with_capacity(4 + size + 2 * (fields.len() + flash.len()));
    put_entries(&mut out, fields);
    put_entries(&mut out, flash);
    out.into_boxed_slice()
}

fn put_entries<'a>(out: &mut Vec<u8>, entries: impl ExactSizeIterator<Item = (&'a str, &'a str)>) {
    put_len(out, entries.len());
    for (name, value) in entries {
        put_len(out, name.len());
        out.put(name.as_bytes());
        put_len(out, value.len());
        out.put(value.as_bytes());
    }
}

fn pack(fields: &FieldMap, flash: &FieldMap) -> Box<[u8]> {
    pack_entries(
        fields.iter(),
        flash.iter(),
        fields.byte_size() + flash.byte_size(),
    )
}

fn unpack(packed: &[u8]) -> (FieldMap, FieldMap) {
    let mut reader = Reader { bytes: packed };
    let fields = reader.map();
    let flash = reader.map();
    (fields, flash)
}

fn put_len(out: &mut impl Sink, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.put(&[byte]);
            return;
        }
        out.put(&[byte | 0x80]);
    }
}

/// The bytes `put_len` writes for `n`.
fn len_len(n: usize) -> usize {
    (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

/// Reads what `pack` wrote. The bytes never leave the store, so a short read
/// can only mean an empty map.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn len(&mut self) -> usize {
        let mut n = 0usize;
        let mut shift = 0;
        while let Some((&byte, rest)) = self.bytes.split_first() {
            self.bytes = rest;
            n |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        n
    }

    fn raw(&mut self) -> &'a [u8] {
        let n = self.len().min(self.bytes.len());
        let bytes: &'a [u8] = self.bytes;
        let (raw, rest) = bytes.split_at(n);
        self.bytes = rest;
        raw
    }

    fn text(&mut self) -> &'a str {
        // Written from `str`s by `pack`.
        std::str::from_utf8(self.raw()).unwrap_or_default()
    }

    fn map(&mut self) -> FieldMap {
        let count = self.len();
        let mut map = FieldMap::with_capacity(count);
        for _ in 0..count {
            let name = self.text();
            let value = self.text();
            map.insert(name, value);
        }
        map
    }

    /// The entries of the map at the reader's position, read as they
    /// are iterated, as bytes: merging and packing them again needs no
    /// UTF-8 check.
    fn entries<'r>(&'r mut self) -> Entries<'a, 'r> {
        let left = self.len();
        Entries { reader: self, left }
    }
}

/// Iterates over the entries of a packed map.
struct Entries<'a, 'r> {
    reader: &'r mut Reader<'a>,
    left: usize,
}

impl<'a> Iterator for Entries<'a, '_> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let name = self.reader.raw();
        Some((name, self.reader.raw()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patching_merges_sets_and_removals() {
        let fields: FieldMap = [("a", "1"), ("c", "3"), ("e", "5")].into_iter().collect();
        let flash: FieldMap = [("error", "\"bad\""), ("info", "\"new\"")]
            .into_iter()
            .collect();
        let mut record = SessionRecord::new(
            SessionId::generate(),
            Timestamp::EPOCH,
            Timestamp::from_millis(10),
        );
        record.fields = fields;
        record.flash = flash;
        let entry = Entry::from_record(&record);
        let patch = SessionPatch {
            set_fields: [("b", "2"), ("c", "30"), ("f", "6")].into_iter().collect(),
            removed_fields: vec!["a".into(), "zz".into()],
            set_flash: [("notice", "\"hi\"")].into_iter().collect(),
            // `info` was set again after it was read: it stays.
            taken_flash: [("error", "\"bad\""), ("info", "\"old\"")]
                .into_iter()
                .collect(),
            ..SessionPatch::default()
        };
        let mut patched = entry.clone();
        let measured = patched.measure(&patch);
        patched.apply(&patch, &measured);
        let size = measured.size();
        let mut expected = record.clone();
        expected.apply(&patch);
        let back = patched.to_record(record.id);
        assert_eq!(back.fields, expected.fields);
        assert_eq!(back.flash, expected.flash);
        assert_eq!(
            back.flash.iter().collect::<Vec<_>>(),
            [("info", "\"new\""), ("notice", "\"hi\"")]
        );
        assert_eq!(back.revision, 1);
        assert_eq!(
            size,
            expected.fields.byte_size() + expected.flash.byte_size()
        );
    }

    /// Patches that keep the packed size (rewritten in place, or through
    /// a new allocation past the stack buffer), that change nothing packed,
    /// and that empty the entry give what a record patched as a whole gives.
    #[test]
    fn patching_in_place_matches_the_record() {
        let long = "x".repeat(INLINE_PACK);
        let cases: [(&[(&str, &str)], SessionPatch); 4] = [
            (
                &[("count", "41"), ("name", "\"ada\"")],
                SessionPatch {
                    set_fields: [("count", "42")].into_iter().collect(),
                    ..SessionPatch::default()
                },
            ),
            (
                &[("count", "41"), ("long", &long)],
                SessionPatch {
                    set_fields: [("count", "42")].into_iter().collect(),
                    ..SessionPatch::default()
                },
            ),
            (
                &[("count", "41")],
                SessionPatch {
                    last_seen: Timestamp::from_millis(5),
                    expires_at: Some(Timestamp::from_millis(20)),
                    ..SessionPatch::default()
                },
            ),
            (
                &[("count", "41")],
                SessionPatch {
                    removed_fields: vec!["count".into()],
                    ..SessionPatch::default()
                },
            ),
        ];
        for (fields, patch) in cases {
            let mut record = SessionRecord::new(
                SessionId::generate(),
                Timestamp::EPOCH,
                Timestamp::from_millis(10),
            );
            record.fields = fields.iter().copied().collect();
            let mut entry = Entry::from_record(&record);
            let measured = entry.measure(&patch);
            entry.apply(&patch, &measured);
            let mut expected = record.clone();
            expected.apply(&patch);
            let back = entry.to_record(record.id);
            assert_eq!(back.fields, expected.fields, "{patch:?}");
            assert_eq!(back.flash, expected.flash);
            assert_eq!(measured.size(), expected.fields.byte_size());
            assert_eq!(&*entry.packed, &*pack(&expected.fields, &expected.flash));
            assert_eq!(back.revision, expected.revision);
            assert_eq!(back.last_seen, expected.last_seen);
            assert_eq!(back.expires_at, expected.expires_at);
        }
    }

    /// Every session pays for an entry: the size limit measures the binding
    /// when it checks, so the entry keeps no size of its own.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_entry_stays_seven_words() {
        assert_eq!(std::mem::size_of::<Entry>(), 7 * 8);
    }

    #[test]
    fn packing_round_trips() {
        let long = "x".repeat(300);
        let fields: FieldMap = [("count", "1"), ("name", "\"ada\""), ("long", long.as_str())]
            .into_iter()
            .collect();
        let flash: FieldMap = [("error", "\"bad\""), ("info", "\"new\"")]
            .into_iter()
            .collect();
        let (f, l) = unpack(&pack(&fields, &flash));
        assert_eq!((f, l), (fields, flash));
        assert!(pack(&FieldMap::new(), &FieldMap::new()).is_empty());
        let (f, l) = unpack(&[]);
        assert!(f.is_empty() && l.is_empty());
    }
}
