//! The files of a compute node's slices:
//!
//! ```text
//! <root>/slices/<slice>/blocks/<id>.parquet   immutable blocks
//! <root>/slices/<slice>/dv/<id>.dv            delete vectors
//! <root>/tmp/                                 partially written files (removed at start-up)
//! ```
//!
//! Every file is written to `tmp/`, fsync'd, renamed into place and its folder fsync'd, so a
//! file under `blocks/` or `dv/` is always whole. Whether it is *visible* is decided only by
//! the leader's commit log; files no commit names are garbage and [`SliceStore::gc`] removes
//! them.
//!
//! A node restored lazily from a snapshot starts with its slices' files missing; a
//! [`FileSource`] set on the store fetches such a file the first time it is opened
//! ([`SliceStore::local_block`], [`SliceStore::local_dv`]), while a background task fetches
//! the rest.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::block::{BlockMeta, DeleteVectorMeta};
use crate::delete_vector::DeleteVector;
use crate::error::{Error, Result};

#[derive(Debug)]
pub struct SliceStore {
    root: PathBuf,
    tmp_seq: AtomicU64,
    _lock: DirLock,
    source: Source,
}

/// Where files missing from a lazily restored node come from.
pub trait FileSource: Send + Sync {
    /// The bytes of file `id`, checked against the id (its content hash), or `None` when
    /// the source does not name it. Called on blocking threads.
    fn fetch(&self, id: &str, delete_vector: bool) -> Result<Option<Vec<u8>>>;
}

/// The store's file source, if any, and locks that keep two readers of the same missing
/// file from fetching it twice.
#[derive(Default)]
struct Source {
    source: RwLock<Option<Arc<dyn FileSource>>>,
    fetching: [Mutex<()>; 16],
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.source.read().map(|s| s.is_some()).unwrap_or(false);
        write!(f, "Source {{ set: {set} }}")
    }
}

/// An exclusive lock on a data folder, held for the life of the process, so a second
/// process started on the same folder fails instead of deleting the first one's files.
#[derive(Debug)]
pub struct DirLock(#[allow(dead_code)] File);

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
        let path = dir.join("LOCK");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(path.display(), e))?;
        file.try_lock().map_err(|_| {
            Error::Invalid(format!(
                "{} is in use by another Blueshift process",
                dir.display()
            ))
        })?;
        Ok(DirLock(file))
    }
}

