//! Where datafusion-pg-catalog's `pg_catalog` answers differently from PostgreSQL about
//! our own relations, the answer is corrected here, in front of it:
//!
//! - `pg_attribute`: a column's declared type (`character varying(20)`, `numeric(12,2)`,
//!   `character(3)`) with its type modifier, not the Arrow type's (`text`, `numeric`); a
//!   view's columns are never NOT NULL;
//! - `pg_tables`: tables only (the crate lists views too);
//! - `pg_views`: the views, with their definitions (the crate's is empty);
//! - `pg_class`: with PostgreSQL's `reloptions` and `relacl` columns (NULL: no storage
//!   options, default privileges), which psql's `\d+` and SQLAlchemy read;
//! - `pg_index` and `pg_class`: a table's PRIMARY KEY as PostgreSQL shows it, a unique
//!   btree index `<table>_pkey` (pgjdbc's `getPrimaryKeys` reads them); `pg_index` has
//!   `indkey`, `indclass`, `indoption` and `indcollation` as arrays, so `unnest(indkey)`
//!   plans (the crate's are text).
//!
//! - `pg_namespace`: also `information_schema`;
//! - `pg_roles` and `pg_class`: a user's oid is its user id, and `relowner` of our
//!   relations is their owner's (`pg_get_userbyid` names it);
//! - `pg_settings`: also `max_index_keys` and `max_identifier_length` (pgjdbc reads the
//!   first for its key metadata).
//!
//! Every other table is the crate's.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use blueshift_storage::table::SqlType;
use datafusion::catalog::{MemTable, SchemaProvider, Session};
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::schema::PinnedSchema;

