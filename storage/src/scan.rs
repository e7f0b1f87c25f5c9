//! `SliceScanExec`: the leaf of every distributed plan. Partition `i` reads the blocks of
//! one slice from the compute node's local [`SliceStore`], applies delete vectors, and
//! emits the projected columns.
//!
//! ```text
//!   partition 0        partition 1   ...  partition N·S-1
//!   slice 0 blocks     slice 1 blocks     slice N·S-1 blocks
//!        │                  │                    │
//!   (runs on the node that owns the slice; the leader never executes it)
//! ```
//!
//! The blocks to read are chosen on the leader at planning time (zone-map pruning), so the
//! node is told exactly which files to open. The whole node is plain data ([`ScanSpec`]) so
//! it travels inside a serialized stage.

use std::fmt;
use std::fs::File;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, RecordBatchOptions,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream,
};
use std::collections::HashSet;

use arrow::array::UInt64Array;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::RowGroupMetaData;
use parquet::schema::types::SchemaDescriptor;
use serde::{Deserialize, Serialize};

use crate::block_cache::BlockCache;
use crate::slice_store::SliceStore;
use crate::table::TableDef;

/// Names of the row-id columns a DML scan appends.
pub const ROW_SLICE: &str = "__bs_slice";
pub const ROW_BLOCK: &str = "__bs_block";
pub const ROW_POS: &str = "__bs_row";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanBlock {
    /// Position of the block in its slice manifest: two blocks can hold identical bytes
    /// (and so share an id), but never a position.
    pub index: u32,
    pub id: String,
    pub rows: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_vector: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanPartition {
    pub slice: u32,
    pub blocks: Vec<ScanBlock>,
}

/// Everything a compute node needs to run the scan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSpec {
    pub table: TableDef,
    pub projection: Option<Vec<usize>>,
    /// Append `__bs_slice`, `__bs_block`, `__bs_row` (for DELETE and UPDATE).
    pub row_ids: bool,
    /// Declare every column nullable (the target of an INSERT, UPDATE or DELETE being
    /// planned: see [`crate::BlockTable::for_writes`]).
    #[serde(default)]
    pub nullable: bool,
    pub partitions: Vec<ScanPartition>,
    pub blocks_total: usize,
    pub blocks_skipped: usize,
    /// The pushed-down filters over the table's columns. The node uses them to skip row
    /// groups inside a block by their Parquet statistics; rows are still filtered above the
    /// scan. Travels beside the JSON, encoded by datafusion-proto.
    #[serde(skip)]
    pub predicate: Option<Arc<dyn PhysicalExpr>>,
    /// How the table's rows lie across the partitions (see [`ScanLayout`]).
    #[serde(default)]
    pub layout: ScanLayout,
    /// What ANALYZE recorded, for the planner's estimates (the leader's only).
    #[serde(skip)]
    pub stats: Option<Arc<crate::stats::TableStats>>,
}

/// How a scan's partitions relate to the cluster's slices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanLayout {
    /// Rows lie wherever they were put (EVEN, or a scan that does not cover every slice).
    #[default]
    Unknown,
    /// DISTSTYLE KEY over every slice: partition `i` holds exactly the rows whose
    /// distribution key hashes (`placement::hash_column`) to slice `i`.
    Key,
    /// DISTSTYLE ALL: one partition, the whole table, read from the copy on whichever node
    /// runs it (`slices_per_node` locates that node's copy slice).
    AllCopies { slices_per_node: u32 },
}

impl ScanSpec {
    /// The table's columns, then (with `row_ids`) the row-id columns; projections index this.
    fn full_schema(&self) -> SchemaRef {
        let table = if self.nullable {
            self.table.query_schema()
        } else {
            self.table.schema()
        };
        let mut fields: Vec<Field> = table.fields().iter().map(|f| f.as_ref().clone()).collect();
        if self.row_ids {
            fields.push(Field::new(ROW_SLICE, DataType::Int32, false));
            fields.push(Field::new(ROW_BLOCK, DataType::Int32, false));
            fields.push(Field::new(ROW_POS, DataType::Int64, false));
        }
        Arc::new(Schema::new(fields))
    }

    fn projected_indices(&self) -> Vec<usize> {
        match &self.projection {
            Some(p) => p.clone(),
            None => (0..self.full_schema().fields().len()).collect(),
        }
    }

