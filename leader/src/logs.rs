//! The leader's in-memory logs behind the system views: `stl_query` (statements run),
//! `stl_load_errors` / `stv_load_state` (COPY rejects and running loads) and
//! `svv_snapshots` / `stl_snapshot_log`. One owner holds them; none knows the others.

mod loads;
mod queries;
mod snapshots;

use std::time::{SystemTime, UNIX_EPOCH};

pub use loads::{LoadLog, LoadProgress};
pub use queries::QueryLog;
pub use snapshots::{Listed, SnapshotEvent, SnapshotLog};

#[derive(Debug)]
pub struct SystemLogs {
    pub queries: QueryLog,
    pub loads: LoadLog,
    pub snapshots: SnapshotLog,
    /// The nodes, asked for their stream figures when `svl_query_summary` is read.
    pub cluster: std::sync::OnceLock<std::sync::Arc<blueshift_compute::Peers>>,
    /// The figures last fetched from the nodes.
    pub figures: std::sync::Mutex<Vec<blueshift_compute::telemetry::StreamFigures>>,
    /// The streams the nodes were serving when `stv_exec_state` was last read.
    pub running: std::sync::Mutex<Vec<blueshift_compute::telemetry::StreamFigures>>,
}

impl SystemLogs {
    /// Logs that each keep the last `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        SystemLogs {
            queries: QueryLog::new(capacity),
            loads: LoadLog::new(capacity),
            snapshots: SnapshotLog::new(capacity),
            cluster: std::sync::OnceLock::new(),
            figures: std::sync::Mutex::new(Vec::new()),
            running: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Fetches every node's recent stream figures for `svl_query_summary`; a node that
    /// does not answer leaves the previous figures in place.
    pub async fn refresh_figures(&self) {
        let Some(cluster) = self.cluster.get() else {
            return;
        };
        match cluster.query_figures("").await {
            Ok(figures) => *self.figures.lock().expect("figures") = figures,
            Err(e) => tracing::warn!("svl_query_summary: {}", e.message()),
        }
    }

    /// Asks every node which streams it is serving now, for `stv_exec_state`.
    pub async fn refresh_running(&self) -> Result<(), blueshift_compute::Error> {
        let Some(cluster) = self.cluster.get() else {
            return Ok(());
        };
        *self.running.lock().expect("running") = cluster.running().await?;
        Ok(())
    }
}

/// Microseconds since the Unix epoch, as the logs record times.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
