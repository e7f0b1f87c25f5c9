//! `stl_load_errors` (rows COPY rejected, in a bounded ring) and `stv_load_state` (COPYs
//! running now, with their progress).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use blueshift_load::Reject;

use super::now_micros;

#[derive(Debug, Clone)]
pub struct LoadErrorRecord {
    pub query: u64,
    pub pid: i32,
    pub user: String,
    /// Microseconds since the Unix epoch.
    pub time: i64,
    pub reject: Reject,
}

/// One running COPY. Nodes report cumulative figures; the view sums them.
#[derive(Debug)]
pub struct LoadProgress {
    pub query: u64,
    pub pid: i32,
    pub table: String,
    pub start: i64,
    pub files: u64,
    pub tasks: u64,
    pub bytes_total: u64,
    /// Per node: bytes read, rows parsed, tasks done.
    per_node: Mutex<BTreeMap<u32, (u64, u64, u64)>>,
    /// Rows loaded from STDIN (read on the leader).
    local_rows: AtomicU64,
}

impl LoadProgress {
    pub fn report(&self, node: u32, bytes: u64, rows: u64, tasks: u64) {
        self.per_node
            .lock()
            .expect("load progress")
            .insert(node, (bytes, rows, tasks));
    }

    pub fn add_local_rows(&self, rows: u64) {
        self.local_rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Bytes read, rows parsed, tasks done, summed over nodes.
    pub fn totals(&self) -> (u64, u64, u64) {
        let per_node = self.per_node.lock().expect("load progress");
        let (b, r, t) = per_node
            .values()
            .fold((0, 0, 0), |a, v| (a.0 + v.0, a.1 + v.1, a.2 + v.2));
        (b, r + self.local_rows.load(Ordering::Relaxed), t)
    }
}

#[derive(Debug)]
pub struct LoadLog {
    errors: Mutex<VecDeque<LoadErrorRecord>>,
    capacity: usize,
    running: Mutex<BTreeMap<u64, Arc<LoadProgress>>>,
}

/// Removes a load from `stv_load_state` when its COPY ends, however it ends.
pub struct Running<'a> {
    log: &'a LoadLog,
    pub progress: Arc<LoadProgress>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.log
            .running
            .lock()
            .expect("loads")
            .remove(&self.progress.query);
    }
}

impl LoadLog {
    pub fn new(capacity: usize) -> Self {
        LoadLog {
            errors: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn record(&self, query: u64, pid: i32, user: &str, rejects: &[Reject]) {
        let time = now_micros();
        let mut errors = self.errors.lock().expect("load errors");
        for r in rejects {
            if errors.len() >= self.capacity {
                errors.pop_front();
            }
            errors.push_back(LoadErrorRecord {
                query,
                pid,
                user: user.to_string(),
                time,
                reject: r.clone(),
            });
        }
    }

    pub fn errors(&self) -> Vec<LoadErrorRecord> {
        self.errors
            .lock()
            .expect("load errors")
            .iter()
            .cloned()
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &self,
        query: u64,
        pid: i32,
        table: &str,
        files: u64,
        tasks: u64,
        bytes_total: u64,
    ) -> Running<'_> {
        let progress = Arc::new(LoadProgress {
            query,
            pid,
            table: table.to_string(),
            start: now_micros(),
            files,
            tasks,
            bytes_total,
            per_node: Mutex::new(BTreeMap::new()),
            local_rows: AtomicU64::new(0),
        });
        self.running
            .lock()
            .expect("loads")
            .insert(query, Arc::clone(&progress));
        Running {
            log: self,
            progress,
        }
    }

    pub fn running(&self) -> Vec<Arc<LoadProgress>> {
        self.running
            .lock()
            .expect("loads")
            .values()
            .cloned()
            .collect()
    }
}
