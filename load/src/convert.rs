//! Input fields to table rows, one bad row at a time.
//!
//! Readers hand over fields as bytes (CSV, text) or values (JSON); [`RowBuffer`] applies
//! Redshift's field options (NULL AS, EMPTYASNULL, BLANKSASNULL, TRIMBLANKS,
//! TRUNCATECOLUMNS, ACCEPTINVCHARS, FILLRECORD), then converts whole columns with Arrow's
//! cast kernels. A value that does not convert rejects its row only, with the line number,
//! column and reason that `stl_load_errors` shows; the other rows load.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Decimal128Builder, RecordBatch,
    StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::FormatOptions;
use blueshift_storage::table::{SqlType, TableDef};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::options::{CopyOptions, TimeFormat};

/// Rows per converted batch.
pub const BATCH_ROWS: usize = 65_536;

/// The longest raw value kept in a reject.
const RAW_VALUE_CHARS: usize = 1024;

/// A rejected row, as `stl_load_errors` records it (the leader adds query, session, time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reject {
    pub file: String,
    pub line: u64,
    /// The task that read the row (line numbers of split files are fixed up by task).
    #[serde(default)]
    pub task: usize,
    pub column: String,
    pub column_type: String,
    pub raw_value: String,
    /// Redshift's load error code (1202 extra columns, 1204 too long, 1207 invalid digit, ...).
    pub code: u32,
    pub reason: String,
}

/// Which table column each input field fills.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub table: TableDef,
    /// For input field `i`, the table column it loads (COPY's column list, or all columns).
    pub fields: Vec<usize>,
}

impl Target {
    pub fn all_columns(table: TableDef) -> Target {
        let fields = (0..table.columns.len()).collect();
        Target { table, fields }
    }
}

/// Collects rows for one batch and converts them.
pub struct RowBuffer<'a> {
    target: &'a Target,
    opts: &'a CopyOptions,
    schema: SchemaRef,
    file: String,
    columns: Vec<StringBuilder>,
    lines: Vec<u64>,
    rejects: Vec<Reject>,
    task: usize,
}

