//! PostgreSQL catalog functions drivers call that datafusion-pg-catalog lacks, each with
//! PostgreSQL's answer for a database that has no such thing:
//!
//! | function | answer |
//! |---|---|
//! | `to_regtype(name)` | the type's oid, NULL for a type there is none of (psycopg asks for `hstore`) |
//! | `pg_get_serial_sequence(table, column)` | NULL: no column owns a sequence |
//! | `pg_table_size(oid)`, `pg_relation_size`, `pg_total_relation_size`, `pg_indexes_size`, `pg_database_size` | NULL: not known by oid (svv_table_info has sizes) |
//! | `pg_size_pretty(bytes)` | PostgreSQL's text (`10 kB`, `3 MB`) |
//! | `pg_get_function_result(oid)` | NULL: not known (pgjdbc's getFunctions then says "no table") |
//! | `pg_get_indexdef(oid [, column, pretty])` | NULL: there are no indexes |
//! | `col_description`, `obj_description`, `shobj_description` | NULL: no comments |
//! | `pg_collation_is_visible(oid)`, `pg_type_is_visible(oid)`, `pg_function_is_visible(oid)` | true |
//! | `pg_is_other_temp_schema(oid)` | false: there are no temporary schemas |
//! | `json_build_object(k, v, …)` | the JSON object text |
//! | `pg_get_expr(expr, relation [, pretty])` | the expression text; NULL for NULL |
//! | `pg_expandarray(a)` | `{x, n}` for each element (`information_schema._pg_expandarray`) |

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int32Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility, create_udf,
};
use datafusion::prelude::SessionContext;

/// The oids of the types a name can mean (PostgreSQL's names and aliases).
fn type_oid(name: &str) -> Option<i32> {
    let name = name
        .trim()
        .trim_start_matches("pg_catalog.")
        .to_ascii_lowercase();
    Some(match name.as_str() {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "char" | "\"char\"" => 18,
        "name" => 19,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "oid" => 26,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "bpchar" | "character" => 1042,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        _ => return None,
    })
}

/// A function of any `arity` arguments that answers `value` for every row.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: &'static str,
    signature: Signature,
    value: ScalarValue,
}

impl Constant {
    fn udf(name: &'static str, arities: &[usize], value: ScalarValue) -> ScalarUDF {
        ScalarUDF::new_from_impl(Constant {
            name,
            signature: Signature::one_of(
                arities.iter().map(|n| TypeSignature::Any(*n)).collect(),
                Volatility::Stable,
            ),
            value,
        })
    }
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.value.data_type())
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
}

/// `json_build_object(key, value, …)` as JSON text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(datafusion::error::DataFusionError::Plan(
                "argument list must have even number of elements".into(),
            ));
        }
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let mut object = serde_json::Map::new();
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?;
                let value = ScalarValue::try_from_array(&pair[1], row)?;
                let key = if key.is_null() {
                    return Err(datafusion::error::DataFusionError::Plan(
                        "null value not allowed for object key".into(),
                    ));
                } else {
                    scalar_text(&key)
                };
                object.insert(key, json_of(&value));
            }
            out.push(serde_json::Value::Object(object).to_string());
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

/// `pg_unnest_correlated(array)`: what `ARRAY(SELECT … FROM unnest(outer column))` becomes
/// for a non-empty array (`shapes::array_subqueries`): refused (0A000) for any row it is
/// asked about, never a wrong answer.
#[derive(Debug, PartialEq, Eq, Hash)]
struct UnnestCorrelated {
    signature: Signature,
}

