//! A node's share of a COPY.
//!
//! ```text
//!   tasks ─► worker per local slice (blocking thread): read, parse, convert, route
//!                 │ rows for slice s
//!                 ├─► s on this node:   stage_rows (sort, encode, write blocks)
//!                 └─► s on node n:      do_put to node n (which stages them)
//!   every 250 ms: Progress{bytes, rows}     at the end: Done{blocks per slice, rejects}
//! ```
//!
//! Nothing is committed here: the leader commits every node's blocks in one catalog
//! version, or none of them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use blueshift_load::{LoadTask, Reject, Sink};
use blueshift_storage::SliceStore;
use blueshift_storage::Stores;
use blueshift_storage::placement::route_batch;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::protocol::{LoadEvent, LoadRequest, LoadResponse};
use crate::write::{RowSender, SliceWriters};

/// Shared between the workers of one load.
struct Shared {
    req: LoadRequest,
    senders: HashMap<u32, RowSender>,
    rejects: Mutex<Vec<Reject>>,
    reject_count: AtomicU64,
    rows: AtomicU64,
    bytes: Arc<AtomicU64>,
    tasks_done: AtomicU64,
    stop: AtomicBool,
    /// A block writer stopped taking rows (its own error is the one to tell).
    writer_stopped: AtomicBool,
}

/// Routes one worker's rows to their slices.
struct Router<'a> {
    shared: &'a Shared,
    cursor: u64,
}

impl Sink for Router<'_> {
    fn rows(&mut self, batch: RecordBatch) -> blueshift_load::Result<()> {
        let shared = self.shared;
        if shared.stop.load(Ordering::Relaxed) {
            return Err(blueshift_load::Error::Data("load stopped".into()));
        }
        shared
            .rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        let parts = route_batch(
            &shared.req.target.table,
            &shared.req.topology,
            &batch,
            &mut self.cursor,
        )
        .map_err(|e| blueshift_load::Error::Data(e.to_string()))?;
        for (slice, part) in parts {
            let tx = shared.senders.get(&slice).ok_or_else(|| {
                blueshift_load::Error::Data(format!("no writer for slice {slice}"))
            })?;
            tx.blocking_send(Ok(part)).map_err(|_| {
                shared.writer_stopped.store(true, Ordering::Relaxed);
                blueshift_load::Error::Data(format!("a block writer stopped (slice {slice})"))
            })?;
        }
        Ok(())
    }

    fn rejects(&mut self, rejects: Vec<Reject>) -> blueshift_load::Result<()> {
        let shared = self.shared;
        let n = rejects.len() as u64;
        let total = shared.reject_count.fetch_add(n, Ordering::Relaxed) + n;
        let keep = shared.req.options.max_error.saturating_add(1);
        let mut kept = shared.rejects.lock().expect("rejects");
        let room = keep.saturating_sub(kept.len() as u64) as usize;
        kept.extend(rejects.into_iter().take(room));
        if total > shared.req.options.max_error {
            shared.stop.store(true, Ordering::Relaxed);
            return Err(blueshift_load::Error::Data(MAXERROR_STOP.into()));
        }
        Ok(())
    }
}

const MAXERROR_STOP: &str = "stopped: MAXERROR exceeded";

/// Runs a load, sending progress and the final answer on `events`.
pub async fn run_load(
    store: Arc<SliceStore>,
    stores: Arc<Stores>,
    node: u32,
    workers: usize,
    req: LoadRequest,
    events: mpsc::Sender<std::result::Result<LoadEvent, Error>>,
) {
    let result = load(store, stores, node, workers, req, &events).await;
    let _ = events.send(result.map(LoadEvent::Done)).await;
}

