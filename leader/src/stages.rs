//! Distribution as plan nodes. DataFusion plans a query as if on one machine, with
//! [`SliceScanExec`] leaves that have one partition per slice. [`distribute`] then finds
//! every maximal subtree that can run slice-locally (scans, filters, projections, partial
//! aggregates, per-partition sorts and limits) and puts a [`GatherExec`] network boundary
//! on top of it. Each such subtree is a *stage*: serialized with datafusion-proto, sent to
//! the node owning each slice, run there, and streamed back over Arrow Flight. What is
//! left above the boundaries runs on the leader.
//!
//! Later boundary kinds (redistribute by key, broadcast) are further `ExecutionPlan` nodes
//! of the same shape; the cutting rule and the stage shipping do not change.

use std::sync::{Arc, Mutex, OnceLock};

use blueshift_compute::{GatherExec, Peers};
use blueshift_storage::SliceScanExec;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::limit::LocalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, ReplaceChildrenOptions};

/// Functions every compute node knows: DataFusion's built-ins and Redshift's (the
/// `functions` crate, registered on the nodes too). Functions registered only in the
/// leader's session (pg_catalog helpers) keep their expressions on the leader.
fn builtin_functions() -> &'static std::collections::HashSet<String> {
    static NAMES: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let ctx = datafusion::prelude::SessionContext::new();
        blueshift_functions::register(&ctx);
        ctx.state().scalar_functions().keys().cloned().collect()
    })
}

/// Whether a node's expressions need something that lives only on the leader: a scalar
/// subquery (its value is computed by a `ScalarSubqueryExec` there) or a leader-only function.
fn needs_leader(plan: &dyn ExecutionPlan) -> bool {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::physical_expr::ScalarFunctionExpr;
    use datafusion::physical_expr::scalar_subquery::ScalarSubqueryExpr;
    let mut found = false;
    let _ = plan.apply_expressions(&mut |e| {
        e.apply(|sub| {
            let leader_only = sub.is::<ScalarSubqueryExpr>()
                || sub
                    .downcast_ref::<ScalarFunctionExpr>()
                    .is_some_and(|f| !builtin_functions().contains(f.name()));
            if leader_only {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })
    });
    found
}

/// Whether a plan node runs slice-locally: partition i of its output depends only on
/// partition i of its input.
fn slice_local(plan: &dyn ExecutionPlan) -> bool {
    if needs_leader(plan) {
        return false;
    }
    if let Some(agg) = plan.downcast_ref::<AggregateExec>() {
        return matches!(agg.mode(), AggregateMode::Partial);
    }
    if let Some(sort) = plan.downcast_ref::<SortExec>() {
        return sort.preserve_partitioning();
    }
    plan.is::<FilterExec>()
        || plan.is::<ProjectionExec>()
        || plan.is::<CooperativeExec>()
        || plan.is::<LocalLimitExec>()
}

/// Whether a whole subtree can run as one stage on the slices.
fn is_stage(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if plan.is::<SliceScanExec>() {
        return true;
    }
    let children = plan.children();
    !children.is_empty() && slice_local(plan.as_ref()) && children.into_iter().all(is_stage)
}

fn scan_slices(plan: &Arc<dyn ExecutionPlan>) -> Vec<u32> {
    if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
        return scan.slices();
    }
    plan.children().into_iter().flat_map(scan_slices).collect()
}

/// Cuts a single-node physical plan into stages by inserting [`GatherExec`] boundaries.
pub fn distribute(
    plan: Arc<dyn ExecutionPlan>,
    cluster: &Arc<Peers>,
    query_id: &str,
) -> Result<Arc<dyn ExecutionPlan>> {
    let next_id = Mutex::new(1usize);
    cut(plan, cluster, query_id, &next_id)
}

fn cut(
    plan: Arc<dyn ExecutionPlan>,
    cluster: &Arc<Peers>,
    query_id: &str,
    next_id: &Mutex<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    if is_stage(&plan) {
        let slices = scan_slices(&plan);
        let id = {
            let mut n = next_id.lock().expect("stage counter");
            let id = *n;
            *n += 1;
            id
        };
        return Ok(Arc::new(GatherExec::new(
            plan,
            id,
            slices,
            Arc::clone(cluster),
            query_id.to_string(),
        )));
    }
    let children = plan.children();
    if children.is_empty() {
        return Ok(plan);
    }
    let new_children = children
        .into_iter()
        .map(|c| cut(Arc::clone(c), cluster, query_id, next_id))
        .collect::<Result<Vec<_>>>()?;
    plan.replace_children(
        new_children,
        ReplaceChildrenOptions::new(datafusion::physical_plan::ChildrenPropertiesMode::Recompute),
    )
}

/// Renders a distributed plan as its stages, leader first, for EXPLAIN.
/// With `analyze`, each node shows its metrics and each boundary its rows per slice.
pub fn explain(plan: &Arc<dyn ExecutionPlan>, cluster: &Peers, analyze: bool) -> Vec<String> {
    let mut out = vec!["Stage 0 (leader)".to_string()];
    let mut stages: Vec<&GatherExec> = Vec::new();
    render(plan.as_ref(), 1, analyze, &mut out, &mut stages);
    let mut i = 0;
    while i < stages.len() {
        let g = stages[i];
        let mut by_node: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
        for s in g.slices() {
            by_node
                .entry(cluster.topology.node_of(*s))
                .or_default()
                .push(*s);
        }
        let placement = by_node
            .iter()
            .map(|(n, s)| format!("node {n}: slices {s:?}"))
            .collect::<Vec<_>>()
            .join("; ");
        out.push(String::new());
        out.push(format!(
            "Stage {} (compute; {placement}) -> GatherExec to stage 0",
            g.stage_id()
        ));
        if analyze {
            let rows = g
                .rows_per_slice()
                .iter()
                .map(|(s, r)| format!("slice {s}={r}"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(format!("  rows per slice: {rows}"));
        }
        render(g.stage().as_ref(), 1, analyze, &mut out, &mut stages);
        i += 1;
    }
    out
}

fn render<'a>(
    plan: &'a dyn ExecutionPlan,
    depth: usize,
    analyze: bool,
    out: &mut Vec<String>,
    stages: &mut Vec<&'a GatherExec>,
) {
    let line = if analyze {
        datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(plan)
            .one_line()
            .to_string()
    } else {
        datafusion::physical_plan::display::DisplayableExecutionPlan::new(plan)
            .one_line()
            .to_string()
    };
    out.push(format!("{}{}", "  ".repeat(depth), line.trim_end()));
    if let Some(g) = plan.downcast_ref::<GatherExec>() {
        stages.push(g);
        return;
    }
    for child in plan.children() {
        render(child.as_ref(), depth + 1, analyze, out, stages);
    }
}
