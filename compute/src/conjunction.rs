//! A filter's AND evaluated one conjunct at a time, cheap ones first.
//!
//! DataFusion evaluates `a AND b AND c` as nested binary ANDs. Once the left side keeps
//! under a fifth of a batch's rows, the right side runs on a filtered copy of the batch
//! and its answer is scattered back run by run: for TPC-H Q6 over a whole lineitem
//! (a date range, then two decimal ranges) that copying and scattering cost four times
//! the comparisons themselves.
//!
//! Compute nodes therefore rewrite each filter's top-level AND into a [`Conjunction`]
//! (see [`split_filters`]) when they receive a stage:
//!
//! ```text
//!   mask = all rows
//!   for each conjunct, cheapest class first (stable within a class):
//!     comparisons that cannot fail:  evaluated on the whole batch, mask &= result
//!                                    (on the kept rows only once mask keeps under 1/5)
//!     anything else:                 evaluated on the rows mask keeps
//!   a row passes when every conjunct is TRUE (NULL counts as FALSE, as in WHERE)
//! ```
//!
//! Once a conjunct runs on the kept rows only, the rest do too: the kept rows become a
//! list of row numbers, each later conjunct sees only the columns it reads, gathered at
//! those rows, and its answer shortens the list. The mask is written from the list once,
//! at the end.
//!
//! A conjunct that could fail (arithmetic, casts, functions) keeps its place after the
//! ones written before it and sees only the rows they keep, so the rewrite never raises an
//! error the written order would not. The leader's plan, EXPLAIN and estimates keep the
//! written predicate.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions, UInt32Array,
};
use arrow::buffer::{BooleanBuffer, MutableBuffer};
use arrow::compute::{filter, take};
use arrow::datatypes::{DataType, Schema};
use arrow::util::bit_util;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr, Column, InListExpr, IsNotNullExpr, IsNullExpr, LikeExpr, Literal, NotExpr,
};
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};

/// `plan` with every filter whose predicate is an AND of two or more conjuncts evaluating
/// them as a [`Conjunction`].
///
/// For a producer's ticket (`producer`: the plan is the exchange it feeds), the exchange's
/// input is rewritten: this node runs it. Anywhere else an exchange's input is another
/// stage, which its producers run (and rewrite) from the plan the consumer encodes and
/// sends them, so it stays as written (a `Conjunction` has no encoding).
pub fn split_filters(
    plan: Arc<dyn ExecutionPlan>,
    producer: bool,
) -> Result<Arc<dyn ExecutionPlan>> {
    if producer && let Some(exchange) = plan.downcast_ref::<crate::exchange::ExchangeExec>() {
        let input = split_below(Arc::clone(exchange.input()))?;
        return plan.replace_children(
            vec![input],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        );
    }
    split_below(plan)
}

fn split_below(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_down(|node| {
        if node
            .downcast_ref::<crate::exchange::ExchangeExec>()
            .is_some()
        {
            return Ok(Transformed::new(node, false, TreeNodeRecursion::Jump));
        }
        let Some(filter) = node.downcast_ref::<FilterExec>() else {
            return Ok(Transformed::no(node));
        };
        let schema = filter.input().schema();
        // Column equalities stay plain AND conjuncts: DataFusion reads constants and
        // equal columns off them, and the operators above rely on those.
        let (equalities, mut parts): (Vec<_>, Vec<_>) = split_conjunction(filter.predicate())
            .into_iter()
            .map(|p| (class(p, &schema), Arc::clone(p)))
            .partition(|(_, p)| is_column_equality(p));
        if parts.len() < 2 {
            return Ok(Transformed::no(node));
        }
        parts.sort_by_key(|(class, _)| *class);
        let conjunction: Arc<dyn PhysicalExpr> = Arc::new(Conjunction::new(
            parts.into_iter().map(|(_, p)| p).collect(),
        )?);
        let predicate = equalities.into_iter().fold(conjunction, |acc, (_, e)| {
            Arc::new(BinaryExpr::new(acc, Operator::And, e)) as Arc<dyn PhysicalExpr>
        });
        let rebuilt = FilterExecBuilder::from(filter)
            .with_predicate(predicate)
            .build()?;
        // Constants DataFusion finds from ranges (`a >= 5 AND a <= 5`) would be lost in
        // the conjunction: where anything the operators above see changes, the filter
        // stays as written.
        let same = |f: &FilterExec| {
            let p = f.properties();
            (
                p.equivalence_properties().to_string(),
                format!("{:?}", p.output_ordering()),
                format!("{:?}", p.output_partitioning()),
            )
        };
        if same(&rebuilt) != same(filter) {
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(Arc::new(rebuilt) as Arc<dyn ExecutionPlan>))
    })
    .map(|t| t.data)
}

