//! Snapshots, as the leader takes and keeps them: one operation at a time per cluster.
//!
//! ```text
//!  create: pin the current commit ─► pending/<name> ─► every node puts its slices' missing
//!          files and the checksums of blocks not seen before ─► manifests/<name> ─►
//!          snapshots/<name> (the record: now it exists) ─► pending removed
//!  delete: record ─► manifest ─► files no other snapshot names
//!  copy:   every snapshot the copy region lacks: pending ─► missing files ─► manifest ─►
//!          record (after each snapshot, on each schedule tick, and on demand)
//! ```
//!
//! A query or write goes on meanwhile: the pinned commit keeps its files on the nodes until
//! the snapshot is done with them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use blueshift_compute::Peers;
use blueshift_snapshots::copy::CopyReport;
use blueshift_snapshots::format::{
    BlockSum, FORMAT, FileRef, Manifest, Pending, TableImage, TableSummary, block_files,
    check_name, checksum_hex, sum_key,
};
use blueshift_snapshots::upload::{SliceShare, UploadProgress, UploadRequest, UploadResult};
use blueshift_snapshots::{Kind, Location, Record, SnapshotConfig, gc};
use blueshift_storage::Stores;

use crate::catalog::{Catalog, ClusterState};
use crate::error::{Error, Result};
use crate::logs::{Listed, SnapshotEvent, SystemLogs, now_micros};

/// Progress of a snapshot being taken: files and bytes done of the total.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What a new snapshot is called and how long it is kept.
#[derive(Debug, Clone, Copy)]
pub struct NewSnapshot<'a> {
    pub name: &'a str,
    pub kind: Kind,
    /// `None`: kept until deleted.
    pub retention_days: Option<u32>,
}

/// One table of a snapshot brought back under a new name.
#[derive(Debug, Clone, Copy)]
pub struct TableRestore<'a> {
    pub snapshot: &'a str,
    pub region: Option<&'a str>,
    pub source: &'a str,
    pub target: &'a str,
    /// How long a node may be silent while it re-places rows for its peers.
    pub node_timeout_secs: u64,
}

pub struct Snapshots {
    pub config: SnapshotConfig,
    pub primary: Location,
    pub copy: Option<Location>,
    /// One snapshot operation at a time: garbage collection never runs while a snapshot
    /// is uploading files it has not recorded yet.
    lock: tokio::sync::Mutex<()>,
    /// This cluster's id (its pending markers carry it).
    cluster_id: String,
    /// Block checksums of the newest snapshot, reused by the next.
    sums: std::sync::Mutex<Option<BTreeMap<String, BlockSum>>>,
}

impl Snapshots {
    pub fn open(
        config: SnapshotConfig,
        stores: &Stores,
        leader_data_dir: &Path,
        cluster_id: &str,
    ) -> Result<Self> {
        config.check().map_err(Error::InvalidInput)?;
        let primary = Location::open(stores, &config.location_or(leader_data_dir), &config.region)?;
        let copy = if config.copy_to_region.is_empty() {
            None
        } else {
            Some(Location::open(
                stores,
                &config.copy_location,
                &config.copy_to_region,
            )?)
        };
        Ok(Snapshots {
            config,
            primary,
            copy,
            lock: tokio::sync::Mutex::new(()),
            cluster_id: cluster_id.to_string(),
            sums: std::sync::Mutex::new(None),
        })
    }

    /// At start-up: a snapshot or copy of this cluster interrupted by the leader's end
    /// left a pending marker (its files are garbage now), and the listing for
    /// `svv_snapshots` is read. Another cluster's markers are left alone.
    pub async fn start(&self, logs: &SystemLogs) -> Result<()> {
        let _guard = self.lock.lock().await;
        for loc in std::iter::once(&self.primary).chain(self.copy.as_ref()) {
            for p in loc
                .pendings()
                .await?
                .into_iter()
                .filter(|p| p.cluster_id == self.cluster_id)
            {
                tracing::info!(snapshot = %p.name, region = %loc.region_name(), "clearing an interrupted snapshot or copy");
                loc.delete(&blueshift_snapshots::pending_key(&p.name))
                    .await?;
            }
        }
        self.refresh(logs).await
    }

