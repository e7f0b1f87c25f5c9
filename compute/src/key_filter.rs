//! A probe side filtered by a set of integer join keys: the semi join that keeps only the
//! rows whose key the other side holds, without a hash join's match lists.
//!
//! ```text
//!   keys (one partition: a broadcast build side, or a key tap) ──► set, built once per node
//!                                                                     │ contains?
//!   input partition p ── batch ── key column ── mask ── filter ──► output partition p
//! ```
//!
//! A right semi join of a small build side with a large probe side (a key tap's filter,
//! a grouped side reduced to the keys the other side can match) spends most of its time
//! building match lists it then throws away. Here a batch's keys are looked up in a
//! bitmap (keys within a span of [`MAX_BITMAP_SPAN`]) or a hash set, and the batch is
//! filtered by the answer. Only one Int32 or Int64 key column qualifies; the planner keeps
//! the hash join for anything else. A NULL key matches nothing, as in the join.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::buffer::BooleanBuffer;
use arrow::compute::BatchCoalescer;
use arrow::datatypes::{DataType, Int32Type, Int64Type, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{JoinType, NullEquality, Statistics};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream,
};
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt};

/// Keys spanning at most this many values are kept as a bitmap (16 MiB at most).
pub const MAX_BITMAP_SPAN: i64 = 1 << 27;

/// Whether a key of this type can be filtered by a [`KeyFilterExec`].
pub fn filterable(key: &DataType) -> bool {
    matches!(key, DataType::Int32 | DataType::Int64)
}

/// The keys, for lookups.
enum KeySet {
    /// Bit `k - low` is set for each key `k`.
    Bitmap {
        low: i64,
        bits: Vec<u64>,
    },
    Hash(HashSet<i64>),
}

impl KeySet {
    fn build(keys: Vec<i64>) -> KeySet {
        let (Some(&low), Some(&high)) = (keys.iter().min(), keys.iter().max()) else {
            return KeySet::Hash(HashSet::new());
        };
        match high.checked_sub(low) {
            Some(span) if span < MAX_BITMAP_SPAN => {
                let mut bits = vec![0u64; (span as usize) / 64 + 1];
                for k in keys {
                    let at = (k - low) as usize;
                    bits[at / 64] |= 1 << (at % 64);
                }
                KeySet::Bitmap { low, bits }
            }
            _ => KeySet::Hash(keys.into_iter().collect()),
        }
    }

    /// Bytes held.
    fn size(&self) -> usize {
        match self {
            KeySet::Bitmap { bits, .. } => bits.capacity() * size_of::<u64>(),
            KeySet::Hash(set) => set.capacity() * (size_of::<i64>() + 8),
        }
    }

    fn contains(&self, k: i64) -> bool {
        match self {
            KeySet::Bitmap { low, bits } => match k.checked_sub(*low) {
                Some(at) if at >= 0 => {
                    let at = at as u64;
                    bits.get((at / 64) as usize)
                        .is_some_and(|w| w & (1 << (at % 64)) != 0)
                }
                _ => false,
            },
            KeySet::Hash(set) => set.contains(&k),
        }
    }

    /// Which rows of `column` (Int32 or Int64) hold a key of the set; NULL holds none.
    fn mask(&self, column: &dyn Array) -> Result<BooleanArray> {
        let len = column.len();
        let bits = match column.data_type() {
            DataType::Int64 => {
                let a = column.as_primitive::<Int64Type>();
                let v = a.values();
                BooleanBuffer::collect_bool(len, |i| a.is_valid(i) && self.contains(v[i]))
            }
            DataType::Int32 => {
                let a = column.as_primitive::<Int32Type>();
                let v = a.values();
                BooleanBuffer::collect_bool(len, |i| a.is_valid(i) && self.contains(v[i] as i64))
            }
            other => {
                return Err(DataFusionError::Internal(format!(
                    "key filter on a {other} column"
                )));
            }
        };
        Ok(BooleanArray::new(bits, None))
    }
}

fn key_values(column: &dyn Array, into: &mut Vec<i64>) -> Result<()> {
    match column.data_type() {
        DataType::Int64 => into.extend(column.as_primitive::<Int64Type>().iter().flatten()),
        DataType::Int32 => into.extend(
            column
                .as_primitive::<Int32Type>()
                .iter()
                .flatten()
                .map(i64::from),
        ),
        other => {
            return Err(DataFusionError::Internal(format!(
                "key filter keys of type {other}"
            )));
        }
    }
    Ok(())
}

/// The keys' set, and the memory it holds in the node's pool.
struct Built {
    set: KeySet,
    _reservation: MemoryReservation,
}

