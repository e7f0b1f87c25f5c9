//! System views, built from the pinned catalog state and the leader's logs when a query
//! names them. Each view is one function that lists its columns, name beside values, in one
//! place; an error while building a view reaches the user as that error.
//!
//! | view | from |
//! |---|---|
//! | `stv_slices` | topology |
//! | `stv_tbl_perm` | rows and blocks per table per slice |
//! | `svv_table_info` | one row per table (with `stats_off`: how stale its ANALYZE is) |
//! | `pg_stats` | per analyzed column: null fraction, width, distinct count, range |
//! | `svl_query_summary` | per query and network step: rows, bytes, time, spilled (asked of the nodes) |
//! | `stv_exec_state` | per stream the nodes serve now: query, step, node, slice, time so far |
//! | `stl_query` | statements run |
//! | `stl_load_errors` | rows COPY rejected |
//! | `stv_load_state` | COPYs running now |
//! | `svv_snapshots` | snapshots in every region, as last listed |
//! | `stl_snapshot_log` | snapshot operations |
//! | `svv_tables`, `svv_columns` | tables and views; table columns (AWS's drivers read these) |
//! | `svv_external_schemas`, `svv_external_tables`, `svv_external_columns` | none (no external tables) |

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::datasource::TableProvider;
use datafusion::error::Result;

use crate::catalog::ClusterState;
use crate::logs::SystemLogs;
use crate::schema::split_key;

type Build = fn(&ClusterState, &SystemLogs) -> Result<Vec<Column>>;

/// Every view, by name.
const VIEWS: &[(&str, Build)] = &[
    ("stv_slices", stv_slices),
    ("stv_tbl_perm", stv_tbl_perm),
    ("svv_table_info", svv_table_info),
    ("stl_query", stl_query),
    ("stl_load_errors", stl_load_errors),
    ("stv_load_state", stv_load_state),
    ("svv_snapshots", svv_snapshots),
    ("stl_snapshot_log", stl_snapshot_log),
    ("svv_tables", svv_tables),
    ("svv_columns", svv_columns),
    ("pg_table_def", pg_table_def),
    ("pg_stats", pg_stats),
    ("svl_query_summary", svl_query_summary),
    ("stv_exec_state", stv_exec_state),
    ("svv_external_schemas", svv_external_schemas),
    ("svv_external_tables", svv_external_tables),
    ("svv_external_columns", svv_external_columns),
];

pub fn is_view(name: &str) -> bool {
    VIEWS.iter().any(|(n, _)| *n == name)
}

/// Views that show what every user ran, by the column naming the user: a user who is not
/// a superuser sees their own rows only, as in Redshift.
const PER_USER: &[(&str, &str)] = &[
    ("stl_query", "username"),
    ("stl_load_errors", "userid"),
    ("svl_query_summary", "userid"),
    ("stv_exec_state", "userid"),
];

/// The view called `name` as `user` sees it now, or `None` if there is no such view.
pub fn table(
    name: &str,
    state: &ClusterState,
    logs: &SystemLogs,
    user: &str,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let Some((_, build)) = VIEWS.iter().find(|(n, _)| *n == name) else {
        return Ok(None);
    };
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = build(state, logs)?
        .into_iter()
        .map(|c| (c.field, c.values))
        .unzip();
    let schema = Arc::new(Schema::new(fields));
    let mut batch = RecordBatch::try_new(Arc::clone(&schema), arrays)?;
    if let Some((_, column)) = PER_USER.iter().find(|(n, _)| *n == name)
        && !state.is_superuser(user)
    {
        let users = batch
            .column_by_name(column)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .expect("the user column is text");
        let own =
            arrow::array::BooleanArray::from_iter(users.iter().map(|u| Some(u == Some(user))));
        batch = arrow::compute::filter_record_batch(&batch, &own)?;
    }
    Ok(Some(Arc::new(MemTable::try_new(
        schema,
        vec![vec![batch]],
    )?)))
}

/// One column of a view: its name and type come from the values.
struct Column {
    field: Field,
    values: ArrayRef,
}

fn col(name: &str, values: impl arrow::array::Array + 'static) -> Column {
    Column {
        field: Field::new(name, values.data_type().clone(), false),
        values: Arc::new(values),
    }
}

/// A column that may hold NULLs.
fn nullable(name: &str, values: impl arrow::array::Array + 'static) -> Column {
    let mut c = col(name, values);
    c.field = c.field.with_nullable(true);
    c
}

