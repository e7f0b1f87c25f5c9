//! Redistribute and broadcast: a stage's rows moved from the nodes that produce them to
//! the nodes that consume them, node to node over Arrow Flight, never through the leader.
//!
//! ```text
//!  redistribute (keys → placement hash → slice c)     broadcast (every row → every node)
//!
//!   producer node A      producer node B              producer node A    producer node B
//!   partitions 0,1       partitions 2,3               partitions 0,1     partitions 2,3
//!     │ hash % N·S         │ hash % N·S                  │ all rows          │ all rows
//!     ├──► c0 c1 ─┐  ┌─── c2 c3 ◄─┤                     ├──► node 0 ◄───────┤
//!     └──► c2 c3 ─┼──┼─── c0 c1 ◄─┘                     └──► node 1 ◄───────┘
//!                 ▼  ▼
//!   consumer partition c runs on the node owning slice c (do_get to every producer node)
//! ```
//!
//! A third form sends every row to one consumer, slice 0 on node 0 (`single`).
//!
//! [`ExchangeExec`] is both sides. Its child is the producer stage. On a consumer node,
//! `execute(c)` sends a `do_get` to every other producer node at once (so every producer
//! learns of every consumer, and a consumer that goes away closes its stream), takes its
//! own node's share in the process (no encoding, no call to itself), and merges the
//! answers through a bounded channel. On a producer node the first such call starts the
//! stage's local partitions once (an entry in the node's [`ExchangeRegistry`]); each
//! partition's rows are split by [`hash_rows`] modulo the consumer count (the very hash
//! that placed DISTKEY rows, so a redistributed side lines up with a table stored on the
//! same key) or copied to every node, into one bounded channel per consumer. A consumer
//! that reads slowly slows its producers; one that is gone is skipped; when every
//! consumer is gone the producers stop.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use blueshift_storage::placement::{LocalNode, Topology, hash_rows};
use blueshift_storage::{Code, CodedError, datafusion_message};
use bytes::Bytes;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::{
    RecordBatchReceiverStreamBuilder, RecordBatchStreamAdapter,
};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::client::ComputeClient;
use crate::codec::BlueshiftCodec;
use crate::protocol::StageTicket;
use crate::telemetry::{After, Measured, RowCount, StreamFigures, Telemetry, operator_figures};

/// Batches a producer may have queued for one consumer before it waits.
const BUFFERED_BATCHES: usize = 2;

/// Batches of keys a producer may have queued for one tap before it waits. A tap's reader
/// (a probe side's build) starts with the query, as the rows' consumers (a build side) do;
/// this slack only keeps one from waiting on the other's pace. Keys are tapped from build
/// sides estimated at most 1M rows, so it is rarely used in full.
const TAP_BUFFERED_BATCHES: usize = 256;

/// How long a producer entry waits for consumers that never came (a query that failed or
/// was cancelled while starting) before it is dropped and its producers stopped.
const UNCLAIMED_KEPT: Duration = Duration::from_secs(300);

/// What an exchange is, as the leader planned it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExchangeSpec {
    /// Unique per run of a query: `<run>/<exchange number>`.
    pub id: String,
    /// Every row to every node (one consumer per node) instead of by key.
    pub broadcast: bool,
    /// Every row to one slice, slice 0 (one consumer, on node 0), instead of by key: the
    /// inner side of a join whose outer side is a DISTSTYLE ALL table that must be read
    /// once (`DS_DIST_ALL_INNER`).
    #[serde(default)]
    pub single: bool,
    pub topology: Topology,
    /// Every compute node's address, node 0 first.
    pub nodes: Vec<String>,
    pub timeout_secs: u64,
    /// Key taps: for each, the columns of every row that also go to every node, where a
    /// [`KeysExec`](super::KeysExec) reads them (a probe side filtered by this build side's
    /// keys, without running the build side twice).
    #[serde(default)]
    pub taps: Vec<Vec<usize>>,
}

impl ExchangeSpec {
    /// Every consumer: the rows' own, then each tap's one per node.
    fn consumers(&self) -> usize {
        self.row_consumers() + self.taps.len() * self.topology.nodes as usize
    }

