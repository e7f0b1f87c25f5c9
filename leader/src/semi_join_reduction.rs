//! Filter a large side by the small side's join keys before it is redistributed.
//!
//! A partitioned join whose probe side is not stored by the join key redistributes every
//! probe row, even when the build side is small and most probe rows can match nothing.
//! On an all-EVEN schema, TPC-H Q4's `EXISTS (… lineitem …)` moved all 3.8M filtered
//! lineitem rows to meet 57K orders:
//!
//! ```text
//!   before:  build ──redistribute──┐
//!            probe ──redistribute──┴─ join            (6M probe rows move)
//!
//!   after:   build ──redistribute──────────────────────────┐
//!            keys(build') ──broadcast──┐                   │
//!            probe ────────────────────┴─ semi join ──redistribute─┴─ join
//!                                      (only probe rows whose key the build has move)
//! ```
//!
//! `build'` is a second copy of (a superset of) the build side's plan, run only for its
//! keys, so [`ReduceProbeSides`] applies only where recomputing it is cheap next to what
//! it saves:
//!
//! - the join may drop probe rows without a matching key (inner, left, left semi and
//!   anti, right semi), has no null-equal keys, and is not null-aware;
//! - the probe side is not already stored by the key, and has more than
//!   [`MIN_REDUCTION`] times the rows the keys broadcast moves;
//! - the key source reads no more table rows than the probe side has, and keeps at most
//!   half of them (a whole table's keys, a foreign key's targets, filter nothing);
//! - the key source is at most [`MAX_BROADCAST_ROWS`](crate::broadcast_joins::MAX_BROADCAST_ROWS)
//!   rows, and is built only of deterministic scans, filters, projections and hash joins,
//!   so the copy gives the same keys (or, under a semi or anti join, a superset of them:
//!   the key source is the semi or anti join's own left side).

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{NullEquality, Result};
use datafusion::logical_expr::JoinType;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_common::physical_expr::is_volatile;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};

use blueshift_storage::SliceScanExec;

/// How many times the rows the broadcast keys move the probe side must have.
pub const MIN_REDUCTION: usize = 4;

/// See the module documentation.
#[derive(Debug)]
pub struct ReduceProbeSides {
    pub nodes: usize,
}