/// `col = expr` or `expr = col`: what DataFusion takes equal columns and constants from.
fn is_column_equality(expr: &Arc<dyn PhysicalExpr>) -> bool {
    expr.downcast_ref::<BinaryExpr>().is_some_and(|b| {
        *b.op() == Operator::Eq
            && (b.left().downcast_ref::<Column>().is_some()
                || b.right().downcast_ref::<Column>().is_some())
    })
}

/// Which conjuncts go first: 0 fixed-width comparisons that cannot fail, 1 such
/// comparisons over strings or other variable-width values, 2 anything else (which keeps
/// its written order behind the others).
fn class(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> u8 {
    if !cannot_fail(expr) {
        return 2;
    }
    let mut wide = false;
    let _ = expr.apply(|e| {
        if let Some(c) = e.downcast_ref::<Column>() {
            wide |= schema
                .fields()
                .get(c.index())
                .is_none_or(|f| f.data_type().primitive_width().is_none());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    u8::from(wide)
}

/// Whether evaluating `expr` on any row can only give a value, never an error: columns,
/// literals, comparisons, AND/OR/NOT, IS [NOT] NULL, IN lists and LIKE over those.
fn cannot_fail(expr: &Arc<dyn PhysicalExpr>) -> bool {
    if expr.downcast_ref::<Column>().is_some() || expr.downcast_ref::<Literal>().is_some() {
        return true;
    }
    if let Some(b) = expr.downcast_ref::<BinaryExpr>() {
        return matches!(
            b.op(),
            Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq
                | Operator::IsDistinctFrom
                | Operator::IsNotDistinctFrom
                | Operator::And
                | Operator::Or
        ) && cannot_fail(b.left())
            && cannot_fail(b.right());
    }
    if let Some(n) = expr.downcast_ref::<NotExpr>() {
        return cannot_fail(n.arg());
    }
    if let Some(n) = expr.downcast_ref::<IsNullExpr>() {
        return cannot_fail(n.arg());
    }
    if let Some(n) = expr.downcast_ref::<IsNotNullExpr>() {
        return cannot_fail(n.arg());
    }
    if let Some(l) = expr.downcast_ref::<InListExpr>() {
        return cannot_fail(l.expr()) && l.list().iter().all(cannot_fail);
    }
    if let Some(l) = expr.downcast_ref::<LikeExpr>() {
        // A pattern from a column could be one the matcher cannot build.
        return cannot_fail(l.expr()) && l.pattern().downcast_ref::<Literal>().is_some();
    }
    false
}

/// `a AND b AND …` for a filter: TRUE where every part is TRUE, else FALSE (never NULL,
/// which a filter treats as FALSE anyway). See the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Conjunction {
    parts: Vec<Arc<dyn PhysicalExpr>>,
    /// Per part: whether it cannot fail, so it may run on rows earlier parts dropped.
    safe: Vec<bool>,
    /// Per part: the columns it reads (ascending), and the part reading them from a batch
    /// of those columns alone, for running it on a few kept rows.
    narrow: Vec<(Vec<usize>, Arc<dyn PhysicalExpr>)>,
}

impl Conjunction {
    fn new(parts: Vec<Arc<dyn PhysicalExpr>>) -> Result<Self> {
        let safe = parts.iter().map(cannot_fail).collect();
        let narrow = parts.iter().map(narrowed).collect::<Result<_>>()?;
        Ok(Conjunction {
            parts,
            safe,
            narrow,
        })
    }

    /// Part `i`'s answer for the rows `rows` of `batch`, in their order.
    fn on_rows(&self, i: usize, batch: &RecordBatch, rows: &UInt32Array) -> Result<BooleanBuffer> {
        let (columns, part) = &self.narrow[i];
        let arrays = columns
            .iter()
            .map(|c| take(batch.column(*c), rows, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let subset = RecordBatch::try_new_with_options(
            Arc::new(batch.schema().project(columns)?),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows.len())),
        )?;
        true_rows(part.evaluate(&subset)?, rows.len())
    }
}

/// The columns `part` reads, ascending, and `part` renumbered to read them from a batch of
/// those columns alone.
fn narrowed(part: &Arc<dyn PhysicalExpr>) -> Result<(Vec<usize>, Arc<dyn PhysicalExpr>)> {
    let mut columns: Vec<usize> = collect_columns(part).iter().map(Column::index).collect();
    columns.sort_unstable();
    columns.dedup();
    let renumbered = Arc::clone(part).transform_up(|e| {
        let Some(c) = e.downcast_ref::<Column>() else {
            return Ok(Transformed::no(e));
        };
        let at = columns.binary_search(&c.index()).map_err(|_| {
            datafusion::error::DataFusionError::Internal(format!("column {c} not collected"))
        })?;
        Ok(Transformed::yes(
            Arc::new(Column::new(c.name(), at)) as Arc<dyn PhysicalExpr>
        ))
    });
    Ok((columns, renumbered?.data))
}

impl fmt::Display for Conjunction {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                write!(f, " AND ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The rows where `value` is TRUE.
fn true_rows(value: ColumnarValue, rows: usize) -> Result<BooleanBuffer> {
    let array: ArrayRef = value.into_array(rows)?;
    if array.len() != rows {
        return Err(datafusion::error::DataFusionError::Internal(format!(
            "a filter conjunct gave {} values for {rows} rows",
            array.len()
        )));
    }
    let array = array.as_boolean_opt().ok_or_else(|| {
        datafusion::error::DataFusionError::Internal(format!(
            "a filter conjunct gave {} instead of booleans",
            array.data_type()
        ))
    })?;
    Ok(match array.nulls() {
        Some(nulls) => array.values() & nulls.inner(),
        None => array.values().clone(),
    })
}

impl PhysicalExpr for Conjunction {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let rows = batch.num_rows();
        if u32::try_from(rows).is_err() {
            return Err(datafusion::error::DataFusionError::Internal(format!(
                "a batch of {rows} rows is past a filter's row numbers"
            )));
        }
        let mut mask: Option<BooleanBuffer> = None;
        // Once parts run on the kept rows only: those rows' numbers, ascending.
        let mut kept_rows: Option<UInt32Array> = None;
        for (i, (part, safe)) in self.parts.iter().zip(&self.safe).enumerate() {
            let list = match (&kept_rows, &mask) {
                (Some(list), _) => list.clone(),
                (None, None) => {
                    mask = Some(true_rows(part.evaluate(batch)?, rows)?);
                    continue;
                }
                (None, Some(kept)) => {
                    let selected = kept.count_set_bits();
                    if *safe && selected * 5 >= rows {
                        mask = Some(kept & &true_rows(part.evaluate(batch)?, rows)?);
                        continue;
                    }
                    UInt32Array::from_iter_values(kept.set_indices().map(|i| i as u32))
                }
            };
            if list.is_empty() {
                kept_rows = Some(list);
                break;
            }
            let answers = BooleanArray::new(self.on_rows(i, batch, &list)?, None);
            kept_rows = Some(filter(&list, &answers)?.as_primitive().clone());
        }
        let mask = match (kept_rows, mask) {
            (Some(list), _) => {
                let mut bits = MutableBuffer::from_len_zeroed(rows.div_ceil(8));
                for i in list.values() {
                    bit_util::set_bit(bits.as_slice_mut(), *i as usize);
                }
                BooleanBuffer::new(bits.into(), 0, rows)
            }
            (None, Some(mask)) => mask,
            (None, None) => BooleanBuffer::new_set(rows),
        };
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(
            mask, None,
        ))))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        self.parts.iter().collect()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(Conjunction::new(children)?))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                write!(f, " AND ")?;
            }
            p.fmt_sql(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::Field;
    use datafusion::common::ScalarValue;
    use datafusion::physical_expr::expressions::{binary, col, lit};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let a: Vec<Option<i64>> = (0..100)
            .map(|i| if i % 7 == 0 { None } else { Some(i) })
            .collect();
        let s: Vec<Option<String>> = (0..100)
            .map(|i| (i % 11 != 0).then(|| format!("v{}", i % 3)))
            .collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(a)),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap()
    }

    /// Every row the conjunction keeps is one the written AND keeps as TRUE, and back.
    #[test]
    fn keeps_the_rows_the_written_and_keeps() {
        let batch = batch();
        let schema = batch.schema();
        let a = || col("a", &schema).unwrap();
        let s = || col("s", &schema).unwrap();
        let cmp = |l, op, r| binary(l, op, r, &schema).unwrap();
        // Selective first (a < 10), then a string part, then a part that could fail, and
        // an equality that stays a plain AND conjunct.
        let parts = [
            cmp(s(), Operator::Gt, lit("v0")),
            cmp(a(), Operator::Lt, lit(10i64)),
            cmp(
                cmp(a(), Operator::Divide, lit(2i64)),
                Operator::GtEq,
                lit(1i64),
            ),
            cmp(a(), Operator::NotEq, lit(ScalarValue::Int64(None))),
            cmp(s(), Operator::Eq, lit("v1")),
        ];
        for n in 2..=parts.len() {
            let written = parts[1..n].iter().fold(Arc::clone(&parts[0]), |acc, p| {
                cmp(acc, Operator::And, Arc::clone(p))
            });
            let expected = true_rows(written.evaluate(&batch).unwrap(), 100).unwrap();
            let filter = FilterExecBuilder::new(
                written,
                Arc::new(datafusion::physical_plan::empty::EmptyExec::new(
                    Arc::clone(&schema),
                )),
            )
            .build()
            .unwrap();
            let split = split_filters(Arc::new(filter), false).unwrap();
            let filter = split.downcast_ref::<FilterExec>().unwrap();
            let mut predicate = Arc::clone(filter.predicate());
            while let Some(and) = predicate.downcast_ref::<BinaryExpr>() {
                assert_eq!(and.right().to_string(), "s@1 = v1");
                predicate = Arc::clone(and.left());
            }
            let conjunction = predicate.downcast_ref::<Conjunction>().unwrap();
            assert_eq!(conjunction.parts.len(), n.min(4));
            // The fixed-width comparison leads, the one that could fail comes last.
            assert_eq!(conjunction.parts[0].to_string(), "a@0 < 10");
            let got = true_rows(filter.predicate().evaluate(&batch).unwrap(), 100).unwrap();
            assert_eq!(got, expected, "{n} parts");
        }
    }

    #[test]
    fn a_part_that_could_fail_sees_only_the_rows_before_it_kept() {
        let batch = batch();
        let schema = batch.schema();
        let a = col("a", &schema).unwrap();
        // 100 / (a - 50) fails at a = 50, which `a < 40` already dropped.
        let guard = binary(Arc::clone(&a), Operator::Lt, lit(40i64), &schema).unwrap();
        let risky = binary(
            binary(
                lit(100i64),
                Operator::Divide,
                binary(a, Operator::Minus, lit(50i64), &schema).unwrap(),
                &schema,
            )
            .unwrap(),
            Operator::Lt,
            lit(0i64),
            &schema,
        )
        .unwrap();
        let conjunction = Conjunction::new(vec![guard, risky]).unwrap();
        let kept = true_rows(conjunction.evaluate(&batch).unwrap(), 100).unwrap();
        // a in 1..40, not a multiple of 7.
        assert_eq!(
            kept.count_set_bits(),
            (1..40).filter(|i| i % 7 != 0).count()
        );
    }

    #[test]
    fn parts_after_the_rows_thin_out_read_only_their_columns() {
        let batch = batch();
        let schema = batch.schema();
        let a = || col("a", &schema).unwrap();
        let s = || col("s", &schema).unwrap();
        let cmp = |l, op, r| binary(l, op, r, &schema).unwrap();
        // `a < 10` keeps under a fifth; the string part reads `s` alone (renumbered to its
        // first column) and the constant part no column at all.
        let parts = vec![
            cmp(a(), Operator::Lt, lit(10i64)),
            cmp(s(), Operator::Eq, lit("v1")),
            cmp(lit(1i64), Operator::Eq, lit(1i64)),
            cmp(a(), Operator::Gt, lit(2i64)),
        ];
        let conjunction = Conjunction::new(parts.clone()).unwrap();
        assert_eq!(conjunction.narrow[1].0, vec![1]);
        assert_eq!(conjunction.narrow[1].1.to_string(), "s@0 = v1");
        assert!(conjunction.narrow[2].0.is_empty());
        let written = parts[1..].iter().fold(Arc::clone(&parts[0]), |acc, p| {
            cmp(acc, Operator::And, Arc::clone(p))
        });
        let expected = true_rows(written.evaluate(&batch).unwrap(), 100).unwrap();
        let got = true_rows(conjunction.evaluate(&batch).unwrap(), 100).unwrap();
        assert_eq!(got, expected);
        // Row 4 alone: a < 10, s = v1 (4 % 3 = 1) and a > 2 (row 1 has s = v1 but a = 1).
        assert_eq!(got.set_indices().collect::<Vec<_>>(), vec![4]);
    }
}
