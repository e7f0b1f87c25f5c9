//! Reading one unit of COPY work (a file, a byte range of a large uncompressed file, or
//! some row groups of a Parquet file) into converted batches.
//!
//! ```text
//!  object_store GET (range) ─► byte counter ─► gunzip / unzstd / bunzip2 ─► format reader
//!     CSV: csv crate records │ text: delimited lines with ESCAPE │ JSON: one object per line
//!     Parquet: parquet's async reader over the object store, row groups as assigned
//!                                   ─► RowBuffer (field options, casts, rejects) ─► sink
//! ```
//!
//! Runs on a blocking thread: decompression and parsing are CPU work.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use object_store::{GetOptions, GetRange, ObjectStore};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use serde::{Deserialize, Serialize};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::convert::{BATCH_ROWS, Reject, RowBuffer, Target, conform_typed};
use crate::error::{Error, Result};
use crate::options::{Compression, CopyOptions, Format};
use blueshift_storage::{Access, Stores};

/// One unit of work: a whole file, a byte range of one, or row groups of a Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadTask {
    /// Position in the COPY's task list; line numbers of later ranges of the same file are
    /// fixed up from the line counts of earlier ones.
    pub id: usize,
    pub url: String,
    pub size: u64,
    /// Bytes `[start, end)`: the records that start in this range.
    pub range: Option<(u64, u64)>,
    /// Parquet row groups, with the number of rows before the first of them.
    pub row_groups: Option<(Vec<usize>, u64)>,
    /// Whether the file's first lines (IGNOREHEADER) are in this task.
    pub first_of_file: bool,
}

/// What a task did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskOutcome {
    pub rows: u64,
    /// Lines this task's range spans, to number the lines of the next range of its file.
    pub lines: u64,
}

/// Receives converted batches and the rows rejected on the way.
pub trait Sink {
    fn rows(&mut self, batch: RecordBatch) -> Result<()>;
    fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()>;
}

/// Counts bytes as they are read, for progress reports.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Runs one task to its end (must be called on a blocking thread inside a Tokio runtime).
pub fn read_task(
    stores: &Stores,
    access: &Access,
    task: &LoadTask,
    target: &Target,
    opts: &CopyOptions,
    bytes_read: Arc<AtomicU64>,
    sink: &mut dyn Sink,
) -> Result<TaskOutcome> {
    let handle = tokio::runtime::Handle::current();
    let located = stores.locate(&task.url, access)?;
    if opts.format == Format::Parquet {
        return read_parquet(
            &handle,
            Arc::clone(&located.store),
            located.path,
            task,
            target,
            bytes_read,
            sink,
        );
    }
    let start = match task.range {
        Some((s, _)) if s > 0 => s - 1,
        _ => 0,
    };
    let get = GetOptions {
        range: (start > 0).then_some(GetRange::Offset(start)),
        ..Default::default()
    };
    let result = handle
        .block_on(located.store.get_opts(&located.path, get))
        .map_err(|e| Error::store(&task.url, e))?;
    let url = task.url.clone();
    let stream = result
        .into_stream()
        .map_err(move |e| std::io::Error::other(Error::store(&url, e)));
    let raw = SyncIoBridge::new_with_handle(StreamReader::new(stream), handle.clone());
    let counted = Counted {
        inner: raw,
        count: bytes_read,
    };
    let compression = opts
        .compression
        .unwrap_or_else(|| Compression::from_suffix(&task.url));
    let buffered = BufReader::with_capacity(1 << 20, counted);
    let mut input: Box<dyn BufRead> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(buffered),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            1 << 20,
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| Error::read(&task.url, 0, &e, compression.name()))?,
        )),
        Compression::Bzip2 => Box::new(BufReader::with_capacity(
            1 << 20,
            bzip2::bufread::MultiBzDecoder::new(buffered),
        )),
    };
    // A range that does not start the file begins after the first newline at or after its
    // start: the record straddling the boundary belongs to the range before.
    let mut offset = start;
    if task.range.is_some_and(|(s, _)| s > 0) {
        let mut skipped = Vec::new();
        let n = input
            .read_until(b'\n', &mut skipped)
            .map_err(|e| Error::read(&task.url, 0, &e, compression.name()))?;
        offset += n as u64;
    }
    let end = task.range.map(|(_, e)| e);
    let limit = end.map(|e| e.saturating_sub(offset));
    let header = if task.first_of_file {
        opts.ignore_header
    } else {
        0
    };
    let part = Part {
        task,
        target,
        opts,
        limit,
        header,
        compression,
    };
    match &opts.format {
        Format::Csv { quote } => read_csv(input, *quote, &part, sink),
        Format::Text => read_lines(input, &part, sink, false),
        Format::Json { .. } => read_lines(input, &part, sink, true),
        Format::Parquet => unreachable!("handled above"),
    }
}

