//! Order-independent content checksums: a table's checksum is the wrapping sum of one hash
//! per live row, so it does not depend on which slice, block or position holds a row. A
//! snapshot records it per table, and a restore (onto any topology) or a DR drill recomputes
//! it from the rows it holds to prove they are the same multiset.

use std::fs::File;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::block::BlockMeta;
use crate::delete_vector::DeleteVector;
use crate::error::{Error, Result};
use crate::placement::hash_column;
use crate::slice_store::SliceStore;

/// The sum of the rows' hashes of a batch. Each row hash chains its columns' value hashes
/// ([`hash_column`]: integers by value, decimals unscaled, text as UTF-8, NULL a constant)
/// with a multiply-rotate step, so the same values in other columns hash differently.
pub fn rows_checksum(batch: &RecordBatch) -> Result<u64> {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rows = vec![0x5bd1_e995_u64; batch.num_rows()];
    for column in batch.columns() {
        for (acc, h) in rows.iter_mut().zip(hash_column(column)?) {
            *acc = (*acc ^ h).wrapping_mul(K).rotate_left(29);
        }
    }
    Ok(rows
        .into_iter()
        .map(|mut h| {
            // A final mix, so rows that differ in one value spread over the whole word.
            h ^= h >> 33;
            h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
            h ^ (h >> 33)
        })
        .fold(0u64, u64::wrapping_add))
}

/// The live rows of a block file as batches (rows its delete vector names are left out).
pub fn read_live_rows(
    store: &SliceStore,
    slice: u32,
    block: &BlockMeta,
    emit: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let path = store.local_block(slice, &block.id)?;
    let file = File::open(&path).map_err(|e| Error::BadBlock {
        slice,
        block: block.id.clone(),
        reason: format!("{}: {e}", path.display()),
    })?;
    let deletes = match &block.deletes {
        Some(d) => Some(store.read_delete_vector(slice, &d.id)?),
        None => None,
    };
    live_rows(file, deletes.as_ref(), emit).map_err(|e| Error::BadBlock {
        slice,
        block: block.id.clone(),
        reason: e.to_string(),
    })
}

/// The live rows of a block's bytes (a file, or bytes fetched from a snapshot) under its
/// delete vector.
pub fn live_rows<R: parquet::file::reader::ChunkReader + 'static>(
    block: R,
    deletes: Option<&DeleteVector>,
    mut emit: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(block)?
        .with_batch_size(65_536)
        .build()?;
    let mut pos: u64 = 0;
    for batch in reader {
        let batch = batch?;
        let n = batch.num_rows() as u64;
        let batch = match deletes {
            Some(dv) => {
                let keep: BooleanArray = (pos..pos + n).map(|p| Some(!dv.contains(p))).collect();
                filter_record_batch(&batch, &keep)?
            }
            None => batch,
        };
        pos += n;
        emit(batch)?;
    }
    Ok(())
}

/// `(live rows, checksum)` of one block as its manifest entry describes it.
pub fn block_checksum(store: &SliceStore, slice: u32, block: &BlockMeta) -> Result<(u64, u64)> {
    let (mut rows, mut sum) = (0u64, 0u64);
    read_live_rows(store, slice, block, |batch| {
        rows += batch.num_rows() as u64;
        sum = sum.wrapping_add(rows_checksum(&batch)?);
        Ok(())
    })?;
    Ok((rows, sum))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(a: Vec<Option<i32>>, s: Vec<Option<&str>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(a)),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn row_order_and_batching_do_not_matter_but_values_do() {
        let whole = batch(
            vec![Some(1), None, Some(3)],
            vec![Some("x"), Some("y"), None],
        );
        let reordered = batch(
            vec![Some(3), Some(1), None],
            vec![None, Some("x"), Some("y")],
        );
        let first = batch(vec![Some(1)], vec![Some("x")]);
        let rest = batch(vec![None, Some(3)], vec![Some("y"), None]);
        let c = rows_checksum(&whole).unwrap();
        assert_eq!(c, rows_checksum(&reordered).unwrap());
        assert_eq!(
            c,
            rows_checksum(&first)
                .unwrap()
                .wrapping_add(rows_checksum(&rest).unwrap())
        );
        // Swapping values between columns of two rows changes the checksum.
        let swapped = batch(
            vec![Some(1), None, Some(3)],
            vec![Some("y"), Some("x"), None],
        );
        assert_ne!(c, rows_checksum(&swapped).unwrap());
    }
}
