//! Probe sides filtered by the keys of a redistributed build side, read as it goes by.
//!
//! [`ReduceProbeSides`](crate::semi_join_reduction::ReduceProbeSides) filters a probe side
//! by the keys of a second run of the build side's plan, so it applies only where that
//! run is cheap. Where the build side is itself redistributed (an exchange's output: a
//! join's, an aggregate's, a filtered scan's), its producers can send each row's key
//! columns to every node as well — a *key tap* — and the probe side can be filtered by
//! them before it is redistributed, at no second run. TPC-H Q21 on EVEN redistributed all
//! 6M lineitem rows (and 3.8M more) to meet 75K rows of joined orders:
//!
//! ```text
//!   build stage ──redistribute (rows by key)──────────────────────┐
//!        └──────tap (key columns of every row, to every node)──┐   │
//!   probe ─────────────────────────────────── semi join ──redistribute──┴─ join
//! ```
//!
//! The tapped exchange must be read whole by a build side (a partitioned join's left, or
//! the left of a semi or anti join below it), so its producers never wait for a tap that
//! waits for them; the join may drop probe rows without a matching key (inner, left, left
//! semi and anti, right semi) and has no null-equal keys; the build side keeps at most
//! half of the table rows below it (a whole table's keys filter nothing); it is at most
//! [`MAX_BROADCAST_ROWS`] rows and [`MAX_BROADCAST_BYTES`] of keys; the probe side has more
//! than [`MIN_REDUCTION`] times the rows the keys' broadcast moves.

use std::collections::HashMap;
use std::sync::Arc;

use blueshift_compute::{ExchangeExec, KeysExec};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{JoinType, NullEquality};
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

use crate::broadcast_joins::{MAX_BROADCAST_BYTES, MAX_BROADCAST_ROWS, row_width, rows};
use crate::semi_join_reduction::{MIN_REDUCTION, filtered_by_keys, key_origin, scanned_rows};

/// The key taps a run's exchanges carry, by exchange id: each tap's key columns.
pub type Taps = HashMap<String, Vec<Vec<usize>>>;

/// `right`, the redistributed probe side of the partitioned `join` whose placed build
/// side is `left`, filtered by the build side's keys from a tap when that pays; else as
/// it is. The tap is recorded in `taps` ([`attach`] puts it on the exchange).
pub fn tap_probe(
    join: &HashJoinExec,
    left: &Arc<dyn ExecutionPlan>,
    right: Arc<dyn ExecutionPlan>,
    nodes: usize,
    taps: &mut Taps,
) -> Result<Arc<dyn ExecutionPlan>> {
    let reducible = matches!(
        join.join_type(),
        JoinType::Inner
            | JoinType::Left
            | JoinType::LeftSemi
            | JoinType::LeftAnti
            | JoinType::RightSemi
    );
    if nodes < 2
        || !reducible
        || join.null_aware
        || join.null_equality() != NullEquality::NullEqualsNothing
    {
        return Ok(right);
    }
    let Some(probe) = right.downcast_ref::<ExchangeExec>() else {
        return Ok(right);
    };
    // Each node's tap is read by the probe stage's producers on that node: every node
    // must run some (a partition per slice), or a tap nobody reads would hold the build
    // side's producers.
    if probe.spec().broadcast
        || probe.spec().single
        || already_reduced(probe.input())
        || probe.input().output_partitioning().partition_count()
            != probe.spec().topology.total_slices() as usize
    {
        return Ok(right);
    }
    let build_keys: Vec<_> = join.on().iter().map(|(l, _)| Arc::clone(l)).collect();
    let Some((source, columns)) = tapped(left, build_keys) else {
        return Ok(right);
    };
    let (Some(source_rows), Some(probe_rows)) = (rows(&source), rows(probe.input())) else {
        return Ok(right);
    };
    let keys_schema = source.schema().project(&columns)?;
    let bytes = source_rows.saturating_mul(row_width(&keys_schema));
    tracing::debug!(source_rows, probe_rows, bytes, "probe side key tap");
    // Keys of a whole table (or of a foreign key's targets) filter nothing: the build side
    // must keep at most half of the table rows below it.
    let scanned = scanned_rows(&source);
    if source_rows > MAX_BROADCAST_ROWS
        || scanned.is_none_or(|scanned| scanned < source_rows.saturating_mul(2))
        || bytes > MAX_BROADCAST_BYTES
        || source_rows
            .saturating_mul(nodes)
            .saturating_mul(MIN_REDUCTION)
            >= probe_rows
    {
        return Ok(right);
    }
    let Some(source) = source.downcast_ref::<ExchangeExec>() else {
        return Ok(right);
    };
    let list = taps.entry(source.spec().id.clone()).or_default();
    let tap = list.len();
    list.push(columns);
    let keys = Arc::new(KeysExec::new(with_taps(source, list.clone()), tap)?);
    let probe_keys: Vec<_> = join.on().iter().map(|(_, r)| Arc::clone(r)).collect();
    let reduced = filtered_by_keys(keys, Arc::clone(probe.input()), &probe_keys)?;
    Ok(Arc::new(ExchangeExec::redistribute(
        Arc::new(reduced),
        probe.keys().to_vec(),
        probe.spec().clone(),
    )))
}