fn i32s(values: impl IntoIterator<Item = i32>) -> Int32Array {
    Int32Array::from_iter_values(values)
}

fn i64s(values: impl IntoIterator<Item = i64>) -> Int64Array {
    Int64Array::from_iter_values(values)
}

fn texts<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> StringArray {
    StringArray::from_iter_values(values)
}

fn times(values: impl IntoIterator<Item = i64>) -> TimestampMicrosecondArray {
    TimestampMicrosecondArray::from_iter_values(values)
}

fn stv_slices(state: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    let topo = state.topology;
    let slices: Vec<u32> = (0..topo.total_slices()).collect();
    Ok(vec![
        col("node", i32s(slices.iter().map(|s| topo.node_of(*s) as i32))),
        col("slice", i32s(slices.iter().map(|s| *s as i32))),
        col(
            "localslice",
            i32s(slices.iter().map(|s| (s % topo.slices_per_node) as i32)),
        ),
    ])
}

fn stv_tbl_perm(state: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    let mut rows: Vec<(u32, u64, &str, u64, u64)> = Vec::new();
    for t in state.tables.values() {
        for slice in 0..state.topology.total_slices() {
            let blocks = t
                .data
                .slices
                .get(&slice)
                .map_or(0, |m| m.blocks.len() as u64);
            let live = t.data.slice_rows(slice);
            rows.push((slice, t.def.id, &t.def.name, live, blocks));
        }
    }
    Ok(vec![
        col("slice", i32s(rows.iter().map(|r| r.0 as i32))),
        col("id", i64s(rows.iter().map(|r| r.1 as i64))),
        col("name", texts(rows.iter().map(|r| r.2))),
        col("rows", i64s(rows.iter().map(|r| r.3 as i64))),
        col("blocks", i64s(rows.iter().map(|r| r.4 as i64))),
    ])
}

fn svv_table_info(state: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    let tables: Vec<_> = state.tables.values().collect();
    let sortkey1 = tables.iter().map(|t| {
        t.def
            .sort_key
            .first()
            .map(|&i| t.def.columns[i].name.clone())
    });
    Ok(vec![
        col("database", texts(tables.iter().map(|_| "dev"))),
        col(
            "schema",
            texts(tables.iter().map(|t| split_key(&t.def.name).0)),
        ),
        col("table_id", i64s(tables.iter().map(|t| t.def.id as i64))),
        col(
            "table",
            texts(tables.iter().map(|t| split_key(&t.def.name).1)),
        ),
        col(
            "diststyle",
            texts(
                tables
                    .iter()
                    .map(|t| t.def.dist_style.display(t.def.dist_key_name())),
            ),
        ),
        nullable("sortkey1", StringArray::from_iter(sortkey1)),
        col(
            "tbl_rows",
            i64s(
                tables
                    .iter()
                    .map(|t| t.data.logical_rows(t.def.dist_style.is_all()) as i64),
            ),
        ),
        // Size in MB, as Redshift reports it.
        col(
            "size",
            Float64Array::from_iter_values(
                tables
                    .iter()
                    .map(|t| t.data.bytes() as f64 / (1024.0 * 1024.0)),
            ),
        ),
        col(
            "blocks",
            i64s(tables.iter().map(|t| t.data.block_count() as i64)),
        ),
        // 0: ANALYZE's figures are current; 100: missing or stale (Redshift's meaning).
        col(
            "stats_off",
            Float64Array::from_iter_values(tables.iter().map(|t| {
                let off = blueshift_storage::TableStats::stats_off(
                    t.data.stats.as_deref(),
                    &t.data,
                    t.def.dist_style.is_all(),
                );
                (off * 100.0).round() / 100.0
            })),
        ),
    ])
}