/// The session's `pg_catalog`: the crate's, with the corrections above.
#[derive(Debug)]
pub struct PgCatalog {
    pub inner: Arc<dyn SchemaProvider>,
    pub schema: Arc<PinnedSchema>,
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let kind = match name {
            "pg_index" => Kind::Indexes,
            "pg_settings" => Kind::Settings,
            "pg_namespace" => Kind::Namespaces,
            "pg_roles" => Kind::Roles,
            "pg_attribute" => Kind::Attributes,
            "pg_tables" => Kind::Tables,
            "pg_views" => Kind::Views,
            "pg_class" => Kind::Classes,
            _ => return self.inner.table(name).await,
        };
        let Some(inner) = self.inner.table(name).await? else {
            return Ok(None);
        };
        let inner = match kind {
            Kind::Indexes => no_indexes(inner),
            _ => inner,
        };
        let pg_class = self.inner.table("pg_class").await?;
        let pg_namespace = self.inner.table("pg_namespace").await?;
        Ok(Some(Arc::new(Corrected {
            kind,
            inner,
            pg_class,
            pg_namespace,
            schema: Arc::clone(&self.schema),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Roles,
    Indexes,
    Settings,
    Namespaces,
    Attributes,
    Tables,
    Views,
    Classes,
}

/// The columns `pg_class` gains, each with the NULLs of a batch of `n` rows.
#[allow(clippy::type_complexity)]
fn class_extras() -> Vec<(arrow::datatypes::Field, fn(usize) -> ArrayRef)> {
    use arrow::datatypes::{DataType, Field};
    vec![
        (
            Field::new(
                "reloptions",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
            |n| {
                arrow::array::new_null_array(
                    &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    n,
                )
            },
        ),
        (Field::new("relacl", DataType::Utf8, true), |n| {
            arrow::array::new_null_array(&DataType::Utf8, n)
        }),
    ]
}

/// An empty `pg_index` whose vector columns are arrays.
fn no_indexes(crate_table: Arc<dyn TableProvider>) -> Arc<dyn TableProvider> {
    use arrow::datatypes::{DataType, Field, Schema};
    let fields: Vec<Field> = crate_table
        .schema()
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "indkey" | "indoption" => Field::new(
                f.name(),
                DataType::List(Arc::new(Field::new("item", DataType::Int16, true))),
                true,
            ),
            "indclass" | "indcollation" => Field::new(
                f.name(),
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ),
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    match MemTable::try_new(Arc::clone(&schema), vec![vec![]]) {
        Ok(t) => Arc::new(t),
        Err(_) => crate_table,
    }
}

/// One corrected catalog table: the crate's rows, read whole and corrected when scanned.
#[derive(Debug)]
struct Corrected {
    kind: Kind,
    inner: Arc<dyn TableProvider>,
    pg_class: Option<Arc<dyn TableProvider>>,
    pg_namespace: Option<Arc<dyn TableProvider>>,
    schema: Arc<PinnedSchema>,
}

async fn read_all(
    provider: &Arc<dyn TableProvider>,
    state: &dyn Session,
) -> Result<Vec<RecordBatch>> {
    let plan = provider.scan(state, None, &[], None).await?;
    datafusion::physical_plan::collect(plan, state.task_ctx()).await
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            datafusion::error::DataFusionError::Internal(format!(
                "pg_catalog column {name} changed"
            ))
        })
}

/// PostgreSQL's type oid and type modifier of a declared column type.
fn pg_type(t: &SqlType) -> (i32, i32) {
    match t {
        SqlType::SmallInt => (21, -1),
        SqlType::Integer => (23, -1),
        SqlType::BigInt => (20, -1),
        SqlType::Decimal { precision, scale } => (
            1700,
            ((i32::from(*precision) << 16) | i32::from(*scale)) + 4,
        ),
        SqlType::Real => (700, -1),
        SqlType::Double => (701, -1),
        SqlType::Boolean => (16, -1),
        SqlType::Char(n) => (1042, *n as i32 + 4),
        SqlType::Varchar(n) => (1043, *n as i32 + 4),
        SqlType::Date => (1082, -1),
        SqlType::Timestamp => (1114, -1),
        SqlType::TimestampTz => (1184, -1),
    }
}

/// `information_schema`'s oid in pg_namespace (clear of the crate's numbering, as
/// PostgreSQL's is).
const INFORMATION_SCHEMA_OID: i32 = 13_000;

/// The oid pg_class gives a table's primary key index (the crate numbers relations
/// from 16384 up; these stay clear of them).
fn index_oid(table_oid: i32) -> i32 {
    1_000_000_000 + table_oid
}

/// One row of `schema`: the given values (cast to each column's type), NULL in the other
/// nullable columns, zero, false or '' in the others.
fn one_row(schema: &SchemaRef, values: &[(&str, ScalarValue)]) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let value = match values.iter().find(|(n, _)| n == f.name()) {
                Some((_, v)) => v.clone(),
                None if f.is_nullable() => ScalarValue::try_from(f.data_type())?,
                None => match f.data_type() {
                    DataType::Utf8 => ScalarValue::Utf8(Some(String::new())),
                    DataType::Boolean => ScalarValue::Boolean(Some(false)),
                    other => ScalarValue::new_zero(other)?,
                },
            };
            let array = value.to_array_of_size(1)?;
            Ok(if array.data_type() == f.data_type() {
                array
            } else {
                arrow::compute::cast(&array, f.data_type())?
            })
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// `batch` with column `name` replaced by `values` (where `keep_old` and a value is NULL,
/// the old value stays).
fn replace_column(
    batch: &RecordBatch,
    name: &str,
    values: ArrayRef,
    keep_old: bool,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    let (i, field) = schema
        .column_with_name(name)
        .ok_or_else(|| datafusion::error::DataFusionError::Internal(format!("{name} missing")))?;
    let values = arrow::compute::cast(&values, field.data_type())?;
    let values = if keep_old {
        let old = batch.column(i);
        let take_new = arrow::compute::is_not_null(&values)?;
        arrow::compute::kernels::zip::zip(&take_new, &values, old)?
    } else {
        values
    };
    let mut columns = batch.columns().to_vec();
    columns[i] = values;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// A list scalar of smallints (an `int2vector`).
fn smallints(values: impl Iterator<Item = i16>) -> ScalarValue {
    let values: Vec<ScalarValue> = values.map(|v| ScalarValue::Int16(Some(v))).collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Int16))
}

impl Corrected {
    /// Each relation's catalog key by its pg_class oid, from its name and its schema's.
    async fn relation_keys(&self, state: &dyn Session) -> Result<HashMap<i32, String>> {
        let mut nspnames: HashMap<i32, String> = HashMap::new();
        if let Some(pg_namespace) = &self.pg_namespace {
            for b in read_all(pg_namespace, state).await? {
                let oids = column::<Int32Array>(&b, "oid")?;
                let names = column::<StringArray>(&b, "nspname")?;
                for i in 0..b.num_rows() {
                    if !oids.is_null(i) && !names.is_null(i) {
                        nspnames.insert(oids.value(i), names.value(i).to_string());
                    }
                }
            }
        }
        let mut relnames: HashMap<i32, String> = HashMap::new();
        if let Some(pg_class) = &self.pg_class {
            for b in read_all(pg_class, state).await? {
                let oids = column::<Int32Array>(&b, "oid")?;
                let names = column::<StringArray>(&b, "relname")?;
                let spaces = column::<Int32Array>(&b, "relnamespace")?;
                for i in 0..b.num_rows() {
                    if !oids.is_null(i) && !names.is_null(i) {
                        let schema = nspnames
                            .get(&spaces.value(i))
                            .map_or(crate::schema::PUBLIC, String::as_str);
                        relnames.insert(oids.value(i), crate::schema::key(schema, names.value(i)));
                    }
                }
            }
        }
        Ok(relnames)
    }

    /// The primary key index rows of `pg_class` and `pg_index`, of the tables in `keys`.
    fn key_index_rows(
        &self,
        keys: &HashMap<i32, String>,
        class_rows: Option<&RecordBatch>,
    ) -> Result<Option<RecordBatch>> {
        let pinned = self.schema.pinned();
        let schema = self.schema();
        let mut rows = Vec::new();
        let mut add = |oid: i32, row: Option<(&RecordBatch, usize)>| -> Result<()> {
            let Some(table) = keys.get(&oid).and_then(|k| pinned.tables.get(k)) else {
                return Ok(());
            };
            let pk = &table.def.primary_key;
            if pk.is_empty() {
                return Ok(());
            }
            let n = pk.len() as i16;
            let name = crate::schema::split_key(&table.def.name).1;
            rows.push(match row {
                Some((batch, i)) => one_row(
                    &schema,
                    &[
                        ("oid", ScalarValue::Int32(Some(index_oid(oid)))),
                        ("relname", ScalarValue::Utf8(Some(format!("{name}_pkey")))),
                        (
                            "relnamespace",
                            ScalarValue::try_from_array(
                                column::<Int32Array>(batch, "relnamespace")?,
                                i,
                            )?,
                        ),
                        (
                            "relowner",
                            ScalarValue::try_from_array(
                                column::<Int32Array>(batch, "relowner")?,
                                i,
                            )?,
                        ),
                        ("relam", ScalarValue::Int32(Some(403))),
                        ("relkind", ScalarValue::Utf8(Some("i".into()))),
                        ("relpersistence", ScalarValue::Utf8(Some("p".into()))),
                        ("relnatts", ScalarValue::Int16(Some(n))),
                        ("relispopulated", ScalarValue::Boolean(Some(true))),
                    ],
                )?,
                None => one_row(
                    &schema,
                    &[
                        ("indexrelid", ScalarValue::Int32(Some(index_oid(oid)))),
                        ("indrelid", ScalarValue::Int32(Some(oid))),
                        ("indnatts", ScalarValue::Int16(Some(n))),
                        ("indnkeyatts", ScalarValue::Int16(Some(n))),
                        ("indisunique", ScalarValue::Boolean(Some(true))),
                        ("indisprimary", ScalarValue::Boolean(Some(true))),
                        ("indimmediate", ScalarValue::Boolean(Some(true))),
                        ("indisvalid", ScalarValue::Boolean(Some(true))),
                        ("indisready", ScalarValue::Boolean(Some(true))),
                        ("indislive", ScalarValue::Boolean(Some(true))),
                        // attnums count from 1, in the table's column order.
                        ("indkey", smallints(pk.iter().map(|&c| c as i16 + 1))),
                        ("indoption", smallints(pk.iter().map(|_| 0))),
                    ],
                )?,
            });
            Ok(())
        };
        match class_rows {
            Some(batch) => {
                let oids = column::<Int32Array>(batch, "oid")?;
                for i in 0..batch.num_rows() {
                    if !oids.is_null(i) {
                        add(oids.value(i), Some((batch, i)))?;
                    }
                }
            }
            None => {
                for oid in keys.keys() {
                    add(*oid, None)?;
                }
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(arrow::compute::concat_batches(&schema, &rows)?))
    }

    async fn rows(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let pinned = self.schema.pinned();
        if let Kind::Views = self.kind {
            let names: Vec<&String> = pinned.views.keys().collect();
            let batch = RecordBatch::try_new(
                self.inner.schema(),
                vec![
                    Arc::new(StringArray::from_iter_values(
                        names.iter().map(|n| crate::schema::split_key(n).0),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        names.iter().map(|n| crate::schema::split_key(n).1),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        names.iter().map(|n| pinned.owner_of(n)),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        names.iter().map(|n| pinned.views[*n].sql.clone()),
                    )),
                ],
            )?;
            return Ok(vec![batch]);
        }
        let batches = match self.kind {
            Kind::Indexes => vec![],
            _ => read_all(&self.inner, state).await?,
        };
        match self.kind {
            Kind::Tables => batches
                .into_iter()
                .map(|b| {
                    let schemas = column::<StringArray>(&b, "schemaname")?;
                    let names = column::<StringArray>(&b, "tablename")?;
                    let keep =
                        BooleanArray::from_iter(schemas.iter().zip(names.iter()).map(|(s, n)| {
                            let key =
                                crate::schema::key(s.unwrap_or_default(), n.unwrap_or_default());
                            Some(!pinned.views.contains_key(&key))
                        }));
                    // Each table's owner, as pg_class's relowner names it.
                    let owners: StringArray = schemas
                        .iter()
                        .zip(names.iter())
                        .map(|(s, n)| {
                            let key =
                                crate::schema::key(s.unwrap_or_default(), n.unwrap_or_default());
                            pinned
                                .tables
                                .contains_key(&key)
                                .then(|| pinned.owner_of(&key).to_string())
                        })
                        .collect();
                    let b = replace_column(&b, "tableowner", Arc::new(owners), true)?;
                    Ok(arrow::compute::filter_record_batch(&b, &keep)?)
                })
                .collect(),
            Kind::Attributes => {
                let relnames = self.relation_keys(state).await?;
                batches
                    .into_iter()
                    .map(|b| {
                        let rel = column::<Int32Array>(&b, "attrelid")?;
                        let att = column::<StringArray>(&b, "attname")?;
                        let mut typid: Vec<Option<i32>> =
                            column::<Int32Array>(&b, "atttypid")?.iter().collect();
                        let mut typmod: Vec<Option<i32>> =
                            column::<Int32Array>(&b, "atttypmod")?.iter().collect();
                        let mut notnull: Vec<Option<bool>> =
                            column::<BooleanArray>(&b, "attnotnull")?.iter().collect();
                        for i in 0..b.num_rows() {
                            let Some(table) = relnames.get(&rel.value(i)) else {
                                continue;
                            };
                            if pinned.views.contains_key(table) {
                                notnull[i] = Some(false);
                            } else if let Some(t) = pinned.tables.get(table)
                                && let Some(c) =
                                    t.def.columns.iter().find(|c| c.name == att.value(i))
                            {
                                let (oid, modifier) = pg_type(&c.sql_type);
                                typid[i] = Some(oid);
                                typmod[i] = Some(modifier);
                            }
                        }
                        let mut columns: Vec<ArrayRef> = b.columns().to_vec();
                        let schema = b.schema();
                        for (name, values) in [
                            ("atttypid", Arc::new(Int32Array::from(typid)) as ArrayRef),
                            ("atttypmod", Arc::new(Int32Array::from(typmod)) as ArrayRef),
                            (
                                "attnotnull",
                                Arc::new(BooleanArray::from(notnull)) as ArrayRef,
                            ),
                        ] {
                            let (i, _) = schema.column_with_name(name).expect("checked above");
                            columns[i] = values;
                        }
                        Ok(RecordBatch::try_new(schema, columns)?)
                    })
                    .collect()
            }
            Kind::Classes => {
                let keys = self.relation_keys(state).await?;
                let mut out = Vec::new();
                let pinned = self.schema.pinned();
                for b in batches {
                    let mut columns = b.columns().to_vec();
                    for (_, make) in class_extras() {
                        columns.push(make(b.num_rows()));
                    }
                    let b = RecordBatch::try_new(self.schema(), columns)?;
                    // Our relations' owners by user id (`pg_get_userbyid` names them).
                    let oids = column::<Int32Array>(&b, "oid")?;
                    let crate_owners = column::<Int32Array>(&b, "relowner")?;
                    let owners: Int32Array = (0..b.num_rows())
                        .map(|i| {
                            let ours = keys
                                .get(&oids.value(i))
                                .filter(|k| {
                                    pinned.tables.contains_key(*k) || pinned.views.contains_key(*k)
                                })
                                .and_then(|k| pinned.users.get(pinned.owner_of(k)))
                                .map(|u| u.id as i32);
                            ours.or_else(|| crate_owners.is_valid(i).then(|| crate_owners.value(i)))
                        })
                        .collect();
                    let b = replace_column(&b, "relowner", Arc::new(owners), false)?;
                    let indexes = self.key_index_rows(&keys, Some(&b))?;
                    out.push(b);
                    out.extend(indexes);
                }
                Ok(out)
            }
            Kind::Settings => {
                // Settings drivers read that the crate's view lacks.
                let schema = self.schema();
                let mut out = batches;
                for (name, setting) in [("max_index_keys", "32"), ("max_identifier_length", "127")]
                {
                    out.push(one_row(
                        &schema,
                        &[
                            ("name", ScalarValue::Utf8(Some(name.into()))),
                            ("setting", ScalarValue::Utf8(Some(setting.into()))),
                            ("category", ScalarValue::Utf8(Some("Preset Options".into()))),
                            ("context", ScalarValue::Utf8(Some("internal".into()))),
                            ("vartype", ScalarValue::Utf8(Some("integer".into()))),
                            ("source", ScalarValue::Utf8(Some("default".into()))),
                        ],
                    )?);
                }
                Ok(out)
            }
            Kind::Roles => batches
                .into_iter()
                .map(|b| {
                    // Each user's id as its oid, as pg_class's relowner gives it (the
                    // crate's are all 0).
                    let names = column::<StringArray>(&b, "rolname")?;
                    let oids: Int32Array = names
                        .iter()
                        .map(|n| pinned.users.get(n?).map(|u| u.id as i32))
                        .collect();
                    replace_column(&b, "oid", Arc::new(oids), true)
                })
                .collect(),
            Kind::Namespaces => {
                // information_schema is there to query, as in PostgreSQL (pgjdbc's
                // getSchemas lists it).
                let listed = batches.iter().any(|b| {
                    column::<StringArray>(b, "nspname")
                        .is_ok_and(|n| n.iter().any(|n| n == Some("information_schema")))
                });
                let mut out = batches;
                if !listed {
                    out.push(one_row(
                        &self.schema(),
                        &[
                            ("oid", ScalarValue::Int32(Some(INFORMATION_SCHEMA_OID))),
                            (
                                "nspname",
                                ScalarValue::Utf8(Some("information_schema".into())),
                            ),
                            ("nspowner", ScalarValue::Int32(Some(10))),
                        ],
                    )?);
                }
                Ok(out)
            }
            Kind::Indexes => {
                let keys = self.relation_keys(state).await?;
                Ok(self.key_index_rows(&keys, None)?.into_iter().collect())
            }
            Kind::Views => unreachable!("answered above"),
        }
    }
}

#[async_trait]
impl TableProvider for Corrected {
    fn schema(&self) -> SchemaRef {
        let inner = self.inner.schema();
        match self.kind {
            Kind::Classes => Arc::new(arrow::datatypes::Schema::new(
                inner
                    .fields()
                    .iter()
                    .cloned()
                    .chain(class_extras().into_iter().map(|(f, _)| Arc::new(f)))
                    .collect::<Vec<_>>(),
            )),
            _ => inner,
        }
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.rows(state).await?;
        MemTable::try_new(self.schema(), vec![rows])?
            .scan(state, projection, filters, limit)
            .await
    }
}
