//! The gather boundary: a stage's output, streamed from every slice to the leader.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;

use crate::codec::BlueshiftCodec;
use crate::peers::Peers;
use crate::protocol::StageTicket;

/// Gathers a stage's output from the slices to the leader, one partition per slice.
///
/// ```text
///                 GatherExec (leader)     partition i ◄── slice i's stream
///        ┌──────────────┼──────────────┐
///   node 0: slice 0,1   node 1: slice 2,3   ...   (Arrow Flight do_get per slice)
/// ```
pub struct GatherExec {
    stage: Arc<dyn ExecutionPlan>,
    stage_id: usize,
    slices: Vec<u32>,
    peers: Arc<Peers>,
    query_id: String,
    encoded: OnceLock<std::result::Result<Bytes, String>>,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
}

impl fmt::Debug for GatherExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherExec")
            .field("stage_id", &self.stage_id)
            .field("slices", &self.slices)
            .finish()
    }
}

impl GatherExec {
    /// A boundary over `stage`, whose partition `i` runs on the node owning `slices[i]`.
    pub fn new(
        stage: Arc<dyn ExecutionPlan>,
        stage_id: usize,
        slices: Vec<u32>,
        peers: Arc<Peers>,
        query_id: String,
    ) -> Self {
        let cache = Arc::clone(stage.properties());
        GatherExec {
            stage,
            stage_id,
            slices,
            peers,
            query_id,
            encoded: OnceLock::new(),
            metrics: ExecutionPlanMetricsSet::new(),
            cache,
        }
    }

    pub fn stage(&self) -> &Arc<dyn ExecutionPlan> {
        &self.stage
    }

    pub fn stage_id(&self) -> usize {
        self.stage_id
    }

    /// The run this stage belongs to (unique per distributed plan).
    pub fn query_id(&self) -> &str {
        &self.query_id
    }

    pub fn slices(&self) -> &[u32] {
        &self.slices
    }

    fn encoded(&self) -> Result<Bytes> {
        self.encoded
            .get_or_init(|| {
                physical_plan_to_bytes_with_extension_codec(
                    Arc::clone(&self.stage),
                    &BlueshiftCodec,
                )
                .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| {
                DataFusionError::Internal(format!("cannot serialize stage {}: {e}", self.stage_id))
            })
    }
}

impl DisplayAs for GatherExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "GatherExec: slices={:?}", self.slices)
    }
}

impl ExecutionPlan for GatherExec {
    fn name(&self) -> &'static str {
        "GatherExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.stage]
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
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let stage = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("GatherExec needs its stage".into()))?;
        Ok(Arc::new(GatherExec::new(
            stage,
            self.stage_id,
            self.slices.clone(),
            Arc::clone(&self.peers),
            self.query_id.clone(),
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

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let slice = *self.slices.get(partition).ok_or_else(|| {
            DataFusionError::Internal(format!("GatherExec has no partition {partition}"))
        })?;
        let client = self.peers.client_for_slice(slice).clone();
        let ticket = StageTicket {
            plan: self.encoded()?.to_vec(),
            partition: partition as u32,
            query_id: self.query_id.clone(),
            exchange: false,
            stage: format!("{}/s{}", self.query_id, self.stage_id),
            local_partitions: self
                .slices
                .iter()
                .filter(|s| self.peers.topology.node_of(**s) == self.peers.topology.node_of(slice))
                .count() as u32,
        };
        let rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        // The stage starts now, not when first polled: its exchanges' producers wait for
        // every consumer, and one that never asked would hold them up.
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema(), 2);
        super::shuffle::pull(&mut builder, client, ticket, rows);
        Ok(builder.build())
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
