//! A hash map that is cheap to copy and then edit: the building block of the data plane's
//! published tables.
//!
//! The SA database and the egress table are immutable snapshots: the control plane copies the
//! current version, edits the copy and publishes it in one atomic step, while workers read
//! whichever version they last loaded (see [`crate::SaDatabase`]). With one hash map per table
//! that copy costs time in proportion to the entries (tens of milliseconds per edit at 100k SAs),
//! so the setup rate collapses as SAs accumulate.
//!
//! A [`ShardedMap`] spreads its entries over [`SHARDS`] hash tables by hash, each behind its own
//! `Arc`. Copying the map copies only the shard pointers; an edit copies the one shard it
//! touches, and only if another version still shares it: about `len / SHARDS` entries. A
//! version that is not edited any more is never changed, so a reader holding it sees the same
//! contents for as long as it holds it. A lookup hashes the key once: the hash picks the shard
//! and then the entry within it, one pointer hop more than a plain hash map.

use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash};
use std::sync::Arc;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use crate::WordHasher;

/// Shards per map. Copying a map touches this many reference counts; editing one copies about
/// `len / SHARDS` entries. At 100k entries that is ~400.
pub const SHARDS: usize = 256;

/// The shard is picked by hash bits 32..40: the tables inside index buckets by the low bits
/// and tag entries with the top seven, so taking the shard from either would leave every key in
/// a shard with the same bucket bits or the same tag.
const SHARD_SHIFT: u32 = 32;

/// The shard a key with this hash lives in.
fn shard_index(hash: u64) -> usize {
    (hash >> SHARD_SHIFT) as usize & (SHARDS - 1)
}

/// A hash map whose copies share unchanged parts (see the module documentation).
///
/// The default hasher, [`WordHasher`], suits keys we chose (our SPIs, our pool's addresses);
/// for keys a peer picks, use a keyed hasher such as `std::hash::RandomState` so that no peer
/// can crowd one bucket.
pub struct ShardedMap<K, V, S = BuildHasherDefault<WordHasher>> {
    shards: [Arc<HashTable<(K, V)>>; SHARDS],
    len: usize,
    hasher: S,
}

impl<K, V> ShardedMap<K, V> {
    /// An empty map with the default (word) hasher.
    pub fn new() -> Self {
        Self::with_hasher(BuildHasherDefault::default())
    }
}

impl<K, V, S> ShardedMap<K, V, S> {
    /// An empty map that hashes with `hasher`. Allocates one empty shard that all shards share
    /// until they are first written.
    pub fn with_hasher(hasher: S) -> Self {
        let empty = Arc::new(HashTable::new());
        Self {
            shards: std::array::from_fn(|_| Arc::clone(&empty)),
            len: 0,
            hasher,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards
            .iter()
            .flat_map(|shard| shard.iter())
            .map(|(key, value)| (key, value))
    }

    /// All keys, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(key, _)| key)
    }

    /// All values, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> ShardedMap<K, V, S> {
    /// The value stored under `key`. Reads only: no reference count changes, no allocation.
    pub fn get(&self, key: &K) -> Option<&V> {
        let hash = self.hasher.hash_one(key);
        self.shards[shard_index(hash)]
            .find(hash, |(known, _)| known == key)
            .map(|(_, value)| value)
    }

    /// Whether an entry is stored under `key`.
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }
}

