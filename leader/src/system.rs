//! System views, built from the pinned catalog state when a query names them:
//! `stv_slices`, `stv_tbl_perm` (rows and blocks per table per slice), `svv_table_info`,
//! `stl_query`, `stl_load_errors` (rows COPY rejected) and `stv_load_state` (COPYs running).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::MemTable;
use datafusion::datasource::TableProvider;

use crate::catalog::ClusterState;
use crate::query_log::QueryLog;

pub const NAMES: &[&str] = &[
    "stv_slices",
    "stv_tbl_perm",
    "svv_table_info",
    "stl_query",
    "stl_load_errors",
    "stv_load_state",
];

pub fn table(name: &str, state: &ClusterState, log: &QueryLog) -> Option<Arc<dyn TableProvider>> {
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = match name {
        "stv_slices" => {
            let topo = state.topology;
            let slices: Vec<u32> = (0..topo.total_slices()).collect();
            (
                vec![
                    Field::new("node", DataType::Int32, false),
                    Field::new("slice", DataType::Int32, false),
                    Field::new("localslice", DataType::Int32, false),
                ],
                vec![
                    Arc::new(Int32Array::from_iter_values(
                        slices.iter().map(|s| topo.node_of(*s) as i32),
                    )),
                    Arc::new(Int32Array::from_iter_values(
                        slices.iter().map(|s| *s as i32),
                    )),
                    Arc::new(Int32Array::from_iter_values(
                        slices.iter().map(|s| (s % topo.slices_per_node) as i32),
                    )),
                ],
            )
        }
        "stv_tbl_perm" => {
            let mut rows: Vec<(u32, u64, String, u64, u64)> = Vec::new();
            for t in state.tables.values() {
                for slice in 0..state.topology.total_slices() {
                    let blocks = t
                        .data
                        .slices
                        .get(&slice)
                        .map_or(0, |m| m.blocks.len() as u64);
                    rows.push((
                        slice,
                        t.def.id,
                        t.def.name.clone(),
                        t.data.slice_rows(slice),
                        blocks,
                    ));
                }
            }
            (
                vec![
                    Field::new("slice", DataType::Int32, false),
                    Field::new("id", DataType::Int64, false),
                    Field::new("name", DataType::Utf8, false),
                    Field::new("rows", DataType::Int64, false),
                    Field::new("blocks", DataType::Int64, false),
                ],
                vec![
                    Arc::new(Int32Array::from_iter_values(
                        rows.iter().map(|r| r.0 as i32),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        rows.iter().map(|r| r.1 as i64),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r.2.clone()),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        rows.iter().map(|r| r.3 as i64),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        rows.iter().map(|r| r.4 as i64),
                    )),
                ],
            )
        }
        "svv_table_info" => {
            let tables: Vec<_> = state.tables.values().collect();
            (
                vec![
                    Field::new("database", DataType::Utf8, false),
                    Field::new("schema", DataType::Utf8, false),
                    Field::new("table_id", DataType::Int64, false),
                    Field::new("table", DataType::Utf8, false),
                    Field::new("diststyle", DataType::Utf8, false),
                    Field::new("sortkey1", DataType::Utf8, true),
                    Field::new("tbl_rows", DataType::Int64, false),
                    Field::new("size", DataType::Float64, false),
                    Field::new("blocks", DataType::Int64, false),
                ],
                vec![
                    Arc::new(StringArray::from_iter_values(tables.iter().map(|_| "dev"))),
                    Arc::new(StringArray::from_iter_values(
                        tables.iter().map(|_| "public"),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        tables.iter().map(|t| t.def.id as i64),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        tables.iter().map(|t| t.def.name.clone()),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        tables
                            .iter()
                            .map(|t| t.def.dist_style.display(t.def.dist_key_name())),
                    )),
                    Arc::new(StringArray::from_iter(tables.iter().map(|t| {
                        t.def
                            .sort_key
                            .first()
                            .map(|&i| t.def.columns[i].name.clone())
                    }))),
                    Arc::new(Int64Array::from_iter_values(
                        tables
                            .iter()
                            .map(|t| t.data.logical_rows(t.def.dist_style.is_all()) as i64),
                    )),
                    // Size in MB, as Redshift reports it.
                    Arc::new(Float64Array::from_iter_values(
                        tables
                            .iter()
                            .map(|t| t.data.bytes() as f64 / (1024.0 * 1024.0)),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        tables.iter().map(|t| t.data.block_count() as i64),
                    )),
                ],
            )
        }
        "stl_query" => {
            let q = log.snapshot();
            let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
            (
                vec![
                    Field::new("query", DataType::Int64, false),
                    Field::new("pid", DataType::Int32, false),
                    Field::new("username", DataType::Utf8, false),
                    Field::new("querytxt", DataType::Utf8, false),
                    Field::new("starttime", ts.clone(), false),
                    Field::new("endtime", ts, true),
                    Field::new("rows", DataType::Int64, false),
                    Field::new("status", DataType::Utf8, false),
                    Field::new("error", DataType::Utf8, true),
                ],
                vec![
                    Arc::new(Int64Array::from_iter_values(
                        q.iter().map(|r| r.query as i64),
                    )),
                    Arc::new(Int32Array::from_iter_values(q.iter().map(|r| r.pid))),
                    Arc::new(StringArray::from_iter_values(
                        q.iter().map(|r| r.user.clone()),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        q.iter().map(|r| r.text.clone()),
                    )),
                    Arc::new(TimestampMicrosecondArray::from_iter_values(
                        q.iter().map(|r| r.start),
                    )),
                    Arc::new(TimestampMicrosecondArray::from_iter(
                        q.iter().map(|r| r.end),
                    )),
                    Arc::new(Int64Array::from_iter_values(q.iter().map(|r| r.rows))),
                    Arc::new(StringArray::from_iter_values(q.iter().map(|r| r.status))),
                    Arc::new(StringArray::from_iter(q.iter().map(|r| r.error.clone()))),
                ],
            )
        }
        "stl_load_errors" => {
            let e = log.loads.errors();
            let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
            (
                vec![
                    Field::new("userid", DataType::Utf8, false),
                    Field::new("session", DataType::Int32, false),
                    Field::new("query", DataType::Int64, false),
                    Field::new("starttime", ts, false),
                    Field::new("filename", DataType::Utf8, false),
                    Field::new("line_number", DataType::Int64, false),
                    Field::new("colname", DataType::Utf8, false),
                    Field::new("type", DataType::Utf8, false),
                    Field::new("raw_field_value", DataType::Utf8, false),
                    Field::new("err_code", DataType::Int32, false),
                    Field::new("err_reason", DataType::Utf8, false),
                ],
                vec![
                    Arc::new(StringArray::from_iter_values(
                        e.iter().map(|r| r.user.clone()),
                    )),
                    Arc::new(Int32Array::from_iter_values(e.iter().map(|r| r.pid))),
                    Arc::new(Int64Array::from_iter_values(
                        e.iter().map(|r| r.query as i64),
                    )),
                    Arc::new(TimestampMicrosecondArray::from_iter_values(
                        e.iter().map(|r| r.time),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        e.iter().map(|r| r.reject.file.clone()),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        e.iter().map(|r| r.reject.line as i64),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        e.iter().map(|r| r.reject.column.clone()),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        e.iter().map(|r| r.reject.column_type.clone()),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        e.iter().map(|r| r.reject.raw_value.clone()),
                    )),
                    Arc::new(Int32Array::from_iter_values(
                        e.iter().map(|r| r.reject.code as i32),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        e.iter().map(|r| r.reject.reason.clone()),
                    )),
                ],
            )
        }
        "stv_load_state" => {
            let loads = log.loads.running();
            let totals: Vec<(u64, u64, u64)> = loads.iter().map(|l| l.totals()).collect();
            let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
            (
                vec![
                    Field::new("query", DataType::Int64, false),
                    Field::new("session", DataType::Int32, false),
                    Field::new("table_name", DataType::Utf8, false),
                    Field::new("starttime", ts, false),
                    Field::new("files", DataType::Int64, false),
                    Field::new("tasks", DataType::Int64, false),
                    Field::new("tasks_done", DataType::Int64, false),
                    Field::new("bytes_to_load", DataType::Int64, false),
                    Field::new("bytes_loaded", DataType::Int64, false),
                    Field::new("rows_parsed", DataType::Int64, false),
                    Field::new("pct_complete", DataType::Float64, false),
                ],
                vec![
                    Arc::new(Int64Array::from_iter_values(
                        loads.iter().map(|l| l.query as i64),
                    )),
                    Arc::new(Int32Array::from_iter_values(loads.iter().map(|l| l.pid))),
                    Arc::new(StringArray::from_iter_values(
                        loads.iter().map(|l| l.table.clone()),
                    )),
                    Arc::new(TimestampMicrosecondArray::from_iter_values(
                        loads.iter().map(|l| l.start),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        loads.iter().map(|l| l.files as i64),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        loads.iter().map(|l| l.tasks as i64),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        totals.iter().map(|t| t.2 as i64),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        loads.iter().map(|l| l.bytes_total as i64),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        totals.iter().map(|t| t.0 as i64),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        totals.iter().map(|t| t.1 as i64),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        loads.iter().zip(&totals).map(|(l, t)| {
                            if l.bytes_total == 0 {
                                0.0
                            } else {
                                (100.0 * t.0 as f64 / l.bytes_total as f64).min(100.0)
                            }
                        }),
                    )),
                ],
            )
        }
        _ => return None,
    };
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).ok()?;
    MemTable::try_new(schema, vec![vec![batch]])
        .ok()
        .map(|t| Arc::new(t) as Arc<dyn TableProvider>)
}
