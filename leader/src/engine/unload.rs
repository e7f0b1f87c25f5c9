//! UNLOAD: runs the query through the distributed planner and writes its result to files.
//! With PARALLEL ON (the default) each output partition of the plan (one per slice for a
//! slice-local query) writes its own files, `<prefix><slice>_part_<nn>`; with PARALLEL OFF
//! one writer keeps the query's order.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{Schema, SchemaRef};
use blueshift_load::unload::{FileFormat, FileSet, WriterOptions, WrittenFile};
use datafusion::physical_plan::{ExecutionPlanProperties, execute_stream};
use datafusion::sql::sqlparser::ast::Statement;
use futures::StreamExt;
use object_store::ObjectStoreExt;

use crate::engine::copy::sql::UnloadFormat;
use crate::engine::{Engine, Output, Session, postgres_column_names};
use crate::error::{Error, Result};

/// Where one output stream's files go, split by PARTITION BY values when asked.
struct Outputs<'a> {
    located: &'a blueshift_storage::Located,
    prefix: String,
    stem: String,
    opts: WriterOptions,
    schema: SchemaRef,
    /// Partition columns' indexes in the query result.
    partition_cols: Vec<usize>,
    /// Columns written to the files.
    kept: Vec<usize>,
    sets: BTreeMap<String, FileSet>,
}

impl Outputs<'_> {
    fn set(&mut self, folder: &str) -> &mut FileSet {
        let (located, prefix, stem, opts) = (self.located, &self.prefix, &self.stem, &self.opts);
        let schema = Arc::new(self.schema.project(&self.kept).expect("kept columns exist"));
        let url_prefix = located.url_for_key(&format!("{prefix}{folder}"));
        self.sets.entry(folder.to_string()).or_insert_with(|| {
            FileSet::new(
                Arc::clone(&located.store),
                &format!("{prefix}{folder}"),
                &url_prefix,
                stem,
                opts.clone(),
                schema,
            )
        })
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if self.partition_cols.is_empty() {
            let batch = batch.project(&self.kept)?;
            return Ok(self.set("").write(&batch).await?);
        }
        let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let mut folder = String::new();
            for &c in &self.partition_cols {
                let col = batch.column(c);
                let value = if col.is_valid(row) {
                    arrow::util::display::array_value_to_string(col, row)?
                } else {
                    "__HIVE_DEFAULT_PARTITION__".to_string()
                };
                folder.push_str(&format!(
                    "{}={}/",
                    self.schema.field(c).name(),
                    value.replace('/', "%2F")
                ));
            }
            groups.entry(folder).or_default().push(row as u32);
        }
        for (folder, rows) in groups {
            let part = take_record_batch(&batch, &UInt32Array::from(rows))?.project(&self.kept)?;
            self.set(&folder).write(&part).await?;
        }
        Ok(())
    }

    /// Closes every file; on an error the files not yet closed are abandoned and the
    /// error comes with every file already written, for the caller to remove.
    async fn finish(mut self) -> std::result::Result<Vec<WrittenFile>, (Error, Vec<WrittenFile>)> {
        let mut files = Vec::new();
        let mut failure = None;
        for set in self.sets.values_mut() {
            if failure.is_some() {
                set.abort().await;
            } else if let Err(e) = set.close().await {
                failure = Some(e.into());
            }
            files.append(&mut set.written);
        }
        match failure {
            Some(e) => Err((e, files)),
            None => Ok(files),
        }
    }

    async fn abort(mut self) {
        for set in self.sets.values_mut() {
            set.abort().await;
        }
    }
}

