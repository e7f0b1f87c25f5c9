//! `ANALYZE [VERBOSE] [table [(column, …)]] [PREDICATE COLUMNS | ALL COLUMNS]`: records a
//! table's statistics (`blueshift_storage::TableStats`) in its data, in one commit.
//!
//! ```text
//!  zone maps (no scan) ─────────────► min, max, null count per column
//!  one distributed query over the table:
//!    slices: approx_distinct(col) partial HLL, avg(octet_length) ─► leader: merge
//!  row count, the blocks read ──────► staleness later (`svv_table_info.stats_off`)
//! ```
//!
//! COPY into an empty table (or with `STATUPDATE ON`) and INSERT into an empty table
//! record the figures of what they wrote in the same commit, as Redshift does.

use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array};
use arrow::datatypes::DataType;
use blueshift_storage::{BlockTable, ColumnStats, TableStats, zone_map_ranges};
use datafusion::datasource::TableProvider;
use datafusion::functions_aggregate::expr_fn::{approx_distinct, avg, count};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast};
use datafusion::prelude::{SessionConfig, SessionContext, ident, lit};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::copy::sql::Tokens;
use super::*;
use crate::catalog::{ClusterState, TableState};
use crate::error::{Error, Result};
use crate::stages;

#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeStatement {
    /// None: every table the user owns.
    pub table: Option<String>,
    /// Empty: every column.
    pub columns: Vec<String>,
    pub verbose: bool,
}

/// The statement, when `sql` is an ANALYZE.
pub fn parse(sql: &str) -> Option<Result<AnalyzeStatement>> {
    let first = sql.split_whitespace().next()?.to_ascii_uppercase();
    if first != "ANALYZE" && first != "ANALYSE" {
        return None;
    }
    Some(parse_tokens(sql))
}

fn parse_tokens(sql: &str) -> Result<AnalyzeStatement> {
    let mut t = Tokens::new(sql)?;
    t.next();
    if t.peek_word().as_deref() == Some("COMPRESSION") {
        return Err(Error::NotSupported(
            "ANALYZE COMPRESSION: blocks keep the codec each column's ENCODE chose (LZ4 unless ZSTD)".into(),
        ));
    }
    let verbose = t.eat_word("VERBOSE");
    let mut stmt = AnalyzeStatement {
        table: None,
        columns: vec![],
        verbose,
    };
    let columns_clause = |t: &mut Tokens| {
        (t.peek_word().as_deref() == Some("PREDICATE") || t.peek_word().as_deref() == Some("ALL"))
            && {
                t.next();
                t.expect_word("COLUMNS").is_ok()
            }
    };
    if !t.done() && !columns_clause(&mut t) {
        stmt.table = Some(t.object_name()?);
        if t.eat(&Token::LParen) {
            stmt.columns = t.ident_list()?;
        }
        // Predicate columns are not tracked: every column is analyzed, as Redshift does
        // for a table without any.
        columns_clause(&mut t);
    }
    if !t.done() {
        return Err(t.unexpected("expected a table name, a column list or the end"));
    }
    Ok(stmt)
}

impl Engine {
    pub(crate) async fn analyze(
        &self,
        session: &Session,
        stmt: AnalyzeStatement,
        qid: &str,
    ) -> Result<Output> {
        let state = session.read_state(&self.catalog);
        let names: Vec<String> = match &stmt.table {
            Some(written) => {
                let name = session.resolve_written(&state, written, false)?;
                if state.views.contains_key(&name) {
                    return Err(Error::WrongObjectType {
                        name,
                        is: "a view",
                        hint: "ANALYZE takes tables.",
                    });
                }
                state.require_owner(&session.user, &name)?;
                vec![name]
            }
            None => {
                let mine = session.temp_schema();
                state
                    .tables
                    .keys()
                    .filter(|name| {
                        let schema = crate::schema::split_key(name).0;
                        !schema.starts_with(crate::schema::TEMP_PREFIX) || schema == mine
                    })
                    .filter(|name| state.require_owner(&session.user, name).is_ok())
                    .cloned()
                    .collect()
            }
        };
        let mut found = Vec::new();
        for name in names {
            let table = state.table(&name)?;
            let stats = self.table_stats(&state, table, &stmt.columns, qid).await?;
            if stmt.verbose {
                session.notice(&format!(
                    "analyzed \"{name}\": {} rows, {} columns",
                    stats.rows,
                    stats.columns.len()
                ));
            }
            found.push((name, table.def.id, stats));
        }
        let guard = self.catalog.begin_write().await;
        let mut next = (*session.read_state(&self.catalog)).clone();
        let mut touched = Vec::new();
        for (name, id, stats) in found {
            // A table dropped meanwhile is left alone; one written meanwhile takes the
            // figures, whose block list shows what changed since.
            if let Some(t) = next.tables.get_mut(&name)
                && t.def.id == id
            {
                let mut data = (*t.data).clone();
                data.stats = Some(Arc::new(stats));
                t.data = Arc::new(data);
                touched.push(name);
            }
        }
        // Nothing analyzed (no table the user owns): no new catalog version.
        if !touched.is_empty() {
            self.finish_write(session, &guard, next, &touched, false)
                .await?;
        }
        Ok(Output::Command {
            tag: "ANALYZE".into(),
            rows: None,
        })
    }