/// Redshift's `svl_query_summary`: per query and per network step of its plan, what the
/// nodes measured in the last 10 minutes. `seg` numbers the step within its run, `label`
/// says what it did: `return` (rows sent to the leader), `dist` (redistributed between
/// slices), `bcast` (broadcast to every node); times are microseconds; `rows` and
/// `bytes` are summed over the slices (bytes as sent over the network).
fn svl_query_summary(_: &ClusterState, logs: &SystemLogs) -> Result<Vec<Column>> {
    let figures = logs.figures.lock().expect("figures").clone();
    let users = users_by_query(logs);
    let mut steps: std::collections::BTreeMap<(i64, String), Vec<_>> = Default::default();
    for f in figures {
        if let Some(query) = f.query() {
            steps
                .entry((query, f.boundary.clone()))
                .or_default()
                .push(f);
        }
    }
    let rows: Vec<_> = steps.into_iter().collect();
    let sum = |fs: &Vec<blueshift_compute::telemetry::StreamFigures>,
               f: fn(&blueshift_compute::telemetry::StreamFigures) -> u64| {
        fs.iter().map(f).sum::<u64>() as i64
    };
    Ok(vec![
        col(
            "userid",
            texts(
                rows.iter()
                    .map(|((q, _), _)| users.get(q).map_or("", String::as_str)),
            ),
        ),
        col("query", i64s(rows.iter().map(|((q, _), _)| *q))),
        col("stm", i32s(rows.iter().map(|_| 0))),
        col("seg", i32s(rows.iter().map(|((_, b), _)| segment_of(b)))),
        col("step", i32s(rows.iter().map(|_| 0))),
        col(
            "maxtime",
            i64s(
                rows.iter()
                    .map(|(_, fs)| fs.iter().map(|f| f.micros).max().unwrap_or(0) as i64),
            ),
        ),
        col(
            "avgtime",
            i64s(rows.iter().map(|(_, fs)| {
                (fs.iter().map(|f| f.micros).sum::<u64>() / fs.len().max(1) as u64) as i64
            })),
        ),
        col("rows", i64s(rows.iter().map(|(_, fs)| sum(fs, |f| f.rows)))),
        col(
            "bytes",
            i64s(rows.iter().map(|(_, fs)| sum(fs, |f| f.bytes))),
        ),
        col(
            "label",
            texts(rows.iter().map(|(_, fs)| fs[0].label.as_str())),
        ),
        col(
            "is_diskbased",
            texts(rows.iter().map(|(_, fs)| {
                if fs.iter().any(|f| f.spilled) {
                    "t"
                } else {
                    "f"
                }
            })),
        ),
        col("streams", i32s(rows.iter().map(|(_, fs)| fs.len() as i32))),
    ])
}

/// Who ran each query the log still holds.
fn users_by_query(logs: &SystemLogs) -> std::collections::HashMap<i64, String> {
    logs.queries
        .snapshot()
        .into_iter()
        .map(|r| (r.query as i64, r.user))
        .collect()
}

/// The step a boundary (`<run>/s<n>`, `<run>/x<n>`, `<run>/x<n>k`) is within its run: `n`.
fn segment_of(boundary: &str) -> i32 {
    let last = boundary.rsplit('/').next().unwrap_or_default();
    // A key tap's streams (`x<n>k`) are a step of their exchange's.
    last.trim_start_matches(['s', 'x'])
        .trim_end_matches('k')
        .parse()
        .unwrap_or(0)
}

/// Redshift's `stv_exec_state`: one row per stream a compute node is serving at the moment
/// the view is read (a stage partition sending to the leader, or an exchange feeding a
/// consumer slice). `segment` numbers the step within its run as in `svl_query_summary`;
/// `elapsed` is microseconds so far. Empty when nothing runs: a query that ended, failed
/// or was cancelled leaves nothing behind.
fn stv_exec_state(_: &ClusterState, logs: &SystemLogs) -> Result<Vec<Column>> {
    let running = logs.running.lock().expect("running").clone();
    let users = users_by_query(logs);
    let rows: Vec<_> = running
        .iter()
        .filter_map(|f| f.query().map(|q| (q, f)))
        .collect();
    Ok(vec![
        col(
            "userid",
            texts(
                rows.iter()
                    .map(|(q, _)| users.get(q).map_or("", String::as_str)),
            ),
        ),
        col("query", i64s(rows.iter().map(|(q, _)| *q))),
        col("node", i32s(rows.iter().map(|(_, f)| f.node as i32))),
        col("slice", i32s(rows.iter().map(|(_, f)| f.partition as i32))),
        col(
            "segment",
            i32s(rows.iter().map(|(_, f)| segment_of(&f.boundary))),
        ),
        col("label", texts(rows.iter().map(|(_, f)| f.label.as_str()))),
        col("elapsed", i64s(rows.iter().map(|(_, f)| f.micros as i64))),
    ])
}

