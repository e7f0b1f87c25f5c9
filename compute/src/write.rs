//! Writes where the rows are: a write stage runs on the compute nodes, routes every row of
//! its input by the target table's distribution straight to the owning slice (this node's
//! own slices directly, another node's over Flight `do_put`), stages blocks there, and
//! sends the leader only what it wrote (block metadata), which the leader commits.
//!
//! ```text
//!   stage input (scan → filter → projection, on slice p) ──► WriteExec (partition p)
//!        │ rows, conformed to the target's types                 │
//!        ├─► slice s on this node:  stage_rows (sort, encode, write blocks)
//!        └─► slice s on node n:     do_put to node n (it stages them)
//!   UPDATE/DELETE: the input also carries (slice, block, row) ids of the rows it
//!   replaces; their delete vectors are written on the nodes holding those blocks
//!   at the end: one JSON row per partition { blocks per slice, delete vectors }
//!        ──► GatherExec ──► leader: one commit
//! ```
//!
//! [`SliceWriters`] (a writer per destination slice) is shared with COPY's loading.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use blueshift_storage::placement::{Topology, route_batch};
use blueshift_storage::table::TableDef;
use blueshift_storage::{BLOCK_ROWS, BlockMeta, DeleteVectorMeta, SliceStore, encode_block};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream,
};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::client::ComputeClient;
use crate::error::{Error, Result};
use crate::protocol::{DeleteRowsRequest, IngestRequest};

pub use blueshift_storage::placement::LocalNode;

/// Sorts, encodes and writes a stream of rows for one slice as staged blocks. Blocks are
/// cut at exactly [`BLOCK_ROWS`] rows whatever the batches' sizes, so the same rows give
/// the same blocks (and ids) on every copy of a DISTSTYLE ALL table.
pub async fn stage_rows<S, E>(
    store: Arc<SliceStore>,
    table: TableDef,
    slice: u32,
    mut batches: S,
) -> Result<Vec<BlockMeta>>
where
    S: Stream<Item = std::result::Result<RecordBatch, E>> + Unpin,
    Error: From<E>,
{
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0;
    let mut blocks = Vec::new();
    while let Some(batch) = batches.next().await {
        let mut batch = batch?;
        while pending_rows + batch.num_rows() >= BLOCK_ROWS {
            let take = BLOCK_ROWS - pending_rows;
            pending.push(batch.slice(0, take));
            batch = batch.slice(take, batch.num_rows() - take);
            pending_rows = 0;
            let full = std::mem::take(&mut pending);
            blocks.push(write_block(&store, &table, slice, full).await?);
        }
        if batch.num_rows() > 0 {
            pending_rows += batch.num_rows();
            pending.push(batch);
        }
    }
    if pending_rows > 0 {
        blocks.push(write_block(&store, &table, slice, pending).await?);
    }
    Ok(blocks)
}

async fn write_block(
    store: &Arc<SliceStore>,
    table: &TableDef,
    slice: u32,
    batches: Vec<RecordBatch>,
) -> Result<BlockMeta> {
    let store = Arc::clone(store);
    let table = table.clone();
    tokio::task::spawn_blocking(move || -> Result<BlockMeta> {
        let (meta, bytes) = encode_block(&table, &batches)?;
        store.put_block(slice, &meta, &bytes)?;
        Ok(meta)
    })
    .await
    .map_err(|e| Error::BadRequest(format!("block writer failed: {e}")))?
}

pub type RowSender = mpsc::Sender<std::result::Result<RecordBatch, Error>>;

/// A writer per destination slice of one table: this node's slices stage blocks here,
/// other nodes' slices receive their rows by `do_put`. Rows go in through [`senders`];
/// [`finish`] waits for every writer and returns the staged blocks per slice.
///
/// [`senders`]: SliceWriters::senders
/// [`finish`]: SliceWriters::finish
pub struct SliceWriters {
    pub senders: HashMap<u32, RowSender>,
    writers: tokio::task::JoinSet<(u32, Result<Vec<BlockMeta>>)>,
}

