//! `stl_query`: the statements the leader has run, newest last, in a bounded ring.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct QueryRecord {
    pub query: u64,
    pub pid: i32,
    pub user: String,
    pub text: String,
    /// Microseconds since the Unix epoch.
    pub start: i64,
    pub end: Option<i64>,
    pub rows: i64,
    pub status: &'static str,
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct QueryLog {
    next: AtomicU64,
    entries: Mutex<VecDeque<QueryRecord>>,
    capacity: usize,
    /// `stl_load_errors` and `stv_load_state`.
    pub loads: crate::load_log::LoadLog,
}

pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl QueryLog {
    pub fn new(capacity: usize) -> Self {
        QueryLog {
            next: AtomicU64::new(1),
            entries: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            loads: crate::load_log::LoadLog::new(capacity),
        }
    }

    pub fn start(&self, pid: i32, user: &str, text: &str) -> u64 {
        let query = self.next.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.entries.lock().expect("query log");
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(QueryRecord {
            query,
            pid,
            user: user.to_string(),
            text: text.to_string(),
            start: now_micros(),
            end: None,
            rows: 0,
            status: "running",
            error: None,
        });
        query
    }

    pub fn finish(&self, query: u64, result: Result<i64, String>) {
        let mut entries = self.entries.lock().expect("query log");
        if let Some(e) = entries.iter_mut().rev().find(|e| e.query == query) {
            e.end = Some(now_micros());
            match result {
                Ok(rows) => {
                    e.rows = rows;
                    e.status = "success";
                }
                Err(msg) => {
                    e.status = "error";
                    e.error = Some(msg);
                }
            }
        }
    }

    pub fn snapshot(&self) -> Vec<QueryRecord> {
        self.entries
            .lock()
            .expect("query log")
            .iter()
            .cloned()
            .collect()
    }
}

/// Passes a query's result stream through and records its outcome in the log when the
/// stream ends, fails, or is dropped unread (client gone or statement cancelled).
pub struct LoggedStream {
    inner: datafusion::execution::SendableRecordBatchStream,
    log: std::sync::Arc<QueryLog>,
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
        log: std::sync::Arc<QueryLog>,
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
            self.log.finish(self.query, result);
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
