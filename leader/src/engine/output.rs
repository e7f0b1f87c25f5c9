//! What a statement produced, as the wire protocol layer consumes it, and the stream that
//! logs a query's outcome when its rows have been read.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::error::Result;
use crate::logs::SystemLogs;

/// What a statement produced.
pub enum Output {
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    /// A query's rows, produced as the client reads them.
    Stream(SendableRecordBatchStream),
    Command {
        tag: String,
        rows: Option<u64>,
    },
    /// BEGIN / COMMIT / ROLLBACK, which move the session's transaction status.
    Transaction {
        tag: &'static str,
        start: bool,
    },
    /// COPY FROM STDIN: the client sends the data next (the session holds the pending COPY).
    CopyIn {
        columns: usize,
    },
    /// COPY TO STDOUT: one payload per row.
    CopyOut {
        columns: usize,
        rows: futures::stream::BoxStream<'static, Result<bytes::Bytes>>,
    },
    Empty,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Rows { batches, .. } => write!(f, "Rows({} batches)", batches.len()),
            Output::Stream(_) => write!(f, "Stream"),
            Output::Command { tag, rows } => write!(f, "Command({tag}, {rows:?})"),
            Output::Transaction { tag, .. } => write!(f, "Transaction({tag})"),
            Output::CopyIn { columns } => write!(f, "CopyIn({columns})"),
            Output::CopyOut { columns, .. } => write!(f, "CopyOut({columns})"),
            Output::Empty => write!(f, "Empty"),
        }
    }
}

impl Output {
    /// Reads a streamed result to the end (when statements after it must wait for it).
    pub async fn collect(self) -> Result<Output> {
        match self {
            Output::Stream(mut stream) => {
                let schema = stream.schema();
                let mut batches = Vec::new();
                while let Some(b) = stream.next().await {
                    batches.push(b?);
                }
                Ok(Output::Rows { schema, batches })
            }
            other => Ok(other),
        }
    }

    pub fn row_count(&self) -> i64 {
        match self {
            Output::Rows { batches, .. } => batches.iter().map(|b| b.num_rows() as i64).sum(),
            Output::Command { rows, .. } => rows.map_or(0, |r| r as i64),
            _ => 0,
        }
    }
}

/// Passes a query's result stream through and records its outcome in the log when the
/// stream ends, fails, or is dropped unread (client gone or statement cancelled).
pub struct LoggedStream {
    inner: datafusion::execution::SendableRecordBatchStream,
    log: std::sync::Arc<SystemLogs>,
    query: u64,
    rows: i64,
    done: bool,
    /// The session's schema and the version the query reads, released when the stream ends.
    schema: std::sync::Arc<crate::schema::PinnedSchema>,
    pinned: std::sync::Arc<crate::catalog::ClusterState>,
}

impl LoggedStream {
    pub fn new(
        inner: datafusion::execution::SendableRecordBatchStream,
        log: std::sync::Arc<SystemLogs>,
        query: u64,
        schema: std::sync::Arc<crate::schema::PinnedSchema>,
    ) -> Self {
        let pinned = schema.pinned();
        LoggedStream {
            inner,
            log,
            query,
            rows: 0,
            done: false,
            schema,
            pinned,
        }
    }

    fn finish(&mut self, result: Result<i64, String>) {
        if !self.done {
            self.done = true;
            self.log.queries.finish(self.query, result);
        }
    }
}

impl futures::Stream for LoggedStream {
    type Item = datafusion::error::Result<arrow::array::RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(b))) => self.rows += b.num_rows() as i64,
            Poll::Ready(Some(Err(e))) => {
                let msg = crate::error::Error::DataFusion(
                    datafusion::error::DataFusionError::Execution(e.to_string()),
                )
                .user_message();
                self.finish(Err(msg));
            }
            Poll::Ready(None) => {
                let rows = self.rows;
                self.finish(Ok(rows));
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl datafusion::physical_plan::RecordBatchStream for LoggedStream {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.inner.schema()
    }
}

impl Drop for LoggedStream {
    fn drop(&mut self) {
        self.schema.unpin_if(&self.pinned);
        self.finish(Err("cancelled: the result was not read to the end".into()));
    }
}
