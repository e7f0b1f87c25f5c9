//! Casts that DataFusion computes differently from PostgreSQL and Redshift.
//!
//! `CAST(2.5 AS INT)` is 3 in PostgreSQL and Redshift (a numeric rounds half away from
//! zero when it becomes an integer); DataFusion's cast truncates (2), a silent wrong answer.
//! [`RoundingCasts`] rounds the decimal first.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{ExprSchemable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::Expr;

#[derive(Debug, Default)]
pub struct RoundingCasts;

impl AnalyzerRule for RoundingCasts {
    fn name(&self) -> &str {
        "blueshift_rounding_casts"
    }
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let inputs = node.inputs();
            if inputs.is_empty() {
                return Ok(Transformed::no(node));
            }
            let mut schema = DFSchema::empty();
            for input in inputs {
                schema.merge(input.schema());
            }
            // Nodes above refer to a projection's or aggregate's output by name.
            let names = NamePreserver::new(&node);
            node.map_expressions(|e| {
                let saved = names.save(&e);
                e.transform_up(|x| {
                    let (inner, to) = match &x {
                        Expr::Cast(Cast { expr, field })
                        | Expr::TryCast(TryCast { expr, field }) => {
                            (expr.as_ref(), field.data_type())
                        }
                        _ => return Ok(Transformed::no(x)),
                    };
                    let Ok(from) = inner.get_type(&schema) else {
                        return Ok(Transformed::no(x));
                    };
                    let decimal_with_fraction = matches!(
                        from,
                        arrow::datatypes::DataType::Decimal32(_, s)
                            | arrow::datatypes::DataType::Decimal64(_, s)
                            | arrow::datatypes::DataType::Decimal128(_, s)
                            | arrow::datatypes::DataType::Decimal256(_, s) if s > 0
                    );
                    if !(decimal_with_fraction && to.is_integer()) {
                        return Ok(Transformed::no(x));
                    }
                    let rounded = Expr::ScalarFunction(ScalarFunction::new_udf(
                        Arc::clone(&datafusion::functions::math::round()),
                        vec![inner.clone()],
                    ));
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
                })
                .map(|t| t.update_data(|e| saved.restore(e)))
            })
        })
        .map(|t| t.data)
    }
}
