//! Writing rows: conform them to the table's types, route them by the distribution,
//! stage blocks on the owning nodes; DISTSTYLE AUTO's move from ALL to EVEN.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::SchemaRef;
use arrow::util::display::FormatOptions;
use blueshift_compute::IngestRequest;
use blueshift_storage::placement::route_batch;
use blueshift_storage::table::{DistStyle, TableDef};
use blueshift_storage::{BlockTable, TableData};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::*;
use crate::catalog::{ClusterState, TableState};
use crate::error::{Error, Result};
use crate::stages;

impl Engine {
    /// Streams rows into staged blocks on their slices and returns the table's next data
    /// (old blocks plus the new ones) without committing it.
    pub(crate) async fn write_rows(
        &self,
        state: &ClusterState,
        table: &TableState,
        mut stream: SendableRecordBatchStream,
    ) -> Result<(TableData, u64)> {
        let def = &table.def;
        let schema = def.schema();
        let mut data = (*table.data).clone();
        let mut senders: HashMap<u32, mpsc::Sender<blueshift_compute::Result<RecordBatch>>> =
            HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut total = 0u64;
        let mut failure: Option<Error> = None;
        'rows: while let Some(batch) = stream.next().await {
            let batch = match batch
                .map_err(Error::from)
                .and_then(|b| conform_batch(def, &schema, &b))
            {
                Ok(b) => b,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            total += batch.num_rows() as u64;
            for (slice, part) in route_batch(def, &state.topology, &batch, &mut data.even_cursor)? {
                let tx = senders.entry(slice).or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(4);
                    let client = self.cluster.client_for_slice(slice).clone();
                    let req = IngestRequest {
                        table: def.clone(),
                        slice,
                    };
                    let schema = Arc::clone(&schema);
                    tasks.spawn(async move {
                        let rows = tokio_stream_from(rx);
                        (slice, client.ingest(&req, schema, rows).await)
                    });
                    tx
                });
                if tx.send(Ok(part)).await.is_err() {
                    // An ingest task ended early (node lost): stop reading the source; the
                    // task's error is collected below.
                    break 'rows;
                }
            }
        }
        if let Some(e) = failure {
            // Aborting the ingest calls cancels their streams; the nodes see no end marker and
            // answer with an error, and whatever they staged is never committed.
            drop(senders);
            tasks.abort_all();
            return Err(e);
        }
        drop(senders);
        let mut first_err = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((slice, Ok(resp))) => data
                    .slices
                    .entry(slice)
                    .or_default()
                    .blocks
                    .extend(resp.blocks),
                Ok((_, Err(e))) => {
                    first_err.get_or_insert(Error::from(e));
                }
                Err(e) => {
                    first_err.get_or_insert(Error::Io(format!("ingest task failed: {e}")));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok((data, total))
    }
    /// DISTSTYLE AUTO starts as ALL; once the table outgrows `auto_all_max_rows` its rows are
    /// redistributed EVEN (in the same commit as the write that made it grow).
    pub(crate) async fn maybe_leave_auto_all(
        &self,
        state: &ClusterState,
        table: TableState,
        qid: &str,
    ) -> Result<TableState> {
        if table.def.dist_style != DistStyle::AutoAll
            || table.data.logical_rows(true) <= self.config.auto_all_max_rows
        {
            return Ok(table);
        }
        let source = BlockTable::new(table.def.clone(), Arc::clone(&table.data), state.topology);
        let ctx = SessionContext::new();
        let plan = LogicalPlanBuilder::scan(
            table.def.name.clone(),
            datafusion::datasource::provider_as_source(Arc::new(source)),
            None,
        )?
        .build()?;
        let physical = ctx.state().create_physical_plan(&plan).await?;
        let physical = stages::distribute(physical, &self.cluster, qid)?;
        let stream = execute_stream(physical, ctx.task_ctx())?;
        let mut def = table.def.clone();
        def.dist_style = DistStyle::AutoEven;
        let empty = TableState {
            def: def.clone(),
            data: Arc::new(TableData::default()),
        };
        let (data, _) = self.write_rows(state, &empty, stream).await?;
        Ok(TableState {
            def,
            data: Arc::new(data),
        })
    }
}

pub(crate) fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
/// Casts a batch to the table's column types and checks lengths and NOT NULL.
pub(crate) fn conform_batch(
    def: &TableDef,
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch> {
    if batch.num_columns() != def.columns.len() {
        return Err(Error::InvalidInput(format!(
            "INSERT has {} expressions but table \"{}\" has {} columns",
            batch.num_columns(),
            def.name,
            def.columns.len()
        )));
    }
    let opts = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let mut columns = Vec::with_capacity(def.columns.len());
    for (col, array) in def.columns.iter().zip(batch.columns()) {
        let target = col.sql_type.arrow_type();
        let array = if array.data_type() == &target {
            Arc::clone(array)
        } else {
            cast_with_options(array, &target, &opts)?
        };
        if !col.nullable && array.null_count() > 0 {
            return Err(Error::NotNull(col.name.clone()));
        }
        if let Some(limit) = col.sql_type.max_len() {
            let strings = array.as_string::<i32>();
            if strings.iter().flatten().any(|s| !col.sql_type.fits(s)) {
                return Err(Error::ValueTooLong { limit });
            }
        }
        columns.push(array);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
