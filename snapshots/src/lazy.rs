//! Lazy restore: a restored cluster that answers queries before its files are downloaded.
//!
//! ```text
//!  restore --lazy:  record ─► manifest ─► catalog (leader folder) + per node lazy.json:
//!                   the location and every file of that node's slices; no file downloaded
//!  compute start:   lazy.json ─► SnapshotSource on the SliceStore: a missing file is
//!                   fetched (hash checked) when first opened ─┐
//!                   background: every file not yet present, 4 at a time ──┴─► all present:
//!                   lazy.json removed, the source cleared
//! ```
//!
//! Every file is written whole (tmp, fsync, rename), so a node killed while filling restarts
//! with the plan still in place and fetches only what it lacks.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use blueshift_storage::{Error, FileSource, Result, SliceStore, Stores};
use serde::{Deserialize, Serialize};

use crate::format::FileRef;
use crate::location::Location;

/// The plan's file name in a compute node's folder.
pub const PLAN_FILE: &str = "lazy.json";

/// Files fetched at once in the background.
const PARALLEL: usize = 4;

/// What a lazily restored node still has to fetch, and from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LazyPlan {
    pub snapshot: String,
    pub location: String,
    /// The `[regions.<name>]` the location is reached through (empty: the default).
    pub region: String,
    pub files: Vec<LazyFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LazyFile {
    pub slice: u32,
    pub file: FileRef,
}

/// Writes `plan` into a node folder, whole.
pub fn write_plan(dir: &Path, plan: &LazyPlan) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(plan).map_err(|e| Error::Invalid(e.to_string()))?;
    let tmp = dir.join(format!("{PLAN_FILE}.tmp"));
    let path = dir.join(PLAN_FILE);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, &bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| Error::io(path.display(), e))?;
    blueshift_storage::sync_dir(dir)
}

/// The plan in a node folder, if the node is still being restored.
pub fn read_plan(dir: &Path) -> Result<Option<LazyPlan>> {
    let path = dir.join(PLAN_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path.display(), e)),
    }
}

/// Fetches the plan's files from the snapshot location, on behalf of readers on blocking
/// threads.
struct SnapshotSource {
    location: Location,
    files: HashSet<(String, bool)>,
    runtime: tokio::runtime::Handle,
}

impl FileSource for SnapshotSource {
    fn fetch(&self, id: &str, delete_vector: bool) -> Result<Option<Vec<u8>>> {
        if !self.files.contains(&(id.to_string(), delete_vector)) {
            return Ok(None);
        }
        let file = FileRef {
            id: id.to_string(),
            delete_vector,
            bytes: 0,
        };
        let location = self.location.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(location.get_file(&file).await);
        });
        let bytes = rx
            .recv()
            .map_err(|_| Error::Invalid("lazy restore: the fetch was cancelled".into()))??;
        Ok(Some(bytes.to_vec()))
    }
}

/// Starts serving a node restored lazily, if its folder holds a plan: missing files are
/// fetched when first read, and the rest in the background. Call inside the runtime.
pub fn start(stores: &Stores, slices: Arc<SliceStore>) -> Result<bool> {
    let Some(plan) = read_plan(slices.root())? else {
        return Ok(false);
    };
    let location = Location::open(stores, &plan.location, &plan.region)?;
    let files = plan
        .files
        .iter()
        .map(|f| (f.file.id.clone(), f.file.delete_vector))
        .collect();
    slices.set_source(Some(Arc::new(SnapshotSource {
        location,
        files,
        runtime: tokio::runtime::Handle::current(),
    })));
    tracing::info!(
        "lazy restore of snapshot {}: {} files to fetch from {}",
        plan.snapshot,
        plan.files.len(),
        plan.location
    );
    tokio::spawn(fill(slices, plan));
    Ok(true)
}

/// Fetches every file of the plan not yet present, retrying while the location fails;
/// then removes the plan.
async fn fill(slices: Arc<SliceStore>, plan: LazyPlan) {
    loop {
        match fill_once(&slices, &plan).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!("lazy restore: {e}; retrying in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
    tracing::info!(
        "lazy restore of snapshot {}: every file is here",
        plan.snapshot
    );
}

async fn fill_once(slices: &Arc<SliceStore>, plan: &LazyPlan) -> Result<()> {
    crate::settle(plan.files.iter(), PARALLEL, |f| {
        let slices = Arc::clone(slices);
        let (slice, id, dv) = (f.slice, f.file.id.clone(), f.file.delete_vector);
        async move {
            tokio::task::spawn_blocking(move || {
                let path = match dv {
                    true => slices.local_dv(slice, &id)?,
                    false => slices.local_block(slice, &id)?,
                };
                match path.exists() {
                    true => Ok(()),
                    false => Err(Error::Invalid(format!(
                        "lazy restore: {} is missing from the snapshot location",
                        crate::format::file_key(&id, dv)
                    ))),
                }
            })
            .await
            .map_err(|e| Error::Invalid(format!("lazy restore task: {e}")))?
        }
    })
    .await?;
    let path = slices.root().join(PLAN_FILE);
    std::fs::remove_file(&path).map_err(|e| Error::io(path.display(), e))?;
    blueshift_storage::sync_dir(slices.root())?;
    slices.set_source(None);
    Ok(())
}
