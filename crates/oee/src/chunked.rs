//! An ordered map for facts that mostly arrive in key order.
//!
//! [`ChunkMap`] keeps its entries in sorted `Vec` chunks: the last chunk (the tail) takes keys
//! past every other key with a `push`, so an in-order insert costs O(1) amortized instead of a
//! B-tree descent and node split. The other chunks are indexed by their first key in a
//! `BTreeMap`, so a late insert costs O(log n) to find its chunk plus a move of at most
//! [`MAX_CHUNK`] entries. Serialized, it is a list of `(key, value)` pairs in key order, as the
//! timeline's `BTreeMap`s were (keys JSON cannot name, numbers and tuples, need a list).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

/// Entries the tail holds before it becomes a chunk of its own.
const CHUNK: usize = 32;
/// Entries a chunk holds at most; a late insert into a full chunk splits it in halves.
const MAX_CHUNK: usize = 2 * CHUNK;

type Chunk<K, V> = Vec<(K, V)>;

/// An ordered map with O(1) amortized inserts past its last key and O(log n) inserts elsewhere.
#[derive(Debug, Clone)]
pub(crate) struct ChunkMap<K, V> {
    /// Full chunks by their first key; every key of a chunk is less than the next chunk's first.
    chunks: BTreeMap<K, Chunk<K, V>>,
    /// The entries after every chunk's.
    tail: Chunk<K, V>,
    len: usize,
}

impl<K, V> Default for ChunkMap<K, V> {
    fn default() -> Self {
        ChunkMap {
            chunks: BTreeMap::new(),
            tail: Vec::new(),
            len: 0,
        }
    }
}

/// Returns true when `key` lies before the start `bound`.
fn before_start<K: Ord>(key: &K, bound: Bound<&K>) -> bool {
    match bound {
        Bound::Included(b) => key < b,
        Bound::Excluded(b) => key <= b,
        Bound::Unbounded => false,
    }
}

/// Returns true when `key` lies before the end `bound` (inside it).
fn before_end<K: Ord>(key: &K, bound: Bound<&K>) -> bool {
    match bound {
        Bound::Included(b) => key <= b,
        Bound::Excluded(b) => key < b,
        Bound::Unbounded => true,
    }
}

/// Returns the entries of `chunk` inside `[start, end)` of the bounds.
fn trim<'a, K: Ord, V>(chunk: &'a [(K, V)], start: Bound<&K>, end: Bound<&K>) -> &'a [(K, V)] {
    // The ends are checked first: a range mostly takes a chunk whole at one end at least.
    let from = match chunk.first() {
        Some((k, _)) if !before_start(k, start) => 0,
        _ => chunk.partition_point(|(k, _)| before_start(k, start)),
    };
    let to = match chunk.last() {
        Some((k, _)) if before_end(k, end) => chunk.len(),
        _ => chunk.partition_point(|(k, _)| before_end(k, end)),
    };
    chunk.get(from..to.max(from)).unwrap_or(&[])
}

impl<K, V> ChunkMap<K, V> {
    /// Returns the number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Returns the number of chunks (the tail included), for memory estimates.
    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks.len() + usize::from(!self.tail.is_empty())
    }
}

impl<K: Ord + Clone, V> ChunkMap<K, V> {
    /// Returns the entry with the least key.
    pub(crate) fn first_key_value(&self) -> Option<(&K, &V)> {
        let first = match self.chunks.first_key_value() {
            Some((_, chunk)) => chunk.first(),
            None => self.tail.first(),
        };
        first.map(|(k, v)| (k, v))
    }

    /// Returns the entry with the greatest key.
    pub(crate) fn last_key_value(&self) -> Option<(&K, &V)> {
        let last = match self.tail.last() {
            Some(last) => Some(last),
            None => self.chunks.last_key_value().and_then(|(_, c)| c.last()),
        };
        last.map(|(k, v)| (k, v))
    }