    /// The boundary a consumer's stream is measured under: the exchange's id, or for a
    /// tap's `<id>k` (its keys are not the exchange's rows).
    pub fn boundary(&self, consumer: usize) -> String {
        if consumer >= self.row_consumers() {
            format!("{}k", self.id)
        } else {
            self.id.clone()
        }
    }

    /// How a consumer's stream is labelled: `bcast` for a broadcast's or a tap's.
    pub fn label(&self, consumer: usize) -> &'static str {
        if self.broadcast || consumer >= self.row_consumers() {
            "bcast"
        } else {
            "dist"
        }
    }

    /// The consumers of the rows themselves (a partition per slice, or one per node).
    pub fn row_consumers(&self) -> usize {
        if self.broadcast {
            self.topology.nodes as usize
        } else if self.single {
            1
        } else {
            self.topology.total_slices() as usize
        }
    }
}

/// The node that runs partition `p` of a stage with `partitions` partitions: the node
/// owning slice `p` when there is one partition per slice, else spread over the nodes.
pub fn home_node(topology: &Topology, partitions: usize, p: usize) -> u32 {
    if partitions == topology.total_slices() as usize {
        topology.node_of(p as u32)
    } else {
        (p % topology.nodes as usize) as u32
    }
}

/// Runs a stage on a node now (not when first polled), feeding its batches into
/// `builder`'s bounded channel and counting them in `rows`.
pub(super) fn pull(
    builder: &mut RecordBatchReceiverStreamBuilder,
    client: ComputeClient,
    ticket: StageTicket,
    rows: datafusion::physical_plan::metrics::Count,
) {
    let tx = builder.tx();
    builder.spawn(async move {
        let mut batches = client.run_stage(ticket).await?;
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            rows.add(batch.num_rows());
            if tx.send(Ok(batch)).await.is_err() {
                break;
            }
        }
        Ok(())
    });
}

/// A redistribute or broadcast boundary; see the module documentation for its fan-out.
pub struct ExchangeExec {
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    spec: ExchangeSpec,
    encoded: OnceLock<std::result::Result<Bytes, String>>,
    /// The producer stage as this node runs it, for a consumer on a producer node.
    local: OnceLock<std::result::Result<Arc<dyn ExecutionPlan>, String>>,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
}

impl fmt::Debug for ExchangeExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeExec")
            .field("id", &self.spec.id)
            .field("broadcast", &self.spec.broadcast)
            .finish()
    }
}

impl ExchangeExec {
    /// Redistributes `input` by the placement hash of `keys` onto every slice.
    pub fn redistribute(
        input: Arc<dyn ExecutionPlan>,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        spec: ExchangeSpec,
    ) -> Self {
        Self::new(
            input,
            keys,
            ExchangeSpec {
                broadcast: false,
                ..spec
            },
        )
    }

    /// Sends all of `input` to every node: one partition, the whole input, on each.
    pub fn broadcast(input: Arc<dyn ExecutionPlan>, spec: ExchangeSpec) -> Self {
        Self::new(
            input,
            vec![],
            ExchangeSpec {
                broadcast: true,
                ..spec
            },
        )
    }