    pub fn output_schema(&self) -> SchemaRef {
        let full = self.full_schema();
        Arc::new(Schema::new(
            self.projected_indices()
                .iter()
                .map(|&i| full.field(i).clone())
                .collect::<Vec<_>>(),
        ))
    }

    pub fn blocks_scanned(&self) -> usize {
        self.partitions.iter().map(|p| p.blocks.len()).sum()
    }
}

#[derive(Debug)]
pub struct SliceScanExec {
    spec: Arc<ScanSpec>,
    schema: SchemaRef,
    cache: Arc<PlanProperties>,
    /// Rows out and reading time per partition, for EXPLAIN ANALYZE.
    metrics: ExecutionPlanMetricsSet,
}

impl SliceScanExec {
    pub fn new(spec: ScanSpec) -> Self {
        let schema = spec.output_schema();
        let partitions = spec.partitions.len().max(1);
        let partitioning = match (spec.layout, spec.table.dist_key) {
            // Declared so DataFusion needs no exchange for a join or an aggregate on the
            // key; a redistribute of the other side uses the same placement hash.
            (ScanLayout::Key, Some(key)) => spec
                .projected_indices()
                .iter()
                .position(|&i| i == key)
                .map(|at| {
                    let name = schema.field(at).name();
                    Partitioning::Hash(
                        vec![
                            Arc::new(datafusion::physical_expr::expressions::Column::new(
                                name, at,
                            )) as Arc<dyn PhysicalExpr>,
                        ],
                        partitions,
                    )
                })
                .unwrap_or(Partitioning::UnknownPartitioning(partitions)),
            _ => Partitioning::UnknownPartitioning(partitions),
        };
        let cache = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            partitioning,
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        SliceScanExec {
            spec: Arc::new(spec),
            schema,
            cache: Arc::new(cache),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    pub fn spec(&self) -> &ScanSpec {
        &self.spec
    }

    /// The slice each output partition reads.
    pub fn slices(&self) -> Vec<u32> {
        self.spec.partitions.iter().map(|p| p.slice).collect()
    }

    /// A DISTSTYLE ALL scan: it can run on any node, reading that node's copy.
    pub fn reads_local_copy(&self) -> bool {
        matches!(self.spec.layout, ScanLayout::AllCopies { .. })
    }

    /// Rows of the chosen blocks (before delete vectors): an estimate for the planner.
    fn rows(&self, partition: Option<usize>) -> usize {
        self.spec
            .partitions
            .iter()
            .enumerate()
            .filter(|(i, _)| partition.is_none_or(|p| p == *i))
            .flat_map(|(_, p)| p.blocks.iter())
            .map(|b| b.rows as usize)
            .sum()
    }
}

impl DisplayAs for SliceScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "SliceScanExec: table={}, slices={:?}, blocks_scanned={}, blocks_skipped={}",
            self.spec.table.name,
            self.slices(),
            self.spec.blocks_scanned(),
            self.spec.blocks_skipped
        )?;
        if self.spec.row_ids {
            write!(f, ", row_ids")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for SliceScanExec {
    fn name(&self) -> &'static str {
        "SliceScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<datafusion::common::Statistics>],
        args: &datafusion::physical_plan::StatisticsArgs,
    ) -> Result<Arc<datafusion::common::Statistics>> {
        use datafusion::common::stats::Precision;
        let mut stats = datafusion::common::Statistics::new_unknown(&self.schema);
        let rows = self.rows(args.partition());
        stats.num_rows = Precision::Inexact(rows);
        if let Some(recorded) = &self.spec.stats {
            for (column, field) in stats.column_statistics.iter_mut().zip(self.schema.fields()) {
                *column = recorded.column_statistics(field.name(), field.data_type(), rows as u64);
            }
        }
        Ok(Arc::new(stats))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let store = context
            .session_config()
            .get_extension::<SliceStore>()
            .ok_or_else(|| {
                DataFusionError::Internal("SliceScanExec runs only on a compute node".into())
            })?;
        let schema = Arc::clone(&self.schema);
        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&schema), 2);
        let Some(mut part) = self.spec.partitions.get(partition).cloned() else {
            return Ok(builder.build());
        };
        if let ScanLayout::AllCopies { slices_per_node } = self.spec.layout {
            // Every node's copy holds the same blocks under the same ids.
            let node = context
                .session_config()
                .get_extension::<crate::placement::LocalNode>()
                .map_or(0, |n| n.0);
            part.slice = node * slices_per_node;
        }
        let cache = context.session_config().get_extension::<BlockCache>();
        let spec = Arc::clone(&self.spec);
        let batch_size = context.session_config().batch_size();
        let tx = builder.tx();
        let rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let elapsed = MetricBuilder::new(&self.metrics).elapsed_compute(partition);
        builder.spawn_blocking(move || {
            let table_schema = spec.table.schema();
            let pruning = spec.predicate.as_ref().and_then(|p| {
                PruningPredicateBuilder::new()
                    .with_file_schema(Arc::clone(&table_schema))
                    .build(Arc::clone(p))
            });
            // Reading time: everything but the waits for the consumer to take a batch.
            let mut started = Instant::now();
            let mut emit = |b: RecordBatch| {
                elapsed.add_duration(started.elapsed());
                rows.add(b.num_rows());
                let taken = tx.blocking_send(Ok(b)).is_ok();
                started = Instant::now();
                taken
            };
            for block in &part.blocks {
                let more = read_block(
                    &store,
                    cache.as_deref(),
                    &spec,
                    &schema,
                    &table_schema,
                    pruning.as_deref(),
                    part.slice,
                    block,
                    batch_size,
                    &mut emit,
                )?;
                if !more {
                    break;
                }
            }
            elapsed.add_duration(started.elapsed());
            Ok(())
        });
        Ok(builder.build())
    }
}

