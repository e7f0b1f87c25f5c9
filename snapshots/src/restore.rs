//! Restore: a snapshot's tables made into compute-node folders, on the snapshot's topology
//! or another one.
//!
//! ```text
//!  same N x S:   files ─► download (parallel, BLAKE3 checked) ─► the slices that name them
//!  other N x S:  files ─► download ─► live rows ─► route_batch (KEY re-hashed, EVEN
//!                rebalanced, ALL copied) ─► sort + encode new blocks ─► the new slices
//!  either way:   every table's rows and checksum recomputed from the restored rows and
//!                compared with the snapshot's record
//! ```
//!
//! The caller gives a staging folder and moves it into place only when this returns Ok,
//! so a failed restore never leaves a folder that could be started.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use blueshift_storage::placement::{Topology, route_batch};
use blueshift_storage::table::TableDef;
use blueshift_storage::{
    BLOCK_ROWS, BlockMeta, Error, Result, SliceManifest, SliceStore, TableData, encode_block,
};
use serde::{Deserialize, Serialize};

use crate::format::{FileRef, Manifest, Record, TableImage, block_files, checksum_hex};
use crate::location::Location;

/// Downloads in flight at once.
const PARALLEL: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestoreProgress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_downloaded: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableCheck {
    pub name: String,
    pub rows: u64,
    pub checksum: String,
    pub expected_rows: u64,
    pub expected_checksum: String,
}

impl TableCheck {
    pub fn matches(&self) -> bool {
        self.rows == self.expected_rows && self.checksum == self.expected_checksum
    }
}

#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    /// Every table with its data on the new topology.
    pub tables: BTreeMap<String, TableImage>,
    pub files_downloaded: u64,
    pub bytes_downloaded: u64,
    pub checks: Vec<TableCheck>,
}

/// The compute folder of node `n` inside a restored cluster folder.
pub fn node_dir(root: &Path, node: u32) -> std::path::PathBuf {
    root.join(format!("compute-{node}"))
}

/// Restores every table (or only `only`) of `record` into `staging/compute-<n>` folders
/// for `topology`. Fails, naming the object or table, on a missing or damaged object or a
/// table whose restored rows do not match the record.
pub async fn restore(
    location: &Location,
    record: &Record,
    staging: &Path,
    topology: Topology,
    only: Option<&str>,
    progress: &(dyn Fn(RestoreProgress) + Send + Sync),
) -> Result<Restored> {
    let mut manifest = location.manifest(record).await?;
    if let Some(name) = only {
        manifest.tables.retain(|t, _| t == name);
        if manifest.tables.is_empty() {
            return Err(Error::Invalid(format!(
                "snapshot {} has no table {name}",
                record.name
            )));
        }
    }
    let nodes: Vec<Arc<SliceStore>> = (0..topology.nodes)
        .map(|n| SliceStore::open(node_dir(staging, n)).map(Arc::new))
        .collect::<Result<_>>()?;
    let same = topology == manifest.topology;
    // Where each file goes: the slices naming it (same topology), or one source slice.
    let source = if same {
        None
    } else {
        Some(Arc::new(SliceStore::open(staging.join(".source"))?))
    };
    let mut wanted: BTreeMap<FileRef, BTreeSet<u32>> = BTreeMap::new();
    for t in manifest.tables.values() {
        let read_slices = read_slices(&t.def, &t.data);
        for (slice, m) in &t.data.slices {
            if !same && !read_slices.contains(slice) {
                continue;
            }
            for b in &m.blocks {
                for r in block_files(b) {
                    wanted.entry(r).or_default().insert(*slice);
                }
            }
        }
    }
    let files_total = wanted.len() as u64;
    let files_done = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    crate::settle(wanted, PARALLEL, |(file, slices)| {
        let (nodes, source, files_done, bytes) = (&nodes, &source, &files_done, &bytes);
        async move {
            let data = location.get_file(&file).await?;
            bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            let targets: Vec<(Arc<SliceStore>, u32)> = match source {
                Some(src) => vec![(Arc::clone(src), *slices.first().expect("a slice"))],
                None => slices
                    .iter()
                    .map(|s| (Arc::clone(&nodes[topology.node_of(*s) as usize]), *s))
                    .collect(),
            };
            tokio::task::spawn_blocking(move || {
                for (store, slice) in targets {
                    store.put_file_bytes(slice, &file.id, file.delete_vector, &data)?;
                }
                Ok::<_, Error>(())
            })
            .await
            .map_err(|e| Error::Invalid(format!("restore task: {e}")))??;
            progress(RestoreProgress {
                files_done: files_done.fetch_add(1, Ordering::Relaxed) + 1,
                files_total,
                bytes_downloaded: bytes.load(Ordering::Relaxed),
            });
            Ok(())
        }
    })
    .await?;

    // Tables, two at a time: checked in place, or re-placed onto the new slices.
    let jobs: Vec<(String, TableImage)> = manifest
        .tables
        .iter()
        .map(|(n, t)| (n.clone(), t.clone()))
        .collect();
    let results: Vec<(String, TableImage, u64, u64)> = crate::settle(jobs, 2, |(name, image)| {
        let nodes = nodes.clone();
        let source = source.clone();
        let job = tokio::task::spawn_blocking(move || -> Result<(String, TableImage, u64, u64)> {
            let (data, rows, sum) = match &source {
                None => {
                    let (rows, sum) = check_in_place(&nodes, topology, &image)?;
                    (image.data.clone(), rows, sum)
                }
                Some(src) => replace(src, &nodes, topology, &image)?,
            };
            Ok((
                name,
                TableImage {
                    def: image.def,
                    data,
                },
                rows,
                sum,
            ))
        });
        async move {
            job.await
                .map_err(|e| Error::Invalid(format!("restore task: {e}")))?
        }
    })
    .await?;
    if let Some(src) = source {
        let dir = src.root().to_path_buf();
        drop(src);
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
    }
    let mut tables = BTreeMap::new();
    let mut checks = Vec::new();
    for (name, image, rows, sum) in results {
        let expected = record.table(&name);
        checks.push(TableCheck {
            name: name.clone(),
            rows,
            checksum: checksum_hex(sum),
            expected_rows: expected.map_or(0, |t| t.rows),
            expected_checksum: expected.map(|t| t.checksum.clone()).unwrap_or_default(),
        });
        tables.insert(name, image);
    }
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(bad) = checks.iter().find(|c| !c.matches()) {
        return Err(Error::CorruptObject {
            url: location.url_of(&record.manifest.key),
            reason: format!(
                "table {} restored {} rows with checksum {}, the snapshot recorded {} rows with checksum {}",
                bad.name, bad.rows, bad.checksum, bad.expected_rows, bad.expected_checksum
            ),
        });
    }
    Ok(Restored {
        manifest,
        tables,
        files_downloaded: files_total,
        bytes_downloaded: bytes.load(Ordering::Relaxed),
        checks,
    })
}

