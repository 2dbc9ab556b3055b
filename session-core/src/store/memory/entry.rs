//! The compact form a record takes inside the memory store.

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

    /// This entry with `patch` applied; the patched record's data size
    /// (data plus flash, the binding not included) too.
    /// Merges the packed bytes with the patch directly, without building maps.
    pub(super) fn patched(&self, patch: &SessionPatch) -> (Entry, usize) {
        let mut reader = Reader {
            bytes: &self.packed,
        };
        let fields = merge(reader.entries(), &patch.set_fields, |name, _| {
            patch.removed_fields.iter().any(|r| &**r == name)
        });
        // A taken flash goes only while it holds the value read.
        let flash = merge(reader.entries(), &patch.set_flash, |name, value| {
            patch.taken_flash.get(name) == Some(value)
        });
        let size: usize = fields
            .iter()
            .chain(&flash)
            .map(|(k, v)| k.len() + v.len())
            .sum();
        let entry = Entry {
            created_at: self.created_at,
            last_seen: self.last_seen.max(patch.last_seen),
            expires_at: patch.expires_at.unwrap_or(self.expires_at),
            revision: self
                .revision
                .saturating_add(u64::from(patch.changes_data())),
            binding: self.binding.clone(),
            packed: pack_entries(fields.iter().copied(), flash.iter().copied(), size),
        };
        (entry, size)
    }
}

/// Sorted stored entries, with `set` applied and the entries `removed` picks
/// dropped; both inputs are sorted by name, so this is one merge pass.
fn merge<'a>(
    stored: Vec<(&'a str, &'a str)>,
    set: &'a FieldMap,
    removed: impl Fn(&str, &str) -> bool,
) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::with_capacity(stored.len() + set.len());
    let mut stored = stored.into_iter().peekable();
    let mut set = set.iter().peekable();
    loop {
        let next = match (stored.peek(), set.peek()) {
            (Some(a), Some(b)) if a.0 < b.0 => stored.next(),
            (Some(a), Some(b)) if a.0 == b.0 => {
                stored.next();
                set.next()
            }
            (_, Some(_)) => set.next(),
            (Some(_), None) => stored.next(),
            (None, None) => break,
        };
        if let Some((name, value)) = next
            && !removed(name, value)
        {
            out.push((name, value));
        }
    }
    out
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
        out.extend_from_slice(name.as_bytes());
        put_len(out, value.len());
        out.extend_from_slice(value.as_bytes());
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

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
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

    fn text(&mut self) -> &'a str {
        let n = self.len().min(self.bytes.len());
        let bytes: &'a [u8] = self.bytes;
        let (text, rest) = bytes.split_at(n);
        self.bytes = rest;
        // Written from `str`s by `pack`.
        std::str::from_utf8(text).unwrap_or_default()
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

    fn entries(&mut self) -> Vec<(&'a str, &'a str)> {
        let count = self.len();
        (0..count).map(|_| (self.text(), self.text())).collect()
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
        let (patched, size) = entry.patched(&patch);
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