/// A block's file, opened only when something must be read from it (a scan whose
/// columns are all cached never opens it).
struct BlockFile<'a> {
    store: &'a SliceStore,
    slice: u32,
    block: &'a ScanBlock,
    file: Option<File>,
}

impl BlockFile<'_> {
    fn bad(&self, reason: String) -> crate::error::Error {
        crate::error::Error::BadBlock {
            slice: self.slice,
            block: self.block.id.clone(),
            reason,
        }
    }

    fn get(&mut self) -> Result<&File> {
        if self.file.is_none() {
            let path = self.store.local_block(self.slice, &self.block.id)?;
            let file =
                File::open(&path).map_err(|e| self.bad(format!("{}: {e}", path.display())))?;
            self.file = Some(file);
        }
        Ok(self.file.as_ref().expect("opened above"))
    }

    /// A reader of `mask`'s columns of row group `group`, in batches of `batch_size`.
    fn reader(
        &mut self,
        metadata: &ArrowReaderMetadata,
        mask: ProjectionMask,
        group: usize,
        batch_size: usize,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
        let handle = self
            .get()?
            .try_clone()
            .map_err(|e| self.bad(e.to_string()))?;
        Ok(
            ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata.clone())
                .with_projection(mask)
                .with_row_groups(vec![group])
                .with_batch_size(batch_size)
                .build()
                .map_err(|e| self.bad(e.to_string()))?,
        )
    }
}