impl PhysicalOptimizerRule for ReduceProbeSides {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if self.nodes < 2 {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            match self.reduced_probe(join)? {
                Some(probe) => {
                    let children = vec![Arc::clone(join.left()), probe];
                    Ok(Transformed::yes(Arc::clone(&node).replace_children(
                        children,
                        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
                    )?))
                }
                None => Ok(Transformed::no(node)),
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "reduce_probe_sides"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

impl ReduceProbeSides {
    /// `join`'s probe side filtered by the build side's keys, if that pays.
    fn reduced_probe(&self, join: &HashJoinExec) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let reducible = match join.partition_mode() {
            PartitionMode::Partitioned => matches!(
                join.join_type(),
                JoinType::Inner
                    | JoinType::Left
                    | JoinType::LeftSemi
                    | JoinType::LeftAnti
                    | JoinType::RightSemi
            ),
            // A collect-left join that emits build rows is placed with both sides
            // redistributed (unless a side is a DISTSTYLE ALL table, placed otherwise).
            PartitionMode::CollectLeft => {
                matches!(
                    join.join_type(),
                    JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti
                ) && !crate::stages::reads_local_copies(join.left())
                    && !crate::stages::reads_local_copies(join.right())
            }
            PartitionMode::Auto => false,
        };
        if !reducible || join.null_aware || join.null_equality() != NullEquality::NullEqualsNothing
        {
            return Ok(None);
        }
        let probe_keys: Vec<_> = join.on().iter().map(|(_, r)| Arc::clone(r)).collect();
        if crate::broadcast_joins::hashed_on(join.right(), &probe_keys) {
            return Ok(None);
        }
        let build_keys: Vec<_> = join.on().iter().map(|(l, _)| Arc::clone(l)).collect();
        let Some((source, keys)) = key_source(join.left(), build_keys) else {
            return Ok(None);
        };
        let (Some(source_rows), Some(probe_rows)) = (
            crate::broadcast_joins::rows(&source),
            crate::broadcast_joins::rows(join.right()),
        ) else {
            return Ok(None);
        };
        let moved = source_rows.saturating_mul(self.nodes);
        let scanned = scanned_rows(&source);
        tracing::debug!(source_rows, scanned, probe_rows, "probe side reduction");
        if source_rows > crate::broadcast_joins::MAX_BROADCAST_ROWS
            || scanned.is_none_or(|scanned| {
                scanned > probe_rows || scanned < source_rows.saturating_mul(2)
            })
            || moved.saturating_mul(MIN_REDUCTION) >= probe_rows
        {
            return Ok(None);
        }
        // The keys alone, named so the semi join's condition can point at them.
        let projected: Vec<ProjectionExpr> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| ProjectionExpr::new(Arc::clone(k), format!("__reduction_key_{i}")))
            .collect();
        // A copy with its own run state: a collect-left join shares its build side with
        // every clone until reset, and two occurrences must not share one.
        let source = reset_plan_states(source)?;
        let key_columns = ProjectionExec::try_new(projected, source)?;
        let bytes = source_rows.saturating_mul(crate::broadcast_joins::row_width(
            key_columns.schema().as_ref(),
        ));
        if bytes > crate::broadcast_joins::MAX_BROADCAST_BYTES {
            return Ok(None);
        }
        let reduced =
            filtered_by_keys(Arc::new(key_columns), Arc::clone(join.right()), &probe_keys)?;
        Ok(Some(Arc::new(reduced)))
    }
}

/// `probe` filtered by the keys `keys` brings (its columns, in the order of `probe_keys`).
pub(crate) fn filtered_by_keys(
    keys: Arc<dyn ExecutionPlan>,
    probe: Arc<dyn ExecutionPlan>,
    probe_keys: &[Arc<dyn PhysicalExpr>],
) -> Result<HashJoinExec> {
    blueshift_compute::semi_join_by_keys(keys, probe, probe_keys)
}

/// A plan to run a second time, and the key expressions over its rows.
pub(crate) type KeySource = (Arc<dyn ExecutionPlan>, Vec<Arc<dyn PhysicalExpr>>);

/// The plan whose `keys` give (a superset of) the values `keys` take over `plan`, and those
/// keys over it, if that plan is cheap and safe to run a second time.
fn key_source(
    plan: &Arc<dyn ExecutionPlan>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
) -> Option<KeySource> {
    let (plan, keys) = key_origin(plan, keys);
    (keys.iter().all(|k| !is_volatile(k)) && repeatable(&plan)).then_some((plan, keys))
}

/// The deepest plan below `plan` whose rows give (a superset of) the values `keys` take
/// over `plan`, and those keys over it: through semi and anti joins to their left sides
/// (a subset of whose rows they keep, as they are) and projections that pass the key
/// columns on.
pub(crate) fn key_origin(
    plan: &Arc<dyn ExecutionPlan>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
) -> KeySource {
    let mut plan = Arc::clone(plan);
    let mut keys = keys;
    loop {
        if let Some(join) = plan.downcast_ref::<HashJoinExec>()
            && matches!(join.join_type(), JoinType::LeftSemi | JoinType::LeftAnti)
            && join.projection.is_none()
        {
            plan = Arc::clone(join.left());
            continue;
        }
        if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
            let exprs = projection.expr();
            let Some(inner) = keys
                .iter()
                .map(|k| {
                    let column = k.downcast_ref::<Column>()?;
                    let expr = &exprs.get(column.index())?.expr;
                    expr.downcast_ref::<Column>().map(|_| Arc::clone(expr))
                })
                .collect::<Option<Vec<_>>>()
            else {
                break;
            };
            plan = Arc::clone(projection.input());
            keys = inner;
            continue;
        }
        break;
    }
    (plan, keys)
}

/// The table rows `plan` reads: what running it a second time costs, roughly.
pub(crate) fn scanned_rows(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    let mut total = Some(0usize);
    let _ = plan.apply(|node| {
        if node.downcast_ref::<SliceScanExec>().is_some() {
            total = total
                .zip(crate::broadcast_joins::rows(node))
                .map(|(t, r)| t.saturating_add(r));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    total
}

/// Whether running `plan` again gives the same rows: only scans, filters, projections and
/// hash joins, with no volatile expression anywhere.
fn repeatable(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut ok = true;
    let _ = plan.apply(|node| {
        let node_ok = if node.downcast_ref::<SliceScanExec>().is_some() {
            true
        } else if let Some(filter) = node.downcast_ref::<FilterExec>() {
            !is_volatile(filter.predicate()) && filter.fetch().is_none()
        } else if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
            projection.expr().iter().all(|e| !is_volatile(&e.expr))
        } else if let Some(join) = node.downcast_ref::<HashJoinExec>() {
            join.fetch().is_none() && join.filter().is_none_or(|f| !is_volatile(f.expression()))
        } else {
            false
        };
        ok &= node_ok;
        Ok(if node_ok {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    ok
}