impl<'a> RowBuffer<'a> {
    pub fn new(target: &'a Target, opts: &'a CopyOptions, file: &str, task: usize) -> Self {
        RowBuffer {
            task,
            target,
            opts,
            schema: target.table.schema(),
            file: file.to_string(),
            columns: target
                .table
                .columns
                .iter()
                .map(|_| StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8))
                .collect(),
            lines: Vec::with_capacity(BATCH_ROWS),
            rejects: Vec::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    pub fn is_full(&self) -> bool {
        self.lines.len() >= BATCH_ROWS
    }

    fn reject(&mut self, line: u64, column: usize, raw: &str, code: u32, reason: String) {
        let col = &self.target.table.columns[column];
        self.rejects.push(Reject {
            file: self.file.clone(),
            line,
            task: self.task,
            column: col.name.clone(),
            column_type: col.sql_type.display_name(),
            raw_value: truncate_chars(raw, RAW_VALUE_CHARS).to_string(),
            code,
            reason,
        });
    }

    /// Rejects a whole line (blank line, unreadable record) without naming a column.
    pub fn reject_line(&mut self, line: u64, raw: &str, code: u32, reason: String) {
        self.rejects.push(Reject {
            file: self.file.clone(),
            line,
            task: self.task,
            column: String::new(),
            column_type: String::new(),
            raw_value: truncate_chars(raw, RAW_VALUE_CHARS).to_string(),
            code,
            reason,
        });
    }

    /// Adds one delimited record: `None` fields are JSON nulls, `Some` raw bytes.
    pub fn push(&mut self, line: u64, fields: &[Option<&[u8]>]) {
        let ncols = self.target.table.columns.len();
        let wanted = self.target.fields.len();
        if fields.len() > wanted {
            let raw = fields[wanted]
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let last = self.target.fields[wanted - 1];
            self.reject(
                line,
                last,
                &raw,
                1202,
                format!(
                    "Extra column(s) found: {} fields where {wanted} are expected",
                    fields.len()
                ),
            );
            return;
        }
        if fields.len() < wanted && !self.opts.fill_record {
            let missing = self.target.fields[fields.len()];
            self.reject(
                line,
                missing,
                "",
                1214,
                format!(
                    "Delimiter not found: {} fields where {wanted} are expected",
                    fields.len()
                ),
            );
            return;
        }
        let mut values: Vec<Option<Cow<'_, str>>> = vec![None; ncols];
        for (i, field) in fields.iter().enumerate() {
            let col = self.target.fields[i];
            let Some(bytes) = field else { continue };
            match field_value(self.opts, &self.target.table.columns[col].sql_type, bytes) {
                Ok(v) => values[col] = v,
                Err((code, reason, raw)) => {
                    self.reject(line, col, &raw, code, reason);
                    return;
                }
            }
        }
        for (builder, v) in self.columns.iter_mut().zip(values.iter()) {
            match v {
                Some(s) => builder.append_value(s),
                None => builder.append_null(),
            }
        }
        self.lines.push(line);
    }

    /// Converts the buffered rows to the table's types; rows that do not convert are
    /// rejected and left out. Returns the batch and every reject since the last call.
    pub fn finish(&mut self) -> Result<(RecordBatch, Vec<Reject>)> {
        let strings: Vec<StringArray> = self.columns.iter_mut().map(|b| b.finish()).collect();
        let lines = std::mem::take(&mut self.lines);
        let rows = lines.len();
        let mut keep = vec![true; rows];
        let mut bad: Vec<(usize, usize, u32, String)> = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(strings.len());
        for (c, input) in strings.iter().enumerate() {
            let def = &self.target.table.columns[c];
            let (array, failures) = convert_strings(input, &def.sql_type, self.opts)?;
            for (row, code, reason) in failures {
                bad.push((row, c, code, reason));
            }
            if !def.nullable {
                for row in 0..rows {
                    if array.is_null(row) {
                        bad.push((row, c, 1213, "Missing data for not-null field".to_string()));
                    }
                }
            }
            arrays.push(array);
        }
        bad.sort_by_key(|(row, col, ..)| (*row, *col));
        for (row, col, code, reason) in bad {
            if !keep[row] {
                continue;
            }
            keep[row] = false;
            let raw = if strings[col].is_null(row) {
                String::new()
            } else {
                strings[col].value(row).to_string()
            };
            self.reject(lines[row], col, &raw, code, reason);
        }
        let batch = batch_without(&self.schema, arrays, keep)?;
        let mut rejects = std::mem::take(&mut self.rejects);
        rejects.sort_by_key(|r| r.line);
        Ok((batch, rejects))
    }
}

/// The rows marked to keep, as a batch of the table's schema (rejected rows may hold
/// NULLs in NOT NULL columns, so they go before the schema is applied).
fn batch_without(
    schema: &SchemaRef,
    arrays: Vec<ArrayRef>,
    keep: Vec<bool>,
) -> Result<RecordBatch> {
    let arrays = if keep.iter().all(|k| *k) {
        arrays
    } else {
        let mask = BooleanArray::from(keep);
        arrays
            .iter()
            .map(|a| arrow::compute::filter(a, &mask))
            .collect::<std::result::Result<Vec<_>, _>>()?
    };
    let rows = arrays.first().map_or(0, |a| a.len());
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        arrays,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}

/// Applies the field options to one raw value; borrows from the input unless invalid
/// UTF-8 had to be replaced.
fn field_value<'b>(
    opts: &CopyOptions,
    sql_type: &SqlType,
    bytes: &'b [u8],
) -> std::result::Result<Option<Cow<'b, str>>, (u32, String, String)> {
    let text: Cow<'b, str> = match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(e) => match opts.accept_inv_chars {
            Some(c) => Cow::Owned(replace_invalid_utf8(bytes, c)),
            None => {
                let at = e.valid_up_to();
                let bad = &bytes[at..(at + e.error_len().unwrap_or(1)).min(bytes.len())];
                let hex: Vec<String> = bad.iter().map(|b| format!("{b:02x}")).collect();
                return Err((
                    1220,
                    format!(
                        "String contains invalid or unsupported UTF8 codepoints. Bad UTF8 hex sequence: {} (byte {} of the value); use ACCEPTINVCHARS to replace such bytes",
                        hex.join(" "),
                        at + 1
                    ),
                    String::from_utf8_lossy(bytes).into_owned(),
                ));
            }
        },
    };
    if opts.null_string() == Some(text.as_ref()) {
        return Ok(None);
    }
    if opts.blanks_as_null && !text.is_empty() && text.trim().is_empty() {
        return Ok(None);
    }
    let Some(limit) = sql_type.max_len() else {
        // Not a string: empty is NULL, and surrounding blanks do not count (blanks alone
        // do not convert, unless BLANKSASNULL).
        if text.is_empty() {
            return Ok(None);
        }
        return Ok(Some(trimmed(text, |t| t.trim())));
    };
    if text.is_empty() {
        return Ok(if opts.empty_as_null { None } else { Some(text) });
    }
    let mut text = text;
    if opts.trim_blanks {
        text = trimmed(text, |t| t.trim_end());
    }
    let limit = limit as usize;
    if !sql_type.fits(&text) {
        if !opts.truncate_columns {
            return Err((
                1204,
                format!(
                    "String length exceeds DDL length: {} bytes for {}; use TRUNCATECOLUMNS to cut such values",
                    text.len(),
                    sql_type.display_name()
                ),
                text.into_owned(),
            ));
        }
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text = trimmed(text, |t| &t[..end]);
    }
    Ok(Some(text))
}

