//! `BlockCache`: the decoded columns of recently read blocks, kept in a compute node's
//! memory so a scan that reads them again skips the file, LZ4 and Parquet decoding.
//!
//! ```text
//!  SliceScanExec ── (block id, row group, column, batch rows) ──► BlockCache
//!        │ hit: the column's batches as decoded before (shared, nothing copied)
//!        │ miss: read the missing columns of that row group from the block file,
//!        │       then keep them (least recently used entries go first)
//!        ▼
//!  batches = the cached column chunks side by side; delete vectors applied after
//! ```
//!
//! Blocks are immutable and named by the BLAKE3 hash of their bytes, so an entry can never
//! go stale: a changed table has new block ids, and a delete vector is applied to the
//! cached rows on every read. The cache also keeps each block's Parquet footer (row-group
//! statistics for pruning), so a scan of cached columns does not open the file at all.
//!
//! Its size is the node's `block_cache` setting (`auto`: a quarter of `memory_limit`),
//! held apart from the memory pool of running queries; `0` turns it off.

use std::hash::Hash;
use std::sync::Arc;

use arrow::array::ArrayRef;
use datafusion::execution::cache::lru_queue::LruQueue;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use std::sync::{Mutex, MutexGuard};

/// What an entry costs beyond its arrays: its key (a block id is 64 hex digits), the
/// queue's and the map's bookkeeping.
const ENTRY_OVERHEAD: usize = 384;

/// What an entry holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A block's Parquet metadata.
    Footer(Arc<str>),
    /// One column of one row group, decoded in batches of `batch` rows.
    Column {
        block: Arc<str>,
        group: usize,
        column: usize,
        batch: usize,
    },
}

#[derive(Clone)]
enum Value {
    Footer(ArrowReaderMetadata),
    Column(Arc<Vec<ArrayRef>>),
}

struct Entry {
    value: Value,
    bytes: usize,
}

/// Figures for tests and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheFigures {
    pub hits: u64,
    pub misses: u64,
    pub bytes: usize,
    pub entries: usize,
}

struct Inner {
    queue: LruQueue<Key, Entry>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

/// A node's cache of decoded block columns (see the module docs).
pub struct BlockCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &self.capacity)
            .field("figures", &self.figures())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding at most `capacity` bytes (0: nothing is kept).
    pub fn new(capacity: usize) -> Self {
        BlockCache {
            capacity,
            inner: Mutex::new(Inner {
                queue: LruQueue::new(),
                bytes: 0,
                hits: 0,
                misses: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the queue half-updated in a way that matters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn figures(&self) -> CacheFigures {
        let inner = self.lock();
        CacheFigures {
            hits: inner.hits,
            misses: inner.misses,
            bytes: inner.bytes,
            entries: inner.queue.len(),
        }
    }

    /// A block's Parquet metadata, if kept.
    pub fn footer(&self, block: &str) -> Option<ArrowReaderMetadata> {
        match self.get(&Key::Footer(block.into()))? {
            Value::Footer(m) => Some(m),
            Value::Column(_) => None,
        }
    }

    pub fn put_footer(&self, block: &str, metadata: &ArrowReaderMetadata) {
        let bytes = metadata.metadata().memory_size();
        self.put(
            Key::Footer(block.into()),
            Value::Footer(metadata.clone()),
            bytes,
        );
    }

    /// One column of a row group, as the batches of `batch` rows it was decoded in.
    pub fn column(
        &self,
        block: &str,
        group: usize,
        column: usize,
        batch: usize,
    ) -> Option<Arc<Vec<ArrayRef>>> {
        let key = Key::Column {
            block: block.into(),
            group,
            column,
            batch,
        };
        match self.get(&key)? {
            Value::Column(c) => Some(c),
            Value::Footer(_) => None,
        }
    }

    pub fn put_column(
        &self,
        block: &str,
        group: usize,
        column: usize,
        batch: usize,
        chunks: Arc<Vec<ArrayRef>>,
    ) {
        let bytes = chunks.iter().map(|a| a.get_array_memory_size()).sum();
        let key = Key::Column {
            block: block.into(),
            group,
            column,
            batch,
        };
        self.put(key, Value::Column(chunks), bytes);
    }

    /// Whether an entry of `bytes` would be kept.
    pub fn would_keep(&self, bytes: usize) -> bool {
        bytes + ENTRY_OVERHEAD <= self.capacity / 8
    }

    fn get(&self, key: &Key) -> Option<Value> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.lock();
        let found = inner.queue.get(key).map(|e| e.value.clone());
        match found {
            Some(_) => inner.hits += 1,
            None => inner.misses += 1,
        }
        found
    }

    fn put(&self, key: Key, value: Value, bytes: usize) {
        // One entry may take at most an eighth: a scan bigger than the cache must not
        // flush everything for a single column.
        if !self.would_keep(bytes) {
            return;
        }
        let bytes = bytes + ENTRY_OVERHEAD;
        let mut inner = self.lock();
        if let Some(old) = inner.queue.put(key, Entry { value, bytes }) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        while inner.bytes > self.capacity {
            match inner.queue.pop() {
                Some((_, gone)) => inner.bytes -= gone.bytes,
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn chunk(n: usize) -> Arc<Vec<ArrayRef>> {
        Arc::new(vec![
            Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef
        ])
    }

    #[test]
    fn keeps_what_fits_and_drops_the_least_recently_used() {
        let one = chunk(1000)
            .iter()
            .map(|a| a.get_array_memory_size())
            .sum::<usize>();
        let cache = BlockCache::new(one * 8 + one / 2);
        for g in 0..8 {
            cache.put_column("b", g, 0, 1000, chunk(1000));
        }
        assert_eq!(cache.figures().entries, 8);
        // Touch group 0, then add a ninth: group 1 (the least recently used) goes.
        assert!(cache.column("b", 0, 0, 1000).is_some());
        cache.put_column("b", 8, 0, 1000, chunk(1000));
        assert!(cache.column("b", 1, 0, 1000).is_none());
        assert!(cache.column("b", 0, 0, 1000).is_some());
        assert!(cache.column("b", 8, 0, 1000).is_some());
        // Another batch size is another entry.
        assert!(cache.column("b", 0, 0, 500).is_none());
        let f = cache.figures();
        assert!(f.bytes <= cache.capacity());
        assert_eq!((f.hits, f.misses), (3, 2));
        // Too big for one entry: not kept.
        cache.put_column("b", 9, 0, 1000, chunk(100_000));
        assert!(cache.column("b", 9, 0, 1000).is_none());
    }

    #[test]
    fn a_zero_capacity_keeps_nothing() {
        let cache = BlockCache::new(0);
        cache.put_column("b", 0, 0, 10, chunk(10));
        assert!(cache.column("b", 0, 0, 10).is_none());
        assert_eq!(cache.figures(), CacheFigures::default());
    }
}
