//! What the maintenance calls report: sweeps, table sizes, consistency checks.

/// What one [`sweep_expired`](crate::FileStore::sweep_expired) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired records deleted (with their index entries).
    pub removed: usize,
    /// Expiry-index entries read. Only entries at or before the current time
    /// are read, so this grows with the expired sessions, not with all of them.
    pub examined: usize,
}

impl SweepReport {
    pub(crate) fn add(&mut self, other: SweepReport) {
        self.removed += other.removed;
        self.examined += other.examined;
    }
}

/// Entry counts of the store's tables, read without scanning
/// ([`FileStore::stats`](crate::FileStore::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Records held, live or expired but not yet removed.
    pub records: u64,
    /// Entries of the expiry index (one per record when consistent).
    pub expiry_entries: u64,
    /// Entries of the user index (one per record bound to a user when consistent).
    pub user_entries: u64,
}

/// The result of a full consistency check
/// ([`FileStore::check`](crate::FileStore::check)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Records held.
    pub records: usize,
    /// Records that decode and have not expired.
    pub live: usize,
    /// Records that decode and have expired, waiting for the cleanup.
    pub expired: usize,
    /// Records that do not decode (damaged bytes or an unknown format version).
    pub corrupt: usize,
    /// Index entries a decodable record should have but does not.
    pub missing_index_entries: usize,
    /// Index entries that name no record, or a record that does not match them.
    /// They are harmless (readers check every entry). The cleanup removes
    /// stale expiry entries; a stale user entry (left by a corrupt record,
    /// whose user is unknown) goes with that user's next listing or
    /// revoke-all, or with [`FileStore::repair_indexes`](crate::FileStore::repair_indexes).
    pub stale_index_entries: usize,
}

impl CheckReport {
    /// Whether every record decodes and every index entry matches its record.
    pub fn is_consistent(&self) -> bool {
        self.corrupt == 0 && self.missing_index_entries == 0 && self.stale_index_entries == 0
    }
}

/// What [`repair_indexes`](crate::FileStore::repair_indexes) changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Index entries added for records that lacked them.
    pub added: usize,
    /// Index entries removed that matched no record.
    pub removed: usize,
}