/// PostgreSQL's `pg_stats`, one row per column ANALYZE recorded: `n_distinct` is the
/// estimated count (never a negative fraction), `histogram_bounds` the column's least and
/// greatest value; no most-common values are kept.
fn pg_stats(state: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    let mut rows = Vec::new();
    for t in state.tables.values() {
        let Some(stats) = t.data.stats.as_deref() else {
            continue;
        };
        for c in &t.def.columns {
            if let Some(s) = stats.columns.get(&c.name) {
                rows.push((&t.def.name, &c.name, s, stats.rows));
            }
        }
    }
    let no_text = || StringArray::from_iter(rows.iter().map(|_| None::<&str>));
    let no_float = || Float64Array::from_iter(rows.iter().map(|_| None));
    Ok(vec![
        col("schemaname", texts(rows.iter().map(|r| split_key(r.0).0))),
        col("tablename", texts(rows.iter().map(|r| split_key(r.0).1))),
        col("attname", texts(rows.iter().map(|r| r.1.as_str()))),
        col(
            "inherited",
            arrow::array::BooleanArray::from_iter(rows.iter().map(|_| Some(false))),
        ),
        col(
            "null_frac",
            Float64Array::from_iter_values(
                rows.iter()
                    .map(|r| (r.2.nulls as f64 / r.3.max(1) as f64).min(1.0)),
            ),
        ),
        col("avg_width", i32s(rows.iter().map(|r| r.2.avg_width as i32))),
        col(
            "n_distinct",
            Float64Array::from_iter_values(rows.iter().map(|r| r.2.distinct as f64)),
        ),
        nullable("most_common_vals", no_text()),
        nullable("most_common_freqs", no_text()),
        nullable(
            "histogram_bounds",
            StringArray::from_iter(rows.iter().map(|r| match (&r.2.min, &r.2.max) {
                (Some(min), Some(max)) => Some(format!("{{{min},{max}}}")),
                _ => None,
            })),
        ),
        nullable("correlation", no_float()),
    ])
}

fn stl_query(_: &ClusterState, logs: &SystemLogs) -> Result<Vec<Column>> {
    let q = logs.queries.snapshot();
    Ok(vec![
        col("query", i64s(q.iter().map(|r| r.query as i64))),
        col("pid", i32s(q.iter().map(|r| r.pid))),
        col("username", texts(q.iter().map(|r| &r.user))),
        col("querytxt", texts(q.iter().map(|r| &r.text))),
        col("starttime", times(q.iter().map(|r| r.start))),
        nullable(
            "endtime",
            TimestampMicrosecondArray::from_iter(q.iter().map(|r| r.end)),
        ),
        col("rows", i64s(q.iter().map(|r| r.rows))),
        col("status", texts(q.iter().map(|r| r.status))),
        nullable(
            "error",
            StringArray::from_iter(q.iter().map(|r| r.error.clone())),
        ),
    ])
}

fn stl_load_errors(_: &ClusterState, logs: &SystemLogs) -> Result<Vec<Column>> {
    let e = logs.loads.errors();
    Ok(vec![
        col("userid", texts(e.iter().map(|r| &r.user))),
        col("session", i32s(e.iter().map(|r| r.pid))),
        col("query", i64s(e.iter().map(|r| r.query as i64))),
        col("starttime", times(e.iter().map(|r| r.time))),
        col("filename", texts(e.iter().map(|r| &r.reject.file))),
        col("line_number", i64s(e.iter().map(|r| r.reject.line as i64))),
        col("colname", texts(e.iter().map(|r| &r.reject.column))),
        col("type", texts(e.iter().map(|r| &r.reject.column_type))),
        col(
            "raw_field_value",
            texts(e.iter().map(|r| &r.reject.raw_value)),
        ),
        col("err_code", i32s(e.iter().map(|r| r.reject.code as i32))),
        col("err_reason", texts(e.iter().map(|r| &r.reject.reason))),
    ])
}

fn stv_load_state(_: &ClusterState, logs: &SystemLogs) -> Result<Vec<Column>> {
    let loads = logs.loads.running();
    // (bytes loaded, rows parsed, tasks done), summed over the nodes.
    let totals: Vec<(u64, u64, u64)> = loads.iter().map(|l| l.totals()).collect();
    let pct = loads.iter().zip(&totals).map(|(l, t)| {
        if l.bytes_total == 0 {
            0.0
        } else {
            (100.0 * t.0 as f64 / l.bytes_total as f64).min(100.0)
        }
    });
    Ok(vec![
        col("query", i64s(loads.iter().map(|l| l.query as i64))),
        col("session", i32s(loads.iter().map(|l| l.pid))),
        col("table_name", texts(loads.iter().map(|l| &l.table))),
        col("starttime", times(loads.iter().map(|l| l.start))),
        col("files", i64s(loads.iter().map(|l| l.files as i64))),
        col("tasks", i64s(loads.iter().map(|l| l.tasks as i64))),
        col("tasks_done", i64s(totals.iter().map(|t| t.2 as i64))),
        col(
            "bytes_to_load",
            i64s(loads.iter().map(|l| l.bytes_total as i64)),
        ),
        col("bytes_loaded", i64s(totals.iter().map(|t| t.0 as i64))),
        col("rows_parsed", i64s(totals.iter().map(|t| t.1 as i64))),
        col("pct_complete", Float64Array::from_iter_values(pct)),
    ])
}

