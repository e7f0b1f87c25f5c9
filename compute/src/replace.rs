//! A node's share of restoring one table of a snapshot taken on another topology: it reads
//! its share of the snapshot's blocks (hash-checked, without their deleted rows) and routes
//! the rows to this cluster's slices by the table's distribution, as a COPY does.
//!
//! ```text
//!  location ─► block + delete vector ─► live rows ─► route_batch ─┬─► local slice: stage blocks
//!                                                                └─► other node: do_put
//! ```
//!
//! Nothing is committed here: the leader checks the rows and checksum every node read
//! against the snapshot's record, then commits every node's blocks in one version.

use std::sync::Arc;
use std::time::Duration;

use blueshift_snapshots::Location;
use blueshift_snapshots::format::FileRef;
use blueshift_storage::placement::route_batch;
use blueshift_storage::{DeleteVector, SliceStore, Stores};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::protocol::{ReplaceEvent, ReplaceRequest, ReplaceResult};
use crate::write::SliceWriters;

pub async fn replace(
    store: Arc<SliceStore>,
    stores: Arc<Stores>,
    node: u32,
    req: ReplaceRequest,
    events: mpsc::UnboundedSender<std::result::Result<ReplaceEvent, Error>>,
) {
    let outcome = run(store, &stores, node, &req, &events).await;
    let _ = events.send(outcome.map(ReplaceEvent::Done));
}

async fn run(
    store: Arc<SliceStore>,
    stores: &Stores,
    node: u32,
    req: &ReplaceRequest,
    events: &mpsc::UnboundedSender<std::result::Result<ReplaceEvent, Error>>,
) -> Result<ReplaceResult> {
    let location = Location::open(stores, &req.location, &req.region)?;
    let mut writers = SliceWriters::start(
        &store,
        node,
        &req.table,
        &req.topology,
        &req.nodes,
        Duration::from_secs(req.timeout_secs.max(1)),
    )?;
    let mut result = ReplaceResult::default();
    let mut even = req.even_start;
    for (done, block) in req.blocks.iter().enumerate() {
        let read = async {
            let bytes = location
                .get_file(&FileRef {
                    id: block.id.clone(),
                    delete_vector: false,
                    bytes: block.bytes,
                })
                .await?;
            let deletes = match &block.deletes {
                Some(d) => {
                    let dv = location
                        .get_file(&FileRef {
                            id: d.id.clone(),
                            delete_vector: true,
                            bytes: 0,
                        })
                        .await?;
                    Some(DeleteVector::decode(&dv)?)
                }
                None => None,
            };
            let n = bytes.len() as u64;
            let batches = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                blueshift_storage::checksum::live_rows(bytes, deletes.as_ref(), |b| {
                    out.push(b);
                    Ok(())
                })
                .map(|()| out)
            })
            .await
            .map_err(|e| Error::BadRequest(format!("read task: {e}")))??;
            Ok::<_, Error>((n, batches))
        };
        let (n, batches) = match read.await {
            Ok(r) => r,
            Err(e) => {
                writers.abort();
                return Err(e);
            }
        };
        result.bytes_read += n;
        for batch in batches {
            result.rows += batch.num_rows() as u64;
            let routed = blueshift_storage::checksum::rows_checksum(&batch).and_then(|sum| {
                result.checksum = result.checksum.wrapping_add(sum);
                route_batch(&req.table, &req.topology, &batch, &mut even)
            });
            let parts = match routed {
                Ok(p) => p,
                Err(e) => {
                    writers.abort();
                    return Err(e.into());
                }
            };
            // A writer that fails stops the others itself (`send` answers its error).
            writers.send(parts).await?;
        }
        let _ = events.send(Ok(ReplaceEvent::Progress(done as u64 + 1)));
    }
    result.blocks = writers.finish().await?;
    Ok(result)
}
