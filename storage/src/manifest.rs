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
    /// What the last `ANALYZE` found (writes carry it along; `stats_off` tells how stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<std::sync::Arc<crate::stats::TableStats>>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::DeleteVectorMeta;
    use crate::zone_map::ZoneMap;

    fn block(id: &str, rows: u64, bytes: u64, deleted: Option<u64>) -> BlockMeta {
        BlockMeta {
            id: id.into(),
            rows,
            bytes,
            zone_maps: vec![ZoneMap {
                min: Some("1".into()),
                max: Some("9".into()),
                null_count: 0,
            }],
            deletes: deleted.map(|deleted| DeleteVectorMeta {
                id: format!("dv-{id}"),
                deleted,
            }),
            checksum: None,
        }
    }

    fn table(slices: Vec<(u32, Vec<BlockMeta>)>) -> TableData {
        TableData {
            slices: slices
                .into_iter()
                .map(|(s, blocks)| (s, SliceManifest { blocks }))
                .collect(),
            even_cursor: 0,
            stats: None,
        }
    }

    /// Slice 0: 100 rows (10 deleted) + 50 rows; slice 1: 30 rows; slice 2: no blocks.
    fn sample() -> TableData {
        table(vec![
            (
                0,
                vec![block("a", 100, 1000, Some(10)), block("b", 50, 400, None)],
            ),
            (1, vec![block("c", 30, 300, None)]),
            (2, vec![]),
        ])
    }

    #[test]
    fn slice_rows_subtract_deleted_rows() {
        let t = sample();
        assert_eq!(t.slice_rows(0), 140);
        assert_eq!(t.slice_rows(1), 30);
        assert_eq!(t.slice_rows(2), 0);
        assert_eq!(t.slice_rows(99), 0, "a slice the table has no manifest for");
    }

    #[test]
    fn live_rows_sum_every_slice_without_deleted_rows() {
        assert_eq!(sample().live_rows(), 170);
        assert_eq!(TableData::default().live_rows(), 0);
    }

    #[test]
    fn logical_rows_of_an_all_table_count_one_copy() {
        // DISTSTYLE ALL: each node's copy slice holds the same rows.
        let copy = || vec![block("a", 100, 1000, Some(10)), block("b", 5, 40, None)];
        let all = table(vec![(0, copy()), (2, copy()), (4, copy())]);
        assert_eq!(all.logical_rows(true), 95);
        assert_eq!(all.logical_rows(false), 285);
        assert_eq!(sample().logical_rows(false), 170);
        assert_eq!(TableData::default().logical_rows(true), 0);
    }

    #[test]
    fn bytes_and_block_count_cover_every_slice() {
        let t = sample();
        assert_eq!(t.bytes(), 1700);
        assert_eq!(t.block_count(), 3);
        assert_eq!(TableData::default().bytes(), 0);
        assert_eq!(TableData::default().block_count(), 0);
    }

    #[test]
    fn serde_round_trip_keeps_everything() {
        let mut t = sample();
        t.even_cursor = 42;
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<TableData>(&json).unwrap(), t);
    }

    #[test]
    fn manifests_written_without_an_even_cursor_or_deletes_still_read() {
        let json = r#"{"slices":{"3":{"blocks":[
            {"id":"x","rows":7,"bytes":70,"zone_maps":[]}]}}}"#;
        let t: TableData = serde_json::from_str(json).unwrap();
        assert_eq!(t.even_cursor, 0);
        assert_eq!(t.slices[&3].blocks[0].deletes, None);
        assert_eq!(t.slice_rows(3), 7);
        // And a block without deletes is written without the field.
        let out = serde_json::to_string(&t).unwrap();
        assert!(!out.contains("deletes"), "{out}");
    }
}
