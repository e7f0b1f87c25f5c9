//! Zone maps: per-block, per-column min, max and null count, kept in the slice manifest so
//! a scan can skip a block without opening it (see `pruning`).

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::Accumulator;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Min and max are kept as text (the value's canonical display form) so the manifest stays
/// readable JSON; they are parsed back with the column's type when pruning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneMap {
    pub min: Option<String>,
    pub max: Option<String>,
    pub null_count: u64,
}

impl ZoneMap {
    pub fn compute(batch: &RecordBatch) -> Result<Vec<ZoneMap>> {
        batch
            .columns()
            .iter()
            .map(|col| {
                let mut min = MinAccumulator::try_new(col.data_type())?;
                let mut max = MaxAccumulator::try_new(col.data_type())?;
                min.update_batch(std::slice::from_ref(col))?;
                max.update_batch(std::slice::from_ref(col))?;
                Ok(ZoneMap {
                    min: scalar_text(min.evaluate()?),
                    max: scalar_text(max.evaluate()?),
                    null_count: col.null_count() as u64,
                })
            })
            .collect()
    }
}

fn scalar_text(v: ScalarValue) -> Option<String> {
    if v.is_null() {
        return None;
    }
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s),
        // Timestamps are kept as their raw count of units since the epoch.
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(v.to_string()),
        other => Some(other.to_string()),
    }
}

pub(crate) fn parse_scalar(text: &Option<String>, dt: &DataType) -> ScalarValue {
    let unknown = || ScalarValue::try_from(dt).unwrap_or(ScalarValue::Null);
    if let (Some(t), DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, tz)) = (text, dt)
    {
        return match t.parse::<i64>() {
            Ok(v) => ScalarValue::TimestampMicrosecond(Some(v), tz.clone()),
            Err(_) => unknown(),
        };
    }
    match text {
        None => unknown(),
        Some(t) => ScalarValue::try_from_string(t.clone(), dt)
            .unwrap_or_else(|_| ScalarValue::try_from(dt).unwrap_or(ScalarValue::Null)),
    }
}
