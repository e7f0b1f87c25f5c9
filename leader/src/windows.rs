//! Window results DataFusion believes sorted when they are not.
//!
//! DataFusion 55 derives orderings of a window's result from the set-monotonicity of its
//! aggregate: a running `MAX` over `ORDER BY x` grows, so it calls the result ordered
//! ascending, NULLs last. But the running `MAX` of a frame that holds only NULLs is NULL,
//! and those rows come first: the result is ascending with NULLs *first*. A later
//! `ORDER BY 1` is then dropped as already satisfied, and rows come back in the wrong
//! order without an error (`SELECT max(s) OVER (ORDER BY a DESC) … ORDER BY 1`).
//!
//! [`HideWindowOrderings`] (a physical optimizer rule that runs before sorts are placed)
//! puts a [`WindowOrderingExec`] over every window node: it passes batches through and
//! declares only the orderings of the window's input columns, so a sort on a window
//! result is always made. Remove when upstream accounts for NULLs there.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};

#[derive(Debug, Default)]
pub struct HideWindowOrderings;

impl PhysicalOptimizerRule for HideWindowOrderings {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            if p.is::<BoundedWindowAggExec>() || p.is::<WindowAggExec>() {
                Ok(Transformed::yes(WindowOrderingExec::over(p)))
            } else {
                Ok(Transformed::no(p))
            }
        })
        .map(|t| t.data)
    }
    fn name(&self) -> &str {
        "blueshift_hide_window_orderings"
    }
    fn schema_check(&self) -> bool {
        true
    }
}

/// Its window child's batches, with only the orderings of the window's input columns.
#[derive(Debug)]
pub struct WindowOrderingExec {
    window: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl WindowOrderingExec {
    fn over(window: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        // A window's output is its input's columns, at the same positions, then its own:
        // orderings of the input hold for the output as they are.
        let input_orderings: Vec<_> = window
            .children()
            .first()
            .map(|input| {
                input
                    .equivalence_properties()
                    .oeq_class()
                    .iter()
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let eq = EquivalenceProperties::new_with_orderings(window.schema(), input_orderings);
        let properties = Arc::new(PlanProperties::new(
            eq,
            window.output_partitioning().clone(),
            window.pipeline_behavior(),
            window.boundedness(),
        ));
        Arc::new(WindowOrderingExec { window, properties })
    }
}

impl DisplayAs for WindowOrderingExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "WindowOrderingExec")
    }
}

impl ExecutionPlan for WindowOrderingExec {
    fn name(&self) -> &str {
        "WindowOrderingExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.window]
    }
    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    /// False, though it does: otherwise a sort above is pushed down through it to the
    /// window, which claims to satisfy it.
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }
    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(WindowOrderingExec::over(children.swap_remove(0)))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.window.execute(partition, context)
    }
}