    /// Sends all of `input` to slice 0: one partition, the whole input, on node 0.
    pub fn single(input: Arc<dyn ExecutionPlan>, spec: ExchangeSpec) -> Self {
        Self::new(
            input,
            vec![],
            ExchangeSpec {
                broadcast: false,
                single: true,
                ..spec
            },
        )
    }

    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        spec: ExchangeSpec,
    ) -> Self {
        let schema = input.schema();
        let partitioning = if spec.broadcast || spec.single {
            Partitioning::UnknownPartitioning(1)
        } else {
            Partitioning::Hash(keys.clone(), spec.topology.total_slices() as usize)
        };
        // Rows arrive from many producers in no particular order.
        let cache = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            partitioning,
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ExchangeExec {
            input,
            keys,
            spec,
            encoded: OnceLock::new(),
            local: OnceLock::new(),
            metrics: ExecutionPlanMetricsSet::new(),
            cache: Arc::new(cache),
        }
    }

    pub fn spec(&self) -> &ExchangeSpec {
        &self.spec
    }

    pub fn keys(&self) -> &[Arc<dyn PhysicalExpr>] {
        &self.keys
    }

    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    fn same(&self) -> Arc<ExchangeExec> {
        Arc::new(ExchangeExec::new(
            Arc::clone(&self.input),
            self.keys.clone(),
            self.spec.clone(),
        ))
    }

    /// The exchange as its producers are sent it (encoded once).
    pub(crate) fn encoded(&self) -> Result<Bytes> {
        self.encoded
            .get_or_init(|| {
                physical_plan_to_bytes_with_extension_codec(self.same(), &BlueshiftCodec)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| {
                DataFusionError::Internal(format!(
                    "cannot serialize exchange {}: {e}",
                    self.spec.id
                ))
            })
    }

    /// The producer side as a `do_get` from another node would run it here (its filters
    /// split conjunct by conjunct), for a consumer on a node that produces too: its share
    /// of the rows is handed over in the process, not encoded and sent to itself.
    fn local_producer(&self) -> Result<Arc<dyn ExecutionPlan>> {
        self.local
            .get_or_init(|| {
                crate::conjunction::split_filters(self.same(), true).map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| DataFusionError::Internal(format!("exchange {}: {e}", self.spec.id)))
    }

    /// This node's rows for `consumer`, read in the process: measured like a stream
    /// served to another node (no bytes cross the network), and the producers' figures
    /// read when it ends if they ran from this plan.
    fn pull_local(
        &self,
        builder: &mut RecordBatchReceiverStreamBuilder,
        consumer: usize,
        node: u32,
        context: Arc<TaskContext>,
        rows: datafusion::physical_plan::metrics::Count,
    ) -> Result<()> {
        // A cancelled run's tickets are refused (as a `do_get` is): its producers must not
        // start again here.
        if let Some(runs) = context
            .session_config()
            .get_extension::<crate::cancel::Runs>()
        {
            runs.check(&format!("{}/", self.spec.id))
                .map_err(|s| DataFusionError::Execution(s.message().to_string()))?;
        }
        let plan = self.local_producer()?;
        let producer = plan.downcast_ref::<ExchangeExec>().ok_or_else(|| {
            DataFusionError::Internal(format!("exchange {}: no producer plan", self.spec.id))
        })?;
        let stream = producer.produce(consumer, Arc::clone(&context))?;
        let counted = RowCount::default();
        let counter = counted.clone();
        let stream = stream.inspect(move |b| {
            if let Ok(b) = b {
                counter.add(b.num_rows());
            }
        });
        let stream: std::pin::Pin<Box<dyn futures::Stream<Item = Result<RecordBatch>> + Send>> =
            match context.session_config().get_extension::<Telemetry>() {
                Some(telemetry) => {
                    let figures = StreamFigures {
                        boundary: self.spec.boundary(consumer),
                        label: self.spec.label(consumer).into(),
                        node,
                        partition: consumer as u32,
                        ..Default::default()
                    };
                    let input = Arc::clone(producer.input());
                    let after: After = Box::new(move || operator_figures(&input, None));
                    Box::pin(Measured::new(
                        stream,
                        figures,
                        counted,
                        Some(after),
                        telemetry,
                    ))
                }
                None => Box::pin(stream),
            };
        let tx = builder.tx();
        builder.spawn(async move {
            let mut stream = stream;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows.add(batch.num_rows());
                if tx.send(Ok(batch)).await.is_err() {
                    break;
                }
            }
            Ok(())
        });
        Ok(())
    }

    /// The nodes that run a partition of the producer stage.
    fn producer_nodes(&self) -> Vec<u32> {
        let n = self.input.output_partitioning().partition_count();
        let mut nodes: Vec<u32> = (0..n)
            .map(|p| home_node(&self.spec.topology, n, p))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    /// The producer side: this node's rows for `consumer`, starting the local producers
    /// on the first call.
    pub fn produce(
        &self,
        consumer: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let registry = context
            .session_config()
            .get_extension::<ExchangeRegistry>()
            .ok_or_else(|| {
                DataFusionError::Internal("exchanges run only on compute nodes".into())
            })?;
        let node = local_node(&context)?;
        let consumers = self.spec.consumers();
        if consumer >= consumers {
            return Err(DataFusionError::Internal(format!(
                "exchange {} has no consumer {consumer}",
                self.spec.id
            )));
        }
        let (rx, producers) = registry.take(&self.spec.id, consumer, || {
            self.start_producers(node, consumers, &context)
        })?;
        let rows = futures::stream::unfold((rx, producers), |(mut rx, producers)| async move {
            rx.recv().await.map(|item| (item, (rx, producers)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.consumer_schema(consumer)?,
            rows,
        )))
    }

    /// What consumer `consumer` receives: the rows, or a tap's key columns.
    pub(super) fn consumer_schema(&self, consumer: usize) -> Result<arrow::datatypes::SchemaRef> {
        let rows = self.spec.row_consumers();
        if consumer < rows {
            return Ok(self.schema());
        }
        let tap = (consumer - rows) / self.spec.topology.nodes as usize;
        let columns = self.spec.taps.get(tap).ok_or_else(|| {
            DataFusionError::Internal(format!("exchange {} has no tap {tap}", self.spec.id))
        })?;
        Ok(Arc::new(self.schema().project(columns)?))
    }

    fn start_producers(
        &self,
        node: u32,
        consumers: usize,
        context: &Arc<TaskContext>,
    ) -> Producing {
        let rows = self.spec.row_consumers();
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..consumers)
            .map(|c| {
                let buffered = if c < rows {
                    BUFFERED_BATCHES
                } else {
                    TAP_BUFFERED_BATCHES
                };
                mpsc::channel::<Result<RecordBatch>>(buffered)
            })
            .unzip();
        let n = self.input.output_partitioning().partition_count();
        let tasks = (0..n)
            .filter(|&p| home_node(&self.spec.topology, n, p) == node)
            .map(|p| {
                let input = Arc::clone(&self.input);
                let keys = self.keys.clone();
                let taps = Taps {
                    columns: self.spec.taps.clone(),
                    rows,
                    nodes: self.spec.topology.nodes as usize,
                };
                let senders = senders.clone();
                let context = Arc::clone(context);
                let watched = senders.clone();
                let id = self.spec.id.clone();
                let task = tokio::spawn(produce_partition(input, p, context, keys, taps, senders));
                let abort = task.abort_handle();
                // A producer that panics must not look like one that finished: its
                // consumers would take a cut-off stream for the whole.
                tokio::spawn(async move {
                    if let Err(e) = task.await
                        && e.is_panic()
                    {
                        let open = vec![true; watched.len()];
                        let e = DataFusionError::Execution(format!(
                            "a producer of exchange {id} failed: {e}"
                        ));
                        fail(&watched, &open, e).await;
                    }
                });
                abort
            })
            .collect();
        Producing {
            receivers: receivers.into_iter().map(Some).collect(),
            producers: Arc::new(Producers(tasks)),
            created: Instant::now(),
        }
    }
}

pub(super) fn local_node(context: &TaskContext) -> Result<u32> {
    context
        .session_config()
        .get_extension::<LocalNode>()
        .map(|n| n.0)
        .ok_or_else(|| DataFusionError::Internal("exchanges run only on compute nodes".into()))
}

/// Runs one local partition of the producer stage, sending each row to its consumer.
async fn produce_partition(
    input: Arc<dyn ExecutionPlan>,
    partition: usize,
    context: Arc<TaskContext>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    taps: Taps,
    senders: Vec<mpsc::Sender<Result<RecordBatch>>>,
) {
    let mut open = vec![true; senders.len()];
    let named = |e| crate::memory::name_out_of_memory(&context, e);
    let mut stream = match input.execute(partition, Arc::clone(&context)) {
        Ok(s) => s,
        Err(e) => return fail(&senders, &open, named(e)).await,
    };
    while let Some(item) = stream.next().await {
        let parts = match item.and_then(|batch| split(&batch, &keys, &taps)) {
            Ok(parts) => parts,
            Err(e) => return fail(&senders, &open, named(e)).await,
        };
        for (c, part) in parts {
            if open[c] && senders[c].send(Ok(part)).await.is_err() {
                open[c] = false;
            }
        }
        if !open[..taps.rows].iter().any(|o| *o) {
            // Every reader of the rows is gone (a limit met, a failed or cancelled query),
            // so the join that reads the taps is too. A tap still open gets an error, never
            // a key set cut short.
            if open.iter().any(|o| *o) {
                let e = DataFusionError::Execution(
                    "the build side's readers are gone; its keys are incomplete".into(),
                );
                fail(&senders, &open, e).await;
            }
            return;
        }
    }
}

/// Tells every consumer still there that the stage failed, keeping the error's code.
async fn fail(senders: &[mpsc::Sender<Result<RecordBatch>>], open: &[bool], e: DataFusionError) {
    let code = Code::of_datafusion(&e);
    let message = datafusion_message(&e);
    for (tx, _) in senders.iter().zip(open).filter(|(_, o)| **o) {
        let _ = tx
            .send(Err(CodedError::new(code, message.clone()).into()))
            .await;
    }
}

/// Where an exchange's key taps start among its consumers, and what each takes.
struct Taps {
    columns: Vec<Vec<usize>>,
    /// The rows' consumers, numbered before the taps'.
    rows: usize,
    nodes: usize,
}

/// A batch's rows per consumer: by key hash, or (no keys: broadcast) all rows to each;
/// then each tap's columns of every row to each node's tap consumer.
fn split(
    batch: &RecordBatch,
    keys: &[Arc<dyn PhysicalExpr>],
    taps: &Taps,
) -> Result<Vec<(usize, RecordBatch)>> {
    if batch.num_rows() == 0 {
        return Ok(vec![]);
    }
    let mut parts = split_rows(batch, keys, taps.rows)?;
    for (t, columns) in taps.columns.iter().enumerate() {
        let tapped = batch.project(columns)?;
        for node in 0..taps.nodes {
            parts.push((taps.rows + t * taps.nodes + node, tapped.clone()));
        }
    }
    Ok(parts)
}

fn split_rows(
    batch: &RecordBatch,
    keys: &[Arc<dyn PhysicalExpr>],
    consumers: usize,
) -> Result<Vec<(usize, RecordBatch)>> {
    if keys.is_empty() {
        return Ok((0..consumers).map(|c| (c, batch.clone())).collect());
    }
    let columns = keys
        .iter()
        .map(|k| k.evaluate(batch)?.into_array(batch.num_rows()))
        .collect::<Result<Vec<_>>>()?;
    let hashes = hash_rows(&columns).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); consumers];
    for (row, h) in hashes.into_iter().enumerate() {
        rows[(h % consumers as u64) as usize].push(row as u32);
    }
    rows.into_iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty())
        .map(|(c, r)| Ok((c, take_record_batch(batch, &UInt32Array::from(r))?)))
        .collect()
}

