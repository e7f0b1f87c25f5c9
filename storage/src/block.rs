//! Blocks: immutable Parquet+zstd files holding rows of one table on one slice, sorted by
//! the table's SORTKEY, named by the BLAKE3 hash of their bytes.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::datatypes::DataType;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::table::{ColumnEncoding, TableDef};
use crate::zone_map::ZoneMap;

/// Rows per block: blocks are cut at this many rows.
pub const BLOCK_ROWS: usize = 1 << 20;

/// Rows per Parquet row group inside a block: the granule a scan can skip inside a block
/// by the row group's statistics (about 1 MB of an 8-byte column).
pub const ROW_GROUP_ROWS: usize = 1 << 17;

/// One block as the slice manifest lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Hex BLAKE3 hash of the file's bytes; the file is `blocks/<id>.parquet`.
    pub id: String,
    pub rows: u64,
    pub bytes: u64,
    pub zone_maps: Vec<ZoneMap>,
    /// Rows deleted from this block, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes: Option<DeleteVectorMeta>,
    /// [`crate::checksum::rows_checksum`] of every row of the file, computed when it was
    /// written (blocks written before this existed have none): a snapshot takes it instead
    /// of reading the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteVectorMeta {
    /// Hex BLAKE3 hash of the delete vector file `dv/<id>.dv`.
    pub id: String,
    pub deleted: u64,
}

impl BlockMeta {
    pub fn live_rows(&self) -> u64 {
        self.rows - self.deletes.as_ref().map_or(0, |d| d.deleted)
    }
}

/// Sorts rows by the table's SORTKEY (nulls last, like Redshift).
pub fn sort_rows(def: &TableDef, batch: &RecordBatch) -> Result<RecordBatch> {
    if def.sort_key.is_empty() || batch.num_rows() < 2 {
        return Ok(batch.clone());
    }
    let columns: Vec<SortColumn> = def
        .sort_key
        .iter()
        .map(|&i| SortColumn {
            values: Arc::clone(batch.column(i)),
            options: Some(arrow::compute::SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(batch, &indices)?)
}

/// Largest dictionary a column chunk keeps before it falls back to plain values: columns
/// with few distinct values per row group (flags, dates, small amounts) stay dictionary
/// encoded, keys and prices soon switch to plain values, which decode by copying.
const DICTIONARY_PAGE_BYTES: usize = 64 << 10;

/// Writer settings for a table: LZ4 (fast to decompress: scans spend their time there)
/// unless a column asks for zstd, with each column's ENCODE mapped to the nearest Parquet
/// encoding.
pub fn writer_properties(def: &TableDef) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk);
    for col in &def.columns {
        let path = ColumnPath::from(col.name.clone());
        let dt = col.sql_type.arrow_type();
        let integer_like = matches!(
            dt,
            DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Date32
                | DataType::Timestamp(_, _)
        );
        match col.encoding {
            Some(ColumnEncoding::Raw) => {
                b = b
                    .set_column_compression(path.clone(), Compression::UNCOMPRESSED)
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::PLAIN);
            }
            Some(
                ColumnEncoding::Bytedict
                | ColumnEncoding::Runlength
                | ColumnEncoding::Text255
                | ColumnEncoding::Text32k,
            ) => {
                b = b.set_column_dictionary_enabled(path, true);
            }
            Some(
                ColumnEncoding::Az64
                | ColumnEncoding::Delta
                | ColumnEncoding::Delta32k
                | ColumnEncoding::Mostly8
                | ColumnEncoding::Mostly16
                | ColumnEncoding::Mostly32,
            ) if integer_like => {
                b = b
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            }
            Some(ColumnEncoding::Zstd) => {
                b = b.set_column_compression(
                    path,
                    Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()),
                );
            }
            _ => {}
        }
    }
    b.build()
}

/// Encodes sorted rows as one block file's bytes and describes them.
pub fn encode_block(def: &TableDef, batches: &[RecordBatch]) -> Result<(BlockMeta, Vec<u8>)> {
    let schema = def.schema();
    let batch = concat_batches(&schema, batches)?;
    let batch = sort_rows(def, &batch)?;
    let zone_maps = ZoneMap::compute(&batch)?;
    let checksum = crate::checksum::rows_checksum(&batch)?;
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 4 + 1024);
    let mut writer =
        ArrowWriter::try_new(&mut buf, Arc::clone(&schema), Some(writer_properties(def)))?;
    writer.write(&batch)?;
    writer.close()?;
    let id = blake3::hash(&buf).to_hex().to_string();
    Ok((
        BlockMeta {
            id,
            rows: batch.num_rows() as u64,
            bytes: buf.len() as u64,
            zone_maps,
            deletes: None,
            checksum: Some(checksum),
        },
        buf,
    ))
}
