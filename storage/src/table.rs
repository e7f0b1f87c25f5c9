//! Table definitions as the catalog stores them: columns with their SQL types and
//! encodings, and the table's distribution and sort key.

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::util::display::FormatOptions;
use serde::{Deserialize, Serialize};

/// A column's SQL type as the user declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqlType {
    SmallInt,
    Integer,
    BigInt,
    Decimal { precision: u8, scale: i8 },
    Real,
    Double,
    Boolean,
    Char(u32),
    Varchar(u32),
    Date,
    Timestamp,
    TimestampTz,
}

impl SqlType {
    pub fn arrow_type(&self) -> DataType {
        match self {
            SqlType::SmallInt => DataType::Int16,
            SqlType::Integer => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            SqlType::Real => DataType::Float32,
            SqlType::Double => DataType::Float64,
            SqlType::Boolean => DataType::Boolean,
            SqlType::Char(_) | SqlType::Varchar(_) => DataType::Utf8,
            SqlType::Date => DataType::Date32,
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            SqlType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }

    /// The type for a column created from a query result (CREATE TABLE AS).
    pub fn from_arrow(dt: &DataType) -> Option<SqlType> {
        Some(match dt {
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => SqlType::SmallInt,
            DataType::Int32 | DataType::UInt16 => SqlType::Integer,
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => SqlType::BigInt,
            DataType::Decimal128(p, s) => SqlType::Decimal {
                precision: *p,
                scale: *s,
            },
            DataType::Float16 | DataType::Float32 => SqlType::Real,
            DataType::Float64 => SqlType::Double,
            DataType::Boolean => SqlType::Boolean,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::Varchar(65535),
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Timestamp(_, None) => SqlType::Timestamp,
            DataType::Timestamp(_, Some(_)) => SqlType::TimestampTz,
            _ => return None,
        })
    }

    /// The name PostgreSQL clients see, e.g. in `\d`.
    pub fn display_name(&self) -> String {
        match self {
            SqlType::SmallInt => "smallint".into(),
            SqlType::Integer => "integer".into(),
            SqlType::BigInt => "bigint".into(),
            SqlType::Decimal { precision, scale } => format!("numeric({precision},{scale})"),
            SqlType::Real => "real".into(),
            SqlType::Double => "double precision".into(),
            SqlType::Boolean => "boolean".into(),
            SqlType::Char(n) => format!("character({n})"),
            SqlType::Varchar(n) => format!("character varying({n})"),
            SqlType::Date => "date".into(),
            SqlType::Timestamp => "timestamp without time zone".into(),
            SqlType::TimestampTz => "timestamp with time zone".into(),
        }
    }

    /// The name `information_schema.columns.data_type` gives (no length or precision).
    pub fn base_name(&self) -> &'static str {
        match self {
            SqlType::SmallInt => "smallint",
            SqlType::Integer => "integer",
            SqlType::BigInt => "bigint",
            SqlType::Decimal { .. } => "numeric",
            SqlType::Real => "real",
            SqlType::Double => "double precision",
            SqlType::Boolean => "boolean",
            SqlType::Char(_) => "character",
            SqlType::Varchar(_) => "character varying",
            SqlType::Date => "date",
            SqlType::Timestamp => "timestamp without time zone",
            SqlType::TimestampTz => "timestamp with time zone",
        }
    }

    /// `(precision, radix, scale)` of a number type, as information_schema reports them.
    pub fn numeric_precision(&self) -> Option<(i32, i32, i32)> {
        match self {
            SqlType::SmallInt => Some((16, 2, 0)),
            SqlType::Integer => Some((32, 2, 0)),
            SqlType::BigInt => Some((64, 2, 0)),
            SqlType::Decimal { precision, scale } => Some((*precision as i32, 10, *scale as i32)),
            SqlType::Real => Some((24, 2, 0)),
            SqlType::Double => Some((53, 2, 0)),
            _ => None,
        }
    }

    /// The declared length of CHAR/VARCHAR columns, in bytes as Redshift counts it.
    pub fn max_len(&self) -> Option<u32> {
        match self {
            SqlType::Char(n) | SqlType::Varchar(n) => Some(*n),
            _ => None,
        }
    }

    /// The length of `value` as checked against [`SqlType::max_len`]: bytes (Redshift limits
    /// VARCHAR(n) in bytes), without a CHAR's trailing blanks (they are padding).
    pub fn counted_len(&self, value: &str) -> usize {
        match self {
            SqlType::Char(_) => value.trim_end_matches(' ').len(),
            _ => value.len(),
        }
    }

    /// Whether `value` fits this column type: the one rule INSERT, UPDATE and every COPY
    /// format apply. Types without a length take any value that converted.
    pub fn fits(&self, value: &str) -> bool {
        self.max_len()
            .is_none_or(|limit| self.counted_len(value) <= limit as usize)
    }
}

/// Redshift column compression encodings. Each maps to a Parquet encoding and/or codec
/// (see `docs/architecture.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnEncoding {
    Raw,
    Az64,
    Zstd,
    Bytedict,
    Delta,
    Delta32k,
    Lzo,
    Runlength,
    Mostly8,
    Mostly16,
    Mostly32,
    Text255,
    Text32k,
}

