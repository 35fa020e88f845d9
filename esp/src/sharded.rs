//! A hash map that is cheap to copy and then edit: the building block of the data plane's
//! published tables.
//!
//! The SA database and the egress table are immutable snapshots: the control plane copies the
//! current version, edits the copy and publishes it in one atomic step, while workers read
//! whichever version they last loaded (see [`crate::SaDatabase`]). With one hash map per table
//! that copy costs time in proportion to the entries (tens of milliseconds per edit at 100k SAs),
//! so the setup rate collapses as SAs accumulate.
//!
//! A [`ShardedMap`] spreads its entries over [`SHARDS`] small hash tables by hash, each table's
//! slots behind their own `Arc`. Copying the map copies only the shard pointers; an edit copies
//! the one shard it touches, and only if another version still shares it: about
//! `len / SHARDS` entries. A version that is not edited any more is never changed, so a reader
//! holding it sees the same contents for as long as it holds it. A lookup hashes the key once
//! (the hash picks the shard, then the slot) and follows one pointer, the shard's slots, whose
//! address and size sit in the map itself: no more than a plain hash map.

use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash};
use std::sync::Arc;

use crate::WordHasher;

/// Shards per map. Copying a map touches this many reference counts; editing one copies about
/// `len / SHARDS` entries. At 100k entries that is ~400.
pub const SHARDS: usize = 256;

/// The shard is picked by hash bits 32..40, the slot within it by the bits from 40 up (and
/// then, in a shard over 2^24 slots, from 0 up): independent of the shard bits, and the best
/// mixed bits of a multiplicative hash such as [`WordHasher`].
const SHARD_SHIFT: u32 = 32;

/// Where the slot bits start (see [`SHARD_SHIFT`]).
const SLOT_SHIFT: u32 = 40;

/// Slots in a shard's first table of its own.
const FIRST_CAPACITY: usize = 8;

/// The shard a key with this hash lives in.
fn shard_index(hash: u64) -> usize {
    (hash >> SHARD_SHIFT) as usize & (SHARDS - 1)
}

/// The first slot to probe for a key with this hash, in a shard with this slot mask.
fn home_slot(hash: u64, mask: usize) -> usize {
    hash.rotate_right(SLOT_SHIFT) as usize & mask
}

/// One shard: an open-addressing table with linear probing, its slots behind an `Arc` that
/// versions of the map share until one of them edits the shard. The slot count is a power of
/// two and at most half the slots are full, so every probe sequence reaches an empty slot
/// within a few steps. Removal shifts the entries after the hole back (no tombstones).
struct Shard<K, V> {
    slots: Arc<[Option<(K, V)>]>,
    len: usize,
}

impl<K, V> Shard<K, V> {
    /// The slot index mask: `slots.len()` is a power of two, at least one.
    fn mask(&self) -> usize {
        self.slots.len().saturating_sub(1)
    }
}

impl<K: Eq, V> Shard<K, V> {
    /// Where `key` is stored.
    fn find(&self, hash: u64, key: &K) -> Option<usize> {
        let mask = self.mask();
        let mut index = home_slot(hash, mask);
        for _ in 0..=mask {
            match &self.slots[index] {
                None => return None,
                Some((known, _)) if known == key => return Some(index),
                Some(_) => index = (index + 1) & mask,
            }
        }
        None
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Shard<K, V> {
    /// The slots, copied first if another version shares them.
    fn unshared(&mut self) -> &mut [Option<(K, V)>] {
        Arc::make_mut(&mut self.slots)
    }

    /// Stores a key known to be absent, growing the table first if it would be over half full.
    fn insert_absent(&mut self, hash: u64, key: K, value: V, hasher: &impl BuildHasher) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow(hasher);
        }
        let mask = self.mask();
        let slots = self.unshared();
        let mut index = home_slot(hash, mask);
        while slots[index].is_some() {
            index = (index + 1) & mask;
        }
        slots[index] = Some((key, value));
        self.len += 1;
    }

    /// Moves the entries into a table twice the size.
    fn grow(&mut self, hasher: &impl BuildHasher) {
        let capacity = (self.slots.len() * 2).max(FIRST_CAPACITY);
        let mask = capacity - 1;
        let mut slots: Vec<Option<(K, V)>> = vec![None; capacity];
        for (key, value) in self.slots.iter().flatten() {
            let mut index = home_slot(hasher.hash_one(key), mask);
            while slots[index].is_some() {
                index = (index + 1) & mask;
            }
            slots[index] = Some((key.clone(), value.clone()));
        }
        self.slots = slots.into();
    }