impl Engine {
    pub(crate) async fn unload(&self, session: &Session, sql: &str, query: u64) -> Result<Output> {
        let u = crate::engine::copy::sql::parse_unload(sql)?;
        if u.iam_role {
            session.notice(crate::engine::copy::IAM_ROLE_IGNORED);
        }
        let mut texts = crate::sql_split::split(&u.query)?;
        if texts.len() != 1 {
            return Err(Error::InvalidInput(
                "UNLOAD takes exactly one SELECT statement".into(),
            ));
        }
        let text = texts.pop().expect("one statement");
        let Some(Statement::Query(select)) = self.parse(&text)? else {
            return Err(Error::InvalidInput(
                "UNLOAD takes a SELECT statement".into(),
            ));
        };
        let select = *select;
        crate::engine::copy::server_file_check(
            &session.read_state(&self.catalog),
            &session.user,
            &u.target,
            "UNLOAD to",
        )?;
        let plan = self
            .plan(session, Statement::Query(Box::new(select.clone())), None)
            .await?;
        let physical = self.physical(session, &plan, &query.to_string()).await?;
        let schema = postgres_column_names(&select, &physical.schema());

        let located = self.stores.locate(&u.target, &u.access)?;
        let existing = located.list_prefix().await?;
        if !existing.is_empty() && !u.allow_overwrite {
            return Err(Error::Load(blueshift_load::Error::Exists(format!(
                "{}: {} files already exist with this prefix (for example {}); use ALLOWOVERWRITE to replace them",
                u.target,
                existing.len(),
                located.url_of(&existing[0].location)
            ))));
        }
        let mut prefix = located.key_prefix().to_string();
        if !u.partition_by.is_empty() && !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let mut partition_cols = Vec::new();
        for name in &u.partition_by {
            let i = schema
                .fields()
                .iter()
                .position(|f| f.name() == name)
                .ok_or_else(|| Error::UndefinedColumn {
                    column: name.clone(),
                })?;
            partition_cols.push(i);
        }
        let kept: Vec<usize> = (0..schema.fields().len())
            .filter(|i| u.partition_include || !partition_cols.contains(i))
            .collect();
        if kept.is_empty() {
            return Err(Error::InvalidInput(
                "PARTITION BY would leave no columns in the files; add INCLUDE".into(),
            ));
        }
        let opts = WriterOptions {
            format: match u.format {
                UnloadFormat::Text => FileFormat::Text,
                UnloadFormat::Csv => FileFormat::Csv,
                UnloadFormat::Json => FileFormat::Json,
                UnloadFormat::Parquet => FileFormat::Parquet,
            },
            compression: u.compression,
            delimiter: u.delimiter.unwrap_or(if u.format == UnloadFormat::Csv {
                b','
            } else {
                b'|'
            }),
            header: u.header,
            null_as: u.null_as.clone().unwrap_or_default(),
            max_file_size: u
                .max_file_size
                .unwrap_or(crate::engine::copy::sql::MAX_FILE_SIZE),
        };
        let streams = if u.parallel {
            let n = physical.output_partitioning().partition_count();
            (0..n)
                .map(|i| Ok((i, physical.execute(i, session.ctx.task_ctx())?)))
                .collect::<Result<Vec<_>>>()?
        } else {
            vec![(
                0,
                execute_stream(Arc::clone(&physical), session.ctx.task_ctx())?,
            )]
        };
        let writers = streams.into_iter().map(|(i, mut stream)| {
            let mut out = Outputs {
                located: &located,
                prefix: prefix.clone(),
                stem: format!("{i:04}"),
                opts: opts.clone(),
                schema: Arc::clone(&schema),
                partition_cols: partition_cols.clone(),
                kept: kept.clone(),
                sets: BTreeMap::new(),
            };
            let schema = Arc::clone(&schema);
            async move {
                while let Some(batch) = stream.next().await {
                    let written = match batch {
                        Ok(b) => {
                            match RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()) {
                                Ok(b) => out.write(b).await,
                                Err(e) => Err(e.into()),
                            }
                        }
                        Err(e) => Err(e.into()),
                    };
                    if let Err(e) = written {
                        let done: Vec<WrittenFile> =
                            out.sets.values().flat_map(|s| s.written.clone()).collect();
                        out.abort().await;
                        return Err((e, done));
                    }
                }
                out.finish().await
            }
        });
        // Every writer runs to its end, so a failed UNLOAD can remove all it wrote.
        let mut files = Vec::new();
        let mut failure = None;
        for result in futures::future::join_all(writers).await {
            match result {
                Ok(written) => files.extend(written),
                Err((e, written)) => {
                    files.extend(written);
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            for f in &files {
                let key = f
                    .url
                    .strip_prefix(&located.url_for_key(""))
                    .unwrap_or(&f.url);
                if let Ok(path) = object_store::path::Path::parse(key) {
                    let _ = located.store.delete(&path).await;
                }
            }
            return Err(e);
        }
        files.sort_by(|a, b| a.url.cmp(&b.url));
        let rows: u64 = files.iter().map(|f| f.rows).sum();
        if let Some(verbose) = u.manifest {
            let body = blueshift_load::unload::manifest(
                &files,
                verbose,
                &Arc::new(Schema::new(
                    kept.iter()
                        .map(|&i| schema.field(i).clone())
                        .collect::<Vec<_>>(),
                )),
            );
            let path = object_store::path::Path::parse(format!("{prefix}manifest"))
                .map_err(|e| Error::InvalidInput(format!("bad UNLOAD path: {e}")))?;
            located
                .store
                .put(&path, body.into())
                .await
                .map_err(|e| blueshift_load::Error::store(&u.target, e))?;
        }
        Ok(Output::Command {
            tag: "UNLOAD".into(),
            rows: Some(rows),
        })
    }
}
