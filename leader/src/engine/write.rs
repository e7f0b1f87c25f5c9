//! Writing rows: as a write stage on the compute nodes when the rows come from the slices
//! (see `blueshift_compute::WriteExec`), else from the leader: conform them to the table's
//! types, route them by the distribution, stage blocks on the owning nodes. Also
//! DISTSTYLE AUTO's move from ALL to EVEN.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Int32Type, Int64Type};
use blueshift_compute::{GatherExec, IngestRequest, Replaces, WriteExec, WriteSpec};
use blueshift_storage::placement::route_batch;
use blueshift_storage::table::DistStyle;
use blueshift_storage::{BlockTable, TableData};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
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
                .and_then(|b| def.conform(&b).map_err(Error::from))
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
                        let rows = tokio_stream::wrappers::ReceiverStream::new(rx);
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
        let mut def = table.def.clone();
        def.dist_style = DistStyle::AutoEven;
        let empty = TableState {
            def: def.clone(),
            data: Arc::new(TableData::default()),
        };
        let shape = WriteShape {
            values: (0..def.columns.len()).collect(),
            row_ids: None,
        };
        let data = self
            .write_plan(ctx.task_ctx(), state, &empty, physical, shape, qid)
            .await?
            .data;
        Ok(TableState {
            def,
            data: Arc::new(data),
        })
    }
}

/// Where a write's rows come from in its input plan.
pub(crate) struct WriteShape {
    /// The input columns that are the new rows (none for DELETE).
    pub values: Vec<usize>,
    /// UPDATE/DELETE: the input columns with the `(slice, block, row)` ids replaced.
    pub row_ids: Option<[usize; 3]>,
}

/// What a write did: the table's next data (not committed), rows written, rows replaced.
pub(crate) struct Written {
    pub data: TableData,
    pub rows: u64,
    pub replaced: u64,
}

/// Whether a stage joins or exchanges rows (so a row can come out of it more than once,
/// or on another node than its slice's).
fn moves_rows(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.is::<blueshift_compute::ExchangeExec>()
        || plan.is::<datafusion::physical_plan::joins::HashJoinExec>()
        || plan.children().into_iter().any(moves_rows)
}