impl SliceWriters {
    /// Starts the writers of `table` on this node (`node`), reaching other nodes at `nodes`.
    pub fn start(
        store: &Arc<SliceStore>,
        node: u32,
        table: &TableDef,
        topology: &Topology,
        nodes: &[String],
        timeout: Duration,
    ) -> Result<SliceWriters> {
        let schema = table.schema();
        let mut writers = tokio::task::JoinSet::new();
        let mut senders = HashMap::new();
        for slice in topology.destinations(table) {
            let (tx, rx) = mpsc::channel(4);
            senders.insert(slice, tx);
            let rows = tokio_stream::wrappers::ReceiverStream::new(rx);
            let owner = topology.node_of(slice);
            if owner == node {
                let store = Arc::clone(store);
                let table = table.clone();
                writers.spawn(async move { (slice, stage_rows(store, table, slice, rows).await) });
            } else {
                let client = peer(nodes, owner, timeout)?;
                let ingest = IngestRequest {
                    table: table.clone(),
                    slice,
                };
                let schema = Arc::clone(&schema);
                writers.spawn(async move {
                    let r = client.ingest(&ingest, schema, rows).await;
                    (slice, r.map(|resp| resp.blocks))
                });
            }
        }
        Ok(SliceWriters { senders, writers })
    }

    /// Sends a batch already split by [`route_batch`] to its slices' writers. A writer
    /// that stopped taking rows answers with its own error.
    pub async fn send(&mut self, parts: Vec<(u32, RecordBatch)>) -> Result<()> {
        for (slice, part) in parts {
            let tx = self
                .senders
                .get(&slice)
                .ok_or_else(|| Error::BadRequest(format!("no writer for slice {slice}")))?;
            if tx.send(Ok(part)).await.is_err() {
                return Err(self.first_error().await.unwrap_or_else(|| {
                    Error::BadRequest(format!("the block writer of slice {slice} stopped"))
                }));
            }
        }
        Ok(())
    }

    /// The error of the first writer that failed (the others are stopped).
    pub async fn first_error(&mut self) -> Option<Error> {
        self.senders.clear();
        while let Some(joined) = self.writers.join_next().await {
            match joined {
                Ok((_, Err(e))) => {
                    self.writers.abort_all();
                    return Some(e);
                }
                Err(e) => {
                    self.writers.abort_all();
                    return Some(Error::BadRequest(format!("block writer failed: {e}")));
                }
                Ok(_) => {}
            }
        }
        None
    }

    /// Stops every writer without acknowledging its rows (nothing will be committed).
    pub fn abort(mut self) {
        self.senders.clear();
        self.writers.abort_all();
    }

    /// Ends every writer's input and waits for the blocks they staged.
    pub async fn finish(mut self) -> Result<BTreeMap<u32, Vec<BlockMeta>>> {
        self.senders.clear();
        let mut blocks: BTreeMap<u32, Vec<BlockMeta>> = BTreeMap::new();
        while let Some(joined) = self.writers.join_next().await {
            let (slice, r) =
                joined.map_err(|e| Error::BadRequest(format!("block writer failed: {e}")))?;
            match r {
                Ok(b) => blocks.entry(slice).or_default().extend(b),
                Err(e) => {
                    self.writers.abort_all();
                    return Err(e);
                }
            }
        }
        Ok(blocks)
    }
}

/// A client for another node, by its place in `nodes`: one per address in this process,
/// shared by every write and exchange, so their streams reuse its connection.
pub(crate) fn peer(nodes: &[String], node: u32, timeout: Duration) -> Result<ComputeClient> {
    static CLIENTS: std::sync::LazyLock<std::sync::Mutex<HashMap<String, ComputeClient>>> =
        std::sync::LazyLock::new(Default::default);
    let addr = nodes
        .get(node as usize)
        .ok_or_else(|| Error::BadRequest(format!("no address for compute node {node}")))?;
    let mut clients = CLIENTS.lock().expect("peer clients");
    if let Some(c) = clients.get(addr) {
        return Ok(c.clone());
    }
    let client = ComputeClient::new(node, addr, timeout)?;
    clients.insert(addr.clone(), client.clone());
    Ok(client)
}

/// What a write stage does with its input, as the leader planned it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteSpec {
    pub query_id: String,
    /// The table written, with the distribution its rows are routed by.
    pub table: TableDef,
    pub topology: Topology,
    /// Every compute node's address, node 0 first.
    pub nodes: Vec<String>,
    pub timeout_secs: u64,
    /// Where EVEN's round-robin starts; partition `p` starts at `even_start + p`.
    pub even_start: u64,
    /// The input columns that are the new rows, in table order.
    pub values: Vec<usize>,
    /// UPDATE and DELETE: the rows the input replaces.
    pub replaces: Option<Replaces>,
}

/// The rows a write replaces: input columns with their `(slice, block, row)` ids, and the
/// target's blocks (per slice, by position) that those ids point into.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replaces {
    pub row_ids: [usize; 3],
    pub blocks: BTreeMap<u32, Vec<BlockMeta>>,
}