    /// Reads every location's records into the listing `svv_snapshots` shows.
    pub async fn refresh(&self, logs: &SystemLogs) -> Result<()> {
        let locations: Vec<&Location> = std::iter::once(&self.primary)
            .chain(self.copy.as_ref())
            .collect();
        let listed = blueshift_snapshots::list_all(&locations)
            .await?
            .into_iter()
            .map(|(record, regions)| Listed { record, regions })
            .collect();
        logs.snapshots.set_listing(listed);
        Ok(())
    }

    /// Takes a snapshot of the current commit.
    pub async fn create(
        &self,
        catalog: &Catalog,
        peers: &Peers,
        logs: &SystemLogs,
        new: NewSnapshot<'_>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Record> {
        let name = new.name;
        check_name(name)?;
        let _guard = self.lock.lock().await;
        let start = now_micros();
        let result = self.create_locked(catalog, peers, new, progress).await;
        if result.is_err() {
            // A failed snapshot will not complete: its marker goes, so its files become
            // garbage (unless the failure was its name being taken).
            if !matches!(result, Err(Error::DuplicateSnapshot(_))) {
                let _ = self
                    .primary
                    .delete(&blueshift_snapshots::pending_key(name))
                    .await;
            }
        }
        logs.snapshots.record(SnapshotEvent::ended(
            name,
            "create",
            region_name(&self.primary),
            start,
            (
                result.as_ref().map_or(0, |r| r.files_uploaded),
                result.as_ref().map_or(0, |r| r.bytes_uploaded),
            ),
            result
                .as_ref()
                .map_or_else(|e| e.user_message(), |_| "ok".into()),
        ));
        if result.is_ok() {
            self.refresh(logs).await?;
        }
        result
    }

    async fn create_locked(
        &self,
        catalog: &Catalog,
        peers: &Peers,
        new: NewSnapshot<'_>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Record> {
        let NewSnapshot {
            name,
            kind,
            retention_days,
        } = new;
        let loc = &self.primary;
        if loc.record(name).await?.is_some() {
            return Err(Error::DuplicateSnapshot(name.to_string()));
        }
        // Held until the record is written: the nodes keep every file this commit names.
        let state: Arc<ClusterState> = catalog.pin();
        // The snapshot holds the cluster as of now (what a recovery point means).
        let now = chrono::Utc::now();
        let mut manifest = manifest_of(name, &state);
        let files = manifest.files();
        let pending = Pending {
            name: name.to_string(),
            cluster_id: state.cluster_id.clone(),
            started_unix_ms: now_micros() / 1000,
            files: files.iter().map(FileRef::key).collect(),
        };
        loc.put_json(&blueshift_snapshots::pending_key(name), &pending)
            .await?;
        let mut known = self.known_sums().await?;
        // A block without deleted rows carries the checksum it was written with.
        for t in state.tables.values() {
            for slice in counted_slices(t) {
                for b in &t.data.slices[&slice].blocks {
                    if let (None, Some(sum)) = (&b.deletes, b.checksum) {
                        known
                            .entry(sum_key(b))
                            .or_insert(BlockSum { rows: b.rows, sum });
                    }
                }
            }
        }
        let shares = shares(&state, &known);
        let total = Progress {
            files_total: files.len() as u64,
            bytes_total: files.iter().map(|f| f.bytes).sum(),
            ..Progress::default()
        };
        progress(total);
        // Per node: (files done, bytes done), summed for the report.
        let done: Vec<(AtomicU64, AtomicU64)> = (0..state.topology.nodes)
            .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
            .collect();
        let report = |node: u32, p: UploadProgress| {
            // Checksum-phase messages carry no counts: keep the highest seen.
            done[node as usize]
                .0
                .fetch_max(p.files_done, Ordering::Relaxed);
            done[node as usize]
                .1
                .fetch_max(p.bytes_done, Ordering::Relaxed);
            progress(Progress {
                files_done: done.iter().map(|d| d.0.load(Ordering::Relaxed)).sum(),
                bytes_done: done.iter().map(|d| d.1.load(Ordering::Relaxed)).sum(),
                ..total
            });
        };
        let results = on_nodes(peers, Some(loc), shares, Transfer::Upload, &report).await?;
        let mut sums = known;
        let (mut files_uploaded, mut bytes_uploaded) = (0, 0);
        for r in results {
            files_uploaded += r.files_uploaded;
            bytes_uploaded += r.bytes_uploaded;
            sums.extend(r.sums);
        }
        let tables = summaries(&state, &sums)?;
        // The manifest keeps only the sums of the blocks it names.
        manifest.sums = state
            .tables
            .values()
            .flat_map(|t| t.data.slices.values().flat_map(|m| &m.blocks))
            .filter_map(|b| {
                let k = sum_key(b);
                sums.get(&k).map(|s| (k, *s))
            })
            .collect();
        let manifest_ref = loc
            .put_json(&blueshift_snapshots::manifest_key(name), &manifest)
            .await?;
        let record = Record {
            format: FORMAT,
            name: name.to_string(),
            kind,
            cluster_id: state.cluster_id.clone(),
            commit: state.version,
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            created_unix_ms: now.timestamp_millis(),
            retention_days,
            topology: state.topology,
            rows: tables.iter().map(|t| t.rows).sum(),
            bytes: total.bytes_total,
            files: total.files_total,
            tables,
            bytes_uploaded,
            files_uploaded,
            manifest: manifest_ref,
            copied_from: None,
        };
        loc.put_json(&blueshift_snapshots::record_key(name), &record)
            .await?;
        loc.delete(&blueshift_snapshots::pending_key(name)).await?;
        *self.sums.lock().expect("sums") = Some(manifest.sums);
        progress(Progress {
            files_done: total.files_total,
            bytes_done: total.bytes_total,
            ..total
        });
        Ok(record)
    }

