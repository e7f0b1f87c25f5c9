//! Semi-join reduction of a grouped side of a join: groups whose key the other side can
//! never match are not computed.
//!
//! ```text
//!  Join (l.k = g.k)                      Join (l.k = g.k)
//!   ├─ … Inner Join ─ Filter(part)   ⇒    ├─ … Inner Join ─ Filter(part)
//!   └─ Aggregate BY k                     └─ Aggregate BY k
//!        └─ lineitem                           └─ LeftSemi (k = __bs_keys.k)
//!                                                   ├─ lineitem
//!                                                   └─ __bs_keys: k of Filter(part)
//! ```
//!
//! TPC-H Q17's correlated `avg(l_quantity)` is decorrelated into an aggregate over every
//! lineitem row grouped by part, of which the join keeps about 0.1%. This rule restricts
//! the aggregate's input to the keys of the small filtered relation the other side's key
//! comes from, as DuckDB does.
//!
//! Why the answer cannot change:
//! - the key is a GROUP BY column, so a group is kept or dropped whole, and a kept group
//!   sees all its rows (its aggregates are exact);
//! - every value of the other side's key occurs in the relation the keys come from (only
//!   inner joins, semi/anti joins on the kept side, filters and renames lie between, or
//!   the key is one side of an inner or semi join's `=`, whose kept rows hold a value the
//!   other side holds), so a dropped group had no partner;
//! - the join is one in which the grouped side's unmatched rows never show (inner, or the
//!   grouped side is the filtering side of a semi or anti join), and its keys compare
//!   with `=` (NULL matches nothing, so NULL groups may go); never a null-aware anti join
//!   (NOT IN) or a mark join, whose answer can depend on a NULL key.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, NullEquality, Result};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The alias of the key relation put beside an aggregate's input.
const KEYS: &str = "__bs_keys";

#[derive(Debug, Default)]
pub struct ReduceGroups;

impl OptimizerRule for ReduceGroups {
    fn name(&self) -> &str {
        "blueshift_reduce_groups"
    }
    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }
    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // A null-aware anti join (NOT IN) answers differently when the grouped side
        // holds a NULL key, which the reduction would drop.
        if join.null_equality != NullEquality::NullEqualsNothing || join.null_aware {
            return Ok(Transformed::no(plan));
        }
        for grouped_is_left in [false, true] {
            if !filters_only(join.join_type, grouped_is_left) {
                continue;
            }
            let (grouped, other) = if grouped_is_left {
                (&join.left, &join.right)
            } else {
                (&join.right, &join.left)
            };
            for (l, r) in &join.on {
                let (gk, ok) = if grouped_is_left { (l, r) } else { (r, l) };
                let (Expr::Column(gk), Expr::Column(ok)) = (gk, ok) else {
                    continue;
                };
                let Some((source, key)) = key_source(other, ok) else {
                    continue;
                };
                let keys = LogicalPlanBuilder::from(source)
                    .project(vec![Expr::Column(key.clone())])?
                    .alias(KEYS)?
                    .build()?;
                let key = Column::new(Some(KEYS), key.name);
                if let Some(reduced) = reduce(grouped, gk, &keys, &key)? {
                    let mut join = join.clone();
                    if grouped_is_left {
                        join.left = Arc::new(reduced);
                    } else {
                        join.right = Arc::new(reduced);
                    }
                    return Ok(Transformed::yes(LogicalPlan::Join(join)));
                }
            }
        }
        Ok(Transformed::no(plan))
    }
}

/// Whether the grouped side's rows that match nothing never reach the join's output.
fn filters_only(join_type: JoinType, grouped_is_left: bool) -> bool {
    match join_type {
        JoinType::Inner => true,
        JoinType::LeftSemi | JoinType::LeftAnti => !grouped_is_left,
        JoinType::RightSemi | JoinType::RightAnti => grouped_is_left,
        // A mark may be three-valued (IN over a set holding NULL): left alone.
        JoinType::LeftMark | JoinType::RightMark => false,
        JoinType::Left | JoinType::Right | JoinType::Full => false,
    }
}