/// A node's running producer tasks; dropping the last handle aborts them.
struct Producers(Vec<tokio::task::AbortHandle>);

impl Drop for Producers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

struct Producing {
    receivers: Vec<Option<mpsc::Receiver<Result<RecordBatch>>>>,
    producers: Arc<Producers>,
    created: Instant,
}

/// A compute node's exchanges being produced, by exchange id: an entry lives from the
/// first consumer's call until every consumer has taken its stream (then the streams
/// hold the producers), or is dropped if consumers never come.
#[derive(Default)]
pub struct ExchangeRegistry {
    producing: Mutex<HashMap<String, Producing>>,
}

type Taken = (mpsc::Receiver<Result<RecordBatch>>, Arc<Producers>);

impl ExchangeRegistry {
    /// Drops the entries whose consumers did not all come in time (stopping their
    /// producers, unless a consumer that came still reads them). Called on every new
    /// consumer and periodically by the node.
    pub fn sweep(&self) {
        self.producing
            .lock()
            .expect("exchange registry")
            .retain(|_, p| p.created.elapsed() < UNCLAIMED_KEPT);
    }

    /// Drops the exchanges of a cancelled run (stopping their producers, unless a
    /// consumer still reads them).
    pub fn cancel(&self, prefix: &str) {
        self.producing
            .lock()
            .expect("exchange registry")
            .retain(|id, _| !id.starts_with(prefix));
    }

