//! Semi joins that only filter a probe side by a small set of integer keys become
//! [`KeyFilterExec`]s: a bitmap or hash-set lookup per row instead of a hash join's match
//! lists. They come from a key tap (`key_taps`), a rerun build side
//! (`semi_join_reduction`) and a grouped side reduced to the keys the other side can
//! match (`reduce_groups`): a right semi join built whole (collect-left) on one Int32 or
//! Int64 key compared with `=`, with no other condition, whose output is the probe side
//! as it is.

use std::sync::Arc;

use blueshift_compute::{KeyFilterExec, filterable};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{JoinType, NullEquality};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

/// `plan` with each such semi join replaced.
pub fn rewrite(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(join) = node.downcast_ref::<HashJoinExec>() else {
            return Ok(Transformed::no(node));
        };
        match key_filter(join)? {
            Some(filter) => Ok(Transformed::yes(Arc::new(filter) as Arc<dyn ExecutionPlan>)),
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|t| t.data)
}

fn key_filter(join: &HashJoinExec) -> Result<Option<KeyFilterExec>> {
    let [(build_key, probe_key)] = join.on() else {
        return Ok(None);
    };
    let plain = *join.join_type() == JoinType::RightSemi
        && *join.partition_mode() == PartitionMode::CollectLeft
        && join.filter().is_none()
        && join.projection.is_none()
        // A LIMIT DataFusion folded into the join holds only there.
        && join.fetch().is_none()
        && !join.null_aware
        && join.null_equality() == NullEquality::NullEqualsNothing;
    if !plain {
        return Ok(None);
    }
    let left = join.left();
    let right = join.right();
    // The keys are the build side's first column, alone.
    let build_is_the_key = left.schema().fields().len() == 1
        && build_key
            .downcast_ref::<Column>()
            .is_some_and(|c| c.index() == 0);
    let (build_type, probe_type) = (
        build_key.data_type(&left.schema())?,
        probe_key.data_type(&right.schema())?,
    );
    if !build_is_the_key
        || build_type != probe_type
        || !filterable(&build_type)
        || left.output_partitioning().partition_count() != 1
    {
        return Ok(None);
    }
    Ok(Some(KeyFilterExec::try_new(
        Arc::clone(left),
        Arc::clone(right),
        Arc::clone(probe_key),
    )?))
}
