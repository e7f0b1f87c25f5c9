//! Retention and garbage collection in one location: expired automated snapshots go, and
//! then every file that no remaining snapshot and no snapshot in progress names.
//!
//! Only the leader that owns a location collects in it, one operation at a time, so no
//! snapshot starts between the listing and the deletes; the `pending/` markers keep the
//! files of a snapshot that was interrupted before its record from being taken away until
//! the leader clears them.

use std::collections::HashSet;

use blueshift_storage::Result;
use serde::{Deserialize, Serialize};

use crate::format::Record;
use crate::location::{Location, manifest_key, record_key};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GcReport {
    pub files_deleted: u64,
    pub bytes_deleted: u64,
}

/// Deletes a snapshot: its record first (so it is never listed half-deleted), then its
/// manifest. Its files go at the next [`collect`].
pub async fn delete_snapshot(location: &Location, record: &Record) -> Result<()> {
    location.delete(&record_key(&record.name)).await?;
    location.delete(&record.manifest.key).await
}

/// Deletes files (and stray manifests) that no snapshot here names.
pub async fn collect(location: &Location) -> Result<GcReport> {
    let listed = location.list("files").await?;
    let records = location.records().await?;
    let pendings = location.pendings().await?;
    let mut keep: HashSet<String> = HashSet::new();
    for r in &records {
        for f in location.manifest(r).await?.files() {
            keep.insert(f.key());
        }
    }
    for p in &pendings {
        keep.extend(p.files.iter().cloned());
    }
    let mut report = GcReport::default();
    for (key, size) in listed {
        if !keep.contains(&key) {
            location.delete(&key).await?;
            report.files_deleted += 1;
            report.bytes_deleted += size;
        }
    }
    let named: HashSet<String> = records
        .iter()
        .map(|r| r.manifest.key.clone())
        .chain(pendings.iter().map(|p| manifest_key(&p.name)))
        .collect();
    for (key, _) in location.list("manifests").await? {
        if !named.contains(&key) {
            location.delete(&key).await?;
        }
    }
    Ok(report)
}
