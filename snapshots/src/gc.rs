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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::format::{FORMAT, Kind, ObjectRef, Pending};
    use crate::location::pending_key;

    fn location(dir: &std::path::Path) -> Location {
        let stores = blueshift_storage::Stores::new(Default::default());
        Location::open(&stores, &dir.display().to_string(), "").unwrap()
    }

    #[tokio::test]
    async fn collection_keeps_what_a_pending_snapshot_named_and_takes_the_rest() {
        let dir = std::env::temp_dir().join(format!("bs-gc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let loc = location(&dir);
        let bytes = Bytes::from_static(b"block bytes");
        let id = blake3::hash(&bytes).to_hex().to_string();
        let key = crate::format::file_key(&id, false);
        loc.put(&key, bytes.clone()).await.unwrap();
        loc.put("files/0000.parquet", Bytes::from_static(b"stray"))
            .await
            .unwrap();
        // A snapshot in progress has uploaded the file but not written its record.
        let pending = Pending {
            name: "s".into(),
            cluster_id: "c".into(),
            started_unix_ms: 0,
            files: vec![key.clone()],
        };
        loc.put_json(&pending_key("s"), &pending).await.unwrap();
        let report = collect(&loc).await.unwrap();
        assert_eq!(report.files_deleted, 1, "only the stray file goes");
        assert!(loc.exists(&key).await.unwrap());
        // Once the snapshot gave up (its marker gone), nothing names the file.
        loc.delete(&pending_key("s")).await.unwrap();
        assert_eq!(collect(&loc).await.unwrap().files_deleted, 1);
        assert!(!loc.exists(&key).await.unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn retention_runs_out_after_its_days_and_names_are_checked() {
        let record = Record {
            format: FORMAT,
            name: "n".into(),
            kind: Kind::Manual,
            cluster_id: "c".into(),
            commit: 1,
            created_at: String::new(),
            created_unix_ms: 1_000,
            retention_days: Some(1),
            topology: blueshift_storage::placement::Topology {
                nodes: 1,
                slices_per_node: 1,
            },
            tables: vec![],
            rows: 0,
            bytes: 0,
            files: 0,
            bytes_uploaded: 0,
            files_uploaded: 0,
            manifest: ObjectRef {
                key: String::new(),
                blake3: String::new(),
                bytes: 0,
            },
            copied_from: None,
        };
        assert!(!record.expired(1_000 + 86_400_000 - 1));
        assert!(record.expired(1_000 + 86_400_000));
        let kept = Record {
            retention_days: None,
            ..record
        };
        assert!(!kept.expired(i64::MAX));
        assert!(crate::format::check_name("nightly-2026.11_30").is_ok());
        for bad in ["", "-x", "a/b", "a b", &"x".repeat(64)] {
            assert!(crate::format::check_name(bad).is_err(), "{bad:?}");
        }
    }
}