/// Reads one block, calling `emit` per batch; false once `emit` returned false (the
/// consumer is gone), and nothing more should be read.
#[allow(clippy::too_many_arguments)]
fn read_block(
    store: &SliceStore,
    cache: Option<&BlockCache>,
    spec: &ScanSpec,
    schema: &SchemaRef,
    table_schema: &Schema,
    pruning: Option<&PruningPredicate>,
    slice: u32,
    block: &ScanBlock,
    batch_size: usize,
    emit: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<bool> {
    let cache = cache.filter(|c| c.capacity() > 0);
    let mut file = BlockFile {
        store,
        slice,
        block,
        file: None,
    };
    let metadata = match cache.and_then(|c| c.footer(&block.id)) {
        Some(m) => m,
        None => {
            let m = ArrowReaderMetadata::load(file.get()?, ArrowReaderOptions::new())
                .map_err(|e| file.bad(e.to_string()))?;
            if let Some(c) = cache {
                c.put_footer(&block.id, &m);
            }
            m
        }
    };
    let ncols = spec.table.columns.len();
    let wanted = spec.projected_indices();
    let mut stored: Vec<usize> = wanted.iter().copied().filter(|&i| i < ncols).collect();
    stored.sort_unstable();
    stored.dedup();
    let groups = metadata.metadata().row_groups();
    let keep = match pruning {
        Some(p) => p.prune(&RowGroupStatistics {
            schema: table_schema,
            parquet: metadata.parquet_schema(),
            groups,
        })?,
        None => vec![true; groups.len()],
    };
    let deletes = match &block.delete_vector {
        Some(id) => Some(store.read_delete_vector(slice, id)?),
        None => None,
    };
    let rows = Rows {
        wanted: &wanted,
        stored: &stored,
        ncols,
        slice,
        block,
        schema,
        deletes: deletes.as_ref(),
    };
    // Row group by row group, so each batch's rows have known positions in the block.
    let mut first_row: u64 = 0;
    for (group, meta) in groups.iter().enumerate() {
        let group_rows = meta.num_rows() as u64;
        let mut pos = first_row;
        first_row += group_rows;
        if !keep[group] {
            continue;
        }
        let cached = match cache {
            Some(c) => group_columns(c, &mut file, &metadata, group, &stored, batch_size)?,
            None => None,
        };
        let Some(chunks) = cached else {
            // Not kept (no cache, or a column too big for it): batch by batch from the file.
            let mask = ProjectionMask::roots(metadata.parquet_schema(), stored.iter().copied());
            for batch in file.reader(&metadata, mask, group, batch_size)? {
                let batch = batch.map_err(|e| file.bad(e.to_string()))?;
                let n = batch.num_rows() as u64;
                if !rows.emit(batch.columns(), n, pos, emit)? {
                    return Ok(false);
                }
                pos += n;
            }
            continue;
        };
        // Every column of a row group is decoded in the same batches (the reader cuts
        // at every `batch_size` rows); with no stored column (count(*)) only counts travel.
        let sizes: Vec<usize> = match chunks.first() {
            Some(c) => c.iter().map(|a| a.len()).collect(),
            None => (0..group_rows)
                .step_by(batch_size.max(1))
                .map(|at| (group_rows - at).min(batch_size as u64) as usize)
                .collect(),
        };
        let aligned = sizes.iter().sum::<usize>() as u64 == group_rows
            && chunks
                .iter()
                .all(|c| c.iter().map(|a| a.len()).eq(sizes.iter().copied()));
        if !aligned {
            return Err(file
                .bad(format!("row group {group}: columns decoded unevenly"))
                .into());
        }
        for (k, n) in sizes.into_iter().enumerate() {
            let columns: Vec<ArrayRef> = chunks.iter().map(|c| Arc::clone(&c[k])).collect();
            if !rows.emit(&columns, n as u64, pos, emit)? {
                return Ok(false);
            }
            pos += n as u64;
        }
    }
    Ok(true)
}

/// Turns the stored columns of a block's rows into the scan's batches.
struct Rows<'a> {
    wanted: &'a [usize],
    /// The stored columns read, sorted: the order of the columns `emit` is given.
    stored: &'a [usize],
    ncols: usize,
    slice: u32,
    block: &'a ScanBlock,
    schema: &'a SchemaRef,
    deletes: Option<&'a crate::DeleteVector>,
}

impl Rows<'_> {
    /// The `n` rows from block position `pos`: projected, row ids added, deleted rows
    /// left out, then emitted; false when the consumer is gone.
    fn emit(
        &self,
        columns: &[ArrayRef],
        n: u64,
        pos: u64,
        emit: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<bool> {
        let out: Vec<ArrayRef> = self
            .wanted
            .iter()
            .map(|&i| -> ArrayRef {
                match i.checked_sub(self.ncols) {
                    None => {
                        let at = self
                            .stored
                            .binary_search(&i)
                            .expect("stored column was read");
                        Arc::clone(&columns[at])
                    }
                    Some(0) => Arc::new(Int32Array::from(vec![self.slice as i32; n as usize])),
                    Some(1) => {
                        Arc::new(Int32Array::from(vec![self.block.index as i32; n as usize]))
                    }
                    Some(_) => Arc::new(Int64Array::from_iter_values(
                        (pos..pos + n).map(|p| p as i64),
                    )),
                }
            })
            .collect();
        // A projection can be empty (count(*)): the row count still has to travel.
        let options = RecordBatchOptions::new().with_row_count(Some(n as usize));
        let mut batch = RecordBatch::try_new_with_options(Arc::clone(self.schema), out, &options)?;
        if let Some(dv) = self.deletes {
            let keep = BooleanArray::from_iter((pos..pos + n).map(|p| Some(!dv.contains(p))));
            batch = filter_record_batch(&batch, &keep)?;
        }
        Ok(batch.num_rows() == 0 || emit(batch))
    }
}

