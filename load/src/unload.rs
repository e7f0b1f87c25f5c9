//! UNLOAD's writers: batches to files in text, CSV, JSON or Parquet, optionally gzip or
//! zstd, rolled over at MAXFILESIZE, uploaded with object_store's multipart writer so a
//! file appears whole or not at all.

use std::io::Write;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};
use crate::options::Compression;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Delimited text without quoting (Redshift's default UNLOAD format).
    Text,
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub format: FileFormat,
    pub compression: Compression,
    pub delimiter: u8,
    pub header: bool,
    pub null_as: String,
    pub max_file_size: u64,
}

impl WriterOptions {
    pub fn extension(&self) -> String {
        let base = match self.format {
            FileFormat::Text => "",
            FileFormat::Csv => ".csv",
            FileFormat::Json => ".json",
            FileFormat::Parquet => ".parquet",
        };
        format!("{base}{}", self.compression.suffix())
    }
}

/// A file UNLOAD wrote.
#[derive(Debug, Clone, Serialize)]
pub struct WrittenFile {
    pub url: String,
    pub bytes: u64,
    pub rows: u64,
}

/// Encodes batches into bytes of one file.
enum Encoder {
    Delimited { first: bool },
    Json,
    Parquet(Box<parquet::arrow::ArrowWriter<Vec<u8>>>),
}

/// Compresses encoded bytes.
enum Compressor {
    None(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    Bzip2(bzip2::write::BzEncoder<Vec<u8>>),
}

impl Compressor {
    fn new(c: Compression) -> Result<Compressor> {
        Ok(match c {
            Compression::None => Compressor::None(Vec::new()),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            )),
            Compression::Zstd => Compressor::Zstd(
                zstd::stream::write::Encoder::new(Vec::new(), 3)
                    .map_err(|e| Error::Data(format!("zstd: {e}")))?,
            ),
            Compression::Bzip2 => Compressor::Bzip2(bzip2::write::BzEncoder::new(
                Vec::new(),
                bzip2::Compression::fast(),
            )),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let r = match self {
            Compressor::None(v) => {
                v.extend_from_slice(bytes);
                Ok(())
            }
            Compressor::Gzip(e) => e.write_all(bytes),
            Compressor::Zstd(e) => e.write_all(bytes),
            Compressor::Bzip2(e) => e.write_all(bytes),
        };
        r.map_err(|e| Error::Data(format!("compressing UNLOAD output: {e}")))
    }

    /// Compressed bytes ready to upload.
    fn take(&mut self) -> Vec<u8> {
        match self {
            Compressor::None(v) => std::mem::take(v),
            Compressor::Gzip(e) => std::mem::take(e.get_mut()),
            Compressor::Zstd(e) => std::mem::take(e.get_mut()),
            Compressor::Bzip2(e) => std::mem::take(e.get_mut()),
        }
    }

    fn finish(self) -> Result<Vec<u8>> {
        let r = match self {
            Compressor::None(v) => Ok(v),
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
            Compressor::Bzip2(e) => e.finish(),
        };
        r.map_err(|e| Error::Data(format!("compressing UNLOAD output: {e}")))
    }
}

/// One file being written.
struct OpenFile {
    url: String,
    out: BufWriter,
    encoder: Encoder,
    compressor: Compressor,
    bytes: u64,
    rows: u64,
}

impl OpenFile {
    /// Bytes the file holds so far, counting what the Parquet writer still buffers.
    fn size(&self) -> u64 {
        match &self.encoder {
            Encoder::Parquet(w) => self.bytes + w.in_progress_size() as u64,
            _ => self.bytes,
        }
    }
}

/// Writes the files of one output stream: `<prefix><stem>_part_00<ext>`, `..._part_01`, ...
pub struct FileSet {
    store: Arc<dyn ObjectStore>,
    /// The object path prefix (may end in a partial name).
    prefix: String,
    /// The URL form of `prefix`.
    url_prefix: String,
    stem: String,
    opts: WriterOptions,
    schema: SchemaRef,
    next_part: usize,
    open: Option<OpenFile>,
    /// Bytes per row seen in the files written so far.
    per_row: u64,
    pub written: Vec<WrittenFile>,
}

impl FileSet {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        url_prefix: &str,
        stem: &str,
        opts: WriterOptions,
        schema: SchemaRef,
    ) -> FileSet {
        FileSet {
            store,
            prefix: prefix.to_string(),
            url_prefix: url_prefix.to_string(),
            stem: stem.to_string(),
            opts,
            schema,
            next_part: 0,
            open: None,
            per_row: 1,
            written: Vec::new(),
        }
    }

    fn open_next(&mut self) -> Result<OpenFile> {
        let name = format!(
            "{}_part_{:02}{}",
            self.stem,
            self.next_part,
            self.opts.extension()
        );
        self.next_part += 1;
        let path = Path::parse(format!("{}{name}", self.prefix))
            .map_err(|e| Error::InvalidOption(format!("bad UNLOAD path: {e}")))?;
        let encoder = match self.opts.format {
            FileFormat::Text | FileFormat::Csv => Encoder::Delimited { first: true },
            FileFormat::Json => Encoder::Json,
            FileFormat::Parquet => {
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                    .build();
                Encoder::Parquet(Box::new(parquet::arrow::ArrowWriter::try_new(
                    Vec::new(),
                    Arc::clone(&self.schema),
                    Some(props),
                )?))
            }
        };
        Ok(OpenFile {
            url: format!("{}{name}", self.url_prefix),
            out: BufWriter::with_capacity(Arc::clone(&self.store), path, 16 << 20),
            encoder,
            compressor: Compressor::new(self.opts.compression)?,
            bytes: 0,
            rows: 0,
        })
    }