/// A sub-slice of a value, still borrowed when the value was.
fn trimmed<'b>(text: Cow<'b, str>, f: impl Fn(&str) -> &str) -> Cow<'b, str> {
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(f(t)),
        Cow::Owned(t) => Cow::Owned(f(&t).to_string()),
    }
}

fn truncate_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn replace_invalid_utf8(bytes: &[u8], with: char) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(with);
        }
    }
    out
}

/// A value that did not convert: its row, Redshift's error code and the reason.
type Failure = (usize, u32, String);

/// Converts a string column to `ty`; returns the array and the rows that did not convert.
fn convert_strings(
    input: &StringArray,
    ty: &SqlType,
    opts: &CopyOptions,
) -> Result<(ArrayRef, Vec<Failure>)> {
    let target = ty.arrow_type();
    match ty {
        SqlType::Char(_) | SqlType::Varchar(_) => Ok((Arc::new(input.clone()), vec![])),
        SqlType::Date => Ok(convert_dates(input, &opts.date_format)),
        SqlType::Timestamp | SqlType::TimestampTz => {
            let (array, failures) = convert_timestamps(input, &opts.time_format);
            let array: ArrayRef = Arc::new(array);
            let array = if array.data_type() == &target {
                array
            } else {
                cast_with_options(&array, &target, &CastOptions::default())?
            };
            Ok((array, failures))
        }
        SqlType::Decimal { precision, scale }
            if let Some(array) = fast_decimals(input, *precision, *scale, opts.round_decimals) =>
        {
            Ok((Arc::new(array), vec![]))
        }
        _ => {
            let cast = cast_with_options(
                input,
                &target,
                &CastOptions {
                    safe: true,
                    format_options: FormatOptions::default(),
                },
            )?;
            let mut failures = Vec::new();
            if cast.null_count() != input.null_count() {
                for row in 0..input.len() {
                    if input.is_valid(row) && cast.is_null(row) {
                        let (code, reason) = invalid_value(input.value(row), ty);
                        failures.push((row, code, reason));
                    }
                }
            }
            Ok((cast, failures))
        }
    }
}

fn invalid_value(value: &str, ty: &SqlType) -> (u32, String) {
    let name = ty.display_name();
    match ty {
        SqlType::SmallInt | SqlType::Integer | SqlType::BigInt | SqlType::Decimal { .. } => {
            let digits = value
                .trim_start_matches(['-', '+'])
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.');
            if digits && !value.is_empty() {
                (
                    1216,
                    format!("Numeric value '{value}' out of range for {name}"),
                )
            } else {
                let pos = value
                    .char_indices()
                    .find(|(i, c)| {
                        !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+')))
                    })
                    .map(|(i, _)| i + 1)
                    .unwrap_or(1);
                (
                    1207,
                    format!("Invalid digit, Value '{value}', Pos {pos}, Type: {name}"),
                )
            }
        }
        SqlType::Real | SqlType::Double => (
            1207,
            format!("Invalid digit, Value '{value}', Type: {name}"),
        ),
        SqlType::Boolean => (1218, format!("Invalid boolean value '{value}'")),
        _ => (1216, format!("Invalid value '{value}' for {name}")),
    }
}