    /// Copies every snapshot of the primary location that the copy region lacks, oldest
    /// first (so a copy interrupted by a crash is finished by the next call). Automated
    /// snapshots keep `copy_retention_days` there, manual ones their own retention.
    pub async fn copy_missing(&self, logs: &SystemLogs) -> Result<()> {
        let Some(copy) = &self.copy else {
            return Ok(());
        };
        let _guard = self.lock.lock().await;
        let have: std::collections::HashSet<String> =
            copy.records().await?.into_iter().map(|r| r.name).collect();
        let now_ms = now_micros() / 1000;
        let mut copied = false;
        for r in self.primary.records().await? {
            let retention = match r.kind {
                Kind::Automated => Some(self.config.copy_retention_days),
                Kind::Manual => r.retention_days,
            };
            let expired_there = Record {
                retention_days: retention,
                ..r.clone()
            }
            .expired(now_ms);
            if have.contains(&r.name) || expired_there {
                continue;
            }
            self.copy_logged(logs, copy, &r.name, retention).await?;
            copied = true;
        }
        drop(_guard);
        if copied {
            self.refresh(logs).await?;
        }
        Ok(())
    }

    /// Copies one snapshot to `region` now (`COPY SNAPSHOT ... TO REGION`).
    pub async fn copy_to(&self, logs: &SystemLogs, name: &str, region: &str) -> Result<CopyReport> {
        let copy = self
            .copy
            .as_ref()
            .filter(|c| c.region_name() == region || c.region == region)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "no snapshot location for region {region:?}: set [snapshots] copy_to_region and copy_location"
                ))
            })?;
        let _guard = self.lock.lock().await;
        let record = self
            .primary
            .record(name)
            .await?
            .ok_or_else(|| Error::UndefinedSnapshot(name.to_string()))?;
        let retention = match record.kind {
            Kind::Automated => Some(self.config.copy_retention_days),
            Kind::Manual => record.retention_days,
        };
        let report = self.copy_logged(logs, copy, name, retention).await?;
        drop(_guard);
        self.refresh(logs).await?;
        Ok(report)
    }

    async fn copy_logged(
        &self,
        logs: &SystemLogs,
        copy: &Location,
        name: &str,
        retention: Option<u32>,
    ) -> Result<CopyReport> {
        let start = now_micros();
        let result = blueshift_snapshots::copy::copy_snapshot(
            &self.primary,
            copy,
            name,
            retention,
            &self.cluster_id,
        )
        .await;
        logs.snapshots.record(SnapshotEvent::ended(
            name,
            "copy",
            region_name(copy),
            start,
            (
                result.as_ref().map_or(0, |r| r.files_copied),
                result.as_ref().map_or(0, |r| r.bytes_copied),
            ),
            result
                .as_ref()
                .map_or_else(|e| e.to_string(), |_| "ok".into()),
        ));
        Ok(result?)
    }

    /// Restores table `source` of snapshot `name` (from `region`, or the primary location)
    /// into the running cluster as the new table `target`, in one commit. The nodes fetch
    /// their slices' files from the location and check the table's rows and checksum
    /// against the snapshot's record before anything is committed.
    pub async fn restore_table(
        &self,
        catalog: &Catalog,
        peers: &Peers,
        logs: &SystemLogs,
        restore: TableRestore<'_>,
    ) -> Result<u64> {
        let TableRestore {
            snapshot,
            region,
            source,
            target,
            node_timeout_secs,
        } = restore;
        let loc = match region {
            None => &self.primary,
            Some(r) => std::iter::once(&self.primary)
                .chain(self.copy.as_ref())
                .find(|l| l.region_name() == r || l.region == r)
                .ok_or_else(|| {
                    Error::InvalidInput(format!("no snapshot location for region {r:?}"))
                })?,
        };
        // No garbage collection in the location while its files are read.
        let _guard = self.lock.lock().await;
        let start = now_micros();
        let record = loc
            .record(snapshot)
            .await?
            .ok_or_else(|| Error::UndefinedSnapshot(snapshot.to_string()))?;
        let summary = record
            .table(source)
            .cloned()
            .ok_or_else(|| Error::UndefinedTable(format!("{source}\" in snapshot \"{snapshot}")))?;
        let manifest = loc.manifest(&record).await?;
        let image = manifest.tables.get(source).cloned().ok_or_else(|| {
            Error::Storage(blueshift_storage::Error::CorruptObject {
                url: loc.url_of(&record.manifest.key),
                reason: format!("the manifest has no table {source}, its record has"),
            })
        })?;
        // Writers are serialized, and staged files are safe from garbage collection, only
        // under the catalog's write lock.
        let write = catalog.begin_write().await;
        let state = catalog.pin();
        if state.tables.contains_key(target) {
            return Err(Error::DuplicateTable(target.to_string()));
        }
        let mut def = image.def.clone();
        def.id = state.next_table_id;
        def.name = target.to_string();
        let (data, rows, checksum, files, bytes) = if manifest.topology == state.topology {
            fetch_in_place(peers, loc, &state, source, &image).await?
        } else {
            replace_onto(peers, loc, &state, &def, &image, node_timeout_secs).await?
        };
        if rows != summary.rows || checksum != summary.checksum {
            return Err(Error::Storage(blueshift_storage::Error::CorruptObject {
                url: loc.url_of(&record.manifest.key),
                reason: format!(
                    "table {source} restored {rows} rows with checksum {checksum}, the snapshot recorded {} rows with checksum {}",
                    summary.rows, summary.checksum
                ),
            }));
        }
        let mut next = (*state).clone();
        next.next_table_id += 1;
        // A restored table belongs to the first superuser (snapshot statements are
        // superusers' own), with no grants.
        next.acl.remove(target);
        next.tables.insert(
            target.to_string(),
            crate::catalog::TableState {
                def,
                data: Arc::new(data),
            },
        );
        catalog.commit(&write, next)?;
        logs.snapshots.record(SnapshotEvent::ended(
            snapshot,
            "restore-table",
            region_name(loc),
            start,
            (files, bytes),
            format!("ok: {source} as {target}, {rows} rows"),
        ));
        Ok(rows)
    }

    /// Block checksums already known: the newest snapshot's.
    async fn known_sums(&self) -> Result<BTreeMap<String, BlockSum>> {
        if let Some(s) = self.sums.lock().expect("sums").clone() {
            return Ok(s);
        }
        let records = self.primary.records().await?;
        match records.last() {
            Some(r) => Ok(self.primary.manifest(r).await?.sums),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Deletes a snapshot from every location, then the files no other snapshot names.
    pub async fn delete(&self, logs: &SystemLogs, name: &str) -> Result<()> {
        let _guard = self.lock.lock().await;
        let start = now_micros();
        let mut found = false;
        let mut status = Ok(());
        for loc in std::iter::once(&self.primary).chain(self.copy.as_ref()) {
            let outcome = async {
                if let Some(r) = loc.record(name).await? {
                    found = true;
                    gc::delete_snapshot(loc, &r).await?;
                    let report = gc::collect(loc).await?;
                    logs.snapshots.record(SnapshotEvent::ended(
                        name,
                        "gc",
                        region_name(loc),
                        start,
                        (report.files_deleted, report.bytes_deleted),
                        "ok".into(),
                    ));
                }
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = outcome {
                status = Err(e);
                break;
            }
        }
        if status.is_ok() && !found {
            status = Err(Error::UndefinedSnapshot(name.to_string()));
        }
        logs.snapshots.record(SnapshotEvent::ended(
            name,
            "delete",
            region_name(&self.primary),
            start,
            (0, 0),
            status
                .as_ref()
                .map_or_else(|e| e.user_message(), |_| "ok".into()),
        ));
        *self.sums.lock().expect("sums") = None;
        self.refresh(logs).await?;
        status
    }
}

/// Automatic snapshots: every `check_seconds`, a snapshot is taken when the newest one is
/// `interval_hours` old (counted from the leader's start when there is none) or any node
/// holds `bytes_changed_per_node_mb` of blocks it does not name, never within
/// `min_gap_minutes` of the last, and never of a commit already snapshotted. Expired
/// snapshots (automated ones after `automated_retention_days`, manual ones given a
/// retention) are deleted with their unshared files.
pub async fn schedule(engine: Arc<crate::engine::Engine>) {
    let snapshots = Arc::clone(&engine.snapshots);
    let config = snapshots.config.clone();
    let started_ms = now_micros() / 1000;
    let tick = std::time::Duration::from_secs_f64(config.check_seconds);
    loop {
        tokio::time::sleep(tick).await;
        if let Err(e) = snapshots.expire(&engine.log).await {
            tracing::warn!("deleting expired snapshots: {}", e.user_message());
        }
        if let Err(e) = snapshots.copy_missing(&engine.log).await {
            tracing::warn!("cross-region snapshot copy: {}", e.user_message());
        }
        if !config.automated {
            continue;
        }
        match snapshots.automatic_due(&engine.catalog, started_ms).await {
            Ok(Some(reason)) => {
                let state = engine.catalog.pin();
                let now = chrono::Utc::now();
                let name = format!("auto-{}-c{}", now.format("%Y%m%d-%H%M%S"), state.version);
                drop(state);
                tracing::info!(snapshot = %name, reason, "automatic snapshot");
                if let Err(e) = snapshots
                    .create(
                        &engine.catalog,
                        &engine.cluster,
                        &engine.log,
                        NewSnapshot {
                            name: &name,
                            kind: Kind::Automated,
                            retention_days: Some(config.automated_retention_days),
                        },
                        &|_| {},
                    )
                    .await
                {
                    tracing::warn!(snapshot = %name, "automatic snapshot failed: {}", e.user_message());
                } else if let Err(e) = snapshots.copy_missing(&engine.log).await {
                    tracing::warn!("cross-region snapshot copy: {}", e.user_message());
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("automatic snapshot check: {}", e.user_message()),
        }
    }
}

impl Snapshots {
    /// Why an automatic snapshot is due now, if it is.
    async fn automatic_due(
        &self,
        catalog: &Catalog,
        started_ms: i64,
    ) -> Result<Option<&'static str>> {
        let records = self.primary.records().await?;
        let now_ms = now_micros() / 1000;
        let state = catalog.pin();
        let newest = records.last();
        if newest.is_some_and(|r| r.commit == state.version && r.cluster_id == state.cluster_id) {
            return Ok(None);
        }
        let gap_ms = (self.config.min_gap_minutes * 60_000.0) as i64;
        if newest.is_some_and(|r| now_ms - r.created_unix_ms < gap_ms) {
            return Ok(None);
        }
        let last_auto_ms = records
            .iter()
            .rev()
            .find(|r| r.kind == Kind::Automated)
            .map_or(started_ms, |r| r.created_unix_ms);
        if now_ms - last_auto_ms >= (self.config.interval_hours * 3_600_000.0) as i64 {
            return Ok(Some("interval"));
        }
        // Bytes of blocks the newest snapshot does not name, per node.
        let named: std::collections::HashSet<String> = match newest {
            Some(r) => self
                .primary
                .manifest(r)
                .await?
                .files()
                .into_iter()
                .map(|f| f.id)
                .collect(),
            None => std::collections::HashSet::new(),
        };
        let mut per_node: BTreeMap<u32, u64> = BTreeMap::new();
        for t in state.tables.values() {
            for (slice, m) in &t.data.slices {
                for b in m.blocks.iter().filter(|b| !named.contains(&b.id)) {
                    *per_node.entry(state.topology.node_of(*slice)).or_default() += b.bytes;
                }
            }
        }
        let limit = self
            .config
            .bytes_changed_per_node_mb
            .saturating_mul(1 << 20);
        if per_node.values().any(|b| *b >= limit) {
            return Ok(Some("bytes changed"));
        }
        Ok(None)
    }

    /// Deletes every snapshot whose retention has run out, in every location.
    pub async fn expire(&self, logs: &SystemLogs) -> Result<()> {
        let now_ms = now_micros() / 1000;
        for loc in std::iter::once(&self.primary).chain(self.copy.as_ref()) {
            let expired: Vec<Record> = loc
                .records()
                .await?
                .into_iter()
                .filter(|r| r.expired(now_ms))
                .collect();
            if expired.is_empty() {
                continue;
            }
            let _guard = self.lock.lock().await;
            let start = now_micros();
            for r in &expired {
                gc::delete_snapshot(loc, r).await?;
                logs.snapshots.record(SnapshotEvent::ended(
                    &r.name,
                    "expire",
                    region_name(loc),
                    start,
                    (0, 0),
                    "ok".into(),
                ));
            }
            let report = gc::collect(loc).await?;
            logs.snapshots.record(SnapshotEvent::ended(
                "",
                "gc",
                region_name(loc),
                start,
                (report.files_deleted, report.bytes_deleted),
                "ok".into(),
            ));
            *self.sums.lock().expect("sums") = None;
            drop(_guard);
            self.refresh(logs).await?;
        }
        Ok(())
    }
}

/// `(table, rows, checksum)` of tables of the current commit, computed by the nodes from
/// their files now (no checksum is taken from a snapshot), and the commit.
pub async fn live_checksums(
    catalog: &Catalog,
    peers: &Peers,
    tables: &[String],
) -> Result<(u64, Vec<TableSummary>)> {
    // Held until the nodes are done: a DROP meanwhile keeps the files this version names.
    let pinned = catalog.pin();
    let mut state = (*pinned).clone();
    if !tables.is_empty() {
        for t in tables {
            state.table(t)?;
        }
        state.tables.retain(|n, _| tables.contains(n));
    }
    let mut per_node: BTreeMap<u32, Vec<SliceShare>> = BTreeMap::new();
    for t in state.tables.values() {
        for slice in counted_slices(t) {
            per_node
                .entry(state.topology.node_of(slice))
                .or_default()
                .push(SliceShare {
                    slice,
                    files: Vec::new(),
                    checksums: t.data.slices[&slice].blocks.clone(),
                });
        }
    }
    let mut sums = BTreeMap::new();
    for r in on_nodes(peers, None, per_node, Transfer::Upload, &|_, _| {}).await? {
        sums.extend(r.sums);
    }
    let out = summaries(&state, &sums)?;
    drop(pinned);
    Ok((state.version, out))
}

/// A restored table's data with the rows and checksum read, and the files and bytes moved.
type RestoredTable = (blueshift_storage::TableData, u64, String, u64, u64);

/// The snapshot's topology is the cluster's: every node fetches its slices' files as they
/// are (an ALL table's copies too) and the checksums of the counted blocks.
async fn fetch_in_place(
    peers: &Peers,
    loc: &Location,
    state: &ClusterState,
    source: &str,
    image: &TableImage,
) -> Result<RestoredTable> {
    let mut one = state.clone();
    one.tables = BTreeMap::from([(
        source.to_string(),
        crate::catalog::TableState {
            def: image.def.clone(),
            data: Arc::new(image.data.clone()),
        },
    )]);
    let mut per_node: BTreeMap<u32, Vec<SliceShare>> = BTreeMap::new();
    let counted = counted_slices(&one.tables[source]);
    for (slice, m) in &image.data.slices {
        let mut share = SliceShare {
            slice: *slice,
            ..SliceShare::default()
        };
        for b in &m.blocks {
            share.files.extend(block_files(b));
            if counted.contains(slice) {
                share.checksums.push(b.clone());
            }
        }
        per_node
            .entry(state.topology.node_of(*slice))
            .or_default()
            .push(share);
    }
    let mut sums = BTreeMap::new();
    let (mut files, mut bytes) = (0, 0);
    for r in on_nodes(peers, Some(loc), per_node, Transfer::Fetch, &|_, _| {}).await? {
        files += r.files_uploaded;
        bytes += r.bytes_uploaded;
        sums.extend(r.sums);
    }
    let got = summaries(&one, &sums)?.remove(0);
    Ok((image.data.clone(), got.rows, got.checksum, files, bytes))
}

/// The snapshot was taken on another topology: the nodes read the snapshot's blocks (one
/// copy of an ALL table, all on one node so its copies stay identical; other tables'
/// blocks spread over the nodes) and route the rows to this cluster's slices.
async fn replace_onto(
    peers: &Peers,
    loc: &Location,
    state: &ClusterState,
    def: &blueshift_storage::table::TableDef,
    image: &TableImage,
    timeout_secs: u64,
) -> Result<RestoredTable> {
    let nodes = state.topology.nodes;
    let mut per_node: BTreeMap<u32, Vec<blueshift_storage::BlockMeta>> = BTreeMap::new();
    let read: Vec<&blueshift_storage::BlockMeta> = if def.dist_style.is_all() {
        image
            .data
            .slices
            .values()
            .next()
            .map(|m| m.blocks.iter().collect())
            .unwrap_or_default()
    } else {
        image.data.slices.values().flat_map(|m| &m.blocks).collect()
    };
    for (i, b) in read.into_iter().enumerate() {
        let node = if def.dist_style.is_all() {
            0
        } else {
            i as u32 % nodes
        };
        per_node.entry(node).or_default().push(b.clone());
    }
    let calls = per_node.into_iter().map(|(node, blocks)| {
        let req = blueshift_compute::ReplaceRequest {
            location: loc.url.clone(),
            region: loc.region.clone(),
            table: def.clone(),
            topology: state.topology,
            nodes: peers.addrs(),
            even_start: u64::from(node),
            timeout_secs,
            blocks,
        };
        async move {
            let client = peers
                .client(node)
                .ok_or_else(|| Error::Internal(format!("no compute node {node}")))?;
            client.snapshot_replace(&req).await.map_err(Error::from)
        }
    });
    let mut data = blueshift_storage::TableData::default();
    let (mut rows, mut sum, mut files, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for r in futures::future::try_join_all(calls).await? {
        rows += r.rows;
        sum = sum.wrapping_add(r.checksum);
        bytes += r.bytes_read;
        for (slice, blocks) in r.blocks {
            files += blocks.len() as u64;
            data.slices.entry(slice).or_default().blocks.extend(blocks);
        }
    }
    data.even_cursor = rows;
    Ok((data, rows, checksum_hex(sum), files, bytes))
}

/// What the nodes do with their shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    /// Put missing files into the location (no location: only the checksums).
    Upload,
    /// Fetch the files from the location into the slices.
    Fetch,
}

/// Sends every node its shares at once; `progress` sees `(node, progress)`. The nodes'
/// results, in node order.
async fn on_nodes(
    peers: &Peers,
    loc: Option<&Location>,
    per_node: BTreeMap<u32, Vec<SliceShare>>,
    transfer: Transfer,
    progress: &(dyn Fn(u32, UploadProgress) + Send + Sync),
) -> Result<Vec<UploadResult>> {
    let calls = per_node.into_iter().map(|(node, shares)| {
        let req = UploadRequest {
            location: loc.map(|l| l.url.clone()).unwrap_or_default(),
            region: loc.map(|l| l.region.clone()).unwrap_or_default(),
            shares,
        };
        async move {
            let client = peers
                .client(node)
                .ok_or_else(|| Error::Internal(format!("no compute node {node}")))?;
            let report = |p| progress(node, p);
            match transfer {
                Transfer::Upload => client.snapshot_upload(&req, report).await,
                Transfer::Fetch => client.snapshot_fetch(&req, report).await,
            }
            .map_err(Error::from)
        }
    });
    futures::future::try_join_all(calls).await
}

fn region_name(loc: &Location) -> String {
    loc.region_name()
}

fn manifest_of(name: &str, state: &ClusterState) -> Manifest {
    Manifest {
        format: FORMAT,
        name: name.to_string(),
        cluster_id: state.cluster_id.clone(),
        commit: state.version,
        topology: state.topology,
        next_table_id: state.next_table_id,
        tables: state
            .tables
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    TableImage {
                        def: t.def.clone(),
                        data: (*t.data).clone(),
                    },
                )
            })
            .collect(),
        views: state.views.clone(),
        security: Some(crate::access::Security::of(state).to_json()),
        sums: BTreeMap::new(),
    }
}

