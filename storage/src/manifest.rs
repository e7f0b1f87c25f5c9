//! Slice manifests: per table, the blocks each slice holds at one committed version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::block::BlockMeta;

/// One table's data at one version: its blocks per slice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableData {
    pub slices: BTreeMap<u32, SliceManifest>,
    /// Next round-robin position for DISTSTYLE EVEN inserts.
    #[serde(default)]
    pub even_cursor: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SliceManifest {
    pub blocks: Vec<BlockMeta>,
}

impl TableData {
    pub fn live_rows(&self) -> u64 {
        self.slices
            .values()
            .flat_map(|s| &s.blocks)
            .map(BlockMeta::live_rows)
            .sum()
    }

    /// Rows a query sees: for a table with a full copy per node, one copy's rows.
    pub fn logical_rows(&self, full_copies: bool) -> u64 {
        if full_copies {
            self.slices
                .keys()
                .map(|s| self.slice_rows(*s))
                .max()
                .unwrap_or(0)
        } else {
            self.live_rows()
        }
    }

    pub fn bytes(&self) -> u64 {
        self.slices
            .values()
            .flat_map(|s| &s.blocks)
            .map(|b| b.bytes)
            .sum()
    }

    pub fn block_count(&self) -> usize {
        self.slices.values().map(|s| s.blocks.len()).sum()
    }

    pub fn slice_rows(&self, slice: u32) -> u64 {
        self.slices
            .get(&slice)
            .map_or(0, |s| s.blocks.iter().map(BlockMeta::live_rows).sum())
    }
}
