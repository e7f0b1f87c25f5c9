//! The leader's commit log: each commit writes the whole catalog state as
//! `commit-<version>.json` (temp file, fsync, rename, fsync of the folder). The newest
//! complete file is the committed state; a crash at any point leaves the previous one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::slice_store::sync_dir;

/// How many older versions stay on disk beside the newest.
const KEEP_OLD: usize = 2;

#[derive(Debug)]
pub struct CommitLog {
    dir: PathBuf,
    _lock: crate::slice_store::DirLock,
}

impl CommitLog {
    /// Opens the log and returns the newest committed state, if any.
    pub fn open<T: DeserializeOwned>(dir: impl Into<PathBuf>) -> Result<(Self, Option<(u64, T)>)> {
        let dir = dir.into();
        let lock = crate::slice_store::DirLock::acquire(&dir)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        let log = CommitLog { dir, _lock: lock };
        let mut versions = log.versions()?;
        versions.sort_unstable();
        for entry in fs::read_dir(&log.dir)
            .map_err(|e| Error::io(log.dir.display(), e))?
            .flatten()
        {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        let latest = match versions.last() {
            None => None,
            Some(&v) => {
                let path = log.path(v);
                let bytes = fs::read(&path).map_err(|e| Error::io(path.display(), e))?;
                let state = serde_json::from_slice(&bytes).map_err(|e| Error::CorruptLog {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                Some((v, state))
            }
        };
        Ok((log, latest))
    }

    /// The newest committed state in `dir`, read without taking the folder's lock (the
    /// process owning it may be running); `None` when there is none.
    pub fn read_latest<T: DeserializeOwned>(dir: &std::path::Path) -> Result<Option<T>> {
        let newest = fs::read_dir(dir)
            .map_err(|e| Error::io(dir.display(), e))?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let v: u64 = name
                    .strip_prefix("commit-")?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()?;
                Some((v, e.path()))
            })
            .max_by_key(|(v, _)| *v);
        let Some((_, path)) = newest else {
            return Ok(None);
        };
        let bytes = fs::read(&path).map_err(|e| Error::io(path.display(), e))?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::CorruptLog {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
    }

    fn path(&self, version: u64) -> PathBuf {
        self.dir.join(format!("commit-{version:020}.json"))
    }

    fn versions(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)
            .map_err(|e| Error::io(self.dir.display(), e))?
            .flatten()
        {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(v) = name
                .strip_prefix("commit-")
                .and_then(|s| s.strip_suffix(".json"))
                .and_then(|s| s.parse().ok())
            {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Durably records `state` as `version`. When this returns, the commit survives a crash.
    pub fn commit<T: Serialize>(&self, version: u64, state: &T) -> Result<()> {
        let bytes = serde_json::to_vec(state)?;
        let tmp = self.dir.join(format!("commit-{version:020}.json.tmp"));
        let mut f = File::create(&tmp).map_err(|e| Error::io(tmp.display(), e))?;
        f.write_all(&bytes)
            .map_err(|e| Error::io(tmp.display(), e))?;
        f.sync_all().map_err(|e| Error::io(tmp.display(), e))?;
        drop(f);
        let path = self.path(version);
        fs::rename(&tmp, &path).map_err(|e| Error::io(path.display(), e))?;
        // Once renamed, the new version is what a restart reads: it counts as committed even
        // if the folder fsync below reports an error.
        if let Err(e) = sync_dir(&self.dir) {
            tracing::error!("commit {version}: {e}");
        }
        self.prune(version);
        Ok(())
    }

    fn prune(&self, newest: u64) {
        if let Ok(mut versions) = self.versions() {
            versions.retain(|v| *v < newest);
            versions.sort_unstable();
            let drop_n = versions.len().saturating_sub(KEEP_OLD);
            for v in &versions[..drop_n] {
                let _ = fs::remove_file(self.path(*v));
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_complete_commit_wins_and_torn_temp_files_are_ignored() {
        let dir = std::env::temp_dir().join(format!("bs-commit-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (log, none) = CommitLog::open::<Vec<u32>>(&dir).unwrap();
        assert!(none.is_none());
        for v in 1..=5u64 {
            log.commit(v, &vec![v as u32; v as usize]).unwrap();
        }
        // A crash in the middle of writing version 6 leaves only a temp file.
        fs::write(
            dir.join("commit-00000000000000000006.json.tmp"),
            b"{\"trunc",
        )
        .unwrap();
        drop(log);
        // A second process cannot open the folder while one holds it.
        let (log, latest) = CommitLog::open::<Vec<u32>>(&dir).unwrap();
        assert!(CommitLog::open::<Vec<u32>>(&dir).is_err());
        assert_eq!(latest, Some((5, vec![5; 5])));
        drop(log);
        // Old versions are pruned, the last few kept (beside the LOCK file).
        let files = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != "LOCK")
            .count();
        assert_eq!(files, 1 + KEEP_OLD);
        fs::remove_dir_all(&dir).unwrap();
    }
}