    /// Takes the entry at `index` out and closes the gap: each following entry up to the next
    /// empty slot moves back into the hole unless that would put it before its home slot.
    fn remove_at(&mut self, index: usize, hasher: &impl BuildHasher) -> Option<V> {
        let mask = self.mask();
        let slots = self.unshared();
        let (_, value) = slots[index].take()?;
        let mut hole = index;
        let mut next = (index + 1) & mask;
        while let Some((key, _)) = &slots[next] {
            let home = home_slot(hasher.hash_one(key), mask);
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                slots[hole] = slots[next].take();
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.len -= 1;
        Some(value)
    }
}

/// A hash map whose copies share unchanged parts (see the module documentation).
///
/// The default hasher, [`WordHasher`], suits keys we chose (our SPIs, our pool's addresses);
/// for keys a peer picks, use a keyed hasher such as `std::hash::RandomState` so that no peer
/// can crowd one shard or slot run.
pub struct ShardedMap<K, V, S = BuildHasherDefault<WordHasher>> {
    shards: [Shard<K, V>; SHARDS],
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
    /// An empty map that hashes with `hasher`. Allocates one empty slot that all shards share
    /// until they are first written.
    pub fn with_hasher(hasher: S) -> Self {
        let empty: Arc<[Option<(K, V)>]> = Arc::new([None]);
        Self {
            shards: std::array::from_fn(|_| Shard {
                slots: Arc::clone(&empty),
                len: 0,
            }),
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
            .flat_map(|shard| shard.slots.iter().flatten())
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
        let shard = &self.shards[shard_index(hash)];
        let mask = shard.mask();
        let mut index = home_slot(hash, mask);
        for _ in 0..=mask {
            match &shard.slots[index] {
                None => return None,
                Some((known, value)) if known == key => return Some(value),
                Some(_) => index = (index + 1) & mask,
            }
        }
        None
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
        let shard = &mut self.shards[shard_index(hash)];
        if let Some(index) = shard.find(hash, &key) {
            let (_, slot) = shard.unshared()[index].as_mut()?;
            return Some(std::mem::replace(slot, value));
        }
        shard.insert_absent(hash, key, value, &self.hasher);
        self.len += 1;
        None
    }

    /// Removes and returns the value stored under `key`. A shared shard is copied only if the
    /// key is in it.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let hash = self.hasher.hash_one(key);
        let shard = &mut self.shards[shard_index(hash)];
        let index = shard.find(hash, key)?;
        let value = shard.remove_at(index, &self.hasher)?;
        self.len -= 1;
        Some(value)
    }

    /// The value stored under `key`, to change in place. A shared shard is copied only if the
    /// key is in it.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let hash = self.hasher.hash_one(key);
        let shard = &mut self.shards[shard_index(hash)];
        let index = shard.find(hash, key)?;
        shard.unshared()[index].as_mut().map(|(_, value)| value)
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
            shards: std::array::from_fn(|index| Shard {
                slots: Arc::clone(&self.shards[index].slots),
                len: self.shards[index].len,
            }),
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
    use std::hash::Hasher;
    use std::net::{IpAddr, Ipv4Addr};

    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

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

    fn assert_same<S: BuildHasher>(map: &ShardedMap<u8, u32, S>, model: &HashMap<u8, u32>) {
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

    /// Applies `edits` to `map` and to a `HashMap`: every answer must agree, and every copy
    /// taken along the way must still hold exactly what the map held when it was taken.
    fn check_edits<S: BuildHasher + Clone>(
        mut map: ShardedMap<u8, u32, S>,
        edits: Vec<Edit>,
    ) -> Result<(), TestCaseError> {
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
                    let expected = model
                        .get_mut(&key)
                        .map(|slot| std::mem::replace(slot, value));
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
        Ok(())
    }

    /// Puts every key in shard 0 with one of four home slots, two of them at the end of the
    /// table, so that long probe runs, wrap-around and the shift on removal all happen.
    #[derive(Debug, Clone, Copy, Default)]
    struct Colliding;

    #[derive(Debug, Default)]
    struct CollidingHasher(u64);

    impl BuildHasher for Colliding {
        type Hasher = CollidingHasher;

        fn build_hasher(&self) -> CollidingHasher {
            CollidingHasher::default()
        }
    }

    impl Hasher for CollidingHasher {
        fn write(&mut self, bytes: &[u8]) {
            for byte in bytes {
                self.0 = self.0.wrapping_add(u64::from(*byte));
            }
        }

        fn finish(&self) -> u64 {
            // Slot bits all ones: the last slot, whatever the table's size; shard bits zero.
            const LAST: u64 = u64::MAX << SLOT_SHIFT;
            [0, 5 << SLOT_SHIFT, LAST, LAST - (2 << SLOT_SHIFT)][(self.0 % 4) as usize]
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_map_and_copies_do_not_change(
            edits in proptest::collection::vec(edit(), 0..300),
        ) {
            check_edits(ShardedMap::new(), edits)?;
        }

        #[test]
        fn behaves_like_a_hash_map_when_every_key_collides(
            edits in proptest::collection::vec(edit(), 0..300),
        ) {
            check_edits(ShardedMap::with_hasher(Colliding), edits)?;
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
            .filter(|(now, then)| !Arc::ptr_eq(&now.slots, &then.slots))
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
        let sizes: Vec<usize> = map.shards.iter().map(|shard| shard.len).collect();
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
