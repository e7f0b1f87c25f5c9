//! `svv_snapshots` (the snapshots in every location, as last listed) and
//! `stl_snapshot_log` (snapshot operations: create, delete, copy, garbage collection).

use std::collections::VecDeque;
use std::sync::Mutex;

use blueshift_snapshots::Record;

/// A snapshot and the regions holding a complete copy of it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub record: Record,
    pub regions: Vec<String>,
}

/// One snapshot operation, finished or failed.
#[derive(Debug, Clone)]
pub struct SnapshotEvent {
    pub snapshot: String,
    pub action: &'static str,
    pub region: String,
    /// Microseconds since the Unix epoch.
    pub start: i64,
    pub end: i64,
    pub files: u64,
    pub bytes: u64,
    /// `ok` or the error.
    pub status: String,
}

impl SnapshotEvent {
    /// An operation that started at `start` and ends now.
    pub fn ended(
        snapshot: &str,
        action: &'static str,
        region: String,
        start: i64,
        (files, bytes): (u64, u64),
        status: String,
    ) -> Self {
        SnapshotEvent {
            snapshot: snapshot.to_string(),
            action,
            region,
            start,
            end: super::now_micros(),
            files,
            bytes,
            status,
        }
    }
}

#[derive(Debug)]
pub struct SnapshotLog {
    capacity: usize,
    listing: Mutex<Vec<Listed>>,
    events: Mutex<VecDeque<SnapshotEvent>>,
}

impl SnapshotLog {
    pub fn new(capacity: usize) -> Self {
        SnapshotLog {
            capacity: capacity.max(1),
            listing: Mutex::new(Vec::new()),
            events: Mutex::new(VecDeque::new()),
        }
    }

    pub fn set_listing(&self, listing: Vec<Listed>) {
        *self.listing.lock().expect("snapshot listing") = listing;
    }

    pub fn listing(&self) -> Vec<Listed> {
        self.listing.lock().expect("snapshot listing").clone()
    }

    pub fn record(&self, event: SnapshotEvent) {
        let mut events = self.events.lock().expect("snapshot log");
        if events.len() == self.capacity {
            events.pop_front();
        }
        events.push_back(event);
    }

    pub fn events(&self) -> Vec<SnapshotEvent> {
        self.events
            .lock()
            .expect("snapshot log")
            .iter()
            .cloned()
            .collect()
    }
}