    /// Returns the value at `key`, inserting `make()` there first when there is none; the flag
    /// is true when it was inserted.
    ///
    /// Inlined for a key past every other with room in the tail (facts in order);
    /// [`ChunkMap::insert_with`] does the rest.
    #[inline]
    pub(crate) fn get_or_insert_with(
        &mut self,
        key: K,
        make: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        if self.tail.len() < CHUNK && self.tail.last().is_some_and(|(last, _)| key > *last) {
            self.len += 1;
            self.tail.push((key, make()));
            let i = self.tail.len() - 1;
            return (&mut self.tail[i].1, true);
        }
        self.insert_with(key, make)
    }

    /// Does what [`ChunkMap::get_or_insert_with`] does, in every case (kept out of line, so
    /// that the fast path stays small enough to inline).
    #[inline(never)]
    fn insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> (&mut V, bool) {
        // In order: past every key.
        let past_all = match self.tail.last() {
            Some((last, _)) => key > *last,
            None => self
                .chunks
                .last_key_value()
                .and_then(|(_, c)| c.last())
                .is_none_or(|(last, _)| key > *last),
        };
        if past_all {
            if self.tail.len() >= CHUNK {
                self.seal_tail();
            }
            self.len += 1;
            self.tail.push((key, make()));
            let i = self.tail.len() - 1;
            return (&mut self.tail[i].1, true);
        }
        // In the tail, or before every chunk while there is none.
        let in_tail = match self.tail.first() {
            Some((first, _)) => key >= *first || self.chunks.is_empty(),
            None => false,
        };
        if in_tail {
            if self.tail.len() >= MAX_CHUNK {
                let upper = self.tail.split_off(self.tail.len() / 2);
                self.seal_tail();
                self.tail = upper;
                return self.get_or_insert_with(key, make);
            }
            return insert_into(&mut self.tail, &mut self.len, key, make);
        }
        // A late key: into the chunk whose first key is the last at or before it, or into the
        // first chunk (which then changes its first key) when it precedes them all.
        let Some((at, before_all)) = self
            .chunks
            .range(..=&key)
            .next_back()
            .map(|(at, _)| (at.clone(), false))
            .or_else(|| self.chunks.keys().next().map(|at| (at.clone(), true)))
        else {
            // Unreachable: a map with no chunk keeps every key in its tail.
            return insert_into(&mut self.tail, &mut self.len, key, make);
        };
        let full = self.chunks.get(&at).is_some_and(|chunk| {
            chunk.len() >= MAX_CHUNK && chunk.binary_search_by(|(k, _)| k.cmp(&key)).is_err()
        });
        if full {
            if let Some(chunk) = self.chunks.get_mut(&at) {
                let upper = chunk.split_off(chunk.len() / 2);
                if let Some((first, _)) = upper.first() {
                    let first = first.clone();
                    self.chunks.insert(first, upper);
                }
            }
            return self.get_or_insert_with(key, make);
        }
        if before_all {
            let mut chunk = self.chunks.remove(&at).unwrap_or_default();
            chunk.insert(0, (key.clone(), make()));
            self.len += 1;
            let chunk = self.chunks.entry(key).or_insert(chunk);
            return (&mut chunk[0].1, true);
        }
        let chunk = self.chunks.entry(at).or_default();
        insert_into(chunk, &mut self.len, key, make)
    }

