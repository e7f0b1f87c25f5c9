//! Join order by statistics: a chain of inner joins is joined in the order the estimates
//! favour when the written order is clearly worse.
//!
//! ```text
//!   written:  (f ⋈ d2) ⋈ d1           estimated:  f: 100k   d1: 10 (filtered)   d2: 1k
//!   cost = |f ⋈ d2| + |… ⋈ d1|        = 100k + 1k
//!   chosen:   (f ⋈ d1) ⋈ d2           = 1k + 1k            (then a projection restores
//!                                                           the written column order)
//! ```
//!
//! DataFusion keeps the written order and only picks each join's build side. Here, before
//! physical planning, each *region* (a tree of inner equi-joins without extra filters, of
//! at least three inputs) is flattened into its inputs and the equality edges between
//! them. Each input is planned on its own to read DataFusion's estimates, which come from
//! ANALYZE's statistics (rows, distinct counts, min and max through the filters). A
//! greedy order starts at one input and adds, among the inputs joined to what is already
//! there, the one with the smallest estimated result, `|A|·|B| / max(ndv(a), ndv(b))`;
//! every input is tried as the start, and the cheapest order is kept (a small filtered
//! dimension first shrinks a fact table early: `(n ⋈ s) ⋈ l`, not `(l ⋈ s) ⋈ n`).
//! The new order replaces the written one only when its cost (the sum of the estimated
//! join results) is under 60% of the written order's: estimates are rough, and a written
//! order is often there for a reason (co-located joins). Inputs that are not plain (an
//! extension node, a missing estimate) or a region whose edges cannot be resolved keep the
//! written order.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{Column, NullEquality, Result};
use datafusion::logical_expr::{
    Expr, Join, JoinConstraint, JoinType, LogicalPlan, LogicalPlanBuilder,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use futures::FutureExt;
use futures::future::BoxFuture;

/// A new order must cost less than this share of the written one to replace it.
const REQUIRED_GAIN: f64 = 0.6;

/// An input of a region, with what its plan estimates.
struct Input {
    plan: LogicalPlan,
    rows: f64,
    distinct: HashMap<Column, f64>,
}

/// An equality between two inputs: `a_expr` over input `a`, `b_expr` over input `b`.
struct Edge {
    a: usize,
    b: usize,
    a_expr: Expr,
    b_expr: Expr,
}

/// `plan` with every region whose order the estimates clearly improve rewritten; None
/// when nothing changed (or a rewrite failed: the written plan is always right).
pub async fn reorder(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Option<LogicalPlan> {
    let new = rewrite(plan, planner, session).await?;
    // Every node above a rewritten region was rebuilt: the output must be what it was.
    same_output(&new, plan).then_some(new)
}

fn rewrite<'a>(
    plan: &'a LogicalPlan,
    planner: &'a DefaultPhysicalPlanner,
    session: &'a dyn Session,
) -> BoxFuture<'a, Option<LogicalPlan>> {
    async move {
        if in_region(plan) {
            let mut leaves = Vec::new();
            flatten(plan, &mut leaves);
            let (inputs, changed) = rewrite_each(leaves, planner, session).await;
            if inputs.len() >= 3
                && let Some(better) = better_order(plan, &inputs, planner, session).await
            {
                return Some(better);
            }
            if !changed {
                return None;
            }
            return rebuild(plan, &mut inputs.into_iter()).ok();
        }
        let (new_children, changed) = rewrite_each(plan.inputs(), planner, session).await;
        if !changed {
            return None;
        }
        plan.with_new_exprs(plan.expressions(), new_children).ok()
    }
    .boxed()
}

/// Each of `plans` rewritten (or as it was), and whether any changed.
async fn rewrite_each(
    plans: Vec<&LogicalPlan>,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> (Vec<LogicalPlan>, bool) {
    let mut out = Vec::with_capacity(plans.len());
    let mut changed = false;
    for plan in plans {
        match rewrite(plan, planner, session).await {
            Some(new) => {
                changed = true;
                out.push(new);
            }
            None => out.push(plan.clone()),
        }
    }
    (out, changed)
}

/// Whether `new` outputs the columns of `old`: same qualifiers, names and types, in order.
fn same_output(new: &LogicalPlan, old: &LogicalPlan) -> bool {
    new.schema().fields().len() == old.schema().fields().len()
        && new
            .schema()
            .iter()
            .zip(old.schema().iter())
            .all(|((q1, f1), (q2, f2))| {
                q1 == q2 && f1.name() == f2.name() && f1.data_type() == f2.data_type()
            })
}

/// A join that belongs to a region: inner, equalities of columns only, nulls never
/// equal. (An expression as a key could fail, say a cast, on rows that an earlier join
/// of the written order removes; columns cannot.)
fn in_region(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Join(Join {
            join_type: JoinType::Inner,
            filter: None,
            join_constraint: JoinConstraint::On,
            null_equality: NullEquality::NullEqualsNothing,
            null_aware: false,
            on,
            ..
        }) if !on.is_empty()
            && on.iter().all(|(l, r)| matches!((l, r), (Expr::Column(_), Expr::Column(_))))
    )
}