/// The slices whose blocks hold a table's rows once: every slice, or one copy of an ALL
/// table.
fn read_slices(def: &TableDef, data: &TableData) -> BTreeSet<u32> {
    if def.dist_style.is_all() {
        data.slices.keys().next().copied().into_iter().collect()
    } else {
        data.slices.keys().copied().collect()
    }
}

fn check_in_place(
    nodes: &[Arc<SliceStore>],
    topology: Topology,
    image: &TableImage,
) -> Result<(u64, u64)> {
    let (mut rows, mut sum) = (0u64, 0u64);
    for slice in read_slices(&image.def, &image.data) {
        let store = &nodes[topology.node_of(slice) as usize];
        for b in &image.data.slices[&slice].blocks {
            let (r, s) = blueshift_storage::checksum::block_checksum(store, slice, b)?;
            rows += r;
            sum = sum.wrapping_add(s);
        }
    }
    Ok((rows, sum))
}

/// Re-places a table's rows onto `topology` by its distribution.
fn replace(
    source: &SliceStore,
    nodes: &[Arc<SliceStore>],
    topology: Topology,
    image: &TableImage,
) -> Result<(TableData, u64, u64)> {
    let def = &image.def;
    let mut pending: BTreeMap<u32, (Vec<RecordBatch>, usize)> = BTreeMap::new();
    let mut slices: BTreeMap<u32, SliceManifest> = BTreeMap::new();
    let mut even = 0u64;
    let (mut rows, mut sum) = (0u64, 0u64);
    let mut flush = |slice: u32, batches: &[RecordBatch]| -> Result<()> {
        let (meta, bytes): (BlockMeta, Vec<u8>) = encode_block(def, batches)?;
        nodes[topology.node_of(slice) as usize].put_block(slice, &meta, &bytes)?;
        slices.entry(slice).or_default().blocks.push(meta);
        Ok(())
    };
    for slice in read_slices(def, &image.data) {
        for b in &image.data.slices[&slice].blocks {
            blueshift_storage::checksum::read_live_rows(source, slice, b, |batch| {
                rows += batch.num_rows() as u64;
                sum = sum.wrapping_add(blueshift_storage::checksum::rows_checksum(&batch)?);
                for (to, part) in route_batch(def, &topology, &batch, &mut even)? {
                    let (held, n) = pending.entry(to).or_default();
                    let mut part = part;
                    // Blocks are cut at exactly BLOCK_ROWS rows, as every write path does,
                    // so the copies of an ALL table stay byte-identical.
                    while *n + part.num_rows() >= BLOCK_ROWS {
                        let take = BLOCK_ROWS - *n;
                        held.push(part.slice(0, take));
                        flush(to, held)?;
                        held.clear();
                        *n = 0;
                        part = part.slice(take, part.num_rows() - take);
                    }
                    if part.num_rows() > 0 {
                        *n += part.num_rows();
                        held.push(part);
                    }
                }
                Ok(())
            })?;
        }
    }
    for (slice, (held, _)) in pending {
        if !held.is_empty() {
            flush(slice, &held)?;
        }
    }
    // Re-sliced rows are new blocks: the table is analyzed again after its restore.
    let data = TableData {
        slices,
        even_cursor: even,
        stats: None,
    };
    Ok((data, rows, sum))
}