    /// Returns the value at `key`, inserting `V::default()` first when there is none.
    #[inline]
    pub(crate) fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.get_or_insert_with(key, V::default).0
    }

    /// Moves the tail into the indexed chunks.
    fn seal_tail(&mut self) {
        // The map has grown a chunk already: the next tail gets its full size at once.
        let tail = std::mem::replace(&mut self.tail, Vec::with_capacity(CHUNK));
        if let Some((first, _)) = tail.first() {
            let first = first.clone();
            self.chunks.insert(first, tail);
        }
    }

    /// Returns the entries with keys in `range`, in key order (double-ended).
    pub(crate) fn range<R: RangeBounds<K>>(&self, range: R) -> Range<'_, K, V> {
        let (start, end) = (range.start_bound(), range.end_bound());
        let empty = Range {
            front: [].iter(),
            middle: Middle::Done,
            back: [].iter(),
        };
        // All in the tail when the start is at or after its first key (or there is no chunk).
        let tail_first = self.tail.first().map(|(k, _)| k);
        let from_tail = match (start, tail_first) {
            (_, None) => false,
            (Bound::Unbounded, Some(_)) => self.chunks.is_empty(),
            (Bound::Included(s) | Bound::Excluded(s), Some(t)) => t <= s || self.chunks.is_empty(),
        };
        if from_tail {
            return Range {
                front: trim(&self.tail, start, end).iter(),
                ..empty
            };
        }
        // The chunk holding the start (the last whose first key is at or before it), trimmed
        // at it; none when the range is open at the start.
        let front = match start {
            Bound::Unbounded => None,
            Bound::Included(s) | Bound::Excluded(s) => self
                .chunks
                .range(..=s)
                .next_back()
                .map(|(key, chunk)| (key, trim(chunk, start, Bound::Unbounded))),
        };
        let (front_key, front) = match front {
            Some((key, entries)) => (Bound::Excluded(key), entries),
            None => (Bound::Unbounded, &[][..]),
        };
        // The tail is the last chunk when its first key is inside the end.
        if tail_first.is_some_and(|t| before_end(t, end)) {
            return Range {
                front: front.iter(),
                middle: Middle::Pending(&self.chunks, front_key, Bound::Unbounded),
                back: trim(&self.tail, Bound::Unbounded, end).iter(),
            };
        }
        let last = match end {
            Bound::Unbounded => self.chunks.last_key_value(),
            Bound::Included(e) => self.chunks.range(..=e).next_back(),
            Bound::Excluded(e) => self.chunks.range(..e).next_back(),
        };
        let Some((last_key, last_chunk)) = last else {
            return empty;
        };
        match front_key {
            Bound::Excluded(key) if key == last_key => Range {
                front: trim(last_chunk, start, end).iter(),
                ..empty
            },
            Bound::Excluded(key) if key > last_key => empty,
            _ => Range {
                front: front.iter(),
                middle: Middle::Pending(&self.chunks, front_key, Bound::Excluded(last_key)),
                back: trim(last_chunk, Bound::Unbounded, end).iter(),
            },
        }
    }

    /// Returns every entry in key order.
    pub(crate) fn iter(&self) -> Range<'_, K, V> {
        self.range::<(Bound<&K>, Bound<&K>)>((Bound::Unbounded, Bound::Unbounded))
    }

    /// Keeps, of the entries with keys before `limit`, those for which `keep` returns true.
    pub(crate) fn retain_before(&mut self, limit: &K, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let firsts: Vec<K> = self.chunks.range(..limit).map(|(k, _)| k.clone()).collect();
        for first in firsts {
            if let Some(mut chunk) = self.chunks.remove(&first) {
                let before = chunk.len();
                chunk.retain_mut(|(k, v)| *k >= *limit || keep(k, v));
                self.len -= before - chunk.len();
                // Stored again under its first key, which may have changed.
                if let Some((first, _)) = chunk.first() {
                    let first = first.clone();
                    self.chunks.insert(first, chunk);
                }
            }
        }
        let before = self.tail.len();
        self.tail.retain_mut(|(k, v)| *k >= *limit || keep(k, v));
        self.len -= before - self.tail.len();
    }

    /// Splits the map at `key`: returns the entries from `key` on and keeps those before it.
    pub(crate) fn split_off(&mut self, key: &K) -> ChunkMap<K, V> {
        let mut upper = ChunkMap::default();
        if self.tail.first().is_some_and(|(k, _)| k < key) {
            let at = self.tail.partition_point(|(k, _)| k < key);
            upper.tail = self.tail.split_off(at);
        } else {
            upper.tail = std::mem::take(&mut self.tail);
            upper.chunks = self.chunks.split_off(key);
            if let Some(mut last) = self.chunks.last_entry() {
                let chunk = last.get_mut();
                let at = chunk.partition_point(|(k, _)| k < key);
                let moved = chunk.split_off(at);
                if let Some((first, _)) = moved.first() {
                    let first = first.clone();
                    upper.chunks.insert(first, moved);
                }
            }
        }
        upper.len = upper.chunks.values().map(Vec::len).sum::<usize>() + upper.tail.len();
        self.len -= upper.len;
        upper
    }
}

