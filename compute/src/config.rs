//! The `[compute]` section of the configuration, and the options a node runs with.

use std::net::SocketAddr;

use blueshift_storage::{StorageConfig, StoreConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The compute role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ComputeConfig {
    /// Address of the node's Arrow Flight service.
    pub listen: String,
    /// This node's number, from 0.
    pub node: u32,
    /// Memory the node's queries may hold at once: `auto` (three quarters of the machine's
    /// memory) or a size such as `4GiB`. Sorts and aggregates spill to disk beyond it.
    pub memory_limit: String,
    /// Memory for decoded block columns that scans read again, out of `memory_limit`
    /// (`auto`: a quarter of it when it is 1 GiB or more; `0` turns it off).
    pub block_cache: String,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            listen: "127.0.0.1:7100".into(),
            node: 0,
            memory_limit: "auto".into(),
            block_cache: "auto".into(),
        }
    }
}

/// Everything a running node needs.
#[derive(Debug, Clone)]
pub struct ComputeNodeOpts {
    pub node: u32,
    pub slices: Vec<u32>,
    pub listen: SocketAddr,
    pub data_dir: std::path::PathBuf,
    /// How COPY sources resolve (the same settings the leader has).
    pub stores: StoreConfig,
    /// The cluster secret every call to this node must carry (`secret`).
    pub secret: String,
    /// Bytes of memory the node may hold at once (`memory_limit`): its block cache and
    /// the rest for its queries.
    pub memory_limit: usize,
    /// Bytes of decoded block columns the node keeps (`block_cache`), out of `memory_limit`.
    pub block_cache: usize,
}

impl ComputeNodeOpts {
    pub fn new(
        config: &ComputeConfig,
        storage: &StorageConfig,
        stores: StoreConfig,
        secret: String,
    ) -> Result<Self> {
        let node = config.node;
        let s = storage.slices_per_node;
        let memory_limit = crate::memory::parse_limit(&config.memory_limit)?;
        let listen: SocketAddr = config
            .listen
            .parse()
            .map_err(|e| Error::BadRequest(format!("bad --listen {}: {e}", config.listen)))?;
        Ok(ComputeNodeOpts {
            node,
            slices: (node * s..(node + 1) * s).collect(),
            listen,
            data_dir: storage.data_dir.clone(),
            stores,
            secret,
            memory_limit,
            block_cache: crate::memory::parse_cache(&config.block_cache, memory_limit)?,
        })
    }
}