/// What one partition of a write stage did: the one row it sends the leader.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// New rows written.
    pub rows: u64,
    /// Rows replaced (deleted).
    pub replaced: u64,
    /// Staged (uncommitted) blocks per destination slice.
    pub blocks: BTreeMap<u32, Vec<BlockMeta>>,
    /// New delete vectors: (slice, block position, vector).
    pub deletes: Vec<(u32, u32, DeleteVectorMeta)>,
}

/// The column a write stage's partitions answer in.
pub const WRITE_OUTCOME: &str = "write_outcome";

/// Runs on the compute nodes: writes its input rows into the target table's slices.
///
/// ```text
///   partition p of the input ──► WriteExec p ──► blocks on the owning slices (any node)
///                                     └──► one row: WriteOutcome (JSON)
/// ```
pub struct WriteExec {
    input: Arc<dyn ExecutionPlan>,
    spec: WriteSpec,
    cache: Arc<PlanProperties>,
}

impl fmt::Debug for WriteExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteExec")
            .field("table", &self.spec.table.name)
            .finish()
    }
}

impl WriteExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: WriteSpec) -> Self {
        let schema = outcome_schema();
        let partitions = input.properties().output_partitioning().partition_count();
        let cache = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        WriteExec { input, spec, cache }
    }

    pub fn spec(&self) -> &WriteSpec {
        &self.spec
    }

    /// Reads the outcomes out of a write stage's output batches.
    pub fn outcomes(batch: &RecordBatch) -> Result<Vec<WriteOutcome>> {
        let column = batch
            .column_by_name(WRITE_OUTCOME)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| Error::BadRequest("a write stage answered without outcomes".into()))?;
        column
            .iter()
            .flatten()
            .map(|json| serde_json::from_str(json).map_err(|e| Error::BadRequest(e.to_string())))
            .collect()
    }
}

impl DisplayAs for WriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "WriteExec: table={}, dist={}",
            self.spec.table.name,
            self.spec
                .table
                .dist_style
                .display(self.spec.table.dist_key_name())
        )?;
        if self.spec.replaces.is_some() {
            write!(f, ", replaces rows")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for WriteExec {
    fn name(&self) -> &'static str {
        "WriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("WriteExec needs its input".into()))?;
        Ok(Arc::new(WriteExec::new(input, self.spec.clone())))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        ExecutionPlan::replace_children(
            self,
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let config = context.session_config();
        let store = config.get_extension::<SliceStore>().ok_or_else(|| {
            DataFusionError::Internal("a write stage runs only on a compute node".into())
        })?;
        let node = config
            .get_extension::<LocalNode>()
            .ok_or_else(|| DataFusionError::Internal("this process is no compute node".into()))?
            .0;
        let input = self.input.execute(partition, context)?;
        let spec = self.spec.clone();
        let schema = self.schema();
        let out_schema = Arc::clone(&schema);
        let outcome = futures::stream::once(async move {
            let outcome = write_partition(spec, partition, node, store, input)
                .await
                .map_err(DataFusionError::from)?;
            let json = serde_json::to_string(&outcome)
                .map_err(|e| DataFusionError::Internal(e.to_string()))?;
            Ok(RecordBatch::try_new(
                out_schema,
                vec![Arc::new(StringArray::from(vec![json]))],
            )?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, outcome)))
    }
}

/// One partition of a write stage: route and stage its rows, then write the delete
/// vectors of the rows it replaces.
async fn write_partition(
    spec: WriteSpec,
    partition: usize,
    node: u32,
    store: Arc<SliceStore>,
    mut input: SendableRecordBatchStream,
) -> Result<WriteOutcome> {
    tracing::debug!(query = %spec.query_id, partition, table = %spec.table.name, "write stage");
    let timeout = Duration::from_secs(spec.timeout_secs.max(1));
    let mut writers = (!spec.values.is_empty())
        .then(|| {
            SliceWriters::start(
                &store,
                node,
                &spec.table,
                &spec.topology,
                &spec.nodes,
                timeout,
            )
        })
        .transpose()?;
    let mut cursor = spec.even_start + partition as u64;
    let mut outcome = WriteOutcome::default();
    // (slice, block position) → row positions, for the rows replaced.
    let mut replaced: BTreeMap<(u32, u32), Vec<u64>> = BTreeMap::new();
    while let Some(batch) = input.next().await {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                if let Some(w) = writers {
                    w.abort();
                }
                return Err(e.into());
            }
        };
        if let Some(r) = &spec.replaces {
            let slices = batch.column(r.row_ids[0]).as_primitive::<Int32Type>();
            let blocks = batch.column(r.row_ids[1]).as_primitive::<Int32Type>();
            let rows = batch.column(r.row_ids[2]).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                replaced
                    .entry((slices.value(i) as u32, blocks.value(i) as u32))
                    .or_default()
                    .push(rows.value(i) as u64);
            }
            outcome.replaced += batch.num_rows() as u64;
        }
        let Some(w) = writers.as_mut() else {
            continue;
        };
        let rows = spec.table.conform(&batch.project(&spec.values)?);
        let parts = rows.and_then(|rows| {
            outcome.rows += rows.num_rows() as u64;
            route_batch(&spec.table, &spec.topology, &rows, &mut cursor)
        });
        let sent = match parts {
            Ok(parts) => w.send(parts).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = sent {
            if let Some(w) = writers {
                w.abort();
            }
            return Err(e);
        }
    }
    if let Some(w) = writers {
        outcome.blocks = w.finish().await?;
    }
    if let Some(r) = &spec.replaces {
        outcome.deletes = write_deletes(&spec, r, node, &store, replaced, timeout).await?;
    }
    Ok(outcome)
}