    fn take(&self, id: &str, consumer: usize, start: impl FnOnce() -> Producing) -> Result<Taken> {
        self.sweep();
        let mut producing = self.producing.lock().expect("exchange registry");
        let entry = producing.entry(id.to_string()).or_insert_with(start);
        let count = entry.receivers.len();
        let rx = entry
            .receivers
            .get_mut(consumer)
            .ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "exchange {id}: no consumer {consumer} of {count}"
                ))
            })?
            .take()
            .ok_or_else(|| {
                DataFusionError::Internal(format!("exchange {id}: consumer {consumer} came twice"))
            })?;
        let producers = Arc::clone(&entry.producers);
        if entry.receivers.iter().all(Option::is_none) {
            producing.remove(id);
        }
        Ok((rx, producers))
    }
}

impl DisplayAs for ExchangeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        if self.spec.broadcast {
            write!(f, "BroadcastExec: to {} nodes", self.spec.topology.nodes)
        } else if self.spec.single {
            write!(f, "RedistributeExec: to slice 0")
        } else {
            let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
            write!(
                f,
                "RedistributeExec: keys=[{}], to {} slices",
                keys.join(", "),
                self.spec.topology.total_slices()
            )
        }
    }
}

impl ExecutionPlan for ExchangeExec {
    fn name(&self) -> &'static str {
        "ExchangeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn child_stats_requests(
        &self,
        partition: Option<usize>,
    ) -> Vec<datafusion::physical_plan::statistics::ChildStats> {
        super::whole_input_request(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<datafusion::common::Statistics>],
        args: &datafusion::physical_plan::StatisticsArgs,
    ) -> Result<Arc<datafusion::common::Statistics>> {
        Ok(super::whole_input_statistics(
            input_stats,
            args,
            &self.schema(),
        ))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for k in &self.keys {
            if f(k)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("ExchangeExec needs its input".into()))?;
        Ok(Arc::new(ExchangeExec::new(
            input,
            self.keys.clone(),
            self.spec.clone(),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        ExecutionPlan::replace_children(
            self,
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }

    /// The consumer side: partition `partition` of the exchanged rows (for a broadcast,
    /// the one partition of this node), merged from every producer node.
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let consumer = if self.spec.broadcast {
            local_node(&context)? as usize
        } else {
            partition
        };
        let rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        self.consume(consumer, self.schema(), rows, context)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

impl ExchangeExec {
    /// Consumer `consumer`'s rows (of `schema`: a tap's are its key columns), merged from
    /// every producer node, counted in `rows`.
    pub(super) fn consume(
        &self,
        consumer: usize,
        schema: arrow::datatypes::SchemaRef,
        rows: datafusion::physical_plan::metrics::Count,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let plan = self.encoded()?;
        let timeout = Duration::from_secs(self.spec.timeout_secs.max(1));
        let mut builder = RecordBatchReceiverStreamBuilder::new(schema, BUFFERED_BATCHES);
        let local = context
            .session_config()
            .get_extension::<ExchangeRegistry>()
            .and_then(|_| local_node(&context).ok());
        // Every producer node is asked at once, so each learns of this consumer now.
        for node in self.producer_nodes() {
            if Some(node) == local {
                self.pull_local(
                    &mut builder,
                    consumer,
                    node,
                    Arc::clone(&context),
                    rows.clone(),
                )?;
                continue;
            }
            let client = crate::write::peer(&self.spec.nodes, node, timeout)?;
            let ticket = StageTicket {
                plan: plan.to_vec(),
                partition: consumer as u32,
                query_id: self.spec.id.clone(),
                exchange: true,
                stage: String::new(),
                local_partitions: 0,
            };
            pull(&mut builder, client, ticket, rows.clone());
        }
        Ok(builder.build())
    }
}
