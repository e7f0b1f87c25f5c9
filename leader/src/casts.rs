//! Casts that DataFusion computes differently from PostgreSQL and Redshift.
//!
//! `CAST(2.5 AS INT)` is 3 in PostgreSQL and Redshift (a numeric rounds half away from
//! zero when it becomes an integer) and `CAST(2.7::float8 AS INT)` is 3 (a float rounds to
//! the nearest integer, ties to even); DataFusion's casts truncate (2 and 2), a silent wrong
//! answer. [`RoundingCasts`] rounds first. [`PositiveZero`] keeps IEEE's negative zero out
//! of comparisons.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::{Case, Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::Expr;

#[derive(Debug, Default)]
pub struct RoundingCasts;

fn call(f: Arc<datafusion::logical_expr::ScalarUDF>, args: Vec<Expr>) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(f, args))
}

/// A float rounded to the nearest integer, ties to even (PostgreSQL's `rint`), from
/// DataFusion's functions: `round` (ties away from zero), less the sign at an odd tie.
fn round_half_even(x: &Expr, float: &DataType) -> Expr {
    use datafusion::functions::math;
    let lit = |v: f64| match float {
        DataType::Float32 => Expr::Literal(ScalarValue::Float32(Some(v as f32)), None),
        _ => Expr::Literal(ScalarValue::Float64(Some(v)), None),
    };
    let rounded = call(math::round(), vec![x.clone()]);
    let fraction = x.clone() - call(math::trunc(), vec![x.clone()]);
    let tie = call(math::abs(), vec![fraction]).eq(lit(0.5));
    let odd = (rounded.clone() % lit(2.0)).not_eq(lit(0.0));
    let back = rounded.clone() - call(math::signum(), vec![x.clone()]);
    Expr::Case(Case::new(
        None,
        vec![(Box::new(tie.and(odd)), Box::new(back))],
        Some(Box::new(rounded)),
    ))
}

impl AnalyzerRule for RoundingCasts {
    fn name(&self) -> &str {
        "blueshift_rounding_casts"
    }
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(plan, round_cast)
    }
}

/// A cast to an integer of a decimal with a fraction or of a float, rounded first.
fn round_cast(x: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (inner, to) = match &x {
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
            (expr.as_ref(), field.data_type())
        }
        _ => return Ok(Transformed::no(x)),
    };
    let Ok(from) = inner.get_type(schema) else {
        return Ok(Transformed::no(x));
    };
    let decimal_with_fraction = matches!(
        from,
        DataType::Decimal32(_, s)
            | DataType::Decimal64(_, s)
            | DataType::Decimal128(_, s)
            | DataType::Decimal256(_, s) if s > 0
    );
    if !to.is_integer() {
        return Ok(Transformed::no(x));
    }
    let rounded = if decimal_with_fraction {
        call(datafusion::functions::math::round(), vec![inner.clone()])
    } else if matches!(from, DataType::Float32 | DataType::Float64) {
        round_half_even(inner, &from)
    } else {
        return Ok(Transformed::no(x));
    };
    Ok(Transformed::yes(match x {
        Expr::Cast(c) => Expr::Cast(Cast {
            expr: Box::new(rounded),
            ..c
        }),
        Expr::TryCast(c) => Expr::TryCast(TryCast {
            expr: Box::new(rounded),
            ..c
        }),
        other => other,
    }))
}

/// Rewrites every expression of every node (subqueries included) bottom-up with `f`, which
/// sees the node's input columns. Output names stay as they were: nodes above refer to a
/// projection's or aggregate's output by name.
fn rewrite_expressions(
    plan: LogicalPlan,
    f: fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let inputs = node.inputs();
        if inputs.is_empty() {
            return Ok(Transformed::no(node));
        }
        let mut schema = DFSchema::empty();
        for input in inputs {
            schema.merge(input.schema());
        }
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = names.save(&e);
            e.transform_up(|x| f(x, &schema))
                .map(|t| t.update_data(|e| saved.restore(e)))
        })
    })
    .map(|t| t.data)
}

/// IEEE floats have a negative zero (`-7.25 * 0`). PostgreSQL and Redshift compare it equal
/// to zero; DataFusion compares, groups, joins and deduplicates floats by their total order,
/// where -0 and 0 differ (`NULLIF(-7.25 * 0, 0)` is -0, not NULL; `UNION` keeps both).
/// [`PositiveZero`] adds `+ 0.0` to every float-valued arithmetic result, which turns -0
/// into 0 and leaves every other value as it is, so no -0 reaches a comparison.
#[derive(Debug, Default)]
pub struct PositiveZero;

impl AnalyzerRule for PositiveZero {
    fn name(&self) -> &str {
        "blueshift_positive_zero"
    }
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(plan, positive_zero)
    }
}

/// A float arithmetic result plus 0.0.
fn positive_zero(x: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let arithmetic = match &x {
        Expr::BinaryExpr(b) => {
            matches!(
                b.op,
                Operator::Multiply | Operator::Divide | Operator::Minus | Operator::Modulo
            ) || (b.op == Operator::Plus && !is_zero_literal(&b.right))
        }
        Expr::Negative(_) => true,
        _ => false,
    };
    if !arithmetic {
        return Ok(Transformed::no(x));
    }
    let zero = match x.get_type(schema) {
        Ok(DataType::Float64) => ScalarValue::Float64(Some(0.0)),
        Ok(DataType::Float32) => ScalarValue::Float32(Some(0.0)),
        _ => return Ok(Transformed::no(x)),
    };
    Ok(Transformed::yes(x + Expr::Literal(zero, None)))
}

/// A literal +0.0: what [`PositiveZero`] adds (so a second pass adds nothing).
fn is_zero_literal(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Literal(ScalarValue::Float64(Some(v)), _) if *v == 0.0 && v.is_sign_positive()
    ) || matches!(
        e,
        Expr::Literal(ScalarValue::Float32(Some(v)), _) if *v == 0.0 && v.is_sign_positive()
    )
}
