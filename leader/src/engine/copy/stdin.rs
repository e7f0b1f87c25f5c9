//! `COPY ... FROM STDIN`: the client's bytes are spooled to a file on the leader, then
//! read there with the same readers and written like an INSERT, in one commit.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arrow::array::RecordBatch;
use blueshift_load::{LoadTask, Reject, Sink, Target};
use blueshift_storage::Access;
use blueshift_storage::{Code, CodedError};
use datafusion::execution::SendableRecordBatchStream;
use tokio::sync::mpsc;

use crate::catalog::TableState;
use crate::engine::copy::sql::CopyStatement;
use crate::engine::{Engine, Session};
use crate::error::{Error, Result};

use super::unchanged;

/// A COPY FROM STDIN waiting for the client's data.
pub struct PendingCopy {
    pub(crate) stmt: CopyStatement,
    pub(crate) target: Target,
    pub(crate) query: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: std::fs::File,
}

impl PendingCopy {
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .map_err(|e| Error::Io(format!("cannot spool COPY data: {e}")))
    }
}

impl Drop for PendingCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Engine {
    /// Loads the spooled data of a COPY FROM STDIN: read on the leader, written like an
    /// INSERT, committed once.
    pub async fn finish_stdin_copy(&self, session: &Session, pending: PendingCopy) -> Result<u64> {
        let PendingCopy {
            ref stmt,
            ref target,
            query,
            ref path,
            ..
        } = pending;
        let size = std::fs::metadata(path)
            .map_err(|e| Error::Io(format!("cannot read spooled COPY data: {e}")))?
            .len();
        let task = LoadTask {
            id: 0,
            url: path.display().to_string(),
            size,
            range: None,
            row_groups: None,
            first_of_file: true,
        };
        let running = self
            .log
            .loads
            .start(query, session.pid, &stmt.table, 1, 1, size);
        let guard = self.catalog.begin_write().await;
        let state = session.read_state(&self.catalog);
        let table = state.table(&stmt.table)?.clone();
        unchanged(&table, target, &stmt.table)?;
        let schema = table.def.schema();
        let (tx, rx) = mpsc::channel(4);
        let stores = Arc::clone(&self.stores);
        let (target, opts) = (target.clone(), stmt.options.clone());
        let progress = Arc::clone(&running.progress);
        let spool = path.display().to_string();
        let reader = tokio::task::spawn_blocking(move || {
            let mut sink = ChannelSink {
                tx,
                rejects: Vec::new(),
                count: 0,
                max_error: opts.max_error,
                progress,
            };
            let r = blueshift_load::read_task(
                &stores,
                &Access::default(),
                &task,
                &target,
                &opts,
                Arc::new(AtomicU64::new(0)),
                &mut sink,
            );
            if let Err(e) = &r
                && sink.count <= sink.max_error
            {
                // The writer fails with the reader's error, code and all, speaking of STDIN.
                let message = e.to_string().replace(&spool, "STDIN");
                let _ = sink
                    .tx
                    .blocking_send(Err(CodedError::new(e.code(), message).into()));
            }
            (r, sink.rejects, sink.count)
        });
        let stream: SendableRecordBatchStream = Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                schema,
                tokio_stream::wrappers::ReceiverStream::new(rx),
            ),
        );
        let written = self.write_rows(&state, &table, stream).await;
        let (read, mut rejects, count) = reader
            .await
            .map_err(|e| Error::Internal(format!("COPY reader failed: {e}")))?;
        for r in &mut rejects {
            r.file = "STDIN".into();
        }
        let checked = self.check_rejects(session, stmt, query, rejects, count);
        let failed = checked.and_then(|_| match (read, written) {
            // The reader stops when the writer does: the writer's error is the cause.
            (Err(_), Err(w)) => Err(w),
            (Err(e), Ok(_)) => Err(Error::Load(stdin_error(e, path))),
            (Ok(_), w) => w,
        });
        let (data, rows) = match failed {
            Ok(w) => w,
            Err(e) => {
                self.collect_garbage(&guard).await;
                return Err(e);
            }
        };
        let mut next = (*state).clone();
        let new_table = self
            .maybe_leave_auto_all(
                &next,
                TableState {
                    def: table.def.clone(),
                    data: Arc::new(data),
                },
                &query.to_string(),
            )
            .await?;
        let new_table = self
            .analyzed_if_new(
                &next,
                table.data.live_rows(),
                new_table,
                stmt.statupdate,
                &query.to_string(),
            )
            .await?;
        next.tables.insert(stmt.table.clone(), new_table);
        self.finish_write(
            session,
            &guard,
            next,
            std::slice::from_ref(&stmt.table),
            false,
        )
        .await?;
        *session.last_copy.lock().expect("last copy") = (query as i64, rows as i64);
        drop(running);
        Ok(rows)
    }
}

/// Errors about the spool file speak of STDIN.
pub(crate) fn stdin_error(
    e: blueshift_load::Error,
    path: &std::path::Path,
) -> blueshift_load::Error {
    let text = e.to_string().replace(&path.display().to_string(), "STDIN");
    match e.code() {
        Code::BadCopyData => blueshift_load::Error::Data(text),
        _ => blueshift_load::Error::InvalidOption(text),
    }
}

/// Feeds rows read on the leader (STDIN) into the INSERT path.
pub(crate) struct ChannelSink {
    tx: mpsc::Sender<datafusion::error::Result<RecordBatch>>,
    rejects: Vec<Reject>,
    count: u64,
    max_error: u64,
    progress: Arc<crate::logs::LoadProgress>,
}

impl Sink for ChannelSink {
    fn rows(&mut self, batch: RecordBatch) -> blueshift_load::Result<()> {
        self.progress.add_local_rows(batch.num_rows() as u64);
        self.tx
            .blocking_send(Ok(batch))
            .map_err(|_| blueshift_load::Error::Data("the row writer stopped".into()))
    }

    fn rejects(&mut self, rejects: Vec<Reject>) -> blueshift_load::Result<()> {
        self.count += rejects.len() as u64;
        let room = self
            .max_error
            .saturating_add(1)
            .saturating_sub(self.rejects.len() as u64) as usize;
        self.rejects.extend(rejects.into_iter().take(room));
        if self.count > self.max_error {
            // End the row stream with an error so nothing is written; the caller reports
            // the rejects.
            let _ =
                self.tx.blocking_send(Err(
                    CodedError::new(Code::BadCopyData, "MAXERROR exceeded").into()
                ));
            return Err(blueshift_load::Error::Data("MAXERROR exceeded".into()));
        }
        Ok(())
    }
}
