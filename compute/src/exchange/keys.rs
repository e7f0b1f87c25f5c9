//! A key tap: the join keys of a build side's rows, read on every node from the exchange
//! that redistributes that build side, so a probe side can be filtered by them before it
//! is redistributed, without running the build side a second time.
//!
//! ```text
//!   producer node A  (build side's stage)          producer node B
//!     │ rows by key hash ──► consumers c0..c3 ◄──── │
//!     │ key columns of every row ──► tap t, node 0 / node 1 ◄── │
//!                                     │
//!                                     ▼
//!   KeysExec on node n (one partition): the whole build side's keys
//! ```

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};

use super::ExchangeExec;

/// Tap `tap` of `source`: on each node, every row's key columns. A leaf: the build side
/// it reads is another stage (the source exchange's producers), run once for both.
pub struct KeysExec {
    source: Arc<ExchangeExec>,
    tap: usize,
    schema: SchemaRef,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
}

impl fmt::Debug for KeysExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeysExec")
            .field("source", &self.source.spec().id)
            .field("tap", &self.tap)
            .finish()
    }
}

impl KeysExec {
    pub fn new(source: Arc<ExchangeExec>, tap: usize) -> Result<Self> {
        let columns = source.spec().taps.get(tap).ok_or_else(|| {
            DataFusionError::Internal(format!(
                "exchange {} has no key tap {tap}",
                source.spec().id
            ))
        })?;
        let schema = Arc::new(source.schema().project(columns)?);
        let cache = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(KeysExec {
            source,
            tap,
            schema,
            metrics: ExecutionPlanMetricsSet::new(),
            cache: Arc::new(cache),
        })
    }

    /// The exchange whose producers send the keys.
    pub fn source(&self) -> &Arc<ExchangeExec> {
        &self.source
    }

    pub fn tap(&self) -> usize {
        self.tap
    }
}

impl DisplayAs for KeysExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(
            f,
            "BroadcastKeysExec: keys=[{}] of the redistributed build side, to {} nodes",
            keys.join(", "),
            self.source.spec().topology.nodes
        )
    }
}

impl ExecutionPlan for KeysExec {
    fn name(&self) -> &'static str {
        "KeysExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal("KeysExec has no children".into()))
        }
    }

    /// This node's tap consumer: every producer node's keys.
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let node = super::shuffle::local_node(&context)? as usize;
        let spec = self.source.spec();
        let consumer = spec.row_consumers() + self.tap * spec.topology.nodes as usize + node;
        let rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        self.source
            .consume(consumer, Arc::clone(&self.schema), rows, context)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