const DATE_AUTO: &[&str] = &[
    "%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d-%b-%Y", "%b %d %Y", "%Y%m%d", "%d.%m.%Y",
];
const TIMESTAMP_AUTO: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%m/%d/%Y %H:%M:%S%.f",
    "%d-%b-%Y %H:%M:%S%.f",
];

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn parse_date(s: &str, format: &TimeFormat) -> Option<i32> {
    match format {
        TimeFormat::Auto => DATE_AUTO
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
            .or_else(|| parse_timestamp_naive(s, &TimeFormat::Auto).map(|t| t.date()))
            .map(days),
        TimeFormat::Pattern(p) => NaiveDate::parse_from_str(s, p)
            .ok()
            .or_else(|| NaiveDateTime::parse_from_str(s, p).ok().map(|t| t.date()))
            .map(days),
        TimeFormat::EpochSecs | TimeFormat::EpochMillis => {
            parse_timestamp_naive(s, format).map(|t| t.date()).map(days)
        }
    }
}

fn parse_timestamp_naive(s: &str, format: &TimeFormat) -> Option<NaiveDateTime> {
    match format {
        TimeFormat::Auto => TIMESTAMP_AUTO
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .or_else(|| chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z").ok())
                    .map(|t| t.naive_utc())
            })
            .or_else(|| {
                DATE_AUTO
                    .iter()
                    .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
                    .map(|d| d.and_time(NaiveTime::MIN))
            }),
        TimeFormat::Pattern(p) => NaiveDateTime::parse_from_str(s, p).ok().or_else(|| {
            NaiveDate::parse_from_str(s, p)
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN))
        }),
        TimeFormat::EpochSecs => s
            .parse::<f64>()
            .ok()
            .and_then(|v| chrono::DateTime::from_timestamp_micros((v * 1e6) as i64))
            .map(|t| t.naive_utc()),
        TimeFormat::EpochMillis => s
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.naive_utc()),
    }
}

/// Plain decimals (`-123.45`) without going through Arrow's general parser, which
/// allocates per value; extra fraction digits are cut off, as Redshift does without
/// ROUNDEC (with it, such values go to Arrow's parser, which rounds). `None` if any value is not plain or does not fit: the caller then
/// casts the column the general way, which also names the bad values.
fn fast_decimals(
    input: &StringArray,
    precision: u8,
    scale: i8,
    round: bool,
) -> Option<Decimal128Array> {
    if scale < 0 {
        return None;
    }
    let scale = scale as usize;
    let max_int_digits = usize::from(precision).checked_sub(scale)?;
    let mut out = Decimal128Builder::with_capacity(input.len());
    for v in input.iter() {
        let Some(v) = v else {
            out.append_null();
            continue;
        };
        let b = v.as_bytes();
        let (neg, digits) = match b.first() {
            Some(b'-') => (true, &b[1..]),
            Some(b'+') => (false, &b[1..]),
            _ => (false, b),
        };
        let (int, frac) = match digits.iter().position(|c| *c == b'.') {
            Some(i) => (&digits[..i], &digits[i + 1..]),
            None => (digits, &digits[digits.len()..]),
        };
        if (int.is_empty() && frac.is_empty())
            || (round && frac.len() > scale)
            || !int.iter().chain(frac).all(u8::is_ascii_digit)
        {
            return None;
        }
        // Redshift truncates extra fraction digits unless ROUNDEC.
        let frac = &frac[..frac.len().min(scale)];
        let int = &int[int.iter().take_while(|c| **c == b'0').count()..];
        if int.len() > max_int_digits {
            return None;
        }
        let mut n: i128 = 0;
        for c in int.iter().chain(frac) {
            n = n * 10 + i128::from(c - b'0');
        }
        n *= 10i128.pow((scale - frac.len()) as u32);
        out.append_value(if neg { -n } else { n });
    }
    out.finish()
        .with_precision_and_scale(precision, scale as i8)
        .ok()
}

/// Whether a DATEFORMAT is plain ISO (`YYYY-MM-DD`), which the fast path reads.
fn is_iso_pattern(format: &TimeFormat) -> bool {
    matches!(format, TimeFormat::Pattern(p) if p == "%Y-%m-%d")
}

