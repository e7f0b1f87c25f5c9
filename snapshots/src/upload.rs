//! A compute node's part of a snapshot: it puts the files of its own slices that the
//! location does not hold yet (the leader never relays block bytes), and computes the
//! checksums of the blocks the leader asks for. [`fetch`] is the way back, for restoring
//! one table into a running cluster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use blueshift_storage::{BlockMeta, Error, Result, SliceStore};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::format::{BlockSum, FileRef, sum_key};
use crate::location::{Location, verify};

/// Files in flight at once per node.
const PARALLEL: usize = 8;

/// One slice's share of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SliceShare {
    pub slice: u32,
    /// Files to put unless the location has them.
    pub files: Vec<FileRef>,
    /// Blocks whose checksum the leader does not know yet.
    pub checksums: Vec<BlockMeta>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadRequest {
    pub location: String,
    pub region: String,
    pub shares: Vec<SliceShare>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadProgress {
    pub files_done: u64,
    /// Bytes of files done, uploaded or found in place.
    pub bytes_done: u64,
    pub bytes_uploaded: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadResult {
    pub files_uploaded: u64,
    pub bytes_uploaded: u64,
    pub sums: BTreeMap<String, BlockSum>,
}

/// What a node streams back: progress, then one result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UploadEvent {
    Progress(UploadProgress),
    Done(UploadResult),
}

/// Runs one node's share; `progress` is called after each file.
pub async fn upload(
    location: &Location,
    slices: Arc<SliceStore>,
    req: &UploadRequest,
    progress: impl Fn(UploadProgress) + Send + Sync,
) -> Result<UploadResult> {
    // Uploads wait on the network, checksums on the CPU: both at once.
    let ((files, bytes), sums) = futures::try_join!(
        each_file(req, &progress, |slice, file| {
            put_file(location, &slices, slice, file)
        }),
        checksums(Arc::clone(&slices), req, &progress),
    )?;
    Ok(UploadResult {
        files_uploaded: files,
        bytes_uploaded: bytes,
        sums,
    })
}

/// Runs `one` on every file of the shares, a few at a time, reporting after each.
/// `one` answers `(planned bytes, bytes, whether it moved the file)`; the result is the
/// files and bytes moved.
async fn each_file<F, Fut>(
    req: &UploadRequest,
    progress: &(impl Fn(UploadProgress) + Send + Sync),
    one: F,
) -> Result<(u64, u64)>
where
    F: Fn(u32, FileRef) -> Fut,
    Fut: std::future::Future<Output = Result<(u64, u64, bool)>>,
{
    let counts = Counts::default();
    let jobs: Vec<(u32, FileRef)> = req
        .shares
        .iter()
        .flat_map(|s| s.files.iter().map(move |f| (s.slice, f.clone())))
        .collect();
    let mut done = futures::stream::iter(jobs)
        .map(|(slice, file)| one(slice, file))
        .buffer_unordered(PARALLEL);
    while let Some(outcome) = done.next().await {
        let (planned, size, moved) = outcome?;
        counts.files_done.fetch_add(1, Ordering::Relaxed);
        // Done is counted in the sizes the leader planned with (it does not know a delete
        // vector's), so it never runs past the total.
        counts.bytes_done.fetch_add(planned, Ordering::Relaxed);
        if moved {
            counts.files_uploaded.fetch_add(1, Ordering::Relaxed);
            counts.bytes_uploaded.fetch_add(size, Ordering::Relaxed);
        }
        progress(UploadProgress {
            files_done: counts.files_done.load(Ordering::Relaxed),
            bytes_done: counts.bytes_done.load(Ordering::Relaxed),
            bytes_uploaded: counts.bytes_uploaded.load(Ordering::Relaxed),
        });
    }
    Ok((
        counts.files_uploaded.load(Ordering::Relaxed),
        counts.bytes_uploaded.load(Ordering::Relaxed),
    ))
}

#[derive(Default)]
struct Counts {
    files_done: AtomicU64,
    bytes_done: AtomicU64,
    files_uploaded: AtomicU64,
    bytes_uploaded: AtomicU64,
}

/// Puts one file unless the location holds it: `(planned bytes, bytes, whether it was
/// uploaded)`.
async fn put_file(
    location: &Location,
    slices: &Arc<SliceStore>,
    slice: u32,
    file: FileRef,
) -> Result<(u64, u64, bool)> {
    let key = file.key();
    if location.exists(&key).await? {
        return Ok((file.bytes, file.bytes, false));
    }
    // A node restored lazily may still have to fetch the file itself.
    let path = {
        let (slices, id, dv) = (Arc::clone(slices), file.id.clone(), file.delete_vector);
        tokio::task::spawn_blocking(move || match dv {
            true => slices.local_dv(slice, &id),
            false => slices.local_block(slice, &id),
        })
        .await
        .map_err(|e| Error::Invalid(format!("upload task: {e}")))??
    };
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| Error::io(path.display(), e))?;
    // A damaged local file must not become a snapshot's only copy.
    verify(&path.display().to_string(), &bytes, &file.id)?;
    let n = bytes.len() as u64;
    location.put(&key, Bytes::from(bytes)).await?;
    Ok((file.bytes, n, true))
}

/// The reverse, for restoring one table into a running cluster: a node fetches the files
/// of its slices from the location (each checked against its hash) into its slice folders,
/// then computes the checksums asked for from what it wrote.
pub async fn fetch(
    location: &Location,
    slices: Arc<SliceStore>,
    req: &UploadRequest,
    progress: impl Fn(UploadProgress) + Send + Sync,
) -> Result<UploadResult> {
    let (files, bytes) = each_file(req, &progress, |slice, file| {
        let slices = Arc::clone(&slices);
        async move {
            let bytes = location.get_file(&file).await?;
            let n = bytes.len() as u64;
            let planned = file.bytes;
            tokio::task::spawn_blocking(move || {
                slices.put_file_bytes(slice, &file.id, file.delete_vector, &bytes)
            })
            .await
            .map_err(|e| Error::Invalid(format!("fetch task: {e}")))??;
            Ok((planned, n, true))
        }
    })
    .await?;
    Ok(UploadResult {
        files_uploaded: files,
        bytes_uploaded: bytes,
        sums: checksums(slices, req, &progress).await?,
    })
}

/// Checksums of the blocks asked for, read on blocking threads.
pub async fn checksums(
    slices: Arc<SliceStore>,
    req: &UploadRequest,
    progress: &(impl Fn(UploadProgress) + Send + Sync),
) -> Result<BTreeMap<String, BlockSum>> {
    let jobs: Vec<(u32, BlockMeta)> = req
        .shares
        .iter()
        .flat_map(|s| s.checksums.iter().map(move |b| (s.slice, b.clone())))
        .collect();
    futures::stream::iter(jobs)
        .map(|(slice, block)| {
            let slices = Arc::clone(&slices);
            async move {
                tokio::task::spawn_blocking(move || {
                    let (rows, sum) =
                        blueshift_storage::checksum::block_checksum(&slices, slice, &block)?;
                    Ok::<_, Error>((sum_key(&block), BlockSum { rows, sum }))
                })
                .await
                .map_err(|e| Error::Invalid(format!("checksum task: {e}")))?
            }
        })
        .buffer_unordered(2)
        // A progress message per block read keeps a long checksum phase from looking like
        // a silent node to the leader.
        .inspect(|_| progress(UploadProgress::default()))
        .try_collect()
        .await
}