/// What a reader needs to know about its part of a file.
#[derive(Clone, Copy)]
struct Part<'a> {
    task: &'a LoadTask,
    target: &'a Target,
    opts: &'a CopyOptions,
    /// Bytes after the start within which records may start (a split range).
    limit: Option<u64>,
    /// Lines to skip first (IGNOREHEADER, in the file's first part only).
    header: u64,
    /// How the bytes were compressed (a bad stream is named after its compression).
    compression: Compression,
}

fn flush(buffer: &mut RowBuffer<'_>, sink: &mut dyn Sink) -> Result<u64> {
    let (batch, rejects) = buffer.finish()?;
    if !rejects.is_empty() {
        sink.rejects(rejects)?;
    }
    let rows = batch.num_rows() as u64;
    if rows > 0 {
        sink.rows(batch)?;
    }
    Ok(rows)
}

fn read_csv(
    input: Box<dyn BufRead>,
    quote: u8,
    part: &Part<'_>,
    sink: &mut dyn Sink,
) -> Result<TaskOutcome> {
    let Part {
        task,
        target,
        opts,
        limit,
        header,
        compression,
    } = *part;
    // '\n' ends a record (a '\r' before it is stripped below), so every blank line the
    // reader skips is exactly one byte and positions can be worked out exactly.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(opts.delimiter)
        .quote(quote)
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(1 << 20)
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    let mut buffer = RowBuffer::new(target, opts, &task.url, task.id);
    let mut outcome = TaskOutcome::default();
    let mut last_line = 0u64;
    let mut seen = 0u64;
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(last_line + 1);
            Error::read(&task.url, line, &e, compression.name())
        })?;
        if !more {
            outcome.lines = last_line;
            break;
        }
        // Where the reader started (before any blank lines it skipped) and where it stands
        // now (after the record's newline, unless the input ended without one).
        let before = record
            .position()
            .expect("records read from input have positions")
            .clone();
        let after = reader.position();
        let newlines: u64 = record
            .iter()
            .map(|f| f.iter().filter(|b| **b == b'\n').count() as u64)
            .sum();
        let end_line = if reader.is_done() {
            after.line()
        } else {
            after.line() - 1
        };
        let line = end_line - newlines;
        // The blank lines skipped before the record, one byte each; those that start at or
        // after the limit belong to the next range, like the record after them.
        let blanks = line.saturating_sub(before.line());
        let owned = match limit {
            Some(limit) => limit.saturating_sub(before.byte()).min(blanks),
            None => blanks,
        };
        // The csv reader skips empty lines; without IGNOREBLANKLINES they are records with
        // one empty field, as Redshift reads them.
        if !opts.ignore_blank_lines && seen >= header {
            for blank in before.line()..before.line() + owned {
                buffer.push(blank, &[Some(b"")]);
            }
        }
        if owned < blanks || limit.is_some_and(|limit| before.byte() + blanks >= limit) {
            // The record starts in the next range.
            outcome.lines = before.line() - 1 + owned;
            break;
        }
        last_line = end_line;
        seen += 1;
        if seen <= header {
            continue;
        }
        let mut fields: Vec<Option<&[u8]>> = record.iter().map(Some).collect();
        if let Some(Some(last)) = fields.last_mut()
            && let Some(stripped) = last.strip_suffix(b"\r")
        {
            *last = stripped;
        }
        if fields.len() == 1 && fields[0] == Some(b"".as_slice()) && opts.ignore_blank_lines {
            continue;
        }
        buffer.push(line, &fields);
        if buffer.is_full() {
            outcome.rows += flush(&mut buffer, sink)?;
        }
    }
    outcome.rows += flush(&mut buffer, sink)?;
    Ok(outcome)
}

