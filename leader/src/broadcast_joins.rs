//! Broadcast a join's small side when that moves fewer rows than hashing both sides.
//!
//! DataFusion picks a hash join's mode by one threshold: a build side under 128K rows is
//! collected whole (here: broadcast to every node, `DS_BCAST_INNER`), anything larger is
//! hash partitioned (here: both sides redistributed, `DS_DIST_BOTH`). Across nodes the
//! right choice depends on the other side too:
//!
//! ```text
//!   partitioned: moves |build| + |probe|  (less a side already stored by the key)
//!   broadcast:   moves |build| · nodes    (nothing, for a DISTSTYLE ALL build side)
//!
//!   orders ⋈ lineitem, EVEN:  150K orders left by filters, 3.2M lineitem rows
//!   partitioned 3.35M rows moved; broadcast 300K on 2 nodes, and lineitem stays put
//! ```
//!
//! [`BroadcastSmallSides`] runs after DataFusion's join selection and before it adds the
//! exchanges, so every requirement above a changed join is worked out for the new mode.
//! It weighs three placements of each partitioned join by the rows they move, with the
//! filter estimates of [`crate::estimates`] (which DataFusion's join selection lacks):
//!
//! - keep it partitioned, with the smaller side as the build side (swapping the sides
//!   when DataFusion's own estimates put the larger one there);
//! - broadcast the left (build) side, when the join never emits a build row on its own
//!   (inner, right, right semi and anti);
//! - swap the sides and broadcast the old right side, when that side is the one the join
//!   only tests (inner, left, left semi and anti): `orders ⋈ (lineitem ⋈ supplier)` with
//!   a small right side leaves orders where they are.
//!
//! Never a null-aware join (its build side must be seen whole), and a broadcast side stays
//! under [`MAX_BROADCAST_ROWS`] and [`MAX_BROADCAST_BYTES`], which every node then holds in
//! a hash table.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::JoinType;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};

/// The most rows a build side may have (as estimated) to be sent whole to every node.
pub const MAX_BROADCAST_ROWS: usize = 1_000_000;

/// The most bytes (as estimated from its rows and column types) a build side may have to
/// be sent whole to every node: a collected build side cannot spill.
pub const MAX_BROADCAST_BYTES: usize = 64 << 20;

/// See the module documentation.
#[derive(Debug)]
pub struct BroadcastSmallSides {
    pub nodes: usize,
}

impl PhysicalOptimizerRule for BroadcastSmallSides {
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
            if *join.partition_mode() != PartitionMode::Partitioned || join.null_aware {
                return Ok(Transformed::no(node));
            }
            let (Some(left), Some(right)) = (rows(join.left()), rows(join.right())) else {
                return Ok(Transformed::no(node));
            };
            match self.choose(join, left, right) {
                Choice::Keep => Ok(Transformed::no(node)),
                Choice::Swap => Ok(Transformed::yes(
                    join.swap_inputs(PartitionMode::Partitioned)?,
                )),
                Choice::BroadcastLeft => Ok(Transformed::yes(
                    join.builder()
                        .with_partition_mode(PartitionMode::CollectLeft)
                        .reset_state()
                        .build_exec()?,
                )),
                Choice::BroadcastRight => Ok(Transformed::yes(
                    join.swap_inputs(PartitionMode::CollectLeft)?,
                )),
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "broadcast_small_sides"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// What [`BroadcastSmallSides`] does with one partitioned join.
#[derive(Debug, PartialEq)]
enum Choice {
    Keep,
    /// Stay partitioned, with the smaller side (by our estimates) as the build side.
    Swap,
    BroadcastLeft,
    /// Swap the sides, then broadcast the new build side (the old right).
    BroadcastRight,
}

impl BroadcastSmallSides {
    /// The cheapest placement of `join` by rows moved, given its sides' estimated rows.
    fn choose(&self, join: &HashJoinExec, left: usize, right: usize) -> Choice {
        let on = join.on();
        let left_keys: Vec<_> = on.iter().map(|(l, _)| Arc::clone(l)).collect();
        let right_keys: Vec<_> = on.iter().map(|(_, r)| Arc::clone(r)).collect();
        let partitioned = if hashed_on(join.left(), &left_keys) {
            0
        } else {
            left
        } + if hashed_on(join.right(), &right_keys) {
            0
        } else {
            right
        };
        let swappable = matches!(
            join.join_type(),
            JoinType::Inner
                | JoinType::Left
                | JoinType::Right
                | JoinType::Full
                | JoinType::LeftSemi
                | JoinType::RightSemi
                | JoinType::LeftAnti
                | JoinType::RightAnti
        );
        // A broadcast build side is probed on every node, so the join may only test it:
        // it must never emit a build row on its own.
        let left_broadcast = matches!(
            join.join_type(),
            JoinType::Inner | JoinType::Right | JoinType::RightSemi | JoinType::RightAnti
        )
        .then(|| self.broadcast_cost(join.left(), left))
        .flatten();
        let right_broadcast = (swappable
            && matches!(
                join.join_type(),
                JoinType::Inner | JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti
            ))
        .then(|| self.broadcast_cost(join.right(), right))
        .flatten();
        tracing::debug!(
            left,
            right,
            partitioned,
            ?left_broadcast,
            ?right_broadcast,
            "broadcast rule"
        );
        let best = [
            (left_broadcast, Choice::BroadcastLeft),
            (right_broadcast, Choice::BroadcastRight),
        ]
        .into_iter()
        .filter_map(|(cost, choice)| cost.filter(|c| *c < partitioned).map(|c| (c, choice)))
        .min_by_key(|(cost, _)| *cost);
        match best {
            Some((_, choice)) => choice,
            // Partitioned: hash the smaller side, as DataFusion would with these estimates.
            None if swappable && left > right => Choice::Swap,
            None => Choice::Keep,
        }
    }

    /// The rows broadcasting `side` (of `rows` rows) moves, if it may be broadcast at all.
    fn broadcast_cost(&self, side: &Arc<dyn ExecutionPlan>, rows: usize) -> Option<usize> {
        let bytes = rows.saturating_mul(row_width(side.schema().as_ref()));
        if rows > MAX_BROADCAST_ROWS || bytes > MAX_BROADCAST_BYTES {
            return None;
        }
        if crate::stages::reads_local_copies(side) {
            return Some(0);
        }
        Some(rows.saturating_mul(self.nodes))
    }
}

/// The estimated rows of `plan`, with the filter estimates of [`crate::estimates`].
pub(crate) fn rows(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    crate::estimates::rows(&crate::estimates::statistics(plan)?)
}

/// A row's bytes in a hash table, roughly: fixed widths as they are, strings and other
/// variable-width values at 32 bytes.
pub(crate) fn row_width(schema: &datafusion::arrow::datatypes::Schema) -> usize {
    schema
        .fields()
        .iter()
        .map(|f| f.data_type().primitive_width().unwrap_or(32))
        .sum::<usize>()
        .max(1)
}

/// Whether `plan`'s rows already lie by `keys` (a DISTKEY scan on the join key).
pub(crate) fn hashed_on(plan: &Arc<dyn ExecutionPlan>, keys: &[Arc<dyn PhysicalExpr>]) -> bool {
    match plan.output_partitioning() {
        Partitioning::Hash(exprs, _) => {
            exprs.len() == keys.len() && exprs.iter().zip(keys).all(|(a, b)| a.eq(b))
        }
        _ => false,
    }
}