type Building = Shared<BoxFuture<'static, Result<Arc<Built>, Arc<DataFusionError>>>>;

/// `input`'s rows whose `on` value is among the first column of `keys` (one partition,
/// read once per node however many of `input`'s partitions run there).
pub struct KeyFilterExec {
    keys: Arc<dyn ExecutionPlan>,
    input: Arc<dyn ExecutionPlan>,
    on: Arc<dyn PhysicalExpr>,
    /// Started by the first partition executed on this node: the keys are read once.
    set: Arc<Mutex<Option<Building>>>,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
}

impl fmt::Debug for KeyFilterExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFilterExec")
            .field("on", &self.on)
            .finish()
    }
}

impl KeyFilterExec {
    pub fn try_new(
        keys: Arc<dyn ExecutionPlan>,
        input: Arc<dyn ExecutionPlan>,
        on: Arc<dyn PhysicalExpr>,
    ) -> Result<Self> {
        let key_type = keys
            .schema()
            .fields()
            .first()
            .map(|f| f.data_type().clone())
            .ok_or_else(|| DataFusionError::Internal("key filter without keys".into()))?;
        let on_type = on.data_type(&input.schema())?;
        if !filterable(&key_type) || !filterable(&on_type) {
            return Err(DataFusionError::Internal(format!(
                "key filter of {on_type} by {key_type} keys"
            )));
        }
        if keys.output_partitioning().partition_count() != 1 {
            return Err(DataFusionError::Internal(
                "key filter keys must be one partition".into(),
            ));
        }
        // Rows are only dropped: the input's partitioning and order hold.
        let cache = Arc::new(input.properties().as_ref().clone());
        Ok(KeyFilterExec {
            keys,
            input,
            on,
            set: Arc::new(Mutex::new(None)),
            metrics: ExecutionPlanMetricsSet::new(),
            cache,
        })
    }

    pub fn keys(&self) -> &Arc<dyn ExecutionPlan> {
        &self.keys
    }

    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    pub fn on(&self) -> &Arc<dyn PhysicalExpr> {
        &self.on
    }
}

impl DisplayAs for KeyFilterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let key = self
            .keys
            .schema()
            .fields()
            .first()
            .map(|f| f.name().clone())
            .unwrap_or_default();
        write!(f, "KeyFilterExec: {} in keys [{key}]", self.on)
    }
}

