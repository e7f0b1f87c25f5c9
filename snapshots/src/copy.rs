//! Cross-region copy: a complete snapshot of one location made complete in another, in the
//! same order as a snapshot is taken (pending marker, missing files, manifest, record), so a
//! copy is listed in the destination only once it is whole. Files the destination holds are
//! not copied again, so copies are incremental too.

use std::sync::atomic::{AtomicU64, Ordering};

use blueshift_storage::{Error, Result};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::format::{FileRef, Pending, Record};
use crate::location::{Location, pending_key, record_key};

/// Files in flight at once.
const PARALLEL: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CopyReport {
    pub files_copied: u64,
    pub bytes_copied: u64,
    /// The destination already held a complete copy.
    pub already: bool,
}

/// Copies snapshot `name` from `from` to `to`; the copy's record keeps `retention_days`.
/// `cluster_id` is the copying cluster's (its pending marker names it).
pub async fn copy_snapshot(
    from: &Location,
    to: &Location,
    name: &str,
    retention_days: Option<u32>,
    cluster_id: &str,
) -> Result<CopyReport> {
    if to.record(name).await?.is_some() {
        return Ok(CopyReport {
            already: true,
            ..CopyReport::default()
        });
    }
    let record = from
        .record(name)
        .await?
        .ok_or_else(|| Error::ObjectNotFound {
            url: from.url_of(&record_key(name)),
            detail: format!("snapshot {name} does not exist"),
        })?;
    // Read and checked before anything is written.
    let manifest = from.manifest(&record).await?;
    let files = manifest.files();
    to.put_json(
        &pending_key(name),
        &Pending {
            name: name.to_string(),
            cluster_id: cluster_id.to_string(),
            started_unix_ms: chrono::Utc::now().timestamp_millis(),
            files: files.iter().map(FileRef::key).collect(),
        },
    )
    .await?;
    let copied = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    futures::stream::iter(files)
        .map(|f| {
            let (copied, bytes) = (&copied, &bytes);
            async move {
                if to.exists(&f.key()).await? {
                    return Ok::<_, Error>(());
                }
                let data = from.get_file(&f).await?;
                bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                to.put(&f.key(), data).await?;
                copied.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    let manifest_ref = to.put_json(&record.manifest.key, &manifest).await?;
    let copy = Record {
        retention_days,
        manifest: manifest_ref,
        copied_from: Some(from.region_name()),
        ..record
    };
    to.put_json(&record_key(name), &copy).await?;
    to.delete(&pending_key(name)).await?;
    Ok(CopyReport {
        files_copied: copied.load(Ordering::Relaxed),
        bytes_copied: bytes.load(Ordering::Relaxed),
        already: false,
    })
}