impl ScalarUDFImpl for UnnestCorrelated {
    fn name(&self) -> &str {
        "pg_unnest_correlated"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(arrow::datatypes::Field::new(
            "item",
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.number_rows > 0 {
            return Err(blueshift_storage::CodedError::new(
                blueshift_storage::Code::FeatureNotSupported,
                "ARRAY(SELECT … FROM unnest(a column of the outer query)) is not supported for a non-empty array",
            )
            .into());
        }
        Ok(ColumnarValue::Array(arrow::array::new_empty_array(
            &self.return_type(&[])?,
        )))
    }
}

/// `pg_get_expr(expression, relation [, pretty])`: the stored expression's text; NULL for
/// NULL, as PostgreSQL's strict function.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExprText {
    signature: Signature,
}

impl ScalarUDFImpl for ExprText {
    fn name(&self) -> &str {
        "pg_get_expr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(arrow::compute::cast(
            &text,
            &DataType::Utf8,
        )?))
    }
}

/// `pg_expandarray(array)`: each element `x` with its position `n` (from 1), as a list of
/// `{x, n}` structs. `information_schema._pg_expandarray(a)` is `unnest(pg_expandarray(a))`
/// (`shapes::composite_values`), PostgreSQL's set of `(x, n)` records.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    signature: Signature,
}