/// Text and JSON input: one record per line (text lines may continue after an escaped
/// newline).
fn read_lines(
    mut input: Box<dyn BufRead>,
    part: &Part<'_>,
    sink: &mut dyn Sink,
    json: bool,
) -> Result<TaskOutcome> {
    let Part {
        task,
        target,
        opts,
        limit,
        header,
        compression,
    } = *part;
    let mut buffer = RowBuffer::new(target, opts, &task.url, task.id);
    let mut outcome = TaskOutcome::default();
    let mut line_no = 0u64;
    let mut consumed = 0u64;
    let mut line: Vec<u8> = Vec::with_capacity(4096);
    let json_keys = json.then(|| JsonKeys::new(target, opts));
    loop {
        if let Some(limit) = limit
            && consumed >= limit
        {
            break;
        }
        line.clear();
        let first = line_no + 1;
        let mut n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::read(&task.url, first, &e, compression.name()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        consumed += n as u64;
        // With ESCAPE, a backslash before the newline continues the record.
        while opts.escape && ends_with_escaped_newline(&line) {
            n = input
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::read(&task.url, line_no + 1, &e, compression.name()))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            consumed += n as u64;
        }
        if line_no <= header {
            continue;
        }
        let mut record: &[u8] = &line;
        if record.last() == Some(&b'\n') {
            record = &record[..record.len() - 1];
        }
        if record.last() == Some(&b'\r') {
            record = &record[..record.len() - 1];
        }
        if record.is_empty() && (opts.ignore_blank_lines || json) {
            continue;
        }
        match &json_keys {
            Some(keys) => keys.push(&mut buffer, first, record),
            None if opts.postgres_text => {
                let fields = split_postgres_text(record, opts);
                let refs: Vec<Option<&[u8]>> = fields.iter().map(|f| f.as_deref()).collect();
                buffer.push(first, &refs);
            }
            None => {
                let fields = split_text(record, opts);
                let refs: Vec<Option<&[u8]>> = fields.iter().map(|f| Some(f.as_slice())).collect();
                buffer.push(first, &refs);
            }
        }
        if buffer.is_full() {
            outcome.rows += flush(&mut buffer, sink)?;
        }
    }
    outcome.lines = line_no;
    outcome.rows += flush(&mut buffer, sink)?;
    Ok(outcome)
}

fn ends_with_escaped_newline(line: &[u8]) -> bool {
    let Some(body) = line.strip_suffix(b"\n") else {
        return false;
    };
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let slashes = body.iter().rev().take_while(|b| **b == b'\\').count();
    slashes % 2 == 1
}

/// Splits a text-format record on the delimiter, honouring ESCAPE (a backslash makes the
/// next character literal) and REMOVEQUOTES (quotes around a value are dropped, and
/// delimiters inside them kept).
fn split_text(record: &[u8], opts: &CopyOptions) -> Vec<Vec<u8>> {
    let mut fields = Vec::with_capacity(16);
    let mut current = Vec::with_capacity(32);
    let mut in_quotes = false;
    let mut i = 0;
    while i < record.len() {
        let b = record[i];
        if opts.escape && b == b'\\' && i + 1 < record.len() {
            current.push(record[i + 1]);
            i += 2;
            continue;
        }
        if opts.remove_quotes && b == b'"' {
            in_quotes = !in_quotes;
            i += 1;
            continue;
        }
        if b == opts.delimiter && !in_quotes {
            fields.push(std::mem::replace(&mut current, Vec::with_capacity(32)));
        } else {
            current.push(b);
        }
        i += 1;
    }
    fields.push(current);
    fields
}