/// A small relation holding every value `column` takes in `plan`, and the column there:
/// found through renames, inner joins and the kept side of semi and anti joins, down to a
/// filtered scan with no join under it (only that is worth reading twice).
fn key_source(plan: &LogicalPlan, column: &Column) -> Option<(LogicalPlan, Column)> {
    match plan {
        LogicalPlan::Projection(p) => {
            let at = p.schema.index_of_column(column).ok()?;
            match strip_alias(&p.expr[at]) {
                Expr::Column(c) => key_source(&p.input, c),
                _ => None,
            }
        }
        LogicalPlan::SubqueryAlias(a) => {
            let at = a.schema.index_of_column(column).ok()?;
            let inner = Column::from(a.input.schema().qualified_field(at));
            key_source(&a.input, &inner)
        }
        LogicalPlan::Join(j) => {
            let from_left = j.left.schema().has_column(column);
            let side = match (j.join_type, from_left) {
                (JoinType::Inner, true) | (JoinType::LeftSemi | JoinType::LeftAnti, true) => {
                    &j.left
                }
                (JoinType::Inner, false) | (JoinType::RightSemi | JoinType::RightAnti, false) => {
                    &j.right
                }
                _ => return None,
            };
            if let Some(found) = key_source(side, column) {
                return Some(found);
            }
            // Through the join's equality: a row an inner or semi join keeps holds a
            // key value the other side holds too (TPC-H Q20: `ps_partkey` of partsupp
            // kept by `ps_partkey IN (SELECT p_partkey FROM part WHERE …)`).
            let other = match (j.join_type, from_left) {
                (JoinType::Inner | JoinType::LeftSemi, true) => &j.right,
                (JoinType::Inner | JoinType::RightSemi, false) => &j.left,
                _ => return None,
            };
            j.on.iter().find_map(|(l, r)| {
                let (mine, theirs) = if from_left { (l, r) } else { (r, l) };
                match (mine, theirs) {
                    (Expr::Column(mine), Expr::Column(theirs)) if mine == column => {
                        key_source(other, theirs)
                    }
                    _ => None,
                }
            })
        }
        LogicalPlan::Filter(f) if has_join(&f.input) => key_source(&f.input, column),
        LogicalPlan::Filter(f) if is_plain_scan(&f.input) && !has_subquery(plan) => {
            Some((plan.clone(), column.clone()))
        }
        LogicalPlan::TableScan(t) if !t.filters.is_empty() && !has_subquery(plan) => {
            Some((plan.clone(), column.clone()))
        }
        _ => None,
    }
}

/// `plan` (a grouped side) with the aggregate that makes `column` a group key reading only
/// rows whose key is in `keys`; None if `column` is not such a key.
fn reduce(
    plan: &LogicalPlan,
    column: &Column,
    keys: &LogicalPlan,
    key: &Column,
) -> Result<Option<LogicalPlan>> {
    let rebuilt = |child: Option<LogicalPlan>| -> Result<Option<LogicalPlan>> {
        match child {
            Some(child) => Ok(Some(plan.with_new_exprs(plan.expressions(), vec![child])?)),
            None => Ok(None),
        }
    };
    match plan {
        LogicalPlan::Projection(p) => {
            let Ok(at) = p.schema.index_of_column(column) else {
                return Ok(None);
            };
            match strip_alias(&p.expr[at]) {
                Expr::Column(c) => rebuilt(reduce(&p.input, c, keys, key)?),
                _ => Ok(None),
            }
        }
        LogicalPlan::SubqueryAlias(a) => {
            let Ok(at) = a.schema.index_of_column(column) else {
                return Ok(None);
            };
            let inner = Column::from(a.input.schema().qualified_field(at));
            rebuilt(reduce(&a.input, &inner, keys, key)?)
        }
        // A HAVING condition judges each group by itself.
        LogicalPlan::Filter(f) if !has_subquery(plan) => {
            rebuilt(reduce(&f.input, column, keys, key)?)
        }
        LogicalPlan::Aggregate(agg) => {
            let Ok(at) = agg.schema.index_of_column(column) else {
                return Ok(None);
            };
            let Some(group) = agg.group_expr.get(at) else {
                return Ok(None);
            };
            let grouping_sets = agg
                .group_expr
                .iter()
                .any(|g| matches!(g, Expr::GroupingSet(_)));
            let Expr::Column(source) = strip_alias(group) else {
                return Ok(None);
            };
            if grouping_sets || reduced_already(&agg.input) {
                return Ok(None);
            }
            let input = LogicalPlanBuilder::from(agg.input.as_ref().clone())
                .join(
                    keys.clone(),
                    JoinType::LeftSemi,
                    (vec![source.clone()], vec![key.clone()]),
                    None,
                )?
                .build()?;
            Ok(Some(plan.with_new_exprs(plan.expressions(), vec![input])?))
        }
        _ => Ok(None),
    }
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        other => other,
    }
}

fn has_join(plan: &LogicalPlan) -> bool {
    plan.exists(|p| Ok(matches!(p, LogicalPlan::Join(_))))
        .unwrap_or(true)
}

/// A scan, under renames and projections only.
fn is_plain_scan(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_) => true,
        LogicalPlan::Projection(p) => is_plain_scan(&p.input),
        LogicalPlan::SubqueryAlias(a) => is_plain_scan(&a.input),
        _ => false,
    }
}

fn has_subquery(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|p| {
        for e in p.expressions() {
            let _ = e.apply(|e| {
                if matches!(
                    e,
                    Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
                ) {
                    found = true;
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

fn reduced_already(input: &LogicalPlan) -> bool {
    matches!(input, LogicalPlan::Join(j)
        if matches!(j.right.as_ref(), LogicalPlan::SubqueryAlias(a) if a.alias.table() == KEYS))
}
