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