/// `YYYY-MM-DD` without going through a format parser (the common case, millions of times
/// per load).
fn iso_date(b: &[u8]) -> Option<i32> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    Some(days(date))
}

fn convert_dates(input: &StringArray, format: &TimeFormat) -> (ArrayRef, Vec<Failure>) {
    let mut failures = Vec::new();
    let values: Date32Array = input
        .iter()
        .enumerate()
        .map(|(row, v)| {
            let v = v?;
            let iso = matches!(format, TimeFormat::Auto) || is_iso_pattern(format);
            let parsed = iso
                .then(|| iso_date(v.as_bytes()))
                .flatten()
                .or_else(|| parse_date(v, format));
            if parsed.is_none() {
                failures.push((
                    row,
                    1205,
                    format!("Invalid Date Format - length must be 10 or more; value '{v}' does not match the DATEFORMAT"),
                ));
            }
            parsed
        })
        .collect();
    (Arc::new(values), failures)
}

fn convert_timestamps(
    input: &StringArray,
    format: &TimeFormat,
) -> (TimestampMicrosecondArray, Vec<Failure>) {
    let mut failures = Vec::new();
    let values: TimestampMicrosecondArray = input
        .iter()
        .enumerate()
        .map(|(row, v)| {
            let v = v?;
            let parsed = parse_timestamp_naive(v, format).map(|t| t.and_utc().timestamp_micros());
            if parsed.is_none() {
                failures.push((
                    row,
                    1206,
                    format!(
                        "Invalid timestamp format or value '{v}'; it does not match the TIMEFORMAT"
                    ),
                ));
            }
            parsed
        })
        .collect();
    (values, failures)
}

/// Conforms a typed batch (Parquet) to the table: columns matched by name, cast to the
/// column types; values that do not fit reject their rows. `first_row` numbers the rows.
pub fn conform_typed(
    target: &Target,
    file: &str,
    first_row: u64,
    batch: &RecordBatch,
) -> Result<(RecordBatch, Vec<Reject>)> {
    let table = &target.table;
    let rows = batch.num_rows();
    let mut keep = vec![true; rows];
    let mut rejects = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(table.columns.len());
    let loaded: Vec<&str> = target
        .fields
        .iter()
        .map(|&c| table.columns[c].name.as_str())
        .collect();
    for def in &table.columns {
        let source = if loaded.contains(&def.name.as_str()) {
            batch
                .schema()
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(&def.name))
                .map(|i| batch.column(i))
        } else {
            None
        };
        let target_type = def.sql_type.arrow_type();
        let Some(source) = source else {
            if !def.nullable {
                return Err(Error::Data(format!(
                    "{file}: no column \"{}\" is loaded from it, and that column is NOT NULL",
                    def.name
                )));
            }
            arrays.push(arrow::array::new_null_array(&target_type, rows));
            continue;
        };
        let cast = cast_with_options(
            source,
            &target_type,
            &CastOptions {
                safe: true,
                format_options: FormatOptions::default(),
            },
        )
        .map_err(|e| {
            Error::Data(format!(
                "{file}: column {} of type {} cannot load into {} column \"{}\": {e}",
                def.name,
                source.data_type(),
                def.sql_type.display_name(),
                def.name
            ))
        })?;
        let mut reject_row = |row: usize, code: u32, reason: String| {
            if keep[row] {
                keep[row] = false;
                let raw =
                    arrow::util::display::array_value_to_string(source, row).unwrap_or_default();
                rejects.push(Reject {
                    file: file.to_string(),
                    line: first_row + row as u64 + 1,
                    task: 0,
                    column: def.name.clone(),
                    column_type: def.sql_type.display_name(),
                    raw_value: truncate_chars(&raw, RAW_VALUE_CHARS).to_string(),
                    code,
                    reason,
                });
            }
        };
        for row in 0..rows {
            if source.is_valid(row) && cast.is_null(row) {
                reject_row(
                    row,
                    1216,
                    format!(
                        "value of type {} does not fit {}",
                        source.data_type(),
                        def.sql_type.display_name()
                    ),
                );
            } else if cast.is_null(row) && !def.nullable {
                reject_row(row, 1213, "Missing data for not-null field".into());
            }
        }
        if def.sql_type.max_len().is_some()
            && let Some(strings) = cast.as_any().downcast_ref::<StringArray>()
        {
            for row in 0..rows {
                if strings.is_valid(row) && !def.sql_type.fits(strings.value(row)) {
                    reject_row(
                        row,
                        1204,
                        format!(
                            "String length exceeds DDL length: {} bytes for {}",
                            strings.value(row).len(),
                            def.sql_type.display_name()
                        ),
                    );
                }
            }
        }
        arrays.push(cast);
    }
    Ok((batch_without(&table.schema(), arrays, keep)?, rejects))
}

