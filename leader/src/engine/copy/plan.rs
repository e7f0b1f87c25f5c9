//! What a COPY reads: the objects under a prefix or in a manifest, split into tasks the
//! nodes take (whole files, byte ranges, Parquet row-group sets), largest first.

use std::sync::Arc;

use blueshift_load::{Format, LoadTask};
use object_store::ObjectStoreExt;

use crate::engine::copy::sql::CopyStatement;
use crate::engine::{Engine, Session};
use crate::error::{Error, Result};

/// The manifest file COPY ... MANIFEST reads.
#[derive(serde::Deserialize)]
pub(crate) struct Manifest {
    entries: Vec<ManifestEntry>,
}

#[derive(serde::Deserialize)]
pub(crate) struct ManifestEntry {
    url: String,
    #[serde(default)]
    mandatory: bool,
}

impl Engine {
    /// The objects a COPY reads: every object under the prefix, or the manifest's entries.
    pub(crate) async fn copy_sources(
        &self,
        session: &Session,
        stmt: &CopyStatement,
        url: &str,
    ) -> Result<Vec<(String, u64)>> {
        let located = self.stores.locate(url, &stmt.access)?;
        if stmt.options.manifest {
            let bytes = located
                .store
                .get(&located.path)
                .await
                .map_err(|e| blueshift_load::Error::store(url, e))?
                .bytes()
                .await
                .map_err(|e| blueshift_load::Error::store(url, e))?;
            let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Load(blueshift_load::Error::Data(format!(
                    "{url}: not a COPY manifest ({e}); expected {{\"entries\": [{{\"url\": ..., \"mandatory\": true}}]}}"
                )))
            })?;
            let mut out = Vec::new();
            let state = session.read_state(&self.catalog);
            for entry in manifest.entries {
                super::server_file_check(&state, &session.user, &entry.url, "COPY from")?;
                let e = self.stores.locate(&entry.url, &stmt.access)?;
                match e.store.head(&e.path).await {
                    Ok(meta) => out.push((entry.url, meta.size)),
                    Err(object_store::Error::NotFound { .. }) if !entry.mandatory => {
                        tracing::debug!(url = %entry.url, "optional manifest entry missing");
                    }
                    Err(object_store::Error::NotFound { .. }) => {
                        return Err(Error::Storage(blueshift_storage::Error::ObjectNotFound {
                            url: entry.url,
                            detail: format!(
                                "no such object, and manifest {url} marks it mandatory"
                            ),
                        }));
                    }
                    Err(other) => {
                        return Err(Error::Load(blueshift_load::Error::store(&entry.url, other)));
                    }
                }
            }
            return Ok(out);
        }
        let objects = located.list_prefix().await?;
        if objects.is_empty() {
            return Err(Error::Storage(blueshift_storage::Error::ObjectNotFound {
                url: url.to_string(),
                detail: "no object has this prefix".into(),
            }));
        }
        Ok(objects
            .into_iter()
            .map(|m| (located.url_of(&m.location), m.size))
            .collect())
    }
    /// Splits the sources into tasks: whole files, byte ranges of large uncompressed
    /// text/CSV files, row-group sets of large Parquet files.
    pub(crate) async fn copy_tasks(
        &self,
        stmt: &CopyStatement,
        files: Vec<(String, u64)>,
    ) -> Result<Vec<LoadTask>> {
        let split = self.config.copy_split_mb.max(1) << 20;
        // Parquet sizes are compressed: the same amount of rows to convert takes about an
        // eighth of the bytes.
        let parquet_split = (split / 8).max(1);
        let mut tasks = Vec::new();
        for (url, size) in files {
            let whole = |id| LoadTask {
                id,
                url: url.clone(),
                size,
                range: None,
                row_groups: None,
                first_of_file: true,
            };
            // With ESCAPE a newline may be part of a value, so such files are not split.
            let splittable_text = (matches!(stmt.options.format, Format::Csv { .. })
                || (stmt.options.format == Format::Text && !stmt.options.escape))
                && stmt
                    .options
                    .compression
                    .unwrap_or_else(|| blueshift_load::Compression::from_suffix(&url))
                    == blueshift_load::Compression::None;
            if size > split && splittable_text {
                let mut start = 0;
                while start < size {
                    let end = (start + split).min(size);
                    tasks.push(LoadTask {
                        id: tasks.len(),
                        url: url.clone(),
                        size,
                        range: Some((start, end)),
                        row_groups: None,
                        first_of_file: start == 0,
                    });
                    start = end;
                }
            } else if size > parquet_split && stmt.options.format == Format::Parquet {
                let groups = self.parquet_groups(stmt, &url, size).await?;
                let mut current: Vec<usize> = Vec::new();
                let mut current_bytes = 0;
                let mut rows_before = 0;
                let mut first_row = 0;
                for (i, (rows, bytes)) in groups.iter().enumerate() {
                    if current.is_empty() {
                        first_row = rows_before;
                    }
                    current.push(i);
                    current_bytes += bytes;
                    rows_before += rows;
                    if current_bytes >= parquet_split {
                        tasks.push(LoadTask {
                            id: tasks.len(),
                            url: url.clone(),
                            size,
                            range: None,
                            row_groups: Some((std::mem::take(&mut current), first_row)),
                            first_of_file: first_row == 0,
                        });
                        current_bytes = 0;
                    }
                }
                if !current.is_empty() {
                    tasks.push(LoadTask {
                        id: tasks.len(),
                        url: url.clone(),
                        size,
                        range: None,
                        row_groups: Some((current, first_row)),
                        first_of_file: first_row == 0,
                    });
                }
            } else {
                tasks.push(whole(tasks.len()));
            }
        }
        Ok(tasks)
    }
    /// Rows and compressed bytes of each row group of a Parquet file.
    pub(crate) async fn parquet_groups(
        &self,
        stmt: &CopyStatement,
        url: &str,
        size: u64,
    ) -> Result<Vec<(u64, u64)>> {
        let located = self.stores.locate(url, &stmt.access)?;
        #[allow(deprecated)]
        let reader = parquet::arrow::async_reader::ParquetObjectReader::new(
            Arc::clone(&located.store),
            located.path.clone(),
        )
        .with_file_size(size);
        let builder = parquet::arrow::ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| {
                Error::Load(blueshift_load::Error::Data(format!(
                    "{url}: not a readable Parquet file: {e}"
                )))
            })?;
        Ok(builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| (g.num_rows() as u64, g.compressed_size() as u64))
            .collect())
    }
}

/// A task's share of the input in bytes, for balancing.
pub(crate) fn task_bytes(t: &LoadTask) -> u64 {
    match t.range {
        Some((s, e)) => e - s,
        None => t.size,
    }
}