/// The `stored` columns of one row group (in that order), each as its batches of
/// `batch_size` rows: from the cache where it has them, the rest read from the file in
/// one pass and kept. None when a missing column is too big for the cache to keep (the
/// caller reads the group batch by batch instead of holding it whole for nothing).
fn group_columns(
    cache: &BlockCache,
    file: &mut BlockFile,
    metadata: &ArrowReaderMetadata,
    group: usize,
    stored: &[usize],
    batch_size: usize,
) -> Result<Option<Vec<Arc<Vec<ArrayRef>>>>> {
    let block = file.block;
    let mut found: Vec<Option<Arc<Vec<ArrayRef>>>> = stored
        .iter()
        .map(|&c| cache.column(&block.id, group, c, batch_size))
        .collect();
    let missing: Vec<usize> = stored
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(&c, _)| c)
        .collect();
    let chunk_bytes = |c: usize| {
        metadata
            .metadata()
            .row_group(group)
            .column(c)
            .uncompressed_size() as usize
    };
    if missing.iter().any(|&c| !cache.would_keep(chunk_bytes(c))) {
        return Ok(None);
    }
    if !missing.is_empty() {
        // The Parquet reader returns the columns we ask for in file order: `missing` is
        // sorted, as `stored` is.
        let mask = ProjectionMask::roots(metadata.parquet_schema(), missing.iter().copied());
        let mut read: Vec<Vec<ArrayRef>> = vec![Vec::new(); missing.len()];
        for batch in file.reader(metadata, mask, group, batch_size)? {
            let batch = batch.map_err(|e| file.bad(e.to_string()))?;
            for (chunks, column) in read.iter_mut().zip(batch.columns()) {
                chunks.push(Arc::clone(column));
            }
        }
        for (column, chunks) in missing.iter().zip(read) {
            let chunks = Arc::new(chunks);
            cache.put_column(&block.id, group, *column, batch_size, Arc::clone(&chunks));
            let at = stored
                .binary_search(column)
                .expect("missing is a subset of stored");
            found[at] = Some(chunks);
        }
    }
    Ok(Some(
        found
            .into_iter()
            .map(|f| f.expect("every stored column was found or read"))
            .collect(),
    ))
}

/// The row groups of one block as DataFusion pruning containers, from their Parquet
/// statistics.
struct RowGroupStatistics<'a> {
    schema: &'a Schema,
    parquet: &'a SchemaDescriptor,
    groups: &'a [RowGroupMetaData],
}

impl RowGroupStatistics<'_> {
    fn converter(&self, column: &Column) -> Option<StatisticsConverter<'_>> {
        StatisticsConverter::try_new(&column.name, self.schema, self.parquet).ok()
    }
}