/// Writes the delete vectors of replaced rows on the nodes that hold their blocks (every
/// copy of a DISTSTYLE ALL table).
async fn write_deletes(
    spec: &WriteSpec,
    r: &Replaces,
    node: u32,
    store: &Arc<SliceStore>,
    replaced: BTreeMap<(u32, u32), Vec<u64>>,
    timeout: Duration,
) -> Result<Vec<(u32, u32, DeleteVectorMeta)>> {
    let topo = spec.topology;
    let mut out = Vec::new();
    let block_at = |slice: u32, block: u32| {
        r.blocks
            .get(&slice)
            .and_then(|b| b.get(block as usize))
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "block #{block} is not in slice {slice} of table {}",
                    spec.table.name
                ))
            })
    };
    for ((slice, block), rows) in replaced {
        let scanned = block_at(slice, block)?.id.clone();
        for target in topo.copies_of(&spec.table, slice) {
            let meta = block_at(target, block)?.clone();
            // Row positions mean the same rows only in an identical copy (same content id).
            if meta.id != scanned {
                return Err(Error::BadRequest(format!(
                    "the copies of table {} differ at block #{block} (slices {slice} and \
                     {target}); rewrite the table (CREATE TABLE AS) before changing rows",
                    spec.table.name
                )));
            }
            let dv = if topo.node_of(target) == node {
                let store = Arc::clone(store);
                let rows = rows.clone();
                tokio::task::spawn_blocking(move || store.put_delete_vector(target, &meta, &rows))
                    .await
                    .map_err(|e| Error::BadRequest(format!("delete vector writer failed: {e}")))??
            } else {
                peer(&spec.nodes, topo.node_of(target), timeout)?
                    .delete_rows(&DeleteRowsRequest {
                        slice: target,
                        block: meta,
                        rows: rows.clone(),
                    })
                    .await?
            };
            out.push((target, block, dv));
        }
    }
    Ok(out)
}

