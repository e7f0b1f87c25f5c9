//! Filter estimates DataFusion cannot make, for the join-order planner.
//!
//! DataFusion estimates a filter by interval analysis, which covers numbers and dates
//! only. A predicate with any other part (`p_type = 'ECONOMY ANODIZED STEEL'`,
//! `n_name IN (...)`, `LIKE`) is given one default selectivity for the whole, 20%, so a
//! filter that keeps 1 row in 150 looks like it keeps 1 in 5. [`refine`] swaps such
//! filters, in a plan built only to be estimated, for [`EstimatedFilter`], which takes
//! the predicate apart:
//!
//! ```text
//!   a AND b     s(a)·s(b)              col = lit       1 / ndv(col)
//!   a OR b      s(a) + s(b) − s(a)·s(b) col IN (k lits) k / ndv(col)
//!   NOT a       1 − s(a)               LIKE            1/10
//!   a part DataFusion can analyze: its own estimate    anything else   1/5
//! ```
//!
//! The distinct counts are ANALYZE's, as the scan reports them. Nothing here executes.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, Statistics};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{
    BinaryExpr, Column, InListExpr, LikeExpr, Literal, NotExpr,
};
use datafusion::physical_expr::intervals::utils::check_support;
use datafusion::physical_expr::projection::ProjectionRef;
use datafusion::physical_expr::{AnalysisContext, PhysicalExpr, analyze};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

/// What DataFusion assumes of a predicate it cannot analyze, and of the parts here.
const UNKNOWN: f64 = 0.2;
const LIKE: f64 = 0.1;

/// `plan` with each filter DataFusion would estimate by its default replaced by an
/// [`EstimatedFilter`]. For estimates only: the result cannot run.
pub fn refine(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(filter) = node.downcast_ref::<FilterExec>() else {
            return Ok(Transformed::no(node));
        };
        if check_support(filter.predicate(), &filter.input().schema()) {
            return Ok(Transformed::no(node));
        }
        let estimated = EstimatedFilter {
            input: Arc::clone(filter.input()),
            predicate: Arc::clone(filter.predicate()),
            projection: filter.projection().clone(),
            properties: Arc::clone(filter.properties()),
        };
        Ok(Transformed::yes(
            Arc::new(estimated) as Arc<dyn ExecutionPlan>
        ))
    })
    .map(|t| t.data)
}

/// What DataFusion estimates for `plan` once its filters are [`refine`]d: the one place
/// the join-order planner and the broadcast rule read their figures from.
pub fn statistics(plan: &Arc<dyn ExecutionPlan>) -> Option<Statistics> {
    let refined = refine(Arc::clone(plan)).ok()?;
    let stats = StatisticsContext::new()
        .compute(refined.as_ref(), &StatisticsArgs::new())
        .ok()?;
    Some(stats.as_ref().clone())
}

/// The estimated row count in `stats`, if there is one.
pub fn rows(stats: &Statistics) -> Option<usize> {
    match stats.num_rows {
        Precision::Exact(n) | Precision::Inexact(n) => Some(n),
        Precision::Absent => None,
    }
}

/// A filter that is only estimated (see the module comment).
#[derive(Debug)]
pub struct EstimatedFilter {
    input: Arc<dyn ExecutionPlan>,
    predicate: Arc<dyn PhysicalExpr>,
    projection: Option<ProjectionRef>,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for EstimatedFilter {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "EstimatedFilter: {}", self.predicate)
    }
}

impl ExecutionPlan for EstimatedFilter {
    fn name(&self) -> &'static str {
        "EstimatedFilter"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        f(&self.predicate)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .into_iter()
            .next()
            .unwrap_or(Arc::clone(&self.input));
        Ok(Arc::new(EstimatedFilter {
            input,
            predicate: Arc::clone(&self.predicate),
            projection: self.projection.clone(),
            properties: Arc::clone(&self.properties),
        }))
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(datafusion::error::DataFusionError::Internal(
            "EstimatedFilter is built for estimates and never runs".into(),
        ))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let input = input_stats[0].as_ref().clone();
        let schema = self.input.schema();
        let s = selectivity(&self.predicate, &schema, &input).clamp(0.0, 1.0);
        let rows = input.num_rows.with_estimated_selectivity(s);
        let mut stats = input.to_inexact();
        stats.num_rows = rows;
        stats.total_byte_size = stats.total_byte_size.with_estimated_selectivity(s);
        if let Some(n) = rows.get_value().copied() {
            for column in &mut stats.column_statistics {
                column.distinct_count = column.distinct_count.min(&Precision::Inexact(n));
                column.null_count = column.null_count.min(&Precision::Inexact(n));
            }
        }
        Ok(Arc::new(stats.project(self.projection.as_ref())))
    }
}