impl PruningStatistics for RowGroupStatistics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.converter(column)?
            .row_group_mins(self.groups.iter())
            .ok()
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.converter(column)?
            .row_group_maxes(self.groups.iter())
            .ok()
    }

    fn num_containers(&self) -> usize {
        self.groups.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let counts = self
            .converter(column)?
            .row_group_null_counts(self.groups.iter())
            .ok()?;
        Some(Arc::new(counts))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(Arc::new(UInt64Array::from_iter_values(
            self.groups.iter().map(|g| g.num_rows() as u64),
        )))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{ColumnDef, DistStyle, SqlType};
    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::Int64Type;

    fn table() -> TableDef {
        let column = |name: &str, sql_type| ColumnDef {
            name: name.into(),
            sql_type,
            nullable: false,
            encoding: None,
        };
        TableDef {
            id: 1,
            name: "t".into(),
            columns: vec![
                column("k", SqlType::BigInt),
                column("s", SqlType::Varchar(16)),
            ],
            dist_style: DistStyle::Even,
            dist_key: None,
            sort_key: vec![],
            primary_key: vec![],
        }
    }

    fn spec(projection: Vec<usize>) -> ScanSpec {
        ScanSpec {
            table: table(),
            projection: Some(projection),
            row_ids: false,
            nullable: false,
            partitions: vec![],
            blocks_total: 1,
            blocks_skipped: 0,
            predicate: None,
            layout: ScanLayout::Unknown,
            stats: None,
        }
    }

    /// A block of `n` rows (k = 0..n, s = `text(k)`) on slice 0, with `deletes` deleted.
    fn stored_block(
        store: &SliceStore,
        n: i64,
        text: fn(i64) -> String,
        deletes: &[u64],
    ) -> ScanBlock {
        let def = table();
        let batch = RecordBatch::try_new(
            def.schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter_values((0..n).map(text))),
            ],
        )
        .unwrap();
        let (meta, bytes) = crate::block::encode_block(&def, &[batch]).unwrap();
        store.put_block(0, &meta, &bytes).unwrap();
        let delete_vector =
            (!deletes.is_empty()).then(|| store.put_delete_vector(0, &meta, deletes).unwrap().id);
        ScanBlock {
            index: 0,
            id: meta.id,
            rows: meta.rows,
            delete_vector,
        }
    }

    /// Reads one block with `projection`, returning (sum of k if read, rows).
    fn read(
        store: &SliceStore,
        cache: &BlockCache,
        block: &ScanBlock,
        projection: Vec<usize>,
    ) -> Result<(i64, usize)> {
        let spec = spec(projection);
        let schema = spec.output_schema();
        let (mut sum, mut rows) = (0, 0);
        read_block(
            store,
            Some(cache),
            &spec,
            &schema,
            &spec.table.schema(),
            None,
            0,
            block,
            1000,
            &mut |b| {
                rows += b.num_rows();
                if let Some(k) = b.column_by_name("k") {
                    sum += k.as_primitive::<Int64Type>().values().iter().sum::<i64>();
                }
                true
            },
        )?;
        Ok((sum, rows))
    }

    #[test]
    fn cached_columns_are_read_without_the_file_and_deletes_still_apply() {
        let dir = tempfile::tempdir().unwrap();
        let store = SliceStore::open(dir.path()).unwrap();
        let n = crate::block::ROW_GROUP_ROWS as i64 * 2 + 10;
        let block = stored_block(&store, n, |i| format!("v{}", i % 7), &[0, 5, n as u64 - 1]);
        let all = n * (n - 1) / 2 - 5 - (n - 1);
        let cache = BlockCache::new(256 << 20);

        // First read: from the file (three row groups), columns kept.
        assert_eq!(
            read(&store, &cache, &block, vec![0]).unwrap(),
            (all, n as usize - 3)
        );
        let misses = cache.figures().misses;
        assert!(cache.figures().entries >= 4, "{:?}", cache.figures());

        // The file gone, the cached column and a count(*) still answer, deletes applied.
        std::fs::remove_file(store.block_path(0, &block.id)).unwrap();
        assert_eq!(
            read(&store, &cache, &block, vec![0]).unwrap(),
            (all, n as usize - 3)
        );
        assert_eq!(
            read(&store, &cache, &block, vec![]).unwrap(),
            (0, n as usize - 3)
        );
        assert_eq!(cache.figures().misses, misses, "nothing missed the cache");

        // A column never read needs the file: its absence is an error, not empty rows.
        let err = read(&store, &cache, &block, vec![0, 1]).unwrap_err();
        assert!(err.to_string().contains(&block.id), "{err}");
        // And without a cache, the same.
        assert!(read(&store, &BlockCache::new(0), &block, vec![0]).is_err());
    }

    #[test]
    fn columns_too_big_to_keep_are_streamed_and_a_gone_consumer_stops_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SliceStore::open(dir.path()).unwrap();
        let n = crate::block::ROW_GROUP_ROWS as i64 + 5;
        let block = stored_block(&store, n, |i| format!("v{i}"), &[]);
        // A 1 MiB cache keeps entries of 128 KiB at most: the footer and the 5-row group,
        // not the 1 MiB one (read batch by batch).
        let small = BlockCache::new(1 << 20);
        assert_eq!(
            read(&store, &small, &block, vec![0]).unwrap(),
            (n * (n - 1) / 2, n as usize)
        );
        assert_eq!(small.figures().entries, 2, "{:?}", small.figures());
        assert!(small.figures().bytes < 64 << 10, "{:?}", small.figures());

        // A consumer that takes one batch and goes: the read stops there.
        let spec = spec(vec![0]);
        let schema = spec.output_schema();
        for cache in [BlockCache::new(0), BlockCache::new(256 << 20)] {
            let mut batches = 0;
            let more = read_block(
                &store,
                Some(&cache),
                &spec,
                &schema,
                &table().schema(),
                None,
                0,
                &block,
                1000,
                &mut |_| {
                    batches += 1;
                    false
                },
            )
            .unwrap();
            assert!(!more);
            assert_eq!(batches, 1);
        }
    }
}