    /// A write's new `table` with the figures of what it holds, taken before the write
    /// commits so they arrive with it: when the write filled an empty table (Redshift's
    /// default), or always / never as COPY's `STATUPDATE ON|OFF` says.
    pub(crate) async fn analyzed_if_new(
        &self,
        state: &ClusterState,
        rows_before: u64,
        table: TableState,
        statupdate: Option<bool>,
        qid: &str,
    ) -> Result<TableState> {
        let take = statupdate.unwrap_or(rows_before == 0);
        if !take || table.data.live_rows() == 0 {
            return Ok(table);
        }
        // The write stands without them: a failure here is only logged.
        let stats = match self.table_stats(state, &table, &[], qid).await {
            Ok(stats) => stats,
            Err(e) => {
                tracing::warn!(table = %table.def.name, "statistics not taken: {}", e.user_message());
                return Ok(table);
            }
        };
        let mut data = (*table.data).clone();
        data.stats = Some(Arc::new(stats));
        Ok(TableState {
            def: table.def,
            data: Arc::new(data),
        })
    }

    /// The statistics of `table` as `state` holds it: ranges and null counts from its zone
    /// maps, distinct counts and widths from one query over its slices. Only `columns`
    /// (all when empty) are taken again; the others keep what was recorded before.
    pub(crate) async fn table_stats(
        &self,
        state: &ClusterState,
        table: &TableState,
        columns: &[String],
        qid: &str,
    ) -> Result<TableStats> {
        let def = &table.def;
        let wanted: Vec<usize> = if columns.is_empty() {
            (0..def.columns.len()).collect()
        } else {
            columns
                .iter()
                .map(|c| {
                    def.columns
                        .iter()
                        .position(|d| d.name == *c)
                        .ok_or_else(|| Error::UndefinedColumn { column: c.clone() })
                })
                .collect::<Result<_>>()?
        };
        let source = BlockTable::new(def.clone(), Arc::clone(&table.data), state.topology);
        let schema = source.schema();
        let types: Vec<DataType> = (0..def.columns.len())
            .map(|i| schema.field(i).data_type().clone())
            .collect();
        let full_copies = def.dist_style.is_all();
        let ranges = zone_map_ranges(&table.data, &types, full_copies);
        let is_text = |dt: &DataType| {
            matches!(
                dt,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Binary
            )
        };
        let mut aggregates: Vec<Expr> = vec![count(lit(1)).alias("n")];
        for &i in &wanted {
            let column = ident(def.columns[i].name.clone());
            if !arrow::compute::can_cast_types(&types[i], &DataType::Utf8) {
                continue;
            }
            // HyperLogLog hashes these types natively; others are counted by their text.
            let native = matches!(
                types[i],
                DataType::Boolean
                    | DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32
                    | DataType::UInt64
                    | DataType::Date32
                    | DataType::Date64
                    | DataType::Timestamp(_, _)
                    | DataType::Decimal128(_, _)
                    | DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Binary
            );
            let counted = if native {
                column.clone()
            } else {
                cast(column.clone(), DataType::Utf8)
            };
            aggregates.push(approx_distinct(counted).alias(format!("d{i}")));
            if is_text(&types[i]) {
                let width = datafusion::functions::expr_fn::octet_length(column);
                aggregates.push(avg(width).alias(format!("w{i}")));
            }
        }
        let plan = LogicalPlanBuilder::scan(
            def.name.clone(),
            datafusion::datasource::provider_as_source(Arc::new(source)),
            None,
        )?
        .aggregate(Vec::<Expr>::new(), aggregates)?
        .build()?;
        let ctx = SessionContext::new_with_config_rt(
            SessionConfig::new().with_target_partitions(state.topology.total_slices() as usize),
            Arc::clone(&self.runtime),
        );
        let physical = ctx.state().create_physical_plan(&plan).await?;
        let physical = stages::distribute(physical, &self.cluster, qid)?;
        let batches = datafusion::physical_plan::collect(physical, ctx.task_ctx()).await?;
        let batch = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .ok_or_else(|| Error::Internal("ANALYZE's query gave no row".into()))?;
        let value = |name: &str| batch.column_by_name(name).cloned();
        let mut stats = table
            .data
            .stats
            .as_deref()
            .cloned()
            .filter(|_| !columns.is_empty())
            .unwrap_or_default();
        for &i in &wanted {
            let distinct = value(&format!("d{i}"))
                .and_then(|a| {
                    a.as_any()
                        .downcast_ref::<arrow::array::UInt64Array>()
                        .map(|u| u.value(0))
                        .or_else(|| {
                            a.as_any()
                                .downcast_ref::<Int64Array>()
                                .map(|v| v.value(0) as u64)
                        })
                })
                .unwrap_or(0);
            let avg_width = match value(&format!("w{i}")) {
                Some(a) => a
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .filter(|f| !f.is_null(0))
                    .map_or(0, |f| f.value(0).round() as u32),
                None => types[i].primitive_width().unwrap_or(1) as u32,
            };
            let (min, max, nulls) = ranges[i].clone();
            stats.columns.insert(
                def.columns[i].name.clone(),
                ColumnStats {
                    distinct,
                    nulls,
                    min,
                    max,
                    avg_width,
                },
            );
        }
        stats.rows = table.data.logical_rows(full_copies);
        stats.blocks = TableStats::blocks_of(&table.data);
        stats.analyzed_at = chrono::Utc::now().timestamp_micros();
        Ok(stats)
    }
}
