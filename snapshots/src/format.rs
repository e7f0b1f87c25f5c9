//! What a snapshot is in object storage.
//!
//! ```text
//!  <location>/files/<blake3>.parquet   block files, once per location (content-addressed)
//!  <location>/files/<blake3>.dv        delete vectors, likewise
//!  <location>/pending/<name>.json      written first: the files a snapshot in progress needs
//!  <location>/manifests/<name>.json    the catalog and every slice manifest at the commit
//!  <location>/snapshots/<name>.json    the record, written last: a snapshot exists once it does
//! ```
//!
//! Every object's checksum is recorded: a file's name is the BLAKE3 hash of its bytes, and
//! the record holds the manifest's hash. Restore checks both.

use std::collections::BTreeMap;

use blueshift_storage::placement::Topology;
use blueshift_storage::table::TableDef;
use blueshift_storage::{Error, Result, TableData};
use serde::{Deserialize, Serialize};

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Automated,
    Manual,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Automated => "automated",
            Kind::Manual => "manual",
        }
    }
}

/// One table as the record summarizes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    pub name: String,
    pub rows: u64,
    /// [`blueshift_storage::checksum`] of the table's live rows, 16 hex digits.
    pub checksum: String,
    pub bytes: u64,
}

/// An object written with its checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub key: String,
    pub blake3: String,
    pub bytes: u64,
}

/// The snapshot record: written last, the only thing listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    pub name: String,
    pub kind: Kind,
    pub cluster_id: String,
    /// The catalog version (commit) the snapshot holds.
    pub commit: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub created_unix_ms: i64,
    /// Kept this many days after `created_at`; `None`: until deleted.
    pub retention_days: Option<u32>,
    pub topology: Topology,
    pub tables: Vec<TableSummary>,
    pub rows: u64,
    /// Bytes of every file the snapshot names.
    pub bytes: u64,
    pub files: u64,
    /// Bytes and files this snapshot put into the location (the rest were there).
    pub bytes_uploaded: u64,
    pub files_uploaded: u64,
    pub manifest: ObjectRef,
    /// Where the snapshot was taken, when this record is a cross-region copy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
}

impl Record {
    /// Whether the snapshot's retention has run out at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.retention_days
            .is_some_and(|d| self.created_unix_ms + i64::from(d) * 86_400_000 <= now_ms)
    }

    pub fn table(&self, name: &str) -> Option<&TableSummary> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// One table at the snapshot's commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableImage {
    pub def: TableDef,
    pub data: TableData,
}

/// `(live rows, checksum)` of one block under one delete vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSum {
    pub rows: u64,
    pub sum: u64,
}

/// The catalog and every slice manifest at the commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub cluster_id: String,
    pub commit: u64,
    pub topology: Topology,
    pub next_table_id: u64,
    pub tables: BTreeMap<String, TableImage>,
    /// The views at the commit (none in snapshots taken before views existed).
    #[serde(default)]
    pub views: BTreeMap<String, blueshift_storage::table::ViewDef>,
    /// Users, groups, owners and grants at the commit, as the leader's catalog keeps them
    /// (opaque here; none in snapshots taken before users existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<serde_json::Value>,
    /// Per block (and delete vector) checksums, keyed by [`sum_key`]; the next snapshot
    /// reuses them for blocks that did not change.
    pub sums: BTreeMap<String, BlockSum>,
}

/// A file a snapshot names: its key in the location is `files/<id>.<ext>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileRef {
    pub id: String,
    pub delete_vector: bool,
    pub bytes: u64,
}

impl FileRef {
    pub fn key(&self) -> String {
        file_key(&self.id, self.delete_vector)
    }
}

/// The files a block needs: its Parquet file and its delete vector, if any (whose size
/// the manifest does not record: 0).
pub fn block_files(b: &blueshift_storage::BlockMeta) -> Vec<FileRef> {
    let mut out = vec![FileRef {
        id: b.id.clone(),
        delete_vector: false,
        bytes: b.bytes,
    }];
    if let Some(d) = &b.deletes {
        out.push(FileRef {
            id: d.id.clone(),
            delete_vector: true,
            bytes: 0,
        });
    }
    out
}

pub fn file_key(id: &str, delete_vector: bool) -> String {
    format!(
        "files/{id}.{}",
        if delete_vector { "dv" } else { "parquet" }
    )
}

/// What a snapshot in progress will name (so garbage collection keeps it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub name: String,
    /// The cluster writing it: a leader clears only its own cluster's markers.
    #[serde(default)]
    pub cluster_id: String,
    pub started_unix_ms: i64,
    pub files: Vec<String>,
}

/// The key of a block's checksum under its delete vector.
pub fn sum_key(block: &blueshift_storage::BlockMeta) -> String {
    match &block.deletes {
        Some(d) => format!("{}+{}", block.id, d.id),
        None => block.id.clone(),
    }
}

impl Manifest {
    /// Every file the manifest names, once (DISTSTYLE ALL copies are the same files).
    pub fn files(&self) -> Vec<FileRef> {
        let all: std::collections::BTreeSet<FileRef> = self
            .tables
            .values()
            .flat_map(|t| t.data.slices.values())
            .flat_map(|m| &m.blocks)
            .flat_map(block_files)
            .collect();
        all.into_iter().collect()
    }
}

/// Snapshot names: a letter or digit, then letters, digits, `-`, `_` or `.`, up to 63.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid snapshot name {name:?}: use 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )))
    }
}

/// The hex form of a table checksum.
pub fn checksum_hex(sum: u64) -> String {
    format!("{sum:016x}")
}