fn svv_snapshots(_: &ClusterState, logs: &SystemLogs) -> Result<Vec<Column>> {
    let listed = logs.snapshots.listing();
    let r = || listed.iter().map(|l| &l.record);
    let record_json = listed
        .iter()
        .map(|l| serde_json::to_string(&l.record))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    Ok(vec![
        col("snapshot_name", texts(r().map(|r| r.name.as_str()))),
        col("kind", texts(r().map(|r| r.kind.as_str()))),
        col("commit", i64s(r().map(|r| r.commit as i64))),
        col("created_at", times(r().map(|r| r.created_unix_ms * 1000))),
        col("tables", i64s(r().map(|r| r.tables.len() as i64))),
        col("rows", i64s(r().map(|r| r.rows as i64))),
        col("bytes", i64s(r().map(|r| r.bytes as i64))),
        col("bytes_uploaded", i64s(r().map(|r| r.bytes_uploaded as i64))),
        col("status", texts(r().map(|_| "available"))),
        col("regions", texts(listed.iter().map(|l| l.regions.join(",")))),
        nullable(
            "retention_days",
            Int32Array::from_iter(r().map(|r| r.retention_days.map(|d| d as i32))),
        ),
        col("record", texts(record_json)),
    ])
}

fn stl_snapshot_log(_: &ClusterState, logs: &SystemLogs) -> Result<Vec<Column>> {
    let events = logs.snapshots.events();
    Ok(vec![
        col(
            "snapshot_name",
            texts(events.iter().map(|e| e.snapshot.as_str())),
        ),
        col("action", texts(events.iter().map(|e| e.action))),
        col("region", texts(events.iter().map(|e| e.region.as_str()))),
        col("starttime", times(events.iter().map(|e| e.start))),
        col("endtime", times(events.iter().map(|e| e.end))),
        col("files", i64s(events.iter().map(|e| e.files as i64))),
        col("bytes", i64s(events.iter().map(|e| e.bytes as i64))),
        col("status", texts(events.iter().map(|e| e.status.as_str()))),
    ])
}

fn svv_tables(state: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    let tables = state.tables.keys().map(|n| (n, "BASE TABLE"));
    let rows: Vec<(&String, &str)> = tables
        .chain(state.views.keys().map(|n| (n, "VIEW")))
        .collect();
    Ok(vec![
        col("table_catalog", texts(rows.iter().map(|_| "dev"))),
        col("table_schema", texts(rows.iter().map(|r| split_key(r.0).0))),
        col("table_name", texts(rows.iter().map(|r| split_key(r.0).1))),
        col("table_type", texts(rows.iter().map(|r| r.1))),
        nullable(
            "remarks",
            StringArray::from_iter(rows.iter().map(|_| None::<&str>)),
        ),
    ])
}

/// Redshift's `pg_table_def`: each table column's type, encoding, DISTKEY, SORTKEY
/// position (0 when not in the sort key) and NOT NULL. (Redshift lists the tables of the
/// search path's schemas; this lists every table.)
fn pg_table_def(state: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    let cols: Vec<(&blueshift_storage::table::TableDef, usize)> = state
        .tables
        .values()
        .flat_map(|t| (0..t.def.columns.len()).map(move |i| (&t.def, i)))
        .collect();
    Ok(vec![
        col(
            "schemaname",
            texts(cols.iter().map(|(t, _)| split_key(&t.name).0)),
        ),
        col(
            "tablename",
            texts(cols.iter().map(|(t, _)| split_key(&t.name).1)),
        ),
        col(
            "column",
            texts(cols.iter().map(|(t, i)| t.columns[*i].name.as_str())),
        ),
        col(
            "type",
            texts(
                cols.iter()
                    .map(|(t, i)| t.columns[*i].sql_type.display_name()),
            ),
        ),
        col(
            "encoding",
            texts(
                cols.iter()
                    .map(|(t, i)| t.columns[*i].encoding.map_or("none", |e| e.name())),
            ),
        ),
        col(
            "distkey",
            arrow::array::BooleanArray::from_iter(
                cols.iter().map(|(t, i)| Some(t.dist_key == Some(*i))),
            ),
        ),
        col(
            "sortkey",
            i32s(cols.iter().map(|(t, i)| {
                t.sort_key
                    .iter()
                    .position(|k| k == i)
                    .map_or(0, |p| p as i32 + 1)
            })),
        ),
        col(
            "notnull",
            arrow::array::BooleanArray::from_iter(
                cols.iter().map(|(t, i)| Some(!t.columns[*i].nullable)),
            ),
        ),
    ])
}

