//! Outer joins made inner only when the WHERE clause really rejects their NULL rows.
//!
//! DataFusion 55's `eliminate_outer_join` decides that a filter rejects the rows an outer
//! join pads with NULLs by evaluating it with NULL in place of more columns than the padded
//! side's: `… RIGHT JOIN … WHERE CASE WHEN x2.f THEN true ELSE x1.f END` keeps a padded row
//! whenever `x2.f` is true, yet the join became inner and the row was lost, a silent wrong
//! answer. [`EliminateOuterJoin`] replaces it: it makes the same rewrite from conjuncts it
//! can prove NULL-rejecting by their form alone (a comparison, IN, BETWEEN, LIKE or IS NOT
//! NULL on an expression that is NULL when a padded side's column is), and leaves every
//! other outer join as it is.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, Join, JoinType, LogicalPlan, Operator};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct EliminateOuterJoin;

impl OptimizerRule for EliminateOuterJoin {
    fn name(&self) -> &str {
        // DataFusion's rule of this name is replaced by this one.
        "eliminate_outer_join"
    }
    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }
    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(mut filter) = plan else {
            return Ok(Transformed::no(plan));
        };
        let LogicalPlan::Join(join) = filter.input.as_ref() else {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        if !join.join_type.is_outer() {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        let conjuncts = split_conjunction(&filter.predicate);
        let left = conjuncts
            .iter()
            .any(|c| rejects_nulls(c, join.left.schema()));
        let right = conjuncts
            .iter()
            .any(|c| rejects_nulls(c, join.right.schema()));
        let join_type = match (join.join_type, left, right) {
            (JoinType::Left, _, true) | (JoinType::Right, true, _) => JoinType::Inner,
            (JoinType::Full, true, true) => JoinType::Inner,
            (JoinType::Full, true, false) => JoinType::Left,
            (JoinType::Full, false, true) => JoinType::Right,
            (other, _, _) => other,
        };
        if join_type == join.join_type {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        let join = Join {
            join_type,
            ..join.clone()
        };
        filter.input = Arc::new(LogicalPlan::Join(join));
        Ok(Transformed::yes(LogicalPlan::Filter(filter)))
    }
}

/// Whether a conjunct is NULL or false for every row whose columns of `side` are NULL.
fn rejects_nulls(e: &Expr, side: &DFSchema) -> bool {
    match e {
        Expr::BinaryExpr(b) => match b.op {
            Operator::And => rejects_nulls(&b.left, side) || rejects_nulls(&b.right, side),
            Operator::Or => rejects_nulls(&b.left, side) && rejects_nulls(&b.right, side),
            Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::LikeMatch
            | Operator::ILikeMatch
            | Operator::NotLikeMatch
            | Operator::NotILikeMatch => strict(&b.left, side) || strict(&b.right, side),
            _ => false,
        },
        // NOT of a comparison is NULL where the comparison is.
        Expr::Not(inner) => {
            matches!(inner.as_ref(), Expr::BinaryExpr(b)
            if matches!(b.op, Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq
                | Operator::Gt | Operator::GtEq))
                && rejects_nulls(inner, side)
        }
        Expr::IsNotNull(x) | Expr::IsTrue(x) | Expr::IsFalse(x) => strict(x, side),
        Expr::Between(b) => strict(&b.expr, side),
        Expr::InList(i) => strict(&i.expr, side),
        Expr::Like(l) => strict(&l.expr, side) || strict(&l.pattern, side),
        _ => false,
    }
}

/// Built-in functions that return NULL when an argument is NULL.
const STRICT_FUNCTIONS: [&str; 18] = [
    "abs",
    "upper",
    "lower",
    "length",
    "character_length",
    "char_length",
    "octet_length",
    "btrim",
    "ltrim",
    "rtrim",
    "substr",
    "round",
    "trunc",
    "floor",
    "ceil",
    "date_part",
    "date_trunc",
    "sqrt",
];

/// Whether an expression is NULL whenever the columns of `side` are: a column of that
/// side, or a cast, arithmetic or NULL-propagating function over one.
fn strict(e: &Expr, side: &DFSchema) -> bool {
    match e {
        Expr::Column(c) => side.has_column(c),
        Expr::Cast(c) => strict(&c.expr, side),
        Expr::Negative(x) => strict(x, side),
        Expr::ScalarFunction(f) => {
            STRICT_FUNCTIONS.contains(&f.name()) && f.args.iter().any(|a| strict(a, side))
        }
        Expr::BinaryExpr(b) => {
            matches!(
                b.op,
                Operator::Plus
                    | Operator::Minus
                    | Operator::Multiply
                    | Operator::Divide
                    | Operator::Modulo
                    | Operator::StringConcat
            ) && (strict(&b.left, side) || strict(&b.right, side))
        }
        _ => false,
    }
}
