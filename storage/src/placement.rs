//! Where rows live: the cluster's slice topology and the one hash function that places
//! DISTSTYLE KEY rows. Loading, shuffles and restore all call [`hash_column`] so a key
//! lands on the same slice whichever path wrote it.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
use crate::table::{DistStyle, TableDef};

/// Slice ids are global: slice `s` lives on node `s / slices_per_node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub nodes: u32,
    pub slices_per_node: u32,
}

impl Topology {
    pub fn total_slices(&self) -> u32 {
        self.nodes * self.slices_per_node
    }

    pub fn node_of(&self, slice: u32) -> u32 {
        slice / self.slices_per_node
    }

    /// The slice that stores a node's copy of a DISTSTYLE ALL table.
    pub fn all_copy_slice(&self, node: u32) -> u32 {
        node * self.slices_per_node
    }

    /// The slices a table's rows can go to: every slice, or each node's copy slice for
    /// DISTSTYLE ALL (and AUTO while it is ALL).
    pub fn destinations(&self, table: &TableDef) -> Vec<u32> {
        match table.dist_style {
            DistStyle::All | DistStyle::AutoAll => {
                (0..self.nodes).map(|n| self.all_copy_slice(n)).collect()
            }
            _ => (0..self.total_slices()).collect(),
        }
    }

    /// The slices holding the block at a position of `slice`: that slice, or for DISTSTYLE
    /// ALL every node's copy (identical blocks, so one position means the same rows).
    pub fn copies_of(&self, table: &TableDef, slice: u32) -> Vec<u32> {
        if table.dist_style.is_all() {
            (0..self.nodes).map(|n| self.all_copy_slice(n)).collect()
        } else {
            vec![slice]
        }
    }
}

const NULL_HASH: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hashes each value of a column. Integer types hash by value (so an INTEGER and a BIGINT
/// key join co-located), decimals by their unscaled value, text by its UTF-8 bytes.
pub fn hash_column(array: &ArrayRef) -> Result<Vec<u64>> {
    fn ints<T, F>(array: &ArrayRef, f: F) -> Vec<u64>
    where
        T: arrow::datatypes::ArrowPrimitiveType,
        F: Fn(T::Native) -> i64,
    {
        let a = array.as_primitive::<T>();
        (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    NULL_HASH
                } else {
                    xxh3_64(&f(a.value(i)).to_le_bytes())
                }
            })
            .collect()
    }
    let n = array.len();
    Ok(match array.data_type() {
        DataType::Int8 => ints::<Int8Type, _>(array, i64::from),
        DataType::Int16 => ints::<Int16Type, _>(array, i64::from),
        DataType::Int32 => ints::<Int32Type, _>(array, i64::from),
        DataType::Int64 => ints::<Int64Type, _>(array, |v| v),
        DataType::UInt8 => ints::<UInt8Type, _>(array, i64::from),
        DataType::UInt16 => ints::<UInt16Type, _>(array, i64::from),
        DataType::UInt32 => ints::<UInt32Type, _>(array, i64::from),
        DataType::UInt64 => ints::<UInt64Type, _>(array, |v| v as i64),
        DataType::Date32 => ints::<Date32Type, _>(array, i64::from),
        DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, _) => {
            ints::<TimestampMicrosecondType, _>(array, |v| v)
        }
        DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, _) => {
            ints::<TimestampMillisecondType, _>(array, |v| v * 1000)
        }
        DataType::Timestamp(arrow::datatypes::TimeUnit::Second, _) => {
            ints::<TimestampSecondType, _>(array, |v| v * 1_000_000)
        }
        DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, _) => {
            ints::<TimestampNanosecondType, _>(array, |v| v / 1000)
        }
        DataType::Float32 => ints::<Float32Type, _>(array, |v| normal_f64(v as f64)),
        DataType::Float64 => ints::<Float64Type, _>(array, normal_f64),
        DataType::Decimal128(_, _) => {
            let a = array.as_primitive::<Decimal128Type>();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        NULL_HASH
                    } else {
                        let v = a.value(i);
                        // Small values hash like integers of the same unscaled value.
                        match i64::try_from(v) {
                            Ok(v) => xxh3_64(&v.to_le_bytes()),
                            Err(_) => xxh3_64(&v.to_le_bytes()),
                        }
                    }
                })
                .collect()
        }
        DataType::Boolean => {
            let a = array.as_boolean();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        NULL_HASH
                    } else {
                        xxh3_64(&i64::from(a.value(i)).to_le_bytes())
                    }
                })
                .collect()
        }
        DataType::Utf8 => strings(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => strings(array.as_string::<i64>().iter()),
        DataType::Utf8View => strings(array.as_string_view().iter()),
        other => {
            return Err(Error::Invalid(format!(
                "cannot distribute on a column of type {other}"
            )));
        }
    })
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<u64> {
    values
        .map(|v| v.map_or(NULL_HASH, |s| xxh3_64(s.as_bytes())))
        .collect()
}

