//! `BlockTable`: a table at one committed version as a DataFusion `TableProvider`. Its scan
//! prunes blocks with the zone maps (DataFusion's `PruningPredicate` over
//! [`BlockStatistics`]) and returns a [`SliceScanExec`] with one partition per slice.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;

use crate::block::BlockMeta;
use crate::manifest::TableData;
use crate::placement::Topology;
use crate::pruning::BlockStatistics;
use crate::scan::{ScanBlock, ScanLayout, ScanPartition, ScanSpec, SliceScanExec};
use crate::table::TableDef;

#[derive(Debug)]
pub struct BlockTable {
    def: TableDef,
    data: Arc<TableData>,
    topology: Topology,
    row_ids: bool,
    nullable: bool,
    schema: SchemaRef,
}

impl BlockTable {
    pub fn new(def: TableDef, data: Arc<TableData>, topology: Topology) -> Self {
        let schema = def.schema();
        BlockTable {
            def,
            data,
            topology,
            row_ids: false,
            nullable: false,
            schema,
        }
    }

    /// A variant whose scans also return each row's slice, block and position; DELETE and
    /// UPDATE plan against it.
    pub fn with_row_ids(mut self) -> Self {
        self.row_ids = true;
        self.schema = self.spec_shape().output_schema();
        self
    }

    /// The variant an INSERT, UPDATE or DELETE plans its target with: every column
    /// nullable, so DataFusion builds the new rows without checking NOT NULL itself (it
    /// would fail with a generic Arrow error); the write checks it, with SQLSTATE 23502.
    pub fn for_writes(mut self) -> Self {
        self.nullable = true;
        self.schema = self.spec_shape().output_schema();
        self
    }

    /// A scan of no blocks with this table's options, for its schema.
    fn spec_shape(&self) -> ScanSpec {
        ScanSpec {
            table: self.def.clone(),
            projection: None,
            row_ids: self.row_ids,
            nullable: self.nullable,
            partitions: vec![],
            blocks_total: 0,
            blocks_skipped: 0,
            predicate: None,
            layout: Default::default(),
            stats: None,
        }
    }

    /// The recorded statistics the planner may trust: none once more than
    /// [`crate::stats::STALE_PERCENT`] of the rows changed since ANALYZE (a stale range
    /// could make a big side look empty and be broadcast).
    fn current_stats(&self) -> Option<Arc<crate::stats::TableStats>> {
        let stats = self.data.stats.as_ref()?;
        let off = crate::stats::TableStats::stats_off(
            Some(stats),
            &self.data,
            self.def.dist_style.is_all(),
        );
        (off <= crate::stats::STALE_PERCENT).then(|| Arc::clone(stats))
    }

    fn layout(&self) -> ScanLayout {
        match self.def.dist_style {
            _ if self.def.dist_style.is_all() => ScanLayout::AllCopies {
                slices_per_node: self.topology.slices_per_node,
            },
            crate::table::DistStyle::Key => ScanLayout::Key,
            _ => ScanLayout::Unknown,
        }
    }

    /// Slices a scan reads: every slice, or one copy per table for DISTSTYLE ALL.
    fn scan_slices(&self) -> Vec<u32> {
        if self.def.dist_style.is_all() {
            vec![self.topology.all_copy_slice(0)]
        } else {
            (0..self.topology.total_slices()).collect()
        }
    }
}

#[async_trait]
impl TableProvider for BlockTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table_schema = self.def.schema();
        // A filter the zone maps cannot judge (e.g. on a row-id column) prunes nothing.
        let filter_expr = conjunction(filters.iter().cloned()).and_then(|expr| {
            let df_schema = DFSchema::try_from(Arc::clone(&table_schema)).ok()?;
            state.create_physical_expr(expr, &df_schema).ok()
        });
        let predicate = filter_expr.as_ref().and_then(|e| {
            PruningPredicateBuilder::new()
                .with_file_schema(Arc::clone(&table_schema))
                .build(Arc::clone(e))
        });
        let mut partitions = Vec::new();
        let (mut total, mut skipped) = (0, 0);
        for slice in self.scan_slices() {
            let (indexes, blocks): (Vec<u32>, Vec<&BlockMeta>) = self
                .data
                .slices
                .get(&slice)
                .map(|s| {
                    s.blocks
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| b.live_rows() > 0)
                        .map(|(i, b)| (i as u32, b))
                        .unzip()
                })
                .unwrap_or_default();
            total += blocks.len();
            let keep = match &predicate {
                Some(p) => p.prune(&BlockStatistics {
                    schema: Arc::clone(&table_schema),
                    blocks: &blocks,
                })?,
                None => vec![true; blocks.len()],
            };
            let chosen: Vec<ScanBlock> = blocks
                .iter()
                .zip(indexes)
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|((b, index), _)| ScanBlock {
                    index,
                    id: b.id.clone(),
                    rows: b.rows,
                    delete_vector: b.deletes.as_ref().map(|d| d.id.clone()),
                })
                .collect();
            skipped += blocks.len() - chosen.len();
            partitions.push(ScanPartition {
                slice,
                blocks: chosen,
            });
        }
        Ok(Arc::new(SliceScanExec::new(ScanSpec {
            table: self.def.clone(),
            projection: projection.cloned(),
            row_ids: self.row_ids,
            nullable: self.nullable,
            partitions,
            blocks_total: total,
            blocks_skipped: skipped,
            predicate: filter_expr,
            layout: self.layout(),
            stats: self.current_stats(),
        })))
    }
}
