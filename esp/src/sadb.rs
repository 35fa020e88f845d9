//! The SA database shared by the control plane and the data-plane workers.
//!
//! Readers never lock: the database is an immutable [`SaTable`] behind an `ArcSwap`. Each worker
//! holds an [`SaReader`] whose cached `Arc` costs one atomic load per lookup while nothing
//! changed. The control plane edits with [`SaDatabase::update`]: it copies the table, changes
//! the copy and publishes it in one atomic step, so a worker sees either all of an edit or none.
//! The copy shares everything the edit does not touch with the version before (the table's maps
//! are [`crate::ShardedMap`]s): an update copies about 1/256 of the entries of the maps it
//! edits, ~0.1 ms at 100k SAs where a full copy took ~100 ms.
//! A rekey is make-before-break: install the new inbound SA (old and new both open), switch the
//! outbound routes to the new SA in one update (`route_outbound(new, selectors)` and
//! `remove_outbound(old)` inside the same `update`, so no selector is left pointing at the old
//! SA even if the selectors changed), remove the old inbound SA later. A reader keeps its
//! snapshot, and with it removed SAs, alive until it next calls [`SaReader::table`].

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Cache};

use crate::SaTable;

/// The SA database: one writer at a time, any number of lock-free readers.
#[derive(Debug, Default)]
pub struct SaDatabase {
    current: Arc<ArcSwap<SaTable>>,
    /// Serialises writers so no edit is lost when two update at once.
    writer: Mutex<()>,
}

impl SaDatabase {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// A per-worker read handle.
    pub fn reader(&self) -> SaReader {
        SaReader {
            cache: Cache::new(Arc::clone(&self.current)),
        }
    }

    /// The current table (for the control plane: status, lifetimes).
    pub fn load(&self) -> Arc<SaTable> {
        self.current.load_full()
    }

    /// Edits a copy of the table and publishes it atomically; returns what `edit` returns.
    /// Allocates (the copy's shard pointers and the shards it edits): control plane only.
    pub fn update<R>(&self, edit: impl FnOnce(&mut SaTable) -> R) -> R {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut table = SaTable::clone(&self.current.load());
        let result = edit(&mut table);
        self.current.store(Arc::new(table));
        result
    }
}

/// A worker's handle on the database: lock-free, allocation-free lookups.
pub struct SaReader {
    cache: Cache<Arc<ArcSwap<SaTable>>, Arc<SaTable>>,
}

impl SaReader {
    /// The newest table. Keep the reference for one packet or one batch; call again for the
    /// next so edits are seen.
    pub fn table(&mut self) -> &SaTable {
        self.cache.load()
    }
}

impl std::fmt::Debug for SaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaReader").finish_non_exhaustive()
    }
}