/// A column's declared type for messages, by Arrow type.
pub fn is_string_type(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use blueshift_storage::table::{ColumnDef, DistStyle};

    fn table() -> TableDef {
        let col = |name: &str, sql_type: SqlType, nullable: bool| ColumnDef {
            name: name.into(),
            sql_type,
            nullable,
            encoding: None,
        };
        TableDef {
            id: 1,
            name: "t".into(),
            columns: vec![
                col("id", SqlType::Integer, false),
                col("name", SqlType::Varchar(5), true),
                col("day", SqlType::Date, true),
            ],
            dist_style: DistStyle::Even,
            dist_key: None,
            sort_key: vec![],
            primary_key: vec![],
        }
    }

    #[test]
    fn plain_decimals_take_the_fast_path_and_agree_with_arrow() {
        let values = [
            "1.25",
            "-0.5",
            "17",
            "+3.1",
            "0",
            "000123.40",
            "9999999999999.99",
            ".5",
        ];
        let input = StringArray::from_iter_values(values);
        let fast = fast_decimals(&input, 15, 2, false).expect("plain values");
        let general = cast_with_options(
            &input,
            &DataType::Decimal128(15, 2),
            &CastOptions::default(),
        )
        .unwrap();
        assert_eq!(&fast as &dyn Array, general.as_ref());
        for odd in ["1e5", "abc", "12345678901234.00", "-", " 1"] {
            assert!(
                fast_decimals(&StringArray::from_iter_values([odd]), 15, 2, false).is_none(),
                "{odd}"
            );
        }
        // Extra digits are cut off (Redshift without ROUNDEC), or left to Arrow to round.
        let cut = fast_decimals(
            &StringArray::from_iter_values(["20.259", "-1.999"]),
            8,
            2,
            false,
        );
        assert_eq!(cut.unwrap().values(), &[2025, -199]);
        assert!(fast_decimals(&StringArray::from_iter_values(["20.259"]), 8, 2, true).is_none());
    }

    #[test]
    fn iso_dates_take_the_fast_path_and_agree_with_chrono() {
        for d in [
            "1970-01-01",
            "2024-02-29",
            "1998-12-01",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert_eq!(
                iso_date(d.as_bytes()),
                parse_date(d, &TimeFormat::Auto),
                "{d}"
            );
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "20240101",
            "2024-01-0x",
        ] {
            assert_eq!(iso_date(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn bad_rows_are_rejected_with_line_column_and_reason() {
        let target = Target::all_columns(table());
        let opts = CopyOptions::default();
        let mut buf = RowBuffer::new(&target, &opts, "/data/x.txt", 0);
        fn row<'a>(f: &[&'a str]) -> Vec<Option<&'a [u8]>> {
            f.iter().map(|s| Some(s.as_bytes())).collect()
        }
        buf.push(1, &row(&["1", "ok", "2024-01-02"]));
        buf.push(2, &row(&["x2", "ok", "2024-01-02"]));
        buf.push(3, &row(&["3", "toolong", "2024-01-02"]));
        buf.push(4, &row(&["4", "ok", "not a date"]));
        buf.push(5, &row(&["5", "ok"]));
        buf.push(
            6,
            &[
                Some(b"6".as_slice()),
                Some(b"\xff".as_slice()),
                Some(b"2024-01-02".as_slice()),
            ],
        );
        buf.push(7, &row(&["\\N", "ok", "2024-01-02"]));
        buf.push(8, &row(&["8", "", ""]));
        let (batch, rejects) = buf.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        let got: Vec<(u64, &str, u32)> = rejects
            .iter()
            .map(|r| (r.line, r.column.as_str(), r.code))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "id", 1207),
                (3, "name", 1204),
                (4, "day", 1205),
                (5, "day", 1214),
                (6, "name", 1220),
                (7, "id", 1213),
            ]
        );
    }
}