/// Puts each exchange's key taps on it, and points each [`KeysExec`] at its exchange as
/// finally built (every consumer of an exchange must send its producers the same plan).
pub fn attach(plan: Arc<dyn ExecutionPlan>, taps: &Taps) -> Result<Arc<dyn ExecutionPlan>> {
    if taps.is_empty() {
        return Ok(plan);
    }
    let mut built: HashMap<String, Arc<ExchangeExec>> = HashMap::new();
    // Post-order: a tapped exchange (a build side) comes before the probe side that
    // reads its tap.
    plan.transform_up(|node| {
        if let Some(x) = node.downcast_ref::<ExchangeExec>()
            && let Some(list) = taps.get(&x.spec().id)
        {
            let tapped = with_taps(x, list.clone());
            built.insert(x.spec().id.clone(), Arc::clone(&tapped));
            return Ok(Transformed::yes(tapped as Arc<dyn ExecutionPlan>));
        }
        if let Some(k) = node.downcast_ref::<KeysExec>() {
            let source = built.get(&k.source().spec().id).ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "key tap of exchange {} before the exchange",
                    k.source().spec().id
                ))
            })?;
            return Ok(Transformed::yes(
                Arc::new(KeysExec::new(Arc::clone(source), k.tap())?) as Arc<dyn ExecutionPlan>,
            ));
        }
        Ok(Transformed::no(node))
    })
    .map(|t| t.data)
}

fn with_taps(x: &ExchangeExec, taps: Vec<Vec<usize>>) -> Arc<ExchangeExec> {
    let mut spec = x.spec().clone();
    spec.taps = taps;
    Arc::new(ExchangeExec::redistribute(
        Arc::clone(x.input()),
        x.keys().to_vec(),
        spec,
    ))
}

/// Whether a probe side is already filtered by keys (by the rule that reruns the build).
fn already_reduced(probe: &Arc<dyn ExecutionPlan>) -> bool {
    probe.downcast_ref::<HashJoinExec>().is_some_and(|j| {
        *j.join_type() == JoinType::RightSemi && *j.partition_mode() == PartitionMode::CollectLeft
    })
}

/// The redistribute exchange below a build side whose rows give (a superset of) the
/// values `keys` take over `plan` (`key_origin`: through semi and anti joins' left sides,
/// built whole, and projections that pass the keys on), and the key columns of its rows.
fn tapped(
    plan: &Arc<dyn ExecutionPlan>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
) -> Option<(Arc<dyn ExecutionPlan>, Vec<usize>)> {
    let (plan, keys) = key_origin(plan, keys);
    let x = plan.downcast_ref::<ExchangeExec>()?;
    if x.spec().broadcast || x.spec().single {
        return None;
    }
    let columns = keys
        .iter()
        .map(|k| k.downcast_ref::<Column>().map(Column::index))
        .collect::<Option<Vec<_>>>()?;
    Some((plan, columns))
}