impl<K: Hash + Eq + Clone, V: Clone, S: BuildHasher> ShardedMap<K, V, S> {
    /// Stores `value` under `key`; returns the value it replaces. Copies the key's shard first
    /// if another version of the map shares it.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = self.hasher.hash_one(&key);
        let hasher = &self.hasher;
        let shard = Arc::make_mut(&mut self.shards[shard_index(hash)]);
        match shard.entry(
            hash,
            |(known, _)| *known == key,
            |(known, _)| hasher.hash_one(known),
        ) {
            Entry::Occupied(mut occupied) => {
                Some(std::mem::replace(&mut occupied.get_mut().1, value))
            }
            Entry::Vacant(vacant) => {
                vacant.insert((key, value));
                self.len += 1;
                None
            }
        }
    }

    /// Removes and returns the value stored under `key`. A shared shard is copied only if the
    /// key is in it.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let hash = self.hasher.hash_one(key);
        let shard = self.writable_shard_holding(hash, key)?;
        let ((_, value), _) = shard
            .find_entry(hash, |(known, _)| known == key)
            .ok()?
            .remove();
        self.len -= 1;
        Some(value)
    }

    /// The value stored under `key`, to change in place. A shared shard is copied only if the
    /// key is in it.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let hash = self.hasher.hash_one(key);
        self.writable_shard_holding(hash, key)?
            .find_mut(hash, |(known, _)| known == key)
            .map(|(_, value)| value)
    }

    /// The shard for `hash`, unshared, if it holds `key`.
    fn writable_shard_holding(&mut self, hash: u64, key: &K) -> Option<&mut HashTable<(K, V)>> {
        let shard = &mut self.shards[shard_index(hash)];
        shard.find(hash, |(known, _)| known == key)?;
        Some(Arc::make_mut(shard))
    }
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Copies the shard pointers, not the entries.
impl<K, V, S: Clone> Clone for ShardedMap<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            shards: self.shards.clone(),
            len: self.len,
            hasher: self.hasher.clone(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for ShardedMap<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};

    use proptest::prelude::*;

    use super::*;

    /// One edit of a map under test, on a small key space so keys repeat.
    #[derive(Debug, Clone)]
    enum Edit {
        Insert(u8, u32),
        Remove(u8),
        Change(u8, u32),
        /// Keep a copy of the map as it is now.
        Snapshot,
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            4 => (any::<u8>(), any::<u32>()).prop_map(|(key, value)| Edit::Insert(key, value)),
            2 => any::<u8>().prop_map(Edit::Remove),
            1 => (any::<u8>(), any::<u32>()).prop_map(|(key, value)| Edit::Change(key, value)),
            1 => Just(Edit::Snapshot),
        ]
    }

    fn assert_same(map: &ShardedMap<u8, u32>, model: &HashMap<u8, u32>) {
        assert_eq!(map.len(), model.len());
        assert_eq!(map.is_empty(), model.is_empty());
        for key in 0..=u8::MAX {
            assert_eq!(map.get(&key), model.get(&key), "key {key}");
        }
        let mut entries: Vec<(u8, u32)> = map.iter().map(|(key, value)| (*key, *value)).collect();
        entries.sort_unstable();
        let mut expected: Vec<(u8, u32)> =
            model.iter().map(|(key, value)| (*key, *value)).collect();
        expected.sort_unstable();
        assert_eq!(entries, expected);
    }

    proptest! {
        /// Under any sequence of edits the map answers like a `HashMap`, and every copy taken
        /// along the way still holds exactly what the map held when it was taken.
        #[test]
        fn behaves_like_a_hash_map_and_copies_do_not_change(
            edits in proptest::collection::vec(edit(), 0..300),
        ) {
            let mut map = ShardedMap::new();
            let mut model = HashMap::new();
            let mut snapshots = Vec::new();
            for edit in edits {
                let touched = match edit {
                    Edit::Insert(key, value) => {
                        prop_assert_eq!(map.insert(key, value), model.insert(key, value));
                        key
                    }
                    Edit::Remove(key) => {
                        prop_assert_eq!(map.remove(&key), model.remove(&key));
                        key
                    }
                    Edit::Change(key, value) => {
                        let changed = map.get_mut(&key).map(|slot| std::mem::replace(slot, value));
                        let expected = model.get_mut(&key).map(|slot| std::mem::replace(slot, value));
                        prop_assert_eq!(changed, expected);
                        key
                    }
                    Edit::Snapshot => {
                        snapshots.push((map.clone(), model.clone()));
                        continue;
                    }
                };
                prop_assert_eq!(map.get(&touched), model.get(&touched));
                prop_assert_eq!(map.len(), model.len());
            }
            assert_same(&map, &model);
            for (snapshot, expected) in &snapshots {
                assert_same(snapshot, expected);
            }
        }
    }

    #[test]
    fn an_edit_copies_only_the_shard_it_touches() {
        let mut map = ShardedMap::new();
        for key in 0..10_000u32 {
            map.insert(key, key);
        }
        let before = map.clone();
        map.insert(10_000, 10_000);
        map.remove(&3);
        // A key that is absent leaves its shard shared.
        assert_eq!(map.remove(&20_000), None);
        assert_eq!(map.get_mut(&20_001), None);
        let unshared = map
            .shards
            .iter()
            .zip(&before.shards)
            .filter(|(now, then)| !Arc::ptr_eq(now, then))
            .count();
        assert!((1..=2).contains(&unshared), "{unshared} shards copied");
        assert_eq!(before.len(), 10_000);
        assert_eq!(before.get(&3), Some(&3));
        assert_eq!(before.get(&10_000), None);
        assert_eq!(map.len(), 10_000);
    }

    #[test]
    fn sequential_pool_addresses_spread_over_all_shards() {
        let mut map = ShardedMap::new();
        let first = u32::from(Ipv4Addr::new(10, 99, 0, 1));
        let count = 100 * SHARDS as u32;
        for offset in 0..count {
            let address = IpAddr::from(Ipv4Addr::from(first + offset));
            map.insert(address, offset);
        }
        let sizes: Vec<usize> = map.shards.iter().map(|shard| shard.len()).collect();
        let (smallest, largest) = (sizes.iter().min(), sizes.iter().max());
        assert!(smallest >= Some(&50), "smallest shard {smallest:?}");
        assert!(largest <= Some(&150), "largest shard {largest:?}");
    }

    #[test]
    fn a_keyed_hasher_works_the_same() {
        let mut map = ShardedMap::with_hasher(std::hash::RandomState::new());
        for spi in 0..1000u32 {
            assert_eq!(map.insert(spi, spi * 2), None);
        }
        assert_eq!(map.get(&999), Some(&1998));
        assert_eq!(map.remove(&999), Some(1998));
        assert_eq!(map.len(), 999);
        assert_eq!(map.values().count(), 999);
    }
}
