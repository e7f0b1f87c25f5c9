//! The `[snapshots]` section.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotConfig {
    /// Where snapshots go: `s3://bucket/prefix` or an absolute path; empty means the
    /// leader's `<data_dir>/snapshots`.
    pub location: String,
    /// The `[regions.<name>]` the location is reached through (empty: the default region).
    pub region: String,
    /// Automatic snapshots every this many hours ...
    pub interval_hours: f64,
    /// ... or after this many MB of new blocks on any node, whichever comes first.
    pub bytes_changed_per_node_mb: u64,
    /// Never two automatic snapshots closer than this.
    pub min_gap_minutes: f64,
    /// Automatic snapshots are deleted this many days after they were taken (1..35).
    pub automated_retention_days: u32,
    /// Off switch for automatic snapshots.
    pub automated: bool,
    /// How often the leader checks whether an automatic snapshot is due, and deletes
    /// expired ones.
    pub check_seconds: f64,
    /// Cross-region copy of every new snapshot to this region (empty: no copy).
    pub copy_to_region: String,
    pub copy_location: String,
    pub copy_retention_days: u32,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            location: String::new(),
            region: String::new(),
            interval_hours: 8.0,
            bytes_changed_per_node_mb: 5120,
            min_gap_minutes: 15.0,
            automated_retention_days: 1,
            automated: true,
            check_seconds: 60.0,
            copy_to_region: String::new(),
            copy_location: String::new(),
            copy_retention_days: 7,
        }
    }
}

impl SnapshotConfig {
    /// The primary location, with the leader's default folder filled in.
    pub fn location_or(&self, leader_data_dir: &std::path::Path) -> String {
        if self.location.is_empty() {
            let dir = std::path::absolute(leader_data_dir)
                .unwrap_or_else(|_| leader_data_dir.to_path_buf());
            dir.join("snapshots").display().to_string()
        } else {
            self.location.clone()
        }
    }

    /// The location and region name that hold snapshots of `region` (the primary region,
    /// or the copy region).
    pub fn location_of(
        &self,
        region: Option<&str>,
        leader_data_dir: &std::path::Path,
    ) -> Option<(String, String)> {
        match region {
            None => Some((self.location_or(leader_data_dir), self.region.clone())),
            Some(r) if r == self.region => {
                Some((self.location_or(leader_data_dir), self.region.clone()))
            }
            Some(r) if r == self.copy_to_region && !self.copy_location.is_empty() => {
                Some((self.copy_location.clone(), self.copy_to_region.clone()))
            }
            Some(_) => None,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if !(1..=35).contains(&self.automated_retention_days) {
            return Err(format!(
                "snapshots.automated_retention_days must be 1..35, not {}",
                self.automated_retention_days
            ));
        }
        if !(self.interval_hours > 0.0 && self.min_gap_minutes >= 0.0 && self.check_seconds > 0.0) {
            return Err(
                "snapshots.interval_hours and check_seconds must be positive, min_gap_minutes not negative"
                    .into(),
            );
        }
        if !(1..=3653).contains(&self.copy_retention_days) {
            return Err(format!(
                "snapshots.copy_retention_days must be 1..3653, not {}",
                self.copy_retention_days
            ));
        }
        if !self.copy_to_region.is_empty() && self.copy_location.is_empty() {
            return Err("snapshots.copy_to_region needs snapshots.copy_location".into());
        }
        Ok(())
    }
}