/// Splits a record of PostgreSQL's text format: fields on the delimiter, a field that is
/// exactly the NULL string (`\N`) is NULL, and backslash sequences are decoded as
/// PostgreSQL decodes them (`\b \f \n \r \t \v`, `\ooo` octal, `\xhh` hex, any other
/// character itself).
fn split_postgres_text(record: &[u8], opts: &CopyOptions) -> Vec<Option<Vec<u8>>> {
    let null = opts.null_as.as_deref().unwrap_or("\\N").as_bytes();
    let mut fields = Vec::with_capacity(16);
    for raw in split_raw(record, opts.delimiter) {
        if raw == null {
            fields.push(None);
            continue;
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            if b != b'\\' || i + 1 == raw.len() {
                out.push(b);
                i += 1;
                continue;
            }
            let c = raw[i + 1];
            i += 2;
            match c {
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(11),
                b'0'..=b'7' => {
                    let mut v = u32::from(c - b'0');
                    for _ in 0..2 {
                        match raw.get(i) {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push(v as u8);
                }
                b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                    let mut v = 0u32;
                    for _ in 0..2 {
                        match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                            Some(d) => {
                                v = v * 16 + d;
                                i += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(v as u8);
                }
                other => out.push(other),
            }
        }
        fields.push(Some(out));
    }
    fields
}

/// A record's fields on `delimiter`, where a backslash keeps the next byte in the field.
fn split_raw(record: &[u8], delimiter: u8) -> Vec<&[u8]> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < record.len() {
        if record[i] == b'\\' {
            i += 2;
            continue;
        }
        if record[i] == delimiter {
            fields.push(&record[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    fields.push(&record[start.min(record.len())..]);
    fields
}

/// Maps JSON object keys to the loaded columns ('auto' exact, 'auto ignorecase' folded).
struct JsonKeys {
    names: Vec<String>,
    ignore_case: bool,
}

impl JsonKeys {
    fn new(target: &Target, opts: &CopyOptions) -> JsonKeys {
        let ignore_case = matches!(opts.format, Format::Json { ignore_case: true });
        let names = target
            .fields
            .iter()
            .map(|&c| {
                let n = target.table.columns[c].name.clone();
                if ignore_case { n.to_lowercase() } else { n }
            })
            .collect();
        JsonKeys { names, ignore_case }
    }

    fn push(&self, buffer: &mut RowBuffer<'_>, line: u64, record: &[u8]) {
        // Values stay raw JSON text until a column needs them, so numbers keep every
        // digit (a DECIMAL(38,10) does not pass through f64).
        let map: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
            match serde_json::from_slice(record) {
                Ok(m) => m,
                Err(e) => {
                    let reason = if record.first() == Some(&b'{') {
                        format!("Invalid JSON: {e}")
                    } else {
                        "Invalid JSON: each line must hold one JSON object".into()
                    };
                    buffer.reject_line(line, &String::from_utf8_lossy(record), 1224, reason);
                    return;
                }
            };
        let mut texts: Vec<Option<String>> = vec![None; self.names.len()];
        for (key, raw) in map {
            let key = if self.ignore_case {
                key.to_lowercase()
            } else {
                key
            };
            let Some(i) = self.names.iter().position(|n| *n == key) else {
                continue;
            };
            let text = raw.get();
            texts[i] = match text.as_bytes().first() {
                Some(b'n') => None,
                // A JSON string: unescaped; it was valid JSON, so this cannot fail.
                Some(b'"') => serde_json::from_str::<String>(text).ok(),
                _ => Some(text.to_string()),
            };
        }
        let fields: Vec<Option<&[u8]>> = texts
            .iter()
            .map(|t| t.as_ref().map(|s| s.as_bytes()))
            .collect();
        buffer.push(line, &fields);
    }
}

fn read_parquet(
    handle: &tokio::runtime::Handle,
    store: Arc<dyn ObjectStore>,
    path: object_store::path::Path,
    task: &LoadTask,
    target: &Target,
    bytes_read: Arc<AtomicU64>,
    sink: &mut dyn Sink,
) -> Result<TaskOutcome> {
    let url = task.url.as_str();
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(store, path).with_file_size(task.size);
    let builder = handle
        .block_on(ParquetRecordBatchStreamBuilder::new(reader))
        .map_err(|e| Error::Data(format!("{url}: not a readable Parquet file: {e}")))?;
    let wanted: Vec<String> = target
        .fields
        .iter()
        .map(|&c| target.table.columns[c].name.to_lowercase())
        .collect();
    let roots: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted.contains(&f.name().to_lowercase()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let (groups, mut first_row) = match &task.row_groups {
        Some((groups, before)) => (groups.clone(), *before),
        None => ((0..builder.metadata().num_row_groups()).collect(), 0),
    };
    let group_bytes: u64 = groups
        .iter()
        .map(|&g| builder.metadata().row_group(g).compressed_size() as u64)
        .sum();
    let mut stream = builder
        .with_projection(mask)
        .with_row_groups(groups)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| Error::Data(format!("{url}: {e}")))?;
    let mut outcome = TaskOutcome::default();
    while let Some(batch) = handle.block_on(stream.next()) {
        let batch = batch.map_err(|e| Error::Data(format!("{url}: {e}")))?;
        let (rows, mut rejects) = conform_typed(target, url, first_row, &batch)?;
        for r in &mut rejects {
            r.task = task.id;
        }
        first_row += batch.num_rows() as u64;
        if !rejects.is_empty() {
            sink.rejects(rejects)?;
        }
        outcome.rows += rows.num_rows() as u64;
        if rows.num_rows() > 0 {
            sink.rows(rows)?;
        }
    }
    bytes_read.fetch_add(group_bytes, Ordering::Relaxed);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what a reader produced.
    #[derive(Default)]
    struct Collect {
        rows: Vec<RecordBatch>,
        rejects: Vec<Reject>,
    }

    impl Sink for Collect {
        fn rows(&mut self, batch: RecordBatch) -> Result<()> {
            self.rows.push(batch);
            Ok(())
        }
        fn rejects(&mut self, rejects: Vec<Reject>) -> Result<()> {
            self.rejects.extend(rejects);
            Ok(())
        }
    }

    fn csv_target() -> Target {
        use blueshift_storage::table::{ColumnDef, DistStyle, SqlType, TableDef};
        let col = |name: &str, sql_type| ColumnDef {
            name: name.into(),
            sql_type,
            nullable: true,
            encoding: None,
        };
        Target::all_columns(TableDef {
            id: 1,
            name: "t".into(),
            columns: vec![col("id", SqlType::Integer), col("v", SqlType::Varchar(10))],
            dist_style: DistStyle::Even,
            dist_key: None,
            sort_key: vec![],
            primary_key: vec![],
        })
    }

    /// Reads `data` as CSV bytes `[start, end)` the way a task does; returns the ids read,
    /// the lines of the rejects and the lines the part spans.
    fn read_part(
        data: &[u8],
        range: Option<(u64, u64)>,
        opts: &CopyOptions,
    ) -> (Vec<i32>, Vec<u64>, u64) {
        let start = range.map_or(0, |(s, _)| s.saturating_sub(1)) as usize;
        let mut input: Box<dyn BufRead> = Box::new(std::io::Cursor::new(data[start..].to_vec()));
        let mut offset = start as u64;
        if range.is_some_and(|(s, _)| s > 0) {
            let mut skipped = Vec::new();
            offset += input.read_until(b'\n', &mut skipped).unwrap() as u64;
        }
        let task = LoadTask {
            id: 0,
            url: "/t.csv".into(),
            size: data.len() as u64,
            range,
            row_groups: None,
            first_of_file: range.is_none_or(|(s, _)| s == 0),
        };
        let target = csv_target();
        let part = Part {
            task: &task,
            target: &target,
            opts,
            limit: range.map(|(_, e)| e.saturating_sub(offset)),
            header: 0,
            compression: Compression::None,
        };
        let mut sink = Collect::default();
        let outcome = read_csv(input, b'"', &part, &mut sink).unwrap();
        let ids = sink
            .rows
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::Int32Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        (
            ids,
            sink.rejects.iter().map(|r| r.line).collect(),
            outcome.lines,
        )
    }

    #[test]
    fn csv_ranges_take_each_record_once_with_crlf_and_blank_lines() {
        let opts = CopyOptions {
            format: Format::Csv { quote: b'"' },
            delimiter: b',',
            ..CopyOptions::default()
        };
        // Whole file: a quoted newline, blank lines rejected (two fields expected), exact
        // line numbers.
        let quoted = b"1,a\r\n2,\"b\r\nc\"\r\n\n\n3,x\r\nbad,y\r\n4,z";
        let (ids, rejects, _) = read_part(quoted, None, &opts);
        assert_eq!(ids, vec![1, 2, 3, 4]);
        assert_eq!(rejects, vec![4, 5, 7]);
        let data = b"1,a\r\n2,b\r\n\n\n3,x\r\nbad,y\r\n4,z\n";
        // Every split point: each record read exactly once, line numbers add up.
        for cut in 1..data.len() as u64 {
            let (a, ra, lines) = read_part(data, Some((0, cut)), &opts);
            let (b, rb, _) = read_part(data, Some((cut, data.len() as u64)), &opts);
            let mut all = a.clone();
            all.extend(&b);
            assert_eq!(all, vec![1, 2, 3, 4], "cut at {cut}");
            let mut lines_all = ra.clone();
            lines_all.extend(rb.iter().map(|l| l + lines));
            assert_eq!(lines_all, vec![3, 4, 6], "cut at {cut}");
        }
        let blanks_ignored = CopyOptions {
            ignore_blank_lines: true,
            ..opts
        };
        assert_eq!(read_part(data, None, &blanks_ignored).1, vec![6]);
    }

    #[test]
    fn postgres_text_decodes_escapes_and_nulls() {
        let opts = CopyOptions {
            postgres_text: true,
            delimiter: b'\t',
            ..CopyOptions::default()
        };
        let got = split_postgres_text(b"a\\tb\t\\N\tc\\\\N\t\\101\\x42\\n\t", &opts);
        assert_eq!(
            got,
            vec![
                Some(b"a\tb".to_vec()),
                None,
                Some(b"c\\N".to_vec()),
                Some(b"AB\n".to_vec()),
                Some(vec![]),
            ]
        );
        // An escaped delimiter stays in its field.
        let got = split_postgres_text(b"x\\\ty\tz", &opts);
        assert_eq!(got, vec![Some(b"x\ty".to_vec()), Some(b"z".to_vec())]);
    }

    #[test]
    fn text_fields_honour_escape_and_removequotes() {
        let opts = CopyOptions {
            escape: true,
            remove_quotes: true,
            ..CopyOptions::default()
        };
        let got = split_text(br#"a\|b|"c|d"|e\\"#, &opts);
        assert_eq!(got, vec![b"a|b".to_vec(), b"c|d".to_vec(), b"e\\".to_vec()]);
        assert!(ends_with_escaped_newline(b"abc\\\n"));
        assert!(!ends_with_escaped_newline(b"abc\\\\\n"));
    }
}
