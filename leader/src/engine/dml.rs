//! INSERT, DELETE and UPDATE: DELETE/UPDATE find rows by id with a scan that carries
//! `(slice, block, row)`, then write delete vectors on the owning nodes.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use blueshift_compute::DeleteRowsRequest;
use blueshift_storage::{ROW_BLOCK, ROW_POS, ROW_SLICE, TableData};
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{DmlStatement, LogicalPlan, WriteOp};
use datafusion::sql::sqlparser::ast::{self, Statement};
use futures::StreamExt;

use super::*;
use crate::catalog::TableState;
use crate::error::{Error, Result};
use crate::schema::WriteTarget;

impl Engine {
    pub(crate) async fn dml(
        &self,
        session: &Session,
        stmt: Statement,
        params: Option<&ParamValues>,
        qid: &str,
    ) -> Result<Output> {
        let guard = self.catalog.begin_write().await;
        let state = self.catalog.pin();
        session.schema.pin(Arc::clone(&state));
        session.schema.set_write_target(dml_target(&stmt));
        let plan = self.plan(session, stmt, params).await;
        session.schema.set_write_target(None);
        let LogicalPlan::Dml(DmlStatement {
            table_name,
            op,
            input,
            ..
        }) = plan?
        else {
            return Err(Error::NotSupported("unsupported data modification".into()));
        };
        let name = table_name.table().to_string();
        let table = state.table(&name)?.clone();
        let mut next = (*state).clone();
        let (tag, rows, new_table) = match op {
            WriteOp::Insert(_) => {
                let stream = self.stream(session, &input, qid).await?;
                let (data, n) = self.write_rows(&next, &table, stream).await?;
                let t = TableState {
                    def: table.def.clone(),
                    data: Arc::new(data),
                };
                ("INSERT", n, self.maybe_leave_auto_all(&next, t, qid).await?)
            }
            WriteOp::Delete => {
                let ids = self.row_ids_of(session, &input, qid, &[]).await?;
                let n = ids.rows;
                let data = self.apply_deletes(&table, ids.positions).await?;
                (
                    "DELETE",
                    n,
                    TableState {
                        def: table.def.clone(),
                        data: Arc::new(data),
                    },
                )
            }
            WriteOp::Update => {
                let ncols = table.def.columns.len();
                let ids = self
                    .row_ids_of(session, &input, qid, &(0..ncols).collect::<Vec<_>>())
                    .await?;
                let n = ids.rows;
                let data = self.apply_deletes(&table, ids.positions).await?;
                let deleted = TableState {
                    def: table.def.clone(),
                    data: Arc::new(data),
                };
                let schema = table.def.schema();
                let batches = ids.values;
                let stream: SendableRecordBatchStream = Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                        Arc::clone(&schema),
                        futures::stream::iter(batches.into_iter().map(Ok)),
                    ),
                );
                let (data, _) = self.write_rows(&next, &deleted, stream).await?;
                (
                    "UPDATE",
                    n,
                    TableState {
                        def: table.def.clone(),
                        data: Arc::new(data),
                    },
                )
            }
            other => return Err(Error::NotSupported(format!("{other} is not supported"))),
        };
        next.tables.insert(name, new_table);
        self.catalog.commit(&guard, next)?;
        Ok(Output::Command {
            tag: tag.into(),
            rows: Some(rows),
        })
    }
    /// Runs the DELETE/UPDATE input plan and collects the row ids it selects (and, for
    /// UPDATE, the new values of each table column).
    pub(crate) async fn row_ids_of(
        &self,
        session: &Session,
        input: &LogicalPlan,
        qid: &str,
        value_cols: &[usize],
    ) -> Result<RowIds> {
        let mut stream = self.stream(session, input, qid).await?;
        let schema = stream.schema();
        let idx = |n: &str| schema.index_of(n).map_err(|e| Error::DataFusion(e.into()));
        let (si, bi, ri) = (idx(ROW_SLICE)?, idx(ROW_BLOCK)?, idx(ROW_POS)?);
        let mut out = RowIds::default();
        let mut seen = std::collections::HashSet::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let slices = batch
                .column(si)
                .as_primitive::<arrow::datatypes::Int32Type>();
            let blocks = batch
                .column(bi)
                .as_primitive::<arrow::datatypes::Int32Type>();
            let rows = batch
                .column(ri)
                .as_primitive::<arrow::datatypes::Int64Type>();
            // A row matched twice (UPDATE ... FROM with a fan-out join) is changed once.
            let mut first = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                let id = (
                    slices.value(i) as u32,
                    blocks.value(i) as u32,
                    rows.value(i) as u64,
                );
                let new = seen.insert(id);
                if new {
                    out.positions.entry((id.0, id.1)).or_default().push(id.2);
                    out.rows += 1;
                }
                first.push(new);
            }
            if !value_cols.is_empty() {
                let keep = arrow::array::BooleanArray::from(first);
                out.values.push(arrow::compute::filter_record_batch(
                    &batch.project(value_cols)?,
                    &keep,
                )?);
            }
        }
        Ok(out)
    }
    pub(crate) async fn apply_deletes(
        &self,
        table: &TableState,
        positions: HashMap<(u32, u32), Vec<u64>>,
    ) -> Result<TableData> {
        let mut data = (*table.data).clone();
        let topo = self.cluster.topology;
        for ((slice, block), rows) in positions {
            // A DISTSTYLE ALL table has identical blocks on every node's copy slice.
            let targets: Vec<u32> = if table.def.dist_style.is_all() {
                (0..topo.nodes).map(|n| topo.all_copy_slice(n)).collect()
            } else {
                vec![slice]
            };
            for target in targets {
                let manifest = data.slices.get_mut(&target).ok_or_else(|| {
                    Error::Io(format!(
                        "slice {target} of table {} has no manifest",
                        table.def.name
                    ))
                })?;
                let meta = manifest.blocks.get_mut(block as usize).ok_or_else(|| {
                    Error::Io(format!(
                        "block #{block} is not in slice {target} of table {}",
                        table.def.name
                    ))
                })?;
                let dv = self
                    .cluster
                    .client_for_slice(target)
                    .delete_rows(&DeleteRowsRequest {
                        slice: target,
                        block: meta.clone(),
                        rows: rows.clone(),
                    })
                    .await?;
                meta.deletes = Some(dv);
            }
        }
        Ok(data)
    }
}

#[derive(Default)]
pub(crate) struct RowIds {
    rows: u64,
    /// (slice, block position in the slice manifest) → row positions.
    positions: HashMap<(u32, u32), Vec<u64>>,
    values: Vec<RecordBatch>,
}
/// The table a DML statement writes, and whether its scans need row ids.
pub(crate) fn dml_target(stmt: &Statement) -> Option<WriteTarget> {
    let (name, row_ids) = match stmt {
        Statement::Insert(i) => match &i.table {
            ast::TableObject::TableName(name) => (name, false),
            _ => return None,
        },
        Statement::Delete(d) => {
            let tables = match &d.from {
                ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
            };
            match tables.first().map(|t| &t.relation) {
                Some(ast::TableFactor::Table { name, .. }) => (name, true),
                _ => return None,
            }
        }
        Statement::Update(u) => match &u.table.relation {
            ast::TableFactor::Table { name, .. } => (name, true),
            _ => return None,
        },
        _ => return None,
    };
    Some(WriteTarget {
        table: table_name(name).ok()?,
        row_ids,
    })
}