impl ExecutionPlan for KeyFilterExec {
    fn name(&self) -> &'static str {
        "KeyFilterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.keys, &self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        f(&self.on)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [keys, input]: [Arc<dyn ExecutionPlan>; 2] = children
            .try_into()
            .map_err(|_| DataFusionError::Internal("KeyFilterExec has two children".into()))?;
        Ok(Arc::new(KeyFilterExec::try_new(
            keys,
            input,
            Arc::clone(&self.on),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let set = self.keys_set(&context)?;
        let context_batch_size = context.session_config().batch_size();
        let input = self.input.execute(partition, context)?;
        let schema: SchemaRef = self.input.schema();
        let on = Arc::clone(&self.on);
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        // Kept rows are gathered into full batches: a selective filter would otherwise
        // send many small ones on to the next exchange.
        let coalescer = BatchCoalescer::new(Arc::clone(&schema), context_batch_size);
        let stream = futures::stream::once(async move {
            let built = set.await.map_err(DataFusionError::Shared)?;
            let state = Filtering {
                input,
                coalescer,
                built,
                on,
                metrics,
                done: false,
            };
            Ok::<_, DataFusionError>(futures::stream::unfold(state, Filtering::next))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    /// The estimates of the semi join this filter stands for.
    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        match partition {
            Some(_) => vec![ChildStats::At(None), ChildStats::At(partition)],
            None => vec![ChildStats::At(None), ChildStats::At(None)],
        }
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.as_join()?.statistics_from_inputs(input_stats, args)
    }
}

/// One partition's filtering: input batches in, full batches of kept rows out.
struct Filtering {
    input: SendableRecordBatchStream,
    coalescer: BatchCoalescer,
    built: Arc<Built>,
    on: Arc<dyn PhysicalExpr>,
    metrics: BaselineMetrics,
    done: bool,
}

impl Filtering {
    async fn next(mut self) -> Option<(Result<RecordBatch>, Self)> {
        loop {
            if let Some(batch) = self.coalescer.next_completed_batch() {
                self.metrics.record_output(batch.num_rows());
                return Some((Ok(batch), self));
            }
            if self.done {
                return None;
            }
            match self.input.next().await {
                Some(Ok(batch)) => {
                    if let Err(e) = self.push(batch) {
                        self.done = true;
                        return Some((Err(e), self));
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some((Err(e), self));
                }
                None => {
                    self.done = true;
                    if let Err(e) = self.coalescer.finish_buffered_batch() {
                        return Some((Err(e.into()), self));
                    }
                }
            }
        }
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        let _timer = self.metrics.elapsed_compute().timer();
        let keys = self.on.evaluate(&batch)?.into_array(batch.num_rows())?;
        let mask = self.built.set.mask(keys.as_ref())?;
        self.coalescer.push_batch_with_filter(batch, &mask)?;
        Ok(())
    }
}

impl KeyFilterExec {
    /// The keys' set being built: started (the keys executed, as a collect-left join
    /// executes its build side) by the first partition to run on this node, shared by
    /// the rest, and kept however many of them are dropped before it is done.
    fn keys_set(&self, context: &Arc<TaskContext>) -> Result<Building> {
        let mut slot = self
            .set
            .lock()
            .map_err(|_| DataFusionError::Internal("key filter lock poisoned".into()))?;
        if let Some(building) = slot.as_ref() {
            return Ok(building.clone());
        }
        let mut batches = self.keys.execute(0, Arc::clone(context))?;
        let reservation = MemoryConsumer::new("KeyFilterExec").register(context.memory_pool());
        let building = async move {
            let mut values = Vec::new();
            while let Some(batch) = batches.next().await {
                let batch = batch?;
                reservation.try_grow(batch.num_rows() * size_of::<i64>())?;
                key_values(batch.column(0).as_ref(), &mut values)?;
            }
            let set = KeySet::build(values);
            reservation.try_resize(set.size())?;
            Ok(Arc::new(Built {
                set,
                _reservation: reservation,
            }))
        }
        .map(|r: Result<Arc<Built>>| r.map_err(Arc::new))
        .boxed()
        .shared();
        *slot = Some(building.clone());
        Ok(building)
    }

    /// The collect-left right semi join that keeps the same rows.
    fn as_join(&self) -> Result<HashJoinExec> {
        semi_join_by_keys(
            Arc::clone(&self.keys),
            Arc::clone(&self.input),
            std::slice::from_ref(&self.on),
        )
    }
}

/// `probe` filtered by the keys `keys` brings (its columns, in the order of `probe_keys`):
/// a collect-left right semi join, so `keys` is built once per node and `probe` streams.
pub fn semi_join_by_keys(
    keys: Arc<dyn ExecutionPlan>,
    probe: Arc<dyn ExecutionPlan>,
    probe_keys: &[Arc<dyn PhysicalExpr>],
) -> Result<HashJoinExec> {
    let schema = keys.schema();
    let on = probe_keys
        .iter()
        .enumerate()
        .map(|(i, probe_key)| {
            let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new(schema.field(i).name(), i));
            (key, Arc::clone(probe_key))
        })
        .collect();
    HashJoinExec::try_new(
        keys,
        probe,
        on,
        None,
        &JoinType::RightSemi,
        None,
        PartitionMode::CollectLeft,
        NullEquality::NullEqualsNothing,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array};

    fn kept(set: &KeySet, probe: &dyn Array) -> Vec<bool> {
        set.mask(probe)
            .unwrap()
            .iter()
            .map(|b| b.unwrap())
            .collect()
    }

    #[test]
    fn a_bitmap_and_a_hash_set_keep_the_same_rows() {
        let keys = vec![5, 9, 64, 65, 1_000, -3];
        let probe = Int64Array::from(vec![
            Some(5),
            None,
            Some(6),
            Some(-3),
            Some(65),
            Some(i64::MIN),
            Some(i64::MAX),
            Some(1_000),
            Some(1_001),
            Some(-4),
        ]);
        let bitmap = KeySet::build(keys.clone());
        assert!(matches!(bitmap, KeySet::Bitmap { .. }));
        let hash = KeySet::Hash(keys.into_iter().collect());
        let want = vec![
            true, false, false, true, true, false, false, true, false, false,
        ];
        for set in [bitmap, hash] {
            assert_eq!(kept(&set, &probe), want);
        }
    }

    #[test]
    fn keys_far_apart_use_a_hash_set_and_int32_columns_match() {
        let set = KeySet::build(vec![i64::MIN, 7, i64::MAX]);
        assert!(matches!(set, KeySet::Hash(_)));
        let probe = Int32Array::from(vec![Some(7), Some(8), None]);
        assert_eq!(kept(&set, &probe), vec![true, false, false]);
        let empty = KeySet::build(vec![]);
        assert!(!empty.mask(&probe).unwrap().iter().any(|b| b.unwrap()));
    }
}
