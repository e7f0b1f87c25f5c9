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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, Date32Array, Int64Array, StringArray};
    use arrow::array::{
        Decimal128Array, Float32Array, Float64Array, Int16Array, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Field, Schema, TimeUnit};

    use super::*;

    fn zone_maps(columns: Vec<ArrayRef>) -> Vec<ZoneMap> {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        ZoneMap::compute(&batch).unwrap()
    }

    fn zm(min: &str, max: &str, null_count: u64) -> ZoneMap {
        ZoneMap {
            min: Some(min.into()),
            max: Some(max.into()),
            null_count,
        }
    }

    #[test]
    fn compute_gives_min_max_and_nulls_per_column() {
        let maps = zone_maps(vec![
            Arc::new(Int64Array::from(vec![Some(7), None, Some(-3), Some(12)])),
            Arc::new(StringArray::from(vec![
                Some("pear"),
                Some("apple"),
                None,
                None,
            ])),
            // 2024-01-31, 2023-12-25, NULL, 2024-02-29
            Arc::new(Date32Array::from(vec![
                Some(19753),
                Some(19716),
                None,
                Some(19782),
            ])),
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                Some(true),
                None,
            ])),
        ]);
        assert_eq!(
            maps,
            vec![
                zm("-3", "12", 1),
                zm("apple", "pear", 2),
                zm("2023-12-25", "2024-02-29", 1),
                zm("false", "true", 1),
            ]
        );
    }

    #[test]
    fn all_null_and_empty_columns_have_no_min_or_max() {
        let all_null = zone_maps(vec![Arc::new(Int64Array::from(vec![None, None, None]))]);
        let empty = zone_maps(vec![Arc::new(StringArray::from(Vec::<&str>::new()))]);
        let none = |null_count| ZoneMap {
            min: None,
            max: None,
            null_count,
        };
        assert_eq!(all_null, vec![none(3)]);
        assert_eq!(empty, vec![none(0)]);
    }

    #[test]
    fn timestamps_are_kept_as_raw_microseconds_and_parse_back_with_their_zone() {
        let ts =
            TimestampMicrosecondArray::from(vec![1_700_000_000_000_000, -5]).with_timezone("UTC");
        let maps = zone_maps(vec![Arc::new(ts)]);
        assert_eq!(maps, vec![zm("-5", "1700000000000000", 0)]);
        let dt = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        assert_eq!(
            parse_scalar(&maps[0].max, &dt),
            ScalarValue::TimestampMicrosecond(Some(1_700_000_000_000_000), Some("UTC".into()))
        );
    }

    #[test]
    fn min_and_max_text_parses_back_to_the_same_value() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![i64::MIN, i64::MAX])),
            Arc::new(StringArray::from(vec!["", "zz top"])),
            Arc::new(Date32Array::from(vec![-1, 19782])),
            Arc::new(
                Decimal128Array::from(vec![-5, 123_456])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(Float64Array::from(vec![-0.1, 1e300])),
            Arc::new(Float32Array::from(vec![-0.1f32, 3.4e38])),
            Arc::new(Int16Array::from(vec![i16::MIN, i16::MAX])),
            Arc::new(BooleanArray::from(vec![false, true])),
            Arc::new(TimestampMicrosecondArray::from(vec![0, 86_400_000_000])),
        ];
        let maps = zone_maps(columns.clone());
        for (col, map) in columns.iter().zip(&maps) {
            let dt = col.data_type();
            let expected_min = ScalarValue::try_from_array(col, 0).unwrap();
            let expected_max = ScalarValue::try_from_array(col, 1).unwrap();
            assert_eq!(parse_scalar(&map.min, dt), expected_min, "min of {dt}");
            assert_eq!(parse_scalar(&map.max, dt), expected_max, "max of {dt}");
        }
    }

    #[test]
    fn missing_or_unparsable_text_parses_as_a_typed_null() {
        assert_eq!(
            parse_scalar(&None, &DataType::Int64),
            ScalarValue::Int64(None)
        );
        assert_eq!(
            parse_scalar(&Some("not a number".into()), &DataType::Int32),
            ScalarValue::Int32(None)
        );
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        assert_eq!(
            parse_scalar(&Some("2024-01-01".into()), &ts),
            ScalarValue::TimestampMicrosecond(None, None)
        );
    }
}