/// The columns of every table, as information_schema.columns describes them.
fn svv_columns(state: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    let cols: Vec<(&str, usize, &blueshift_storage::table::ColumnDef)> = state
        .tables
        .values()
        .flat_map(|t| {
            t.def
                .columns
                .iter()
                .enumerate()
                .map(move |(i, c)| (t.def.name.as_str(), i + 1, c))
        })
        .collect();
    let none = || StringArray::from_iter(cols.iter().map(|_| None::<&str>));
    let ints = |f: &dyn Fn(&blueshift_storage::table::SqlType) -> Option<i32>| {
        Int32Array::from_iter(cols.iter().map(|c| f(&c.2.sql_type)))
    };
    Ok(vec![
        col("table_catalog", texts(cols.iter().map(|_| "dev"))),
        col("table_schema", texts(cols.iter().map(|c| split_key(c.0).0))),
        col("table_name", texts(cols.iter().map(|c| split_key(c.0).1))),
        col("column_name", texts(cols.iter().map(|c| c.2.name.as_str()))),
        col("ordinal_position", i32s(cols.iter().map(|c| c.1 as i32))),
        nullable("column_default", none()),
        col(
            "is_nullable",
            texts(cols.iter().map(|c| if c.2.nullable { "YES" } else { "NO" })),
        ),
        col(
            "data_type",
            texts(cols.iter().map(|c| c.2.sql_type.base_name())),
        ),
        nullable(
            "character_maximum_length",
            ints(&|t| t.max_len().map(|n| n as i32)),
        ),
        nullable(
            "numeric_precision",
            ints(&|t| t.numeric_precision().map(|p| p.0)),
        ),
        nullable(
            "numeric_precision_radix",
            ints(&|t| t.numeric_precision().map(|p| p.1)),
        ),
        nullable(
            "numeric_scale",
            ints(&|t| t.numeric_precision().map(|p| p.2)),
        ),
        nullable(
            "datetime_precision",
            ints(&|t| {
                matches!(
                    t,
                    blueshift_storage::table::SqlType::Timestamp
                        | blueshift_storage::table::SqlType::TimestampTz
                )
                .then_some(6)
            }),
        ),
        nullable("interval_type", none()),
        nullable("interval_precision", none()),
        nullable("character_set_catalog", none()),
        nullable("character_set_schema", none()),
        nullable("character_set_name", none()),
        nullable("collation_catalog", none()),
        nullable("collation_schema", none()),
        nullable("collation_name", none()),
        nullable("domain_name", none()),
        nullable("remarks", none()),
        // Not Redshift's: AWS's driver names `IS_AUTOINCREMENT`, its own result alias,
        // again in the same select list, which DataFusion resolves as a column only. No
        // column is an identity column.
        col("is_autoincrement", texts(cols.iter().map(|_| "NO"))),
    ])
}

/// There are no external (Spectrum) schemas, tables or columns: the views are empty.
fn empty(names: &[&str]) -> Vec<Column> {
    names
        .iter()
        .map(|n| {
            nullable(
                n,
                StringArray::from_iter(std::iter::empty::<Option<&str>>()),
            )
        })
        .collect()
}

fn svv_external_schemas(_: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    Ok(empty(&[
        "esoid",
        "eskind",
        "schemaname",
        "esowner",
        "databasename",
        "esoptions",
    ]))
}

fn svv_external_tables(_: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    Ok(empty(&[
        "schemaname",
        "tablename",
        "location",
        "input_format",
        "output_format",
        "serialization_lib",
        "serde_parameters",
        "compressed",
        "parameters",
        "tabletype",
    ]))
}

fn svv_external_columns(_: &ClusterState, _: &SystemLogs) -> Result<Vec<Column>> {
    Ok(empty(&[
        "schemaname",
        "tablename",
        "columnname",
        "external_type",
        "columnnum",
        "part_key",
        "is_nullable",
    ]))
}
