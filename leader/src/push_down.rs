//! DataFusion 55's `push_down_filter`, kept from moving a predicate where it means something
//! else.
//!
//! - Over an outer join, only conjuncts on the preserved side's columns go below it.
//! - Over an aggregate or a window, a conjunct goes below only when it names a column and
//!   calls nothing volatile. A column-free `WHERE NULL` (or an `ON NULL` pushed to a join
//!   side) under `SELECT count(*) FROM t` empties the input, yet a global aggregate still
//!   answers its one row, so the row the filter removes came back. Grouping sets are left
//!   alone: their grand-total and subtotal rows hold NULL for columns the input has values
//!   for, so no predicate means the same below them.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Expr, Filter, JoinType, LogicalPlan};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// DataFusion 55's `push_down_filter`, except for a filter right over an outer join: only
/// its conjuncts on the preserved side's columns go down, and the rest stays there. Pushing `WHERE CASE WHEN x2.f THEN true ELSE x1.f END` over
/// `x1 RIGHT JOIN x2` put the whole predicate under the preserved side with `x1.f` read as
/// `x2.f`, and rows went missing. A filter over an inner join (including one
/// [`EliminateOuterJoin`] made inner) is pushed as before.
#[derive(Debug)]
pub struct PushDownFilter(pub Arc<dyn OptimizerRule + Send + Sync>);

impl OptimizerRule for PushDownFilter {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }
    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if let LogicalPlan::Filter(f) = &plan
            && let LogicalPlan::Join(j) = f.input.as_ref()
            && j.join_type.is_outer()
        {
            return push_to_preserved_side(plan);
        }
        if let LogicalPlan::Filter(f) = &plan
            && let LogicalPlan::Filter(child) = f.input.as_ref()
        {
            // DataFusion's rule merges the two and goes on with the merged filter itself,
            // past this wrapper; merged here, the cases above still apply to it.
            let mut seen = Vec::new();
            for c in split_conjunction(&child.predicate)
                .into_iter()
                .chain(split_conjunction(&f.predicate))
            {
                if !seen.contains(c) {
                    seen.push(c.clone());
                }
            }
            let merged = LogicalPlan::Filter(Filter::try_new(
                conjunction(seen).unwrap_or_else(|| child.predicate.clone()),
                Arc::clone(&child.input),
            )?);
            return Ok(Transformed::yes(self.rewrite(merged, config)?.data));
        }
        if let LogicalPlan::Filter(f) = &plan
            && matches!(
                f.input.as_ref(),
                LogicalPlan::Aggregate(_) | LogicalPlan::Window(_)
            )
        {
            return self.push_below_groups(plan, config);
        }
        self.0.rewrite(plan, config)
    }
}

impl PushDownFilter {
    /// A filter over an aggregate or a window: DataFusion's rule sees only the conjuncts
    /// that may go down (see the module's notes); the others stay over its result.
    fn push_below_groups(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else {
            return Ok(Transformed::no(plan));
        };
        let hold_all = match filter.input.as_ref() {
            LogicalPlan::Aggregate(a) => {
                a.group_expr.is_empty()
                    || a.group_expr
                        .iter()
                        .any(|e| matches!(e, Expr::GroupingSet(_)))
            }
            _ => false,
        };
        let (push, keep): (Vec<&Expr>, Vec<&Expr>) = split_conjunction(&filter.predicate)
            .into_iter()
            .partition(|c| !hold_all && !c.column_refs().is_empty() && !c.is_volatile());
        if keep.is_empty() {
            return self.0.rewrite(LogicalPlan::Filter(filter), config);
        }
        let Some(pushed) = conjunction(push.into_iter().cloned()) else {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        let tried = self.0.rewrite(
            LogicalPlan::Filter(Filter::try_new(pushed, Arc::clone(&filter.input))?),
            config,
        )?;
        if !tried.transformed {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        // What DataFusion's rule kept over the aggregate and what was held back here
        // make one filter.
        let (mut conjuncts, input) = match tried.data {
            LogicalPlan::Filter(left) => (
                split_conjunction(&left.predicate)
                    .into_iter()
                    .cloned()
                    .collect::<Vec<_>>(),
                left.input,
            ),
            other => (Vec::new(), Arc::new(other)),
        };
        conjuncts.extend(keep.into_iter().cloned());
        let predicate = conjunction(conjuncts).unwrap_or_else(|| filter.predicate.clone());
        Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
            predicate, input,
        )?)))
    }
}

/// Over an outer join, the conjuncts that name only the preserved side's columns (the left
/// of a LEFT JOIN, the right of a RIGHT JOIN) go under the join on that side, where they
/// mean the same; every other conjunct stays over the join.
fn push_to_preserved_side(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Filter(filter) = plan else {
        return Ok(Transformed::no(plan));
    };
    let LogicalPlan::Join(join) = filter.input.as_ref() else {
        return Ok(Transformed::no(LogicalPlan::Filter(filter)));
    };
    let preserved = match join.join_type {
        JoinType::Left => join.left.schema(),
        JoinType::Right => join.right.schema(),
        _ => return Ok(Transformed::no(LogicalPlan::Filter(filter))),
    };
    let (push, keep): (Vec<&Expr>, Vec<&Expr>) = split_conjunction(&filter.predicate)
        .into_iter()
        .partition(|c| {
            let columns = c.column_refs();
            !columns.is_empty()
                && columns.iter().all(|col| preserved.has_column(col))
                && !c.is_volatile()
                && !c.exists(|x| Ok(subquery_expr(x))).unwrap_or(true)
        });
    let Some(pushed) = conjunction(push.into_iter().cloned()) else {
        return Ok(Transformed::no(LogicalPlan::Filter(filter)));
    };
    let mut join = join.clone();
    let side = match join.join_type {
        JoinType::Left => &mut join.left,
        _ => &mut join.right,
    };
    *side = Arc::new(LogicalPlan::Filter(Filter::try_new(
        pushed,
        Arc::clone(side),
    )?));
    let join = LogicalPlan::Join(join);
    Ok(Transformed::yes(
        match conjunction(keep.into_iter().cloned()) {
            Some(rest) => LogicalPlan::Filter(Filter::try_new(rest, Arc::new(join))?),
            None => join,
        },
    ))
}

fn subquery_expr(e: &Expr) -> bool {
    matches!(
        e,
        Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_)
    )
}
