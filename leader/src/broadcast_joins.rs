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
//! It changes only joins that may broadcast their build side (the join never emits a
//! build row on its own: inner, right, right semi and anti; never a null-aware one),
//! and only while the build side stays under [`MAX_BROADCAST_ROWS`] and
//! [`MAX_BROADCAST_BYTES`], which every node then holds in a hash table.

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
            if *join.partition_mode() != PartitionMode::Partitioned
                || join.null_aware
                || !matches!(
                    join.join_type(),
                    JoinType::Inner | JoinType::Right | JoinType::RightSemi | JoinType::RightAnti
                )
            {
                return Ok(Transformed::no(node));
            }
            let (Some(build), Some(probe)) = (rows(join.left()), rows(join.right())) else {
                return Ok(Transformed::no(node));
            };
            let left_keys: Vec<_> = join.on().iter().map(|(l, _)| Arc::clone(l)).collect();
            let right_keys: Vec<_> = join.on().iter().map(|(_, r)| Arc::clone(r)).collect();
            let partitioned = if hashed_on(join.left(), &left_keys) {
                0
            } else {
                build
            } + if hashed_on(join.right(), &right_keys) {
                0
            } else {
                probe
            };
            let broadcast = if crate::stages::reads_local_copies(join.left()) {
                0
            } else {
                build.saturating_mul(self.nodes)
            };
            let bytes = build.saturating_mul(row_width(join.left().schema().as_ref()));
            if build > MAX_BROADCAST_ROWS || bytes > MAX_BROADCAST_BYTES || broadcast >= partitioned
            {
                return Ok(Transformed::no(node));
            }
            let collect = join
                .builder()
                .with_partition_mode(PartitionMode::CollectLeft)
                .reset_state()
                .build_exec()?;
            Ok(Transformed::yes(collect))
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

/// The estimated rows of `plan`, with the filter estimates of [`crate::estimates`].
fn rows(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    crate::estimates::rows(&crate::estimates::statistics(plan)?)
}

/// A row's bytes in a hash table, roughly: fixed widths as they are, strings and other
/// variable-width values at 32 bytes.
fn row_width(schema: &datafusion::arrow::datatypes::Schema) -> usize {
    schema
        .fields()
        .iter()
        .map(|f| f.data_type().primitive_width().unwrap_or(32))
        .sum::<usize>()
        .max(1)
}

/// Whether `plan`'s rows already lie by `keys` (a DISTKEY scan on the join key).
fn hashed_on(plan: &Arc<dyn ExecutionPlan>, keys: &[Arc<dyn PhysicalExpr>]) -> bool {
    match plan.output_partitioning() {
        Partitioning::Hash(exprs, _) => {
            exprs.len() == keys.len() && exprs.iter().zip(keys).all(|(a, b)| a.eq(b))
        }
        _ => false,
    }
}
