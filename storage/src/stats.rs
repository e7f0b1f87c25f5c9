//! Table statistics, as `ANALYZE` records them in a table's data: the row count, per column
//! a distinct-count estimate, null count, value range and average width, and the blocks it
//! read, so how stale the figures are (`stats_off`) is what changed since, block by block.
//!
//! The planner reads them through [`TableStats::column_statistics`]: DataFusion estimates
//! filter selectivity from the ranges and join sizes from the distinct counts, and those
//! estimates choose between broadcasting a join side and redistributing it.

use std::collections::BTreeMap;

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::stats::{ColumnStatistics, Precision};
use serde::{Deserialize, Serialize};

use crate::manifest::TableData;
use crate::zone_map::parse_scalar;

/// Figures more than this stale (`stats_off`) are not used for planning, as Redshift's
/// `analyze_threshold_percent` (10) marks a table due for ANALYZE.
pub const STALE_PERCENT: f64 = 10.0;

/// What `ANALYZE` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableStats {
    /// When, in microseconds since the epoch.
    pub analyzed_at: i64,
    /// Rows a query saw then (one copy's for DISTSTYLE ALL).
    pub rows: u64,
    /// Per slice, the blocks read and the rows live in each then (a block id a slice
    /// holds twice, the same rows loaded twice, has the sum).
    pub blocks: BTreeMap<u32, BTreeMap<String, u64>>,
    /// By column name.
    pub columns: BTreeMap<String, ColumnStats>,
}

/// One column's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// Distinct non-NULL values (a HyperLogLog estimate).
    pub distinct: u64,
    pub nulls: u64,
    /// Least and greatest value, as zone maps keep them (text).
    pub min: Option<String>,
    pub max: Option<String>,
    /// Average width of a non-NULL value in bytes.
    pub avg_width: u32,
}

impl TableStats {
    /// The blocks of `data` and their live rows, as a new record would keep them.
    pub fn blocks_of(data: &TableData) -> BTreeMap<u32, BTreeMap<String, u64>> {
        data.slices
            .keys()
            .map(|slice| {
                let blocks = live_by_id(data, *slice).into_iter();
                (
                    *slice,
                    blocks.map(|(id, rows)| (id.to_string(), rows)).collect(),
                )
            })
            .collect()
    }

    /// Rows inserted or deleted since the figures were taken, compared block by block
    /// with `data` (one copy's changes for a table with a full copy per node).
    pub fn changed_rows(&self, data: &TableData, full_copies: bool) -> u64 {
        let empty = BTreeMap::new();
        let mut per_slice = Vec::new();
        let slices: std::collections::BTreeSet<u32> = data
            .slices
            .keys()
            .chain(self.blocks.keys())
            .copied()
            .collect();
        for slice in slices {
            let then = self.blocks.get(&slice).unwrap_or(&empty);
            let now = live_by_id(data, slice);
            let mut changed = 0;
            for (id, rows) in &now {
                changed += then.get(*id).map_or(*rows, |was| was.abs_diff(*rows));
            }
            for (id, rows) in then {
                if !now.contains_key(id.as_str()) {
                    changed += rows;
                }
            }
            per_slice.push(changed);
        }
        if full_copies {
            per_slice.into_iter().max().unwrap_or(0)
        } else {
            per_slice.into_iter().sum()
        }
    }

    /// How stale the figures are for `data`, 0 (current) to 100, as Redshift's
    /// `svv_table_info.stats_off`.
    pub fn stats_off(stats: Option<&TableStats>, data: &TableData, full_copies: bool) -> f64 {
        let rows = data.logical_rows(full_copies);
        let Some(stats) = stats else {
            return if rows == 0 { 0.0 } else { 100.0 };
        };
        let changed = stats.changed_rows(data, full_copies);
        if changed == 0 {
            return 0.0;
        }
        let base = stats.rows.max(1) as f64;
        (100.0 * changed as f64 / base).min(100.0)
    }

    /// DataFusion's statistics of a column of type `dt` for a scan of `rows` rows (a
    /// share of the table's): the range as recorded, distinct and null counts scaled to
    /// the share. Unknown for a column ANALYZE did not see.
    pub fn column_statistics(&self, name: &str, dt: &DataType, rows: u64) -> ColumnStatistics {
        let Some(c) = self.columns.get(name) else {
            return ColumnStatistics::new_unknown();
        };
        let share = if self.rows == 0 {
            1.0
        } else {
            (rows as f64 / self.rows as f64).min(1.0)
        };
        let value = |text: &Option<String>| match text {
            None => Precision::Absent,
            Some(_) => match parse_scalar(text, dt) {
                v if v.is_null() => Precision::Absent,
                v => Precision::Inexact(v),
            },
        };
        let nulls = (c.nulls as f64 * share).round() as usize;
        let distinct = (c.distinct as usize).min(rows.saturating_sub(nulls as u64) as usize);
        ColumnStatistics {
            null_count: Precision::Inexact(nulls),
            max_value: value(&c.max),
            min_value: value(&c.min),
            sum_value: Precision::Absent,
            distinct_count: Precision::Inexact(distinct),
            byte_size: Precision::Inexact(
                c.avg_width as usize * rows.saturating_sub(nulls as u64) as usize,
            ),
        }
    }
}

/// A slice's live rows by block id (content addressed: the same rows loaded twice are
/// two entries under one id).
fn live_by_id(data: &TableData, slice: u32) -> BTreeMap<&str, u64> {
    let mut rows = BTreeMap::new();
    for b in data.slices.get(&slice).map_or(&[][..], |m| &m.blocks) {
        *rows.entry(b.id.as_str()).or_insert(0) += b.live_rows();
    }
    rows
}

