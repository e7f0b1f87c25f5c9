//! INSERT, DELETE and UPDATE: DELETE/UPDATE find rows by id with a scan that carries
//! `(slice, block, row)`, then write delete vectors on the owning nodes.

use std::collections::HashMap;
use std::sync::Arc;

use blueshift_compute::DeleteRowsRequest;
use blueshift_storage::{ROW_BLOCK, ROW_POS, ROW_SLICE, TableData};
use datafusion::common::ParamValues;
use datafusion::logical_expr::{DmlStatement, LogicalPlan, WriteOp};
use datafusion::sql::sqlparser::ast::{self, Statement};

use super::write::WriteShape;
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
        let state = session.read_state(&self.catalog);
        session.schema.pin(Arc::clone(&state));
        let writing = session.schema.writing(dml_target(session, &stmt));
        let plan = self.plan(session, stmt, params).await;
        drop(writing);
        let LogicalPlan::Dml(DmlStatement {
            table_name,
            op,
            input,
            ..
        }) = plan?
        else {
            return Err(Error::NotSupported("unsupported data modification".into()));
        };
        let name = crate::schema::key_of(&table_name);
        let table = state.table(&name)?.clone();
        let next = (*state).clone();
        let (tag, shape) = write_shape(&op, &input, &table.def)?;
        let physical = self.physical(session, &input, qid).await?;
        let written = self
            .write_plan(session.ctx.task_ctx(), &next, &table, physical, shape, qid)
            .await?;
        let rows = if tag == "INSERT" {
            written.rows
        } else {
            written.replaced
        };
        let new_table = TableState {
            def: table.def.clone(),
            data: Arc::new(written.data),
        };
        let new_table = if tag == "INSERT" {
            let new_table = self.maybe_leave_auto_all(&next, new_table, qid).await?;
            self.analyzed_if_new(&next, table.data.live_rows(), new_table, None, qid)
                .await?
        } else {
            new_table
        };
        let mut next = next;
        next.tables.insert(name.clone(), new_table);
        self.finish_write(session, &guard, next, &[name], false)
            .await?;
        Ok(Output::Command {
            tag: tag.into(),
            rows: Some(rows),
        })
    }
    pub(crate) async fn apply_deletes(
        &self,
        table: &TableState,
        positions: HashMap<(u32, u32), Vec<u64>>,
    ) -> Result<TableData> {
        let mut data = (*table.data).clone();
        let topo = self.cluster.topology;
        for ((slice, block), rows) in positions {
            let scanned = data
                .slices
                .get(&slice)
                .and_then(|m| m.blocks.get(block as usize))
                .map(|b| b.id.clone());
            for target in topo.copies_of(&table.def, slice) {
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
                // Row positions mean the same rows only in an identical copy (same id).
                if Some(&meta.id) != scanned.as_ref() {
                    return Err(Error::Internal(format!(
                        "the copies of table {} differ at block #{block} (slices {slice} and \
                         {target}); rewrite the table (CREATE TABLE AS) before changing rows",
                        table.def.name
                    )));
                }
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

/// The table a DML statement writes, and whether its scans need row ids.
pub(crate) fn dml_target(session: &Session, stmt: &Statement) -> Option<WriteTarget> {
    use crate::access::Privilege;
    let (name, row_ids, privilege, reads) = match stmt {
        Statement::Insert(i) => match &i.table {
            ast::TableObject::TableName(name) => (name, false, Privilege::Insert, false),
            _ => return None,
        },
        Statement::Delete(d) => {
            let tables = match &d.from {
                ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
            };
            match tables.first().map(|t| &t.relation) {
                Some(ast::TableFactor::Table { name, .. }) => {
                    (name, true, Privilege::Delete, d.selection.is_some())
                }
                _ => return None,
            }
        }
        Statement::Update(u) => match &u.table.relation {
            ast::TableFactor::Table { name, .. } => {
                // SET from anything but constants reads the table's values.
                let reads = u.selection.is_some()
                    || u.assignments
                        .iter()
                        .any(|a| !matches!(a.value, ast::Expr::Value(_)));
                (name, true, Privilege::Update, reads)
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(WriteTarget {
        table: session
            .resolve(&session.schema.pinned(), name, false)
            .ok()?,
        row_ids,
        privilege,
        reads,
    })
}

/// A DML statement's command tag, and where its rows are in its input plan.
pub(crate) fn write_shape(
    op: &WriteOp,
    input: &LogicalPlan,
    def: &blueshift_storage::table::TableDef,
) -> Result<(&'static str, WriteShape)> {
    let schema = input.schema();
    let row_ids = || -> Result<[usize; 3]> {
        let idx = |n: &str| {
            schema
                .index_of_column_by_name(None, n)
                .ok_or_else(|| Error::Internal(format!("{n} missing from the plan")))
        };
        Ok([idx(ROW_SLICE)?, idx(ROW_BLOCK)?, idx(ROW_POS)?])
    };
    Ok(match op {
        WriteOp::Insert(_) => (
            "INSERT",
            WriteShape {
                values: (0..schema.fields().len()).collect(),
                row_ids: None,
            },
        ),
        WriteOp::Update => (
            "UPDATE",
            WriteShape {
                values: (0..def.columns.len()).collect(),
                row_ids: Some(row_ids()?),
            },
        ),
        WriteOp::Delete => (
            "DELETE",
            WriteShape {
                values: vec![],
                row_ids: Some(row_ids()?),
            },
        ),
        other => return Err(Error::NotSupported(format!("{other} is not supported"))),
    })
}