/// Inserts `key` into the sorted `chunk` unless it is there; see
/// [`ChunkMap::get_or_insert_with`].
fn insert_into<'a, K: Ord, V>(
    chunk: &'a mut Chunk<K, V>,
    len: &mut usize,
    key: K,
    make: impl FnOnce() -> V,
) -> (&'a mut V, bool) {
    match chunk.binary_search_by(|(k, _)| k.cmp(&key)) {
        Ok(i) => (&mut chunk[i].1, false),
        Err(i) => {
            chunk.insert(i, (key, make()));
            *len += 1;
            (&mut chunk[i].1, true)
        }
    }
}

/// The entries of a [`ChunkMap`] in a key range ([`ChunkMap::range`]).
#[derive(Debug)]
pub(crate) struct Range<'a, K, V> {
    front: std::slice::Iter<'a, (K, V)>,
    /// The chunks between the front's and the back's, all inside the range.
    middle: Middle<'a, K, V>,
    back: std::slice::Iter<'a, (K, V)>,
}

/// The middle chunks of a [`Range`], looked up in the index only when a walk gets to them (most
/// walks end in the front or back chunk).
#[derive(Debug)]
enum Middle<'a, K, V> {
    Pending(&'a BTreeMap<K, Chunk<K, V>>, Bound<&'a K>, Bound<&'a K>),
    Ready(std::collections::btree_map::Range<'a, K, Chunk<K, V>>),
    Done,
}

impl<'a, K: Ord, V> Middle<'a, K, V> {
    /// Returns the middle chunks, looking them up first when they are pending.
    fn chunks(&mut self) -> Option<&mut std::collections::btree_map::Range<'a, K, Chunk<K, V>>> {
        if let Middle::Pending(chunks, from, to) = *self {
            *self = Middle::Ready(chunks.range((from, to)));
        }
        match self {
            Middle::Ready(range) => Some(range),
            _ => None,
        }
    }
}

impl<'a, K: Ord, V> Iterator for Range<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((k, v)) = self.front.next() {
                return Some((k, v));
            }
            match self.middle.chunks().and_then(Iterator::next) {
                Some((_, chunk)) => self.front = chunk.iter(),
                None => return self.back.next().map(|(k, v)| (k, v)),
            }
        }
    }
}

impl<K: Ord, V> DoubleEndedIterator for Range<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((k, v)) = self.back.next_back() {
                return Some((k, v));
            }
            match self
                .middle
                .chunks()
                .and_then(DoubleEndedIterator::next_back)
            {
                Some((_, chunk)) => self.back = chunk.iter(),
                None => return self.front.next_back().map(|(k, v)| (k, v)),
            }
        }
    }
}