/// The schema a write stage answers with.
pub fn outcome_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        WRITE_OUTCOME,
        DataType::Utf8,
        false,
    )]))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use arrow::array::Int64Array;
    use blueshift_storage::ZoneMap;
    use blueshift_storage::table::{ColumnDef, DistStyle, SqlType};

    use super::*;

    fn table(dist_style: DistStyle) -> TableDef {
        TableDef {
            id: 1,
            name: "t".into(),
            columns: vec![ColumnDef {
                name: "v".into(),
                sql_type: SqlType::BigInt,
                nullable: false,
                encoding: None,
            }],
            dist_style,
            dist_key: (dist_style == DistStyle::Key).then_some(0),
            sort_key: vec![],
            primary_key: vec![],
        }
    }

    /// A folder under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("bs-write-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Stages rows `0..total` of `table`, sent as batches of the given sizes (cycled).
    async fn stage(
        dir: &TempDir,
        table: &TableDef,
        total: usize,
        sizes: &[usize],
    ) -> Vec<BlockMeta> {
        let store = Arc::new(SliceStore::open(&dir.0).unwrap());
        let mut batches = Vec::new();
        let mut start = 0;
        for &size in sizes.iter().cycle() {
            if start >= total {
                break;
            }
            let end = (start + size).min(total);
            let values = Int64Array::from_iter_values(start as i64..end as i64);
            batches.push(Ok::<_, Error>(
                RecordBatch::try_new(table.schema(), vec![Arc::new(values)]).unwrap(),
            ));
            start = end;
        }
        let blocks = stage_rows(
            Arc::clone(&store),
            table.clone(),
            3,
            futures::stream::iter(batches),
        )
        .await
        .unwrap();
        for b in &blocks {
            assert!(
                store.block_path(3, &b.id).exists(),
                "block {} written",
                b.id
            );
        }
        blocks
    }

    #[tokio::test]
    async fn stage_rows_cuts_blocks_at_block_rows_whatever_the_batch_sizes() {
        let t = table(DistStyle::All);
        let total = BLOCK_ROWS + 12_345;
        let (one_dir, odd_dir) = (TempDir::new("one"), TempDir::new("odd"));
        let one = stage(&one_dir, &t, total, &[total]).await;
        // Includes empty batches and batches straddling the block boundary.
        let odd = stage(&odd_dir, &t, total, &[1, 0, 7, 4093, 65_537, 300_001]).await;
        let rows: Vec<u64> = one.iter().map(|b| b.rows).collect();
        assert_eq!(rows, [BLOCK_ROWS as u64, 12_345]);
        assert_eq!(one, odd);
    }

    #[test]
    fn key_and_even_tables_write_to_every_slice() {
        let topo = Topology {
            nodes: 3,
            slices_per_node: 4,
        };
        for style in [DistStyle::Key, DistStyle::Even, DistStyle::AutoEven] {
            assert_eq!(
                topo.destinations(&table(style)),
                (0..12).collect::<Vec<u32>>(),
                "{style:?}"
            );
        }
    }

    #[test]
    fn all_tables_write_to_each_node_s_copy_slice() {
        let topo = Topology {
            nodes: 3,
            slices_per_node: 4,
        };
        for style in [DistStyle::All, DistStyle::AutoAll] {
            assert_eq!(topo.destinations(&table(style)), [0, 4, 8], "{style:?}");
        }
    }

    fn outcome_batch(column: &str, values: Vec<Option<String>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(values))]).unwrap()
    }

    #[test]
    fn outcomes_parse_what_each_partition_answered() {
        let block = BlockMeta {
            id: "b1".into(),
            rows: 3,
            bytes: 99,
            zone_maps: vec![ZoneMap {
                min: Some("1".into()),
                max: Some("3".into()),
                null_count: 0,
            }],
            deletes: None,
            checksum: None,
        };
        let wrote = WriteOutcome {
            rows: 3,
            replaced: 0,
            blocks: BTreeMap::from([(2, vec![block])]),
            deletes: vec![],
        };
        let deleted = WriteOutcome {
            rows: 0,
            replaced: 2,
            blocks: BTreeMap::new(),
            deletes: vec![(
                5,
                1,
                DeleteVectorMeta {
                    id: "dv".into(),
                    deleted: 2,
                },
            )],
        };
        let answers = [&wrote, &deleted].map(|o| serde_json::to_string(o).unwrap());
        // As WriteExec::execute answers: one batch per partition, in `outcome_schema`.
        let batch = RecordBatch::try_new(
            outcome_schema(),
            vec![Arc::new(StringArray::from(answers.to_vec()))],
        )
        .unwrap();
        let parsed = WriteExec::outcomes(&batch).unwrap();
        let json = |o: &WriteOutcome| serde_json::to_value(o).unwrap();
        assert_eq!(
            parsed.iter().map(json).collect::<Vec<_>>(),
            [json(&wrote), json(&deleted)]
        );
    }

    #[test]
    fn outcomes_skip_null_rows() {
        let batch = outcome_batch(
            WRITE_OUTCOME,
            vec![
                None,
                Some(r#"{"rows":4,"replaced":1,"blocks":{},"deletes":[]}"#.into()),
            ],
        );
        let parsed = WriteExec::outcomes(&batch).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!((parsed[0].rows, parsed[0].replaced), (4, 1));
    }

    #[test]
    fn outcomes_reject_a_batch_without_the_outcome_column() {
        let other = outcome_batch("something_else", vec![Some("{}".into())]);
        assert!(WriteExec::outcomes(&other).is_err());
        let schema = Arc::new(Schema::new(vec![Field::new(
            WRITE_OUTCOME,
            DataType::Int64,
            false,
        )]));
        let not_text =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
        assert!(WriteExec::outcomes(&not_text).is_err());
    }

    #[test]
    fn outcomes_reject_malformed_json() {
        let batch = outcome_batch(WRITE_OUTCOME, vec![Some(r#"{"rows": "#.into())]);
        assert!(WriteExec::outcomes(&batch).is_err());
    }
}
