//! Blueshift snapshots: a complete, consistent image of the cluster at one commit, in an
//! S3-compatible bucket or a folder, taken incrementally over content-addressed files.
//!
//! ```text
//!  leader: pin a commit ─► pending/<name> ─► nodes: put missing files/<hash> (each its own
//!          slices, in parallel) + block checksums ─► manifests/<name> ─► snapshots/<name>
//!  restore: record ─► manifest (hash checked) ─► files (hash checked) ─► node folders,
//!           re-placed when N x S differs ─► table rows and checksums compared
//! ```
//!
//! Modules: `config` (`[snapshots]`), `format` (record, manifest, layout), `location`
//! (one location's objects), `copy` (cross-region copy), `upload` (a node's share of a snapshot), `gc` (retention and
//! garbage collection), `restore`, `lazy` (a restored node that fetches its files as it runs).

mod config;
pub mod copy;
pub mod format;
pub mod gc;
pub mod lazy;
mod location;
pub mod restore;
pub mod upload;

pub use config::SnapshotConfig;
pub use format::{Kind, Manifest, Record};
pub use location::{Location, list_all, manifest_key, pending_key, record_key};

use std::sync::atomic::{AtomicBool, Ordering};

use blueshift_storage::Result;
use futures::StreamExt;

/// Runs `f` over `items`, at most `limit` at a time, and returns every answer or the first
/// error. After a failure no new item starts, but every started one is awaited before the
/// error is returned: work on blocking threads must not outlive the call, or it would write
/// into a folder the caller removes on that error.
pub(crate) async fn settle<I, T, F, Fut>(items: I, limit: usize, f: F) -> Result<Vec<T>>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let failed = AtomicBool::new(false);
    let answers: Vec<Option<Result<T>>> = futures::stream::iter(items)
        .map(|item| {
            let (failed, f) = (&failed, &f);
            async move {
                if failed.load(Ordering::SeqCst) {
                    return None;
                }
                let answer = f(item).await;
                if answer.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                Some(answer)
            }
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    answers.into_iter().flatten().collect()
}