async fn load(
    store: Arc<SliceStore>,
    stores: Arc<Stores>,
    node: u32,
    workers: usize,
    req: LoadRequest,
    events: &mpsc::Sender<std::result::Result<LoadEvent, Error>>,
) -> Result<LoadResponse> {
    let timeout = Duration::from_secs(req.timeout_secs.max(1));
    let mut writers = SliceWriters::start(
        &store,
        node,
        &req.target.table,
        &req.topology,
        &req.nodes,
        timeout,
    )?;
    // The workers send from blocking threads; the writers keep no senders of their own, so
    // dropping the workers' ends the writers' input.
    let senders = std::mem::take(&mut writers.senders);
    let queue: Arc<Mutex<VecDeque<LoadTask>>> =
        Arc::new(Mutex::new(req.tasks.iter().cloned().collect()));
    let shared = Arc::new(Shared {
        req,
        senders,
        rejects: Mutex::new(Vec::new()),
        reject_count: AtomicU64::new(0),
        rows: AtomicU64::new(0),
        bytes: Arc::new(AtomicU64::new(0)),
        tasks_done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        writer_stopped: AtomicBool::new(false),
    });
    let mut readers = tokio::task::JoinSet::new();
    for w in 0..workers.max(1) {
        let shared = Arc::clone(&shared);
        let queue = Arc::clone(&queue);
        let stores = Arc::clone(&stores);
        readers.spawn_blocking(move || -> Result<Vec<(usize, u64)>> {
            let mut router = Router {
                shared: &shared,
                cursor: shared.req.even_start + w as u64,
            };
            let mut lines = Vec::new();
            loop {
                let Some(task) = queue.lock().expect("task queue").pop_front() else {
                    return Ok(lines);
                };
                let outcome = blueshift_load::read_task(
                    &stores,
                    &shared.req.access,
                    &task,
                    &shared.req.target,
                    &shared.req.options,
                    Arc::clone(&shared.bytes),
                    &mut router,
                );
                match outcome {
                    Ok(o) => lines.push((task.id, o.lines)),
                    Err(e) => {
                        shared.stop.store(true, Ordering::Relaxed);
                        return Err(Error::Load(e));
                    }
                }
                shared.tasks_done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    ticker.tick().await;
    let mut task_lines = Vec::new();
    let mut failure: Option<Error> = None;
    loop {
        tokio::select! {
            joined = readers.join_next() => {
                let Some(joined) = joined else { break };
                match joined {
                    Ok(Ok(lines)) => task_lines.extend(lines),
                    Ok(Err(e)) => {
                        if failure.is_none() {
                            failure = Some(e);
                        }
                    }
                    Err(e) => {
                        failure.get_or_insert(Error::BadRequest(format!("load worker failed: {e}")));
                    }
                }
            }
            _ = ticker.tick() => {
                let progress = LoadEvent::Progress {
                    bytes: shared.bytes.load(Ordering::Relaxed),
                    rows: shared.rows.load(Ordering::Relaxed),
                    tasks_done: shared.tasks_done.load(Ordering::Relaxed),
                };
                if events.send(Ok(progress)).await.is_err() {
                    // The leader went away: stop reading; nothing will be committed.
                    shared.stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    let exceeded = shared.reject_count.load(Ordering::Relaxed) > shared.req.options.max_error;
    // Once MAXERROR is exceeded every worker stops on purpose; that is the answer.
    let failure = failure.filter(|_| !exceeded);
    let shared = Arc::into_inner(shared)
        .ok_or_else(|| Error::BadRequest("load workers still hold the load state".into()))?;
    let Shared {
        senders,
        rejects,
        reject_count,
        rows,
        writer_stopped,
        ..
    } = shared;
    drop(senders);
    if let Some(e) = failure {
        if writer_stopped.into_inner()
            && let Some(writer_error) = writers.first_error().await
        {
            // A writer failed first (a node lost, a disk full): its error is the one to tell.
            return Err(writer_error);
        }
        writers.abort();
        return Err(e);
    }
    if exceeded {
        writers.abort();
        return Ok(LoadResponse {
            rejects: rejects.into_inner().expect("rejects"),
            reject_count: reject_count.into_inner(),
            exceeded: true,
            task_lines,
            ..Default::default()
        });
    }
    let blocks = writers.finish().await?;
    Ok(LoadResponse {
        blocks,
        rows: rows.into_inner(),
        rejects: rejects.into_inner().expect("rejects"),
        reject_count: reject_count.into_inner(),
        task_lines,
        exceeded: false,
    })
}