impl ColumnEncoding {
    pub fn parse(name: &str) -> Option<ColumnEncoding> {
        Some(match name.to_ascii_uppercase().as_str() {
            "RAW" => ColumnEncoding::Raw,
            "AZ64" => ColumnEncoding::Az64,
            "ZSTD" => ColumnEncoding::Zstd,
            "BYTEDICT" => ColumnEncoding::Bytedict,
            "DELTA" => ColumnEncoding::Delta,
            "DELTA32K" => ColumnEncoding::Delta32k,
            "LZO" => ColumnEncoding::Lzo,
            "RUNLENGTH" => ColumnEncoding::Runlength,
            "MOSTLY8" => ColumnEncoding::Mostly8,
            "MOSTLY16" => ColumnEncoding::Mostly16,
            "MOSTLY32" => ColumnEncoding::Mostly32,
            "TEXT255" => ColumnEncoding::Text255,
            "TEXT32K" => ColumnEncoding::Text32k,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ColumnEncoding::Raw => "raw",
            ColumnEncoding::Az64 => "az64",
            ColumnEncoding::Zstd => "zstd",
            ColumnEncoding::Bytedict => "bytedict",
            ColumnEncoding::Delta => "delta",
            ColumnEncoding::Delta32k => "delta32k",
            ColumnEncoding::Lzo => "lzo",
            ColumnEncoding::Runlength => "runlength",
            ColumnEncoding::Mostly8 => "mostly8",
            ColumnEncoding::Mostly16 => "mostly16",
            ColumnEncoding::Mostly32 => "mostly32",
            ColumnEncoding::Text255 => "text255",
            ColumnEncoding::Text32k => "text32k",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub sql_type: SqlType,
    pub nullable: bool,
    /// None means the default: LZ4 (Redshift picks AZ64/ZSTD automatically).
    pub encoding: Option<ColumnEncoding>,
}

/// How a table's rows are placed on slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DistStyle {
    Even,
    Key,
    All,
    /// AUTO that currently stores like ALL; becomes `AutoEven` once the table grows.
    AutoAll,
    AutoEven,
}

impl DistStyle {
    /// What `svv_table_info.diststyle` shows, as Redshift spells it.
    pub fn display(self, distkey: Option<&str>) -> String {
        match self {
            DistStyle::Even => "EVEN".into(),
            DistStyle::Key => format!("KEY({})", distkey.unwrap_or("")),
            DistStyle::All => "ALL".into(),
            DistStyle::AutoAll => "AUTO(ALL)".into(),
            DistStyle::AutoEven => "AUTO(EVEN)".into(),
        }
    }

    /// Whether every node holds a full copy.
    pub fn is_all(self) -> bool {
        matches!(self, DistStyle::All | DistStyle::AutoAll)
    }
}

/// A view: its query as SQL text (planned whenever the view is read, against the state
/// the reading statement sees) and its column names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewDef {
    pub sql: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    pub id: u64,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    pub dist_style: DistStyle,
    /// Index of the DISTKEY column when `dist_style` is KEY.
    pub dist_key: Option<usize>,
    /// Indexes of the (compound) SORTKEY columns, in order.
    pub sort_key: Vec<usize>,
    /// Indexes of the PRIMARY KEY columns, in order: informational, as in Redshift (not
    /// enforced), shown to clients through pg_index and pg_constraint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<usize>,
}

impl TableDef {
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.sql_type.arrow_type(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    /// Rows as this table stores them: each column cast to its type, NOT NULL and the
    /// CHAR/VARCHAR lengths checked ([`SqlType::fits`]). Every write path (INSERT, CTAS,
    /// UPDATE, on the leader or on a node) passes its rows through here.
    pub fn conform(&self, batch: &RecordBatch) -> crate::Result<RecordBatch> {
        if batch.num_columns() != self.columns.len() {
            return Err(crate::Error::Invalid(format!(
                "INSERT has {} expressions but table \"{}\" has {} columns",
                batch.num_columns(),
                self.name,
                self.columns.len()
            )));
        }
        let opts = CastOptions {
            safe: false,
            format_options: FormatOptions::default(),
        };
        let mut columns = Vec::with_capacity(self.columns.len());
        for (col, array) in self.columns.iter().zip(batch.columns()) {
            let target = col.sql_type.arrow_type();
            let array = if array.data_type() == &target {
                Arc::clone(array)
            } else {
                cast_with_options(array, &target, &opts)?
            };
            if !col.nullable && array.null_count() > 0 {
                return Err(crate::Error::NotNull {
                    column: col.name.clone(),
                });
            }
            if let Some(limit) = col.sql_type.max_len() {
                let strings = array.as_string::<i32>();
                if strings.iter().flatten().any(|s| !col.sql_type.fits(s)) {
                    return Err(crate::Error::ValueTooLong {
                        column: col.name.clone(),
                        limit,
                    });
                }
            }
            columns.push(array);
        }
        Ok(RecordBatch::try_new(self.schema(), columns)?)
    }

    /// The schema queries and DML plans see: every column nullable. NOT NULL is enforced
    /// where rows are written (one check, SQLSTATE 23502), not by Arrow while DataFusion
    /// builds an INSERT's batches (which fails with a generic error).
    pub fn query_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.sql_type.arrow_type(), true))
                .collect::<Vec<_>>(),
        ))
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn dist_key_name(&self) -> Option<&str> {
        self.dist_key.map(|i| self.columns[i].name.as_str())
    }
}