    /// Writes a batch, in slices small enough that no file grows much past MAXFILESIZE:
    /// a file is closed before a slice that would take it over the limit.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        // Bytes a row takes in the file: its in-memory size until the file has shown
        // better (text forms of numbers and dates are larger than their Arrow values).
        let per_row = ((batch.get_array_memory_size() / rows).max(1) as u64).max(self.per_row);
        let chunk = ((self.opts.max_file_size / 16) / per_row).clamp(1, rows as u64) as usize;
        let mut offset = 0;
        while offset < rows {
            let len = chunk.min(rows - offset);
            let estimate = per_row * len as u64;
            if let Some(file) = &self.open
                && file.rows > 0
                && file.size() + estimate > self.opts.max_file_size
            {
                self.close().await?;
            }
            self.write_slice(&batch.slice(offset, len)).await?;
            offset += len;
        }
        Ok(())
    }

    async fn write_slice(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.open.is_none() {
            self.open = Some(self.open_next()?);
        }
        let file = self.open.as_mut().expect("just opened");
        let encoded = encode(&mut file.encoder, &self.opts, batch)?;
        file.compressor.write(&encoded)?;
        let ready = file.compressor.take();
        file.bytes += ready.len() as u64;
        file.rows += batch.num_rows() as u64;
        if !ready.is_empty() {
            file.out
                .write_all(&ready)
                .await
                .map_err(|e| Error::Data(format!("{}: {e}", file.url)))?;
        }
        if let Some(seen) = file.size().checked_div(file.rows) {
            self.per_row = self.per_row.max(seen);
        }
        if file.size() >= self.opts.max_file_size {
            self.close().await?;
        }
        Ok(())
    }

    /// Finishes the open file, if any.
    pub async fn close(&mut self) -> Result<()> {
        let Some(mut file) = self.open.take() else {
            return Ok(());
        };
        if let Encoder::Parquet(w) = file.encoder {
            let bytes = w.into_inner()?;
            file.compressor.write(&bytes)?;
        }
        let rest = file.compressor.finish()?;
        file.bytes += rest.len() as u64;
        file.out
            .write_all(&rest)
            .await
            .map_err(|e| Error::Data(format!("{}: {e}", file.url)))?;
        file.out
            .shutdown()
            .await
            .map_err(|e| Error::Data(format!("{}: {e}", file.url)))?;
        self.written.push(WrittenFile {
            url: file.url,
            bytes: file.bytes,
            rows: file.rows,
        });
        Ok(())
    }

    /// Abandons the open file (its upload is aborted, so no partial object appears).
    pub async fn abort(&mut self) {
        if let Some(mut file) = self.open.take() {
            let _ = file.out.abort().await;
        }
    }
}

fn encode(encoder: &mut Encoder, opts: &WriterOptions, batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match encoder {
        Encoder::Delimited { first } => {
            let mut builder = arrow::csv::WriterBuilder::new()
                .with_header(opts.header && *first)
                .with_delimiter(opts.delimiter)
                .with_null(opts.null_as.clone())
                .with_timestamp_format("%Y-%m-%d %H:%M:%S%.f".into())
                .with_timestamp_tz_format("%Y-%m-%d %H:%M:%S%.f%:z".into());
            if opts.format == FileFormat::Text {
                builder = builder.with_quote_style(arrow::csv::QuoteStyle::Never);
            }
            let mut w = builder.build(&mut out);
            w.write(batch)?;
            *first = false;
        }
        Encoder::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            w.write(batch)?;
            w.finish()?;
        }
        Encoder::Parquet(w) => {
            w.write(batch)?;
            // Row groups the writer has finished are in its buffer: hand them on.
            out = std::mem::take(w.inner_mut());
        }
    }
    Ok(out)
}

/// The manifest UNLOAD ... MANIFEST writes (and COPY ... MANIFEST reads).
pub fn manifest(files: &[WrittenFile], verbose: bool, schema: &SchemaRef) -> Vec<u8> {
    let entries: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            if verbose {
                serde_json::json!({
                    "url": f.url,
                    "meta": {"content_length": f.bytes, "record_count": f.rows}
                })
            } else {
                serde_json::json!({ "url": f.url })
            }
        })
        .collect();
    let mut doc = serde_json::json!({ "entries": entries });
    if verbose {
        doc["schema"] = serde_json::json!({
            "elements": schema.fields().iter().map(|f| serde_json::json!({
                "name": f.name(),
                "type": {"base": f.data_type().to_string()}
            })).collect::<Vec<_>>()
        });
        doc["meta"] = serde_json::json!({
            "content_length": files.iter().map(|f| f.bytes).sum::<u64>(),
            "record_count": files.iter().map(|f| f.rows).sum::<u64>(),
        });
    }
    serde_json::to_vec_pretty(&doc).expect("manifest serializes")
}