/// The join of the region that `plan` (a join's input) continues it with: itself, or the
/// input of a projection that only drops columns (DataFusion puts those between joins).
fn region_join(plan: &LogicalPlan) -> Option<&Join> {
    let join = match plan {
        LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => {
            p.input.as_ref()
        }
        other => other,
    };
    match join {
        LogicalPlan::Join(j) if in_region(join) => Some(j),
        _ => None,
    }
}

/// The region's inputs, left to right.
fn flatten<'a>(plan: &'a LogicalPlan, out: &mut Vec<&'a LogicalPlan>) {
    match region_join(plan) {
        Some(j) => {
            flatten(&j.left, out);
            flatten(&j.right, out);
        }
        None => out.push(plan),
    }
}

/// The region as written, over its (rewritten) inputs.
fn rebuild(
    plan: &LogicalPlan,
    inputs: &mut impl Iterator<Item = LogicalPlan>,
) -> Result<LogicalPlan> {
    let Some(j) = region_join(plan) else {
        return Ok(inputs.next().expect("one input per leaf"));
    };
    let left = rebuild(&j.left, inputs)?;
    let right = rebuild(&j.right, inputs)?;
    let join = LogicalPlan::Join(Join::try_new(
        Arc::new(left),
        Arc::new(right),
        j.on.clone(),
        None,
        JoinType::Inner,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?);
    match plan {
        LogicalPlan::Projection(p) => plan.with_new_exprs(p.expr.clone(), vec![join]),
        _ => Ok(join),
    }
}

/// The input whose columns `expr` reads, if exactly one (and each of its columns names
/// a column of that input only).
fn owner(expr: &Expr, inputs: &[Input]) -> Option<usize> {
    let mut found = None;
    for column in expr.column_refs() {
        let mut holders = (0..inputs.len()).filter(|&i| inputs[i].plan.schema().has_column(column));
        let at = holders.next()?;
        if holders.next().is_some() || found.is_some_and(|f| f != at) {
            return None;
        }
        found = Some(at);
    }
    found
}

/// Distinct values of `expr` over input `at` when `rows` rows are left of it.
fn distinct(inputs: &[Input], at: usize, expr: &Expr, rows: f64) -> f64 {
    let own = match expr {
        Expr::Column(c) => inputs[at].distinct.get(c).copied(),
        _ => None,
    };
    own.unwrap_or(inputs[at].rows).min(rows).max(1.0)
}

async fn estimate(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Option<Input> {
    // Planning an input runs nothing, unless an extension (a subquery run while
    // planning) is inside: those keep the written order.
    let mut plain = true;
    plan.apply(|p| {
        if matches!(p, LogicalPlan::Extension(_)) {
            plain = false;
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })
    .ok()?;
    if !plain {
        return None;
    }
    let physical = planner.create_physical_plan(plan, session).await.ok()?;
    let stats = crate::estimates::statistics(&physical)?;
    let rows = crate::estimates::rows(&stats)? as f64;
    let mut distinct = HashMap::new();
    for ((qualifier, field), column) in plan.schema().iter().zip(&stats.column_statistics) {
        if let Precision::Exact(n) | Precision::Inexact(n) = column.distinct_count {
            distinct.insert(Column::new(qualifier.cloned(), field.name()), n as f64);
        }
    }
    Some(Input {
        plan: plan.clone(),
        rows: rows.max(1.0),
        distinct,
    })
}

/// The estimated rows of the written region and the sum of its joins' results.
fn written_cost(plan: &LogicalPlan, inputs: &[Input], next: &mut usize) -> Option<(f64, f64)> {
    match region_join(plan) {
        Some(j) => {
            let (l_rows, l_cost) = written_cost(&j.left, inputs, next)?;
            let (r_rows, r_cost) = written_cost(&j.right, inputs, next)?;
            let mut divisor: f64 = 1.0;
            for (l, r) in &j.on {
                let (a, b) = (owner(l, inputs)?, owner(r, inputs)?);
                divisor = divisor
                    .max(distinct(inputs, a, l, l_rows))
                    .max(distinct(inputs, b, r, r_rows));
            }
            let rows = (l_rows * r_rows / divisor).max(1.0);
            Some((rows, l_cost + r_cost + rows))
        }
        None => {
            let at = *next;
            *next += 1;
            Some((inputs[at].rows, 0.0))
        }
    }
}

async fn better_order(
    plan: &LogicalPlan,
    rewritten: &[LogicalPlan],
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Option<LogicalPlan> {
    let mut inputs = Vec::with_capacity(rewritten.len());
    for p in rewritten {
        inputs.push(estimate(p, planner, session).await?);
    }
    let mut edges = Vec::new();
    collect_edges(plan, &inputs, &mut edges)?;
    let (_, old_cost) = written_cost(plan, &inputs, &mut 0)?;

    // Greedy from every start: the cheapest joined input each time; the cheapest order wins.
    let n = inputs.len();
    let (order, cost) = (0..n)
        .filter_map(|start| greedy(start, &inputs, &edges))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    tracing::debug!(
        inputs = n,
        written = old_cost,
        best = cost,
        ?order,
        "join order"
    );
    if order.iter().enumerate().all(|(i, &j)| i == j) || cost >= old_cost * REQUIRED_GAIN {
        return None;
    }
    let start = order[0];

    let mut placed = vec![false; n];
    placed[start] = true;
    let mut tree = inputs[start].plan.clone();
    for &j in &order[1..] {
        let on: Vec<(Expr, Expr)> = edges
            .iter()
            .filter_map(|e| {
                if e.b == j && placed[e.a] {
                    Some((e.a_expr.clone(), e.b_expr.clone()))
                } else if e.a == j && placed[e.b] {
                    Some((e.b_expr.clone(), e.a_expr.clone()))
                } else {
                    None
                }
            })
            .collect();
        tree = LogicalPlan::Join(
            Join::try_new(
                Arc::new(tree),
                Arc::new(inputs[j].plan.clone()),
                on,
                None,
                JoinType::Inner,
                JoinConstraint::On,
                NullEquality::NullEqualsNothing,
                false,
            )
            .ok()?,
        );
        placed[j] = true;
        // Only the columns the written output or a join still to come reads.
        let needed: Vec<Expr> = tree
            .schema()
            .columns()
            .into_iter()
            .filter(|c| {
                plan.schema().has_column(c)
                    || edges.iter().any(|e| {
                        (!placed[e.a] && e.b_expr.column_refs().contains(c))
                            || (!placed[e.b] && e.a_expr.column_refs().contains(c))
                    })
            })
            .map(Expr::Column)
            .collect();
        if needed.len() < tree.schema().fields().len() {
            tree = LogicalPlanBuilder::from(tree)
                .project(needed)
                .ok()?
                .build()
                .ok()?;
        }
    }
    // The written column order, by qualified name.
    let columns: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let reordered = LogicalPlanBuilder::from(tree)
        .project(columns)
        .ok()?
        .build()
        .ok()?;
    same_output(&reordered, plan).then_some(reordered)
}

/// The order that starts at `start` and adds, each time, the joined input with the
/// smallest estimated result; with its cost (the sum of those results). None when some
/// input is joined to nothing placed before it (a cross product).
fn greedy(start: usize, inputs: &[Input], edges: &[Edge]) -> Option<(Vec<usize>, f64)> {
    let n = inputs.len();
    let mut joined = vec![false; n];
    joined[start] = true;
    let mut order = vec![start];
    let (mut rows, mut cost) = (inputs[start].rows, 0.0);
    while order.len() < n {
        let mut best: Option<(usize, f64)> = None;
        for j in (0..n).filter(|&j| !joined[j]) {
            let mut divisor: Option<f64> = None;
            for e in edges {
                let (mine, mine_expr, other_expr) = if e.b == j && joined[e.a] {
                    (e.a, &e.a_expr, &e.b_expr)
                } else if e.a == j && joined[e.b] {
                    (e.b, &e.b_expr, &e.a_expr)
                } else {
                    continue;
                };
                let d = distinct(inputs, mine, mine_expr, rows).max(distinct(
                    inputs,
                    j,
                    other_expr,
                    inputs[j].rows,
                ));
                divisor = Some(divisor.unwrap_or(1.0).max(d));
            }
            let Some(divisor) = divisor else { continue };
            let result = (rows * inputs[j].rows / divisor).max(1.0);
            if best.is_none_or(|(_, r)| result < r) {
                best = Some((j, result));
            }
        }
        let (j, result) = best?;
        joined[j] = true;
        order.push(j);
        rows = result;
        cost += result;
    }
    Some((order, cost))
}

/// Every equality of the region as an edge between two inputs; None if one cannot be
/// placed (an expression over several inputs, or over one input on both sides).
fn collect_edges(plan: &LogicalPlan, inputs: &[Input], out: &mut Vec<Edge>) -> Option<()> {
    if let Some(j) = region_join(plan) {
        collect_edges(&j.left, inputs, out)?;
        collect_edges(&j.right, inputs, out)?;
        for (l, r) in &j.on {
            let (a, b) = (owner(l, inputs)?, owner(r, inputs)?);
            if a == b {
                return None;
            }
            out.push(Edge {
                a,
                b,
                a_expr: l.clone(),
                b_expr: r.clone(),
            });
        }
    }
    Some(())
}
