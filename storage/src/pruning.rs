//! Block pruning: the blocks of a scan as DataFusion pruning containers, answered from their
//! zone maps. Pruning itself is DataFusion's `PruningPredicate`; this module only answers
//! its statistics questions.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, UInt64Array};
use arrow::datatypes::SchemaRef;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};

use crate::block::BlockMeta;
use crate::zone_map::{ZoneMap, parse_scalar};

/// The blocks of one scan as DataFusion pruning containers: container `i` is `blocks[i]`.
pub struct BlockStatistics<'a> {
    pub schema: SchemaRef,
    pub blocks: &'a [&'a BlockMeta],
}

impl BlockStatistics<'_> {
    fn column_values(
        &self,
        column: &Column,
        pick: impl Fn(&ZoneMap) -> &Option<String>,
    ) -> Option<ArrayRef> {
        let idx = self.schema.index_of(&column.name).ok()?;
        let dt = self.schema.field(idx).data_type();
        let values = self
            .blocks
            .iter()
            .map(|b| parse_scalar(pick(&b.zone_maps[idx]), dt));
        ScalarValue::iter_to_array(values).ok()
    }
}

impl PruningStatistics for BlockStatistics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.column_values(column, |z| &z.min)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.column_values(column, |z| &z.max)
    }

    fn num_containers(&self) -> usize {
        self.blocks.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let idx = self.schema.index_of(&column.name).ok()?;
        Some(Arc::new(UInt64Array::from_iter_values(
            self.blocks.iter().map(|b| b.zone_maps[idx].null_count),
        )))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(Arc::new(UInt64Array::from_iter_values(
            self.blocks.iter().map(|b| b.rows),
        )))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Date32Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::DFSchema;
    use datafusion::logical_expr::Expr;
    use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
    use datafusion::prelude::{SessionContext, col, lit};

    use super::*;
    use crate::block::DeleteVectorMeta;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Date32, true),
        ]))
    }

    fn block(x: Vec<Option<i64>>, s: Vec<Option<&str>>, d: Vec<Option<i32>>) -> BlockMeta {
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(x)),
                Arc::new(StringArray::from(s)),
                Arc::new(Date32Array::from(d)),
            ],
        )
        .unwrap();
        BlockMeta {
            id: format!("block-{}", batch.num_rows()),
            rows: batch.num_rows() as u64,
            bytes: 0,
            zone_maps: ZoneMap::compute(&batch).unwrap(),
            deletes: None,
            checksum: None,
        }
    }

    /// Days since the epoch: 2024-01-01 is 19723.
    const JAN_1_2024: i32 = 19723;

    /// Four blocks: x in 1..=3; x in 11..=20 with a NULL; x all NULL; x in 3..=10.
    fn blocks() -> Vec<BlockMeta> {
        let d = |days: i32| Some(JAN_1_2024 + days);
        vec![
            block(
                vec![Some(1), Some(2), Some(3)],
                vec![Some("a"), Some("a"), Some("b")],
                vec![d(0), d(1), d(2)],
            ),
            block(
                vec![Some(11), Some(20), None],
                vec![Some("c"), Some("d"), None],
                vec![d(100), None, d(200)],
            ),
            block(
                vec![None, None],
                vec![Some("b"), Some("b")],
                vec![None, None],
            ),
            block(
                vec![Some(10), Some(3)],
                vec![Some("f"), Some("e")],
                vec![d(-400), d(-366)],
            ),
        ]
    }

    /// Which blocks DataFusion's pruning keeps for `filter`, as the table provider asks it.
    fn kept(blocks: &[BlockMeta], filter: Expr) -> Vec<bool> {
        let df_schema = DFSchema::try_from(schema()).unwrap();
        let expr = SessionContext::new()
            .create_physical_expr(filter, &df_schema)
            .unwrap();
        let predicate = PruningPredicateBuilder::new()
            .with_file_schema(schema())
            .build(expr)
            .expect("the filter can prune");
        let refs: Vec<&BlockMeta> = blocks.iter().collect();
        predicate
            .prune(&BlockStatistics {
                schema: schema(),
                blocks: &refs,
            })
            .unwrap()
    }

    #[test]
    fn greater_than_keeps_only_blocks_whose_max_exceeds_it() {
        assert_eq!(
            kept(&blocks(), col("x").gt(lit(10i64))),
            [false, true, false, false]
        );
    }

    #[test]
    fn equality_keeps_blocks_whose_range_contains_the_value() {
        assert_eq!(
            kept(&blocks(), col("x").eq(lit(3i64))),
            [true, false, false, true]
        );
        assert_eq!(
            kept(&blocks(), col("s").eq(lit("b"))),
            [true, false, true, false]
        );
    }

    #[test]
    fn date_ranges_prune_by_their_zone_maps() {
        let date = |days| lit(ScalarValue::Date32(Some(JAN_1_2024 + days)));
        assert_eq!(
            kept(&blocks(), col("d").lt(date(0))),
            [false, false, false, true]
        );
        assert_eq!(
            kept(&blocks(), col("d").between(date(150), date(250))),
            [false, true, false, false]
        );
    }

    #[test]
    fn is_null_keeps_only_blocks_with_nulls_and_is_not_null_drops_all_null_blocks() {
        assert_eq!(
            kept(&blocks(), col("x").is_null()),
            [false, true, true, false]
        );
        assert_eq!(
            kept(&blocks(), col("x").is_not_null()),
            [true, true, false, true]
        );
    }

    #[test]
    fn a_block_with_deleted_rows_is_judged_by_all_its_stored_rows() {
        // Two of three stored rows are NULL; the deleted row may be one of them, so the
        // block can still hold a non-NULL live row.
        let mut b = block(vec![None, None, Some(5)], vec![None; 3], vec![None; 3]);
        b.deletes = Some(DeleteVectorMeta {
            id: "dv".into(),
            deleted: 1,
        });
        assert_eq!(kept(&[b], col("x").is_not_null()), [true]);
    }

    #[test]
    fn statistics_are_the_zone_maps_parsed_with_the_column_type() {
        let blocks = blocks();
        let refs: Vec<&BlockMeta> = blocks.iter().collect();
        let stats = BlockStatistics {
            schema: schema(),
            blocks: &refs,
        };
        let x = Column::from_name("x");
        let s = Column::from_name("s");
        assert_eq!(stats.num_containers(), 4);
        let min = stats.min_values(&x).unwrap();
        let max = stats.max_values(&x).unwrap();
        assert_eq!(
            min.as_ref(),
            &Int64Array::from(vec![Some(1), Some(11), None, Some(3)]) as &dyn Array
        );
        assert_eq!(
            max.as_ref(),
            &Int64Array::from(vec![Some(3), Some(20), None, Some(10)]) as &dyn Array
        );
        let s_max = stats.max_values(&s).unwrap();
        assert_eq!(
            s_max.as_ref(),
            &StringArray::from(vec!["b", "d", "b", "f"]) as &dyn Array
        );
        let nulls = stats.null_counts(&x).unwrap();
        assert_eq!(
            nulls.as_ref(),
            &UInt64Array::from(vec![0, 1, 2, 0]) as &dyn Array
        );
        let rows = stats.row_counts().unwrap();
        assert_eq!(
            rows.as_ref(),
            &UInt64Array::from(vec![3, 3, 2, 2]) as &dyn Array
        );
    }

    #[test]
    fn an_unknown_column_has_no_statistics() {
        let blocks = blocks();
        let refs: Vec<&BlockMeta> = blocks.iter().collect();
        let stats = BlockStatistics {
            schema: schema(),
            blocks: &refs,
        };
        let nope = Column::from_name("nope");
        assert!(stats.min_values(&nope).is_none());
        assert!(stats.max_values(&nope).is_none());
        assert!(stats.null_counts(&nope).is_none());
    }
}