impl<K: Serialize + Ord + Clone, V: Serialize> Serialize for ChunkMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, K, V> Deserialize<'de> for ChunkMap<K, V>
where
    K: Deserialize<'de> + Ord + Clone,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut pairs = Vec::<(K, V)>::deserialize(deserializer)?;
        // Stable: of the pairs with one key the last is kept, as collecting into a `BTreeMap`
        // does.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut map = ChunkMap::default();
        for (k, v) in pairs {
            match map.tail.last_mut() {
                Some((last, slot)) if *last == k => *slot = v,
                _ => {
                    map.get_or_insert_with(k, || v);
                }
            }
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn check(map: &ChunkMap<i32, u32>, model: &BTreeMap<i32, u32>) {
        assert_eq!(map.len(), model.len());
        let all: Vec<(i32, u32)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        let want: Vec<(i32, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(all, want);
        assert_eq!(
            map.first_key_value().map(|(k, _)| *k),
            model.first_key_value().map(|(k, _)| *k)
        );
        assert_eq!(
            map.last_key_value().map(|(k, _)| *k),
            model.last_key_value().map(|(k, _)| *k)
        );
    }

    proptest! {
        #[test]
        fn behaves_like_a_btree_map(
            keys in proptest::collection::vec((0i32..400, any::<bool>()), 0..600),
            bounds in proptest::collection::vec((-5i32..405, -5i32..405), 1..20),
            split in -5i32..405,
        ) {
            let mut map = ChunkMap::default();
            let mut model = BTreeMap::new();
            // Mostly increasing keys with late ones, as facts arrive.
            for (i, (k, late)) in keys.iter().enumerate() {
                let key = if *late { *k } else { i as i32 };
                let (v, inserted) = map.get_or_insert_with(key, || 0);
                *v += 1;
                let m = model.entry(key).or_insert(0);
                prop_assert_eq!(inserted, *m == 0);
                *m += 1;
            }
            check(&map, &model);
            for (a, b) in bounds {
                let (a, b) = (a.min(b), a.max(b));
                let got: Vec<i32> = map.range(a..b).map(|(k, _)| *k).collect();
                let want: Vec<i32> = model.range(a..b).map(|(k, _)| *k).collect();
                prop_assert_eq!(&got, &want);
                let got: Vec<i32> = map.range(a..=b).rev().map(|(k, _)| *k).collect();
                let want: Vec<i32> = model.range(a..=b).rev().map(|(k, _)| *k).collect();
                prop_assert_eq!(&got, &want);
                let got: Vec<i32> = map.range(..=a).rev().map(|(k, _)| *k).collect();
                let want: Vec<i32> = model.range(..=a).rev().map(|(k, _)| *k).collect();
                prop_assert_eq!(&got, &want);
                let ex = (Bound::Excluded(a), Bound::Excluded(b.max(a + 1)));
                let mut got = map.range(ex);
                let mut want = model.range(ex);
                // Alternate ends, as a double-ended walk may.
                loop {
                    let (g, w) = (got.next().map(|(k, _)| *k), want.next().map(|(k, _)| *k));
                    prop_assert_eq!(g, w);
                    let (g, w) = (
                        got.next_back().map(|(k, _)| *k),
                        want.next_back().map(|(k, _)| *k),
                    );
                    prop_assert_eq!(g, w);
                    if g.is_none() {
                        break;
                    }
                }
                let got: Vec<i32> = map.range(a..).map(|(k, _)| *k).collect();
                let want: Vec<i32> = model.range(a..).map(|(k, _)| *k).collect();
                prop_assert_eq!(&got, &want);
            }
            let json = serde_json::to_string(&map).unwrap();
            let pairs: Vec<(i32, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&json, &serde_json::to_string(&pairs).unwrap());
            let back: ChunkMap<i32, u32> = serde_json::from_str(&json).unwrap();
            check(&back, &model);
            let mut kept = map.clone();
            kept.retain_before(&split, |k, v| (k + *v as i32) % 3 != 0);
            let mut kept_model = model.clone();
            kept_model.retain(|k, v| *k >= split || (k + *v as i32) % 3 != 0);
            check(&kept, &kept_model);
            let upper = map.split_off(&split);
            let model_upper = model.split_off(&split);
            check(&map, &model);
            check(&upper, &model_upper);
        }
    }
}