impl SliceStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let lock = DirLock::acquire(&root)?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(tmp.display(), e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| Error::io(tmp.display(), e))?;
        Ok(SliceStore {
            root,
            tmp_seq: AtomicU64::new(0),
            _lock: lock,
            source: Source::default(),
        })
    }

    /// Sets (or, with `None`, clears) where missing files are fetched from.
    pub fn set_source(&self, source: Option<Arc<dyn FileSource>>) {
        *self
            .source
            .source
            .write()
            .unwrap_or_else(|e| e.into_inner()) = source;
    }

    /// The path of a block file to read: fetched first from the store's source when it
    /// is missing and a source is set.
    pub fn local_block(&self, slice: u32, id: &str) -> Result<PathBuf> {
        self.local(slice, id, false)
    }

    /// [`SliceStore::local_block`] for a delete vector.
    pub fn local_dv(&self, slice: u32, id: &str) -> Result<PathBuf> {
        self.local(slice, id, true)
    }

    fn local(&self, slice: u32, id: &str, delete_vector: bool) -> Result<PathBuf> {
        let path = if delete_vector {
            self.dv_path(slice, id)
        } else {
            self.block_path(slice, id)
        };
        if path.exists() {
            return Ok(path);
        }
        let Some(source) = self
            .source
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return Ok(path);
        };
        let lock = &self.source.fetching[blake3::hash(id.as_bytes()).as_bytes()[0] as usize % 16];
        let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
        if !path.exists()
            && let Some(bytes) = source.fetch(id, delete_vector)?
        {
            self.put_file(&path, &bytes)?;
        }
        Ok(path)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn block_path(&self, slice: u32, id: &str) -> PathBuf {
        self.root
            .join(format!("slices/{slice}/blocks/{id}.parquet"))
    }

    pub fn dv_path(&self, slice: u32, id: &str) -> PathBuf {
        self.root.join(format!("slices/{slice}/dv/{id}.dv"))
    }

    /// Writes a block file (if not already present: blocks are content-addressed).
    pub fn put_block(&self, slice: u32, meta: &BlockMeta, bytes: &[u8]) -> Result<()> {
        let path = self.block_path(slice, &meta.id);
        self.put_file(&path, bytes)
    }

    /// Writes a block or delete vector file whose bytes came from elsewhere (a restore);
    /// the caller has checked them against `id`.
    pub fn put_file_bytes(
        &self,
        slice: u32,
        id: &str,
        delete_vector: bool,
        bytes: &[u8],
    ) -> Result<()> {
        let path = if delete_vector {
            self.dv_path(slice, id)
        } else {
            self.block_path(slice, id)
        };
        self.put_file(&path, bytes)
    }

    /// Writes the union of `base` (if any) and `rows` as a new delete vector file.
    pub fn put_delete_vector(
        &self,
        slice: u32,
        block: &BlockMeta,
        rows: &[u64],
    ) -> Result<DeleteVectorMeta> {
        let mut dv = match &block.deletes {
            Some(d) => self.read_delete_vector(slice, &d.id)?,
            None => DeleteVector::new(block.rows),
        };
        for &r in rows {
            dv.insert(r)?;
        }
        let bytes = dv.encode()?;
        let id = blake3::hash(&bytes).to_hex().to_string();
        self.put_file(&self.dv_path(slice, &id), &bytes)?;
        Ok(DeleteVectorMeta {
            id,
            deleted: dv.count(),
        })
    }

    pub fn read_delete_vector(&self, slice: u32, id: &str) -> Result<DeleteVector> {
        let path = self.local_dv(slice, id)?;
        let bytes = fs::read(&path).map_err(|e| Error::BadBlock {
            slice,
            block: id.to_string(),
            reason: format!("delete vector {}: {e}", path.display()),
        })?;
        DeleteVector::decode(&bytes)
    }

    fn put_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().expect("file has a folder");
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
            // Make the new folders' own entries durable, up to the store's root.
            let mut d = dir;
            while let Some(parent) = d.parent() {
                sync_dir(parent)?;
                if parent == self.root {
                    break;
                }
                d = parent;
            }
        }
        let tmp = self.root.join(format!(
            "tmp/{}-{}",
            std::process::id(),
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = File::create(&tmp).map_err(|e| Error::io(tmp.display(), e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io(tmp.display(), e))?;
        f.sync_all().map_err(|e| Error::io(tmp.display(), e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), e))?;
        sync_dir(dir)
    }

    /// Removes every block and delete vector of `slice` that is not in `live`.
    /// Returns how many files were removed.
    pub fn gc(&self, slice: u32, live: &HashSet<String>) -> Result<usize> {
        let mut removed = 0;
        for (sub, ext) in [("blocks", "parquet"), ("dv", "dv")] {
            let dir = self.root.join(format!("slices/{slice}/{sub}"));
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                if path.extension().and_then(|e| e.to_str()) == Some(ext) && live.contains(stem) {
                    continue;
                }
                fs::remove_file(&path).map_err(|e| Error::io(path.display(), e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// fsyncs a folder so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir.display(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;

    /// Serves files from memory and counts fetches.
    struct Held(HashMap<String, Vec<u8>>, AtomicUsize);

    impl FileSource for Held {
        fn fetch(&self, id: &str, _dv: bool) -> Result<Option<Vec<u8>>> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok(self.0.get(id).cloned())
        }
    }

    #[test]
    fn a_missing_file_is_fetched_once_when_first_opened() {
        let dir = tempfile::tempdir().unwrap();
        let store = SliceStore::open(dir.path()).unwrap();
        let held = Arc::new(Held(
            HashMap::from([("b1".to_string(), b"block bytes".to_vec())]),
            AtomicUsize::new(0),
        ));
        // No source: the path of the missing file, for the reader's own error.
        assert!(!store.local_block(0, "b1").unwrap().exists());

        store.set_source(Some(Arc::clone(&held) as Arc<dyn FileSource>));
        let path = store.local_block(0, "b1").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"block bytes");
        assert_eq!(store.local_block(0, "b1").unwrap(), path);
        assert_eq!(held.1.load(Ordering::SeqCst), 1, "fetched once, then local");

        // A file the source does not name stays missing.
        assert!(!store.local_block(1, "other").unwrap().exists());
        store.set_source(None);
        assert!(fs::read(store.local_block(0, "b1").unwrap()).is_ok());
    }
}