/// The share of rows `expr` keeps, from the input's statistics.
fn selectivity(expr: &Arc<dyn PhysicalExpr>, schema: &SchemaRef, stats: &Statistics) -> f64 {
    if check_support(expr, schema)
        && let Some(s) = AnalysisContext::try_from_statistics(schema, &stats.column_statistics)
            .and_then(|ctx| analyze(expr, ctx, schema))
            .ok()
            .and_then(|ctx| ctx.selectivity)
    {
        return s;
    }
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        let (l, r) = (binary.left(), binary.right());
        return match binary.op() {
            Operator::And => selectivity(l, schema, stats) * selectivity(r, schema, stats),
            Operator::Or => {
                let (a, b) = (selectivity(l, schema, stats), selectivity(r, schema, stats));
                a + b - a * b
            }
            Operator::Eq => equal(l, r, stats).unwrap_or(UNKNOWN),
            Operator::NotEq => equal(l, r, stats).map_or(1.0 - UNKNOWN, |s| 1.0 - s),
            _ => UNKNOWN,
        };
    }
    if let Some(not) = expr.downcast_ref::<NotExpr>() {
        return 1.0 - selectivity(not.arg(), schema, stats);
    }
    if let Some(list) = expr.downcast_ref::<InListExpr>()
        && let Some(ndv) = distinct(list.expr(), stats)
    {
        let s = (list.list().len() as f64 / ndv).min(1.0);
        return if list.negated() { 1.0 - s } else { s };
    }
    if let Some(like) = expr.downcast_ref::<LikeExpr>() {
        return if like.negated() { 1.0 - LIKE } else { LIKE };
    }
    UNKNOWN
}

/// `column = literal` (either way round): one distinct value of the column.
fn equal(l: &Arc<dyn PhysicalExpr>, r: &Arc<dyn PhysicalExpr>, stats: &Statistics) -> Option<f64> {
    let column = if r.downcast_ref::<Literal>().is_some() {
        l
    } else if l.downcast_ref::<Literal>().is_some() {
        r
    } else {
        return None;
    };
    distinct(column, stats).map(|ndv| 1.0 / ndv)
}

/// The distinct count ANALYZE recorded for a column expression.
fn distinct(expr: &Arc<dyn PhysicalExpr>, stats: &Statistics) -> Option<f64> {
    let column = expr.downcast_ref::<Column>()?;
    let ndv = *stats
        .column_statistics
        .get(column.index())?
        .distinct_count
        .get_value()?;
    (ndv > 0).then_some(ndv as f64)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::{ColumnStatistics, ScalarValue};
    use datafusion::physical_expr::expressions::{binary, col, in_list, lit, not};

    use super::*;

    /// 1000 rows: `name` with 100 distinct strings, `n` from 0 to 999.
    fn input() -> (SchemaRef, Statistics) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let mut stats = Statistics::new_unknown(&schema);
        stats.num_rows = Precision::Exact(1000);
        stats.column_statistics = vec![
            ColumnStatistics::new_unknown().with_distinct_count(Precision::Inexact(100)),
            ColumnStatistics::new_unknown()
                .with_distinct_count(Precision::Inexact(1000))
                .with_min_value(Precision::Exact(ScalarValue::Int64(Some(0))))
                .with_max_value(Precision::Exact(ScalarValue::Int64(Some(999)))),
        ];
        (schema, stats)
    }

    fn name_is(schema: &SchemaRef, v: &str) -> Arc<dyn PhysicalExpr> {
        binary(col("name", schema).unwrap(), Operator::Eq, lit(v), schema).unwrap()
    }

    #[test]
    fn string_predicates_are_estimated_by_distinct_counts() {
        let (schema, stats) = input();
        let s = |e: &Arc<dyn PhysicalExpr>| selectivity(e, &schema, &stats);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-3, "{a} vs {b}");

        close(s(&name_is(&schema, "a")), 0.01);
        let either = binary(
            name_is(&schema, "a"),
            Operator::Or,
            name_is(&schema, "b"),
            &schema,
        )
        .unwrap();
        close(s(&either), 0.0199);
        close(s(&not(name_is(&schema, "a")).unwrap()), 0.99);
        let three = in_list(
            col("name", &schema).unwrap(),
            vec![lit("a"), lit("b"), lit("c")],
            &false,
            &schema,
        )
        .unwrap();
        close(s(&three), 0.03);

        // A part DataFusion can analyze keeps its estimate: n < 500 is about half.
        let low = binary(
            col("n", &schema).unwrap(),
            Operator::Lt,
            lit(500i64),
            &schema,
        )
        .unwrap();
        let half = s(&low);
        assert!((0.45..0.55).contains(&half), "{half}");
        let both = binary(name_is(&schema, "a"), Operator::And, low, &schema).unwrap();
        close(s(&both), 0.01 * half);
    }

    #[test]
    fn a_column_without_a_distinct_count_gets_the_default() {
        let (schema, mut stats) = input();
        stats.column_statistics[0].distinct_count = Precision::Absent;
        assert_eq!(
            selectivity(&name_is(&schema, "a"), &schema, &stats),
            UNKNOWN
        );
    }
}