impl ExpandArray {
    fn item(element: &DataType) -> arrow::datatypes::Fields {
        use arrow::datatypes::Field;
        vec![
            Field::new("x", element.clone(), true),
            Field::new("n", DataType::Int32, false),
        ]
        .into()
    }
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "pg_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let element = match args.first() {
            Some(DataType::List(f)) => f.data_type().clone(),
            other => {
                return Err(datafusion::error::DataFusionError::Plan(format!(
                    "pg_expandarray takes an array, not {other:?}"
                )));
            }
        };
        Ok(DataType::List(Arc::new(arrow::datatypes::Field::new(
            "item",
            DataType::Struct(Self::item(&element)),
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use arrow::array::{ListArray, StructArray};
        let array = args.args[0].to_array(args.number_rows)?;
        let lists = array.as_any().downcast_ref::<ListArray>().ok_or_else(|| {
            datafusion::error::DataFusionError::Plan("pg_expandarray takes an array".into())
        })?;
        let offsets = lists.value_offsets();
        let start = offsets[0] as usize;
        let end = offsets[offsets.len() - 1] as usize;
        let values = lists.values().slice(start, end - start);
        let mut positions = Vec::with_capacity(end - start);
        for w in offsets.windows(2) {
            positions.extend(1..=(w[1] - w[0]));
        }
        let element = values.data_type().clone();
        let items = StructArray::try_new(
            Self::item(&element),
            vec![values, Arc::new(Int32Array::from(positions)) as ArrayRef],
            None,
        )?;
        let rebased: Vec<i32> = offsets.iter().map(|o| o - offsets[0]).collect();
        let out = ListArray::try_new(
            Arc::new(arrow::datatypes::Field::new(
                "item",
                DataType::Struct(Self::item(&element)),
                true,
            )),
            arrow::buffer::OffsetBuffer::new(rebased.into()),
            Arc::new(items),
            lists.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn scalar_text(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        other => other.to_string(),
    }
}

fn json_of(v: &ScalarValue) -> serde_json::Value {
    if v.is_null() {
        return serde_json::Value::Null;
    }
    match v {
        ScalarValue::Boolean(Some(b)) => serde_json::Value::Bool(*b),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_)
        | ScalarValue::Float32(_)
        | ScalarValue::Float64(_)
        | ScalarValue::Decimal128(..) => serde_json::from_str(&v.to_string())
            .unwrap_or_else(|_| serde_json::Value::String(v.to_string())),
        other => serde_json::Value::String(scalar_text(other)),
    }
}

/// Registers the functions above in a session.
/// PostgreSQL's `pg_size_pretty`: bytes below 10 kB, then kB, MB, GB, TB, each rounded
/// half away from zero.
fn size_pretty(size: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    const LIMIT2: i64 = LIMIT * 2 - 1;
    if size.abs() < LIMIT {
        return format!("{size} bytes");
    }
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut s = size >> 9;
    for unit in ["kB", "MB", "GB"] {
        if s.abs() < LIMIT2 {
            return format!("{} {unit}", half_rounded(s));
        }
        s >>= 10;
    }
    format!("{} TB", half_rounded(s))
}

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let sizes = args[0].to_array(1)?;
            let sizes = arrow::compute::cast(&sizes, &DataType::Int64)?;
            let sizes = sizes
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .expect("cast to bigint");
            let text: StringArray = sizes.iter().map(|s| s.map(size_pretty)).collect();
            Ok(match &args[0] {
                ColumnarValue::Scalar(_) => {
                    ColumnarValue::Scalar(ScalarValue::try_from_array(&text, 0)?)
                }
                ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(text)),
            })
        }),
    ));
    // pg_get_expr(expression, relation [, pretty]): the expression's text, NULL for NULL
    // (no column has a default, so pg_attrdef gives none).
    ctx.register_udf(ScalarUDF::new_from_impl(UnnestCorrelated {
        signature: Signature::any(1, Volatility::Volatile),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(ExprText {
        signature: Signature::one_of(
            vec![TypeSignature::Any(2), TypeSignature::Any(3)],
            Volatility::Stable,
        ),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(ExpandArray {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let names = args[0].to_array(1)?;
            let names = arrow::compute::cast(&names, &DataType::Utf8)?;
            let names = names
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to text");
            let oids: Int32Array = names.iter().map(|n| n.and_then(type_oid)).collect();
            Ok(match &args[0] {
                ColumnarValue::Scalar(_) => {
                    ColumnarValue::Scalar(ScalarValue::try_from_array(&oids, 0)?)
                }
                ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(oids)),
            })
        }),
    ));
    let no_text = ScalarValue::Utf8(None);
    for udf in [
        Constant::udf("pg_get_serial_sequence", &[2], no_text.clone()),
        Constant::udf("pg_get_function_result", &[1], no_text.clone()),
        Constant::udf("pg_table_size", &[1], ScalarValue::Int64(None)),
        Constant::udf("pg_relation_size", &[1, 2], ScalarValue::Int64(None)),
        Constant::udf("pg_total_relation_size", &[1], ScalarValue::Int64(None)),
        Constant::udf("pg_indexes_size", &[1], ScalarValue::Int64(None)),
        Constant::udf("pg_database_size", &[1], ScalarValue::Int64(None)),
        Constant::udf("pg_get_indexdef", &[1, 3], no_text.clone()),
        Constant::udf("col_description", &[2], no_text.clone()),
        Constant::udf("obj_description", &[1, 2], no_text.clone()),
        Constant::udf("shobj_description", &[2], no_text),
        Constant::udf(
            "pg_collation_is_visible",
            &[1],
            ScalarValue::Boolean(Some(true)),
        ),
        Constant::udf("pg_type_is_visible", &[1], ScalarValue::Boolean(Some(true))),
        Constant::udf(
            "pg_function_is_visible",
            &[1],
            ScalarValue::Boolean(Some(true)),
        ),
        Constant::udf(
            "pg_is_other_temp_schema",
            &[1],
            ScalarValue::Boolean(Some(false)),
        ),
    ] {
        ctx.register_udf(udf);
    }
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject {
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_postgresql_prints_them() {
        // PostgreSQL 15's answers.
        for (size, text) in [
            (0, "0 bytes"),
            (10239, "10239 bytes"),
            (10240, "10 kB"),
            (123_456_789, "118 MB"),
            (20_971_520, "20 MB"),
            (5_368_709_120, "5120 MB"),
            (1_099_511_627_776, "1024 GB"),
            (-20_000, "-20 kB"),
        ] {
            assert_eq!(size_pretty(size), text, "{size}");
        }
    }

    #[tokio::test]
    async fn catalog_functions_answer_as_postgresql_does() {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx
            .sql(
                "SELECT to_regtype('integer'), to_regtype('hstore'), \
                 json_build_object('a', 1, 'b', 'x', 'c', CAST(NULL AS INT)), \
                 col_description(1, 2), pg_is_other_temp_schema(11)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("| 23 "), "{text}");
        assert!(text.contains(r#"{"a":1,"b":"x","c":null}"#), "{text}");
        assert!(text.contains("false"), "{text}");
    }
}