/// Each column's least and greatest value and null count over the blocks of `data`, from
/// their zone maps (one copy for a table with a full copy per node). Deleted rows still
/// count: a range may be a little wide, never narrow.
pub fn zone_map_ranges(
    data: &TableData,
    types: &[DataType],
    full_copies: bool,
) -> Vec<(Option<String>, Option<String>, u64)> {
    let slices: Vec<_> = if full_copies {
        data.slices.values().take(1).collect()
    } else {
        data.slices.values().collect()
    };
    types
        .iter()
        .enumerate()
        .map(|(i, dt)| {
            let mut least: Option<(ScalarValue, String)> = None;
            let mut greatest: Option<(ScalarValue, String)> = None;
            let mut nulls = 0;
            for block in slices.iter().flat_map(|m| &m.blocks) {
                let Some(zm) = block.zone_maps.get(i) else {
                    continue;
                };
                nulls += zm.null_count;
                if let Some(text) = &zm.min {
                    let v = parse_scalar(&zm.min, dt);
                    if !v.is_null() && least.as_ref().is_none_or(|(l, _)| v < *l) {
                        least = Some((v, text.clone()));
                    }
                }
                if let Some(text) = &zm.max {
                    let v = parse_scalar(&zm.max, dt);
                    if !v.is_null() && greatest.as_ref().is_none_or(|(g, _)| v > *g) {
                        greatest = Some((v, text.clone()));
                    }
                }
            }
            (least.map(|l| l.1), greatest.map(|g| g.1), nulls)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockMeta, DeleteVectorMeta};
    use crate::manifest::SliceManifest;
    use crate::zone_map::ZoneMap;

    fn block(id: &str, rows: u64, deleted: u64, min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            id: id.into(),
            rows,
            bytes: 100,
            zone_maps: vec![ZoneMap {
                min: Some(min.to_string()),
                max: Some(max.to_string()),
                null_count: 1,
            }],
            deletes: (deleted > 0).then(|| DeleteVectorMeta {
                id: format!("{id}-dv"),
                deleted,
            }),
            checksum: None,
        }
    }

    fn data(slices: Vec<(u32, Vec<BlockMeta>)>) -> TableData {
        TableData {
            slices: slices
                .into_iter()
                .map(|(s, blocks)| (s, SliceManifest { blocks }))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn staleness_is_what_changed_block_by_block() {
        let before = data(vec![
            (0, vec![block("a", 100, 0, 1, 9)]),
            (1, vec![block("b", 100, 0, 1, 9)]),
        ]);
        let stats = TableStats {
            rows: 200,
            blocks: TableStats::blocks_of(&before),
            ..Default::default()
        };
        assert_eq!(TableStats::stats_off(Some(&stats), &before, false), 0.0);
        assert_eq!(TableStats::stats_off(None, &before, false), 100.0);
        assert_eq!(
            TableStats::stats_off(None, &TableData::default(), false),
            0.0
        );
        // 50 new rows, 10 deleted from "a": 60 of 200.
        let after = data(vec![
            (0, vec![block("a", 100, 10, 1, 9), block("c", 50, 0, 1, 9)]),
            (1, vec![block("b", 100, 0, 1, 9)]),
        ]);
        assert_eq!(stats.changed_rows(&after, false), 60);
        assert_eq!(TableStats::stats_off(Some(&stats), &after, false), 30.0);
        // A rewritten block counts its old rows and its new ones.
        let rewritten = data(vec![
            (0, vec![block("a", 100, 0, 1, 9)]),
            (1, vec![block("d", 100, 0, 1, 9)]),
        ]);
        assert_eq!(stats.changed_rows(&rewritten, false), 200);
        assert_eq!(
            TableStats::stats_off(Some(&stats), &rewritten, false),
            100.0
        );
        // The same rows loaded again are the same block id twice.
        let twice = data(vec![
            (0, vec![block("a", 100, 0, 1, 9), block("a", 100, 0, 1, 9)]),
            (1, vec![block("b", 100, 0, 1, 9)]),
        ]);
        assert_eq!(stats.changed_rows(&twice, false), 100);
    }

    #[test]
    fn ranges_compare_as_values_not_text() {
        let d = data(vec![
            (0, vec![block("a", 10, 0, 9, 10)]),
            (1, vec![block("b", 10, 0, -5, 100)]),
        ]);
        let ranges = zone_map_ranges(&d, &[DataType::Int64], false);
        assert_eq!(
            ranges,
            vec![(Some("-5".to_string()), Some("100".to_string()), 2)]
        );
        let copies = zone_map_ranges(&d, &[DataType::Int64], true);
        assert_eq!(copies[0].2, 1);
    }

    #[test]
    fn a_share_of_the_table_scales_counts_and_keeps_the_range() {
        let mut stats = TableStats {
            rows: 1000,
            ..Default::default()
        };
        stats.columns.insert(
            "x".into(),
            ColumnStats {
                distinct: 800,
                nulls: 100,
                min: Some("1".into()),
                max: Some("900".into()),
                avg_width: 8,
            },
        );
        let all = stats.column_statistics("x", &DataType::Int64, 1000);
        assert_eq!(all.distinct_count, Precision::Inexact(800));
        assert_eq!(
            all.min_value,
            Precision::Inexact(ScalarValue::Int64(Some(1)))
        );
        let quarter = stats.column_statistics("x", &DataType::Int64, 250);
        assert_eq!(quarter.null_count, Precision::Inexact(25));
        assert_eq!(quarter.distinct_count, Precision::Inexact(225));
        assert_eq!(
            quarter.max_value,
            Precision::Inexact(ScalarValue::Int64(Some(900)))
        );
        let unknown = stats.column_statistics("y", &DataType::Int64, 10);
        assert_eq!(unknown.distinct_count, Precision::Absent);
    }
}
