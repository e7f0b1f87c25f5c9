//! The `[storage]` section: where a process keeps its data and how the cluster is sliced.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::objects::StoreConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// The leader's catalog folder, or a compute node's slice folder.
    pub data_dir: PathBuf,
    pub slices_per_node: u32,
    /// The `[regions.<name>]` used when COPY/UNLOAD names no REGION; empty means the AWS
    /// environment variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...).
    pub default_region: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./blueshift-data"),
            slices_per_node: 2,
            default_region: String::new(),
        }
    }
}

impl StorageConfig {
    /// How `s3://` URLs resolve, from the `[regions.*]` sections; the same on the leader
    /// and every compute node.
    pub fn store_config(
        &self,
        regions: &std::collections::BTreeMap<String, crate::RegionConfig>,
    ) -> StoreConfig {
        StoreConfig {
            regions: regions.clone(),
            default_region: Some(self.default_region.clone()).filter(|r| !r.is_empty()),
        }
    }
}
