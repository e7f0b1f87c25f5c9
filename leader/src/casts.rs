//! Casts that DataFusion computes differently from PostgreSQL and Redshift.
//!
//! `CAST(2.5 AS INT)` is 3 in PostgreSQL and Redshift (a numeric rounds half away from
//! zero when it becomes an integer) and `CAST(2.7::float8 AS INT)` is 3 (a float rounds to
//! the nearest integer, ties to even); DataFusion's casts truncate (2 and 2), a silent wrong
//! answer. [`RoundingCasts`] rounds first. [`PositiveZero`] keeps IEEE's negative zero out
//! of comparisons. [`DecimalLiteralScale`] is not about answers but speed: it writes a
//! decimal literal added to or subtracted from a decimal at the other side's scale.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::{Case, Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{AnalyzerRule, OptimizerConfig, OptimizerRule};
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
    rewrite_plan_expressions(plan, f).map(|t| t.data)
}

/// [`rewrite_expressions`], saying whether anything changed.
fn rewrite_plan_expressions(
    plan: LogicalPlan,
    f: fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
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
        let rewrite = |e: Expr| {
            let saved = names.save(&e);
            e.transform_up(|x| f(x, &schema))
                .map(|t| t.update_data(|e| saved.restore(e)))
        };
        node.map_expressions(|e| {
            // A grouping set (ROLLUP, CUBE, GROUPING SETS) keeps its names per
            // expression inside it: an alias around the set itself would make the
            // aggregate stop seeing a grouping set.
            if matches!(e, Expr::GroupingSet(_)) {
                e.map_children(rewrite)
            } else {
                rewrite(e)
            }
        })
    })
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

/// `1 - l_discount` (TPC-H's discounted price) subtracts a DECIMAL(15,2) from the literal 1,
/// which DataFusion types DECIMAL(20,0). Arrow's kernel then brings both sides to scale 2
/// row by row: two checked 128-bit multiplications for every row, costlier than the
/// subtraction itself. [`DecimalLiteralScale`] writes the literal as 1.00 (DECIMAL(22,2))
/// once at planning, so the kernel only subtracts.
///
/// The answer's type cannot change: a sum or difference of decimals has the larger scale
/// and `max(p - s) + 1` more digits, and the literal keeps its `p - s`; the rule checks the
/// type is the same before it keeps a rewrite. The value is exact (a multiple of ten).
#[derive(Debug, Default)]
pub struct DecimalLiteralScale;

impl OptimizerRule for DecimalLiteralScale {
    fn name(&self) -> &str {
        "blueshift_decimal_literal_scale"
    }
    fn apply_order(&self) -> Option<ApplyOrder> {
        // The rule walks the whole plan, subqueries included, itself.
        None
    }
    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        rewrite_plan_expressions(plan, rescale_decimal_literal)
    }
}

/// `lit ± x` or `x ± lit` for a decimal literal with a smaller scale than the decimal `x`:
/// the literal at `x`'s scale.
fn rescale_decimal_literal(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(b) = &e else {
        return Ok(Transformed::no(e));
    };
    if !matches!(b.op, Operator::Plus | Operator::Minus) {
        return Ok(Transformed::no(e));
    }
    let decimal = |x: &Expr| match x {
        Expr::Literal(ScalarValue::Decimal128(Some(v), p, s), None) => Some((*v, *p, *s)),
        _ => None,
    };
    let (literal, other, literal_left) = match (decimal(&b.left), decimal(&b.right)) {
        (Some(l), None) => (l, &b.right, true),
        (None, Some(r)) => (r, &b.left, false),
        _ => return Ok(Transformed::no(e)),
    };
    let Ok(DataType::Decimal128(_, scale)) = other.get_type(schema) else {
        return Ok(Transformed::no(e));
    };
    let Some(scaled) = rescaled(literal, scale) else {
        return Ok(Transformed::no(e));
    };
    let scaled = Expr::Literal(scaled, None);
    let rewritten = if literal_left {
        Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
            Box::new(scaled),
            b.op,
            b.right.clone(),
        ))
    } else {
        Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
            b.left.clone(),
            b.op,
            Box::new(scaled),
        ))
    };
    match (e.get_type(schema), rewritten.get_type(schema)) {
        (Ok(before), Ok(after)) if before == after => Ok(Transformed::yes(rewritten)),
        _ => Ok(Transformed::no(e)),
    }
}

/// The decimal `(value, precision, scale)` written at the larger scale `to`, with as many
/// more digits of precision; none when `to` is not larger or the digits pass 38.
fn rescaled((value, precision, scale): (i128, u8, i8), to: i8) -> Option<ScalarValue> {
    let more = u8::try_from(i16::from(to) - i16::from(scale))
        .ok()
        .filter(|d| *d > 0)?;
    let precision = precision.checked_add(more).filter(|p| *p <= 38)?;
    let value = value.checked_mul(10i128.checked_pow(u32::from(more))?)?;
    Some(ScalarValue::Decimal128(Some(value), precision, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_is_rescaled_exactly_or_not_at_all() {
        assert_eq!(
            rescaled((1, 20, 0), 2),
            Some(ScalarValue::Decimal128(Some(100), 22, 2))
        );
        assert_eq!(
            rescaled((-25, 3, 1), 4),
            Some(ScalarValue::Decimal128(Some(-25_000), 6, 4))
        );
        // Same or smaller scale: nothing to gain.
        assert_eq!(rescaled((1, 20, 2), 2), None);
        assert_eq!(rescaled((1, 20, 3), 2), None);
        // Past 38 digits: left as written.
        assert_eq!(rescaled((1, 37, 0), 2), None);
    }

    #[test]
    fn one_minus_a_decimal_column_keeps_its_type_and_value() {
        let schema = DFSchema::try_from(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("d", DataType::Decimal128(15, 2), true),
        ]))
        .expect("schema");
        let one = Expr::Literal(ScalarValue::Decimal128(Some(1), 20, 0), None);
        let column = Expr::Column(datafusion::common::Column::from_name("d"));
        for e in [one.clone() - column.clone(), column.clone() + one.clone()] {
            let before = e.get_type(&schema).expect("type");
            let out = rescale_decimal_literal(e, &schema).expect("rewrite");
            assert!(out.transformed);
            assert_eq!(out.data.get_type(&schema).expect("type"), before);
            let has_scaled = out
                .data
                .exists(|x| {
                    Ok(matches!(
                        x,
                        Expr::Literal(ScalarValue::Decimal128(Some(100), 22, 2), _)
                    ))
                })
                .expect("walk");
            assert!(has_scaled, "{}", out.data);
        }
        // A product has no rescaling to save.
        let product = one * column;
        assert!(
            !rescale_decimal_literal(product, &schema)
                .expect("rewrite")
                .transformed
        );
    }
}
