//! Blueshift storage: how a compute node keeps its slices of every table, and how the
//! leader records which of those files are committed.
//!
//! ```text
//!  rows for slice s ──► encode_block (sort by SORTKEY, Parquet+LZ4, zone maps, BLAKE3 id)
//!                          │
//!                          ▼
//!                SliceStore::put_block   (tmp → fsync → rename: whole files only)
//!                          │  BlockMeta {id, rows, zone maps}
//!                          ▼
//!   leader: TableData { slice → SliceManifest } ──► CommitLog::commit (atomic, fsync'd)
//!                          │
//!                          ▼
//!   BlockTable::scan ── prune by zone maps ──► SliceScanExec (one partition per slice)
//! ```
//!
//! Modules: [`table`] (definitions), [`placement`] (topology and the distribution hash),
//! `block` and `zone_map` (block files and their statistics), [`checksum`] (order-independent
//! content checksums), `pruning` (zone maps as
//! DataFusion pruning statistics), `delete_vector`,
//! `manifest`, `slice_store` (files on a node), `commit_log` (the leader's durable state),
//! `scan` and `provider` (DataFusion integration), `objects` (URLs to object stores and
//! the `[regions.*]` configuration, for COPY/UNLOAD and snapshots alike), `config` (the
//! `[storage]` section), `code` (protocol-neutral error codes).

mod block;
mod block_cache;
pub mod checksum;
mod code;
mod commit_log;
mod config;
mod delete_vector;
mod error;
mod manifest;
mod objects;
pub mod placement;
mod provider;
mod pruning;
mod scan;
mod slice_store;
mod stats;
pub mod table;
mod zone_map;

pub use block::{BLOCK_ROWS, BlockMeta, DeleteVectorMeta, encode_block, sort_rows};
pub use block_cache::{BlockCache, CacheFigures};
pub use code::{Code, CodedError, datafusion_message};
pub use commit_log::CommitLog;
pub use config::StorageConfig;
pub use delete_vector::DeleteVector;
pub use error::{Error, Result};
pub use manifest::{SliceManifest, TableData};
pub use objects::{Access, Located, RegionConfig, StoreConfig, Stores, Url};
pub use provider::BlockTable;
pub use pruning::BlockStatistics;
pub use scan::{
    ROW_BLOCK, ROW_POS, ROW_SLICE, ScanBlock, ScanLayout, ScanPartition, ScanSpec, SliceScanExec,
};
pub use slice_store::{DirLock, FileSource, SliceStore, sync_dir};
pub use stats::{ColumnStats, TableStats, zone_map_ranges};
pub use zone_map::ZoneMap;
