//! `stl_query`: the statements the leader has run, newest last, in a bounded ring.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::now_micros;

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
}

impl QueryLog {
    pub fn new(capacity: usize) -> Self {
        QueryLog {
            next: AtomicU64::new(1),
            entries: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
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