impl Engine {
    /// Writes the rows of `physical` (a distributed plan) into `table`. When its rows come
    /// straight from the slices (a stage under a gather), the write runs as a stage on the
    /// compute nodes: each node routes its rows to the owning slices and the leader only
    /// receives block metadata. Otherwise the rows already reach the leader (a join, a
    /// final aggregate, VALUES) and it streams them to the owning nodes.
    pub(crate) async fn write_plan(
        &self,
        task_ctx: Arc<datafusion::execution::TaskContext>,
        state: &ClusterState,
        table: &TableState,
        physical: Arc<dyn ExecutionPlan>,
        shape: WriteShape,
        qid: &str,
    ) -> Result<Written> {
        // An UPDATE or DELETE whose rows to replace come out of a join (FROM, USING) can
        // meet one target row several times, on several nodes: the leader sees them all
        // and replaces each row once.
        if let Some(gather) = physical.downcast_ref::<GatherExec>()
            && (shape.row_ids.is_none() || !moves_rows(gather.stage()))
        {
            return self
                .write_stage(task_ctx, state, table, gather, shape, qid)
                .await;
        }
        let input = execute_stream(physical, task_ctx)?;
        match shape.row_ids {
            None => {
                let values = shape.values;
                let rows = input.map(move |b| Ok(b?.project(&values)?));
                let schema = table.def.query_schema();
                let stream: SendableRecordBatchStream = Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, rows),
                );
                let (data, rows) = self.write_rows(state, table, stream).await?;
                Ok(Written {
                    data,
                    rows,
                    replaced: 0,
                })
            }
            Some(ids) => {
                self.replace_on_leader(state, table, input, shape.values, ids)
                    .await
            }
        }
    }

    /// The write stage over a gathered stage: the same stage with a `WriteExec` on top,
    /// gathered (its answers are block metadata).
    pub(crate) fn write_stage_plan(
        &self,
        state: &ClusterState,
        table: &TableState,
        gather: &GatherExec,
        shape: WriteShape,
        qid: &str,
    ) -> Arc<GatherExec> {
        let spec = WriteSpec {
            query_id: qid.to_string(),
            table: table.def.clone(),
            topology: state.topology,
            nodes: self.cluster.addrs(),
            timeout_secs: self.config.node_timeout_secs,
            even_start: table.data.even_cursor,
            values: shape.values,
            replaces: shape.row_ids.map(|row_ids| Replaces {
                row_ids,
                blocks: table
                    .data
                    .slices
                    .iter()
                    .map(|(s, m)| (*s, m.blocks.clone()))
                    .collect(),
            }),
        };
        let stage = Arc::new(WriteExec::new(Arc::clone(gather.stage()), spec));
        Arc::new(GatherExec::new(
            stage,
            gather.stage_id(),
            gather.slices().to_vec(),
            Arc::clone(&self.cluster),
            gather.query_id().to_string(),
        ))
    }

    async fn write_stage(
        &self,
        task_ctx: Arc<datafusion::execution::TaskContext>,
        state: &ClusterState,
        table: &TableState,
        gather: &GatherExec,
        shape: WriteShape,
        qid: &str,
    ) -> Result<Written> {
        let plan = self.write_stage_plan(state, table, gather, shape, qid);
        let partitions = plan.slices().len();
        let mut answers = execute_stream(plan, task_ctx)?;
        let mut answered = 0;
        let mut data = (*table.data).clone();
        let mut written = 0;
        let mut replaced = 0;
        while let Some(batch) = answers.next().await {
            for outcome in WriteExec::outcomes(&batch?)? {
                answered += 1;
                written += outcome.rows;
                replaced += outcome.replaced;
                for (slice, blocks) in outcome.blocks {
                    data.slices.entry(slice).or_default().blocks.extend(blocks);
                }
                for (slice, block, dv) in outcome.deletes {
                    let meta = data
                        .slices
                        .get_mut(&slice)
                        .and_then(|m| m.blocks.get_mut(block as usize))
                        .ok_or_else(|| {
                            Error::Internal(format!(
                                "block #{block} is not in slice {slice} of table {}",
                                table.def.name
                            ))
                        })?;
                    meta.deletes = Some(dv);
                }
            }
        }
        // Every partition answers exactly once; one that did not would lose its blocks.
        if answered != partitions {
            return Err(Error::Internal(format!(
                "the write stage answered for {answered} of {partitions} slices"
            )));
        }
        data.even_cursor += written;
        Ok(Written {
            data,
            rows: written,
            replaced,
        })
    }

    /// UPDATE/DELETE whose rows reach the leader (a join in the input): ids are collected
    /// (a row matched twice is changed once) while the new rows stream on to the nodes;
    /// then the delete vectors are written.
    async fn replace_on_leader(
        &self,
        state: &ClusterState,
        table: &TableState,
        mut input: SendableRecordBatchStream,
        values: Vec<usize>,
        [si, bi, ri]: [usize; 3],
    ) -> Result<Written> {
        let (tx, rx) = mpsc::channel::<datafusion::error::Result<RecordBatch>>(4);
        let collect = async move {
            let mut positions: HashMap<(u32, u32), Vec<u64>> = HashMap::new();
            let mut seen = std::collections::HashSet::new();
            let mut replaced = 0u64;
            while let Some(batch) = input.next().await {
                let batch = batch?;
                let slices = batch.column(si).as_primitive::<Int32Type>();
                let blocks = batch.column(bi).as_primitive::<Int32Type>();
                let rows = batch.column(ri).as_primitive::<Int64Type>();
                let mut first = Vec::with_capacity(batch.num_rows());
                for i in 0..batch.num_rows() {
                    let id = (
                        slices.value(i) as u32,
                        blocks.value(i) as u32,
                        rows.value(i) as u64,
                    );
                    let new = seen.insert(id);
                    if new {
                        positions.entry((id.0, id.1)).or_default().push(id.2);
                        replaced += 1;
                    }
                    first.push(new);
                }
                if !values.is_empty() {
                    let keep = BooleanArray::from(first);
                    let rows = filter_record_batch(&batch.project(&values)?, &keep)?;
                    if tx.send(Ok(rows)).await.is_err() {
                        // The writer stopped; its error is reported below.
                        break;
                    }
                }
            }
            drop(tx);
            Ok::<_, Error>((positions, replaced))
        };
        let rows: SendableRecordBatchStream = Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                table.def.query_schema(),
                tokio_stream::wrappers::ReceiverStream::new(rx),
            ),
        );
        let (collected, written) = tokio::join!(collect, self.write_rows(state, table, rows));
        let (positions, replaced) = collected?;
        let (data, rows) = written?;
        let with_new_rows = TableState {
            def: table.def.clone(),
            data: Arc::new(data),
        };
        let data = self.apply_deletes(&with_new_rows, positions).await?;
        Ok(Written {
            data,
            rows,
            replaced,
        })
    }
}