fn normal_f64(v: f64) -> i64 {
    if v == 0.0 { 0 } else { v.to_bits() as i64 }
}

/// Which compute node a plan runs on: a session-config extension every node sets, so a
/// stage knows its own place (the copy of a DISTSTYLE ALL table to read, the consumer it
/// is of a broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalNode(pub u32);

/// Hashes rows by several key columns. One column hashes exactly as [`hash_column`] (so
/// a redistribute on a DISTKEY lines up with the table's stored rows); several are
/// combined in order.
pub fn hash_rows(columns: &[ArrayRef]) -> Result<Vec<u64>> {
    let mut columns = columns.iter();
    let first = columns
        .next()
        .ok_or_else(|| Error::Invalid("hashing rows needs at least one key".into()))?;
    let mut hashes = hash_column(first)?;
    for column in columns {
        for (h, next) in hashes.iter_mut().zip(hash_column(column)?) {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&h.to_le_bytes());
            bytes[8..].copy_from_slice(&next.to_le_bytes());
            *h = xxh3_64(&bytes);
        }
    }
    Ok(hashes)
}

/// Whether [`hash_column`] can place values of this type.
pub fn hashable(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Date32
            | DataType::Timestamp(_, _)
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Boolean
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    )
}

/// Splits a batch into per-slice batches according to the table's distribution.
///
/// `even_start` is the round-robin position for DISTSTYLE EVEN; it is advanced past the
/// rows placed so consecutive batches continue the rotation.
pub fn route_batch(
    def: &TableDef,
    topology: &Topology,
    batch: &RecordBatch,
    even_start: &mut u64,
) -> Result<Vec<(u32, RecordBatch)>> {
    let total = topology.total_slices();
    let rows = batch.num_rows();
    if rows == 0 {
        return Ok(vec![]);
    }
    let slice_of_row: Vec<u32> = match def.dist_style {
        DistStyle::All | DistStyle::AutoAll => {
            return Ok((0..topology.nodes)
                .map(|n| (topology.all_copy_slice(n), batch.clone()))
                .collect());
        }
        DistStyle::Key => {
            let key = def
                .dist_key
                .ok_or_else(|| Error::Invalid(format!("table {} has no DISTKEY", def.name)))?;
            hash_column(batch.column(key))?
                .into_iter()
                .map(|h| (h % u64::from(total)) as u32)
                .collect()
        }
        DistStyle::Even | DistStyle::AutoEven => {
            let start = *even_start;
            *even_start += rows as u64;
            (0..rows as u64)
                .map(|i| ((start + i) % u64::from(total)) as u32)
                .collect()
        }
    };
    let mut per_slice: Vec<Vec<u32>> = vec![Vec::new(); total as usize];
    for (row, slice) in slice_of_row.iter().enumerate() {
        per_slice[*slice as usize].push(row as u32);
    }
    let mut out = Vec::new();
    for (slice, rows) in per_slice.into_iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        let indices = UInt32Array::from(rows);
        out.push((slice as u32, take_record_batch(batch, &indices)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn integer_widths_hash_alike_and_values_are_stable() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(42), None, Some(-7)]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![Some(42), None, Some(-7)]));
        assert_eq!(hash_column(&a).unwrap(), hash_column(&b).unwrap());
        // Stored rows were placed with these values: changing the hash would misplace them.
        let s: ArrayRef = Arc::new(StringArray::from(vec!["eu"]));
        const GOLDEN_42: u64 = 0xd5a6_f8c8_38df_27c8;
        const GOLDEN_EU: u64 = 0xd7b3_9d21_8ff2_f1af;
        assert_eq!(hash_column(&b).unwrap()[0], GOLDEN_42);
        assert_eq!(hash_column(&s).unwrap()[0], GOLDEN_EU);
    }

    #[test]
    fn one_key_rows_hash_as_the_placement_hash() {
        let keys: ArrayRef = Arc::new(Int64Array::from((0..1000).collect::<Vec<i64>>()));
        assert_eq!(
            hash_rows(std::slice::from_ref(&keys)).unwrap(),
            hash_column(&keys).unwrap()
        );
        let two = hash_rows(&[Arc::clone(&keys), Arc::clone(&keys)]).unwrap();
        assert_ne!(two, hash_column(&keys).unwrap());
        assert!(hash_rows(&[]).is_err());
    }
}