/// The slices whose blocks hold a table's rows once (one copy of an ALL table).
fn counted_slices(t: &crate::catalog::TableState) -> Vec<u32> {
    if t.def.dist_style.is_all() {
        t.data.slices.keys().next().copied().into_iter().collect()
    } else {
        t.data.slices.keys().copied().collect()
    }
}

/// Each node's work: every file once (on the lowest slice holding it), and the checksums
/// of counted blocks not in `known`.
fn shares(
    state: &ClusterState,
    known: &BTreeMap<String, BlockSum>,
) -> BTreeMap<u32, Vec<SliceShare>> {
    let mut per_slice: BTreeMap<u32, SliceShare> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut asked = std::collections::HashSet::new();
    for t in state.tables.values() {
        let counted = counted_slices(t);
        for (slice, m) in &t.data.slices {
            for b in &m.blocks {
                let share = per_slice.entry(*slice).or_insert_with(|| SliceShare {
                    slice: *slice,
                    ..SliceShare::default()
                });
                for f in block_files(b) {
                    if seen.insert((f.id.clone(), f.delete_vector)) {
                        share.files.push(f);
                    }
                }
                let key = sum_key(b);
                if counted.contains(slice) && !known.contains_key(&key) && asked.insert(key) {
                    share.checksums.push(b.clone());
                }
            }
        }
    }
    let mut per_node: BTreeMap<u32, Vec<SliceShare>> =
        (0..state.topology.nodes).map(|n| (n, Vec::new())).collect();
    for (slice, share) in per_slice {
        per_node
            .entry(state.topology.node_of(slice))
            .or_default()
            .push(share);
    }
    per_node
}

/// Rows, checksum and bytes per table, from the block checksums.
fn summaries(state: &ClusterState, sums: &BTreeMap<String, BlockSum>) -> Result<Vec<TableSummary>> {
    let mut out = Vec::new();
    for (name, t) in &state.tables {
        let (mut rows, mut sum) = (0u64, 0u64);
        for slice in counted_slices(t) {
            for b in &t.data.slices[&slice].blocks {
                let s = sums.get(&sum_key(b)).ok_or_else(|| {
                    Error::Internal(format!("no checksum for block {} of {name}", b.id))
                })?;
                if s.rows != b.live_rows() {
                    return Err(Error::Internal(format!(
                        "block {} of table {name} on slice {slice} holds {} live rows, its manifest says {}",
                        b.id,
                        s.rows,
                        b.live_rows()
                    )));
                }
                rows += s.rows;
                sum = sum.wrapping_add(s.sum);
            }
        }
        out.push(TableSummary {
            name: name.clone(),
            rows,
            checksum: checksum_hex(sum),
            bytes: t.data.bytes(),
        });
    }
    Ok(out)
}
