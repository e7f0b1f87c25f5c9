//! COPY and UNLOAD against a real S3-compatible server (s3s-fs over HTTP with SigV4) and
//! local files: every format and compression, each error a user can make, MAXERROR,
//! manifests, placement by DISTSTYLE, STDIN, progress, a node killed mid-load, and
//! UNLOAD → COPY round trips.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use blueshift_tests::s3::S3Server;
use blueshift_tests::{TestCluster, error_of, per_slice, rows, try_rows};

const TYPED: &str = "(id INT NOT NULL, s SMALLINT, b BIGINT, d DECIMAL(12,2), r REAL, \
     f DOUBLE PRECISION, ok BOOLEAN, name VARCHAR(20), code CHAR(4), day DATE, ts TIMESTAMP)";

/// One generated row; `None` fields are NULL (every 17th row has them).
struct Row {
    id: i32,
    s: Option<i16>,
    b: Option<i64>,
    cents: Option<i64>,
    r: Option<f32>,
    f: Option<f64>,
    ok: Option<bool>,
    name: Option<String>,
    code: Option<String>,
    day: Option<i32>,
    ts: Option<i64>,
}

fn opt<T>(null: bool, x: T) -> Option<T> {
    if null { None } else { Some(x) }
}

fn sample(n: i32) -> Vec<Row> {
    (1..=n)
        .map(|i| {
            let null = i % 17 == 0;
            Row {
                id: i,
                s: opt(null, (i % 100) as i16),
                b: opt(null, i as i64 * 1_000_003),
                cents: opt(null, i as i64 * 125),
                r: opt(null, i as f32 / 4.0),
                f: opt(null, i as f64 / 8.0),
                ok: opt(null, i % 3 == 0),
                name: opt(null, format!("name, {i}")),
                code: opt(null, format!("c{}", i % 10)),
                day: opt(null, 19_723 + i % 365),
                ts: opt(null, 1_709_287_200_000_000 + i as i64 * 1_000_000),
            }
        })
        .collect()
}

fn date_text(days: i32) -> String {
    let d = chrono_free_date(days);
    format!("{:04}-{:02}-{:02}", d.0, d.1, d.2)
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn chrono_free_date(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn ts_text(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400) as i32;
    let rest = secs.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02}",
        date_text(days),
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The row's fields as text, `None` for NULL.
fn fields(r: &Row) -> Vec<Option<String>> {
    vec![
        Some(r.id.to_string()),
        r.s.map(|v| v.to_string()),
        r.b.map(|v| v.to_string()),
        r.cents.map(|c| format!("{}.{:02}", c / 100, c % 100)),
        r.r.map(|v| v.to_string()),
        r.f.map(|v| v.to_string()),
        r.ok.map(|v| v.to_string()),
        r.name.clone(),
        r.code.clone(),
        r.day.map(date_text),
        r.ts.map(ts_text),
    ]
}

const NAMES: [&str; 11] = [
    "id", "s", "b", "d", "r", "f", "ok", "name", "code", "day", "ts",
];

fn as_text(rows: &[Row]) -> Vec<u8> {
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = fields(r)
            .into_iter()
            .map(|f| f.unwrap_or_else(|| "\\N".into()))
            .collect();
        out.push_str(&line.join("|"));
        out.push('\n');
    }
    out.into_bytes()
}

fn as_csv(rows: &[Row]) -> Vec<u8> {
    let mut out = String::from("id,s,b,d,r,f,ok,name,code,day,ts\r\n");
    for r in rows {
        let line: Vec<String> = fields(r)
            .into_iter()
            .map(|f| match f {
                None => "\\N".into(),
                Some(v) if v.contains(',') => format!("\"{v}\""),
                Some(v) => v,
            })
            .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn as_json(rows: &[Row]) -> Vec<u8> {
    let mut out = String::new();
    for r in rows {
        let mut parts = Vec::new();
        for (name, f) in NAMES.iter().zip(fields(r)) {
            let Some(v) = f else { continue };
            // Keys in upper case: loaded with 'auto ignorecase'.
            let key = name.to_uppercase();
            let numeric = matches!(*name, "id" | "s" | "b" | "d" | "r" | "f");
            parts.push(match (*name, numeric) {
                ("ok", _) => format!("\"{key}\": {v}"),
                (_, true) => format!("\"{key}\": {v}"),
                _ => format!("\"{key}\": \"{v}\""),
            });
        }
        out.push_str(&format!("{{{}}}\n", parts.join(", ")));
    }
    out.into_bytes()
}

fn as_parquet(rows: &[Row]) -> Vec<u8> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    // Upper-case names and an extra column: Parquet columns are matched by name.
    let schema = Arc::new(Schema::new(vec![
        Field::new("ID", DataType::Int32, false),
        Field::new("s", DataType::Int16, true),
        Field::new("b", DataType::Int64, true),
        Field::new("d", DataType::Decimal128(12, 2), true),
        Field::new("r", DataType::Float32, true),
        Field::new("f", DataType::Float64, true),
        Field::new("ok", DataType::Boolean, true),
        Field::new("Name", DataType::Utf8, true),
        Field::new("code", DataType::Utf8, true),
        Field::new("day", DataType::Date32, true),
        Field::new("ts", ts, true),
        Field::new("unused", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(Int16Array::from_iter(rows.iter().map(|r| r.s))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.b))),
        Arc::new(
            Decimal128Array::from_iter(rows.iter().map(|r| r.cents.map(i128::from)))
                .with_precision_and_scale(12, 2)
                .unwrap(),
        ),
        Arc::new(Float32Array::from_iter(rows.iter().map(|r| r.r))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.f))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.ok))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.name.clone()))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.code.clone()))),
        Arc::new(Date32Array::from_iter(rows.iter().map(|r| r.day))),
        Arc::new(TimestampMicrosecondArray::from_iter(
            rows.iter().map(|r| r.ts),
        )),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "x"))),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

fn bzip2(bytes: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    rows(c, sql).await[0][0].clone().unwrap_or_default()
}

/// The whole table as text, in id order.
async fn dump(c: &tokio_postgres::Client, table: &str) -> Vec<Vec<Option<String>>> {
    rows(c, &format!("SELECT * FROM {table} ORDER BY id")).await
}

async fn s3_cluster(s3: &S3Server, nodes: u32, env: &[(&str, &str)]) -> TestCluster {
    TestCluster::start_config(nodes, 2, &[], env, Some(&s3.config())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_reads_every_format_and_compression_from_s3() {
    let s3 = S3Server::start().await;
    let cluster = s3_cluster(&s3, 2, &[]).await;
    let c = cluster.client().await;
    let data = sample(300);
    let text = as_text(&data);
    let csv = as_csv(&data);
    let json = as_json(&data);
    for (name, bytes) in [("text", &text), ("csv", &csv), ("json", &json)] {
        s3.put(&format!("in/{name}/plain/data"), bytes.clone())
            .await;
        s3.put(&format!("in/{name}/gzip/data"), gzip(bytes)).await;
        s3.put(&format!("in/{name}/zstd/data"), zstd(bytes)).await;
        s3.put(&format!("in/{name}/bzip2/data"), bzip2(bytes)).await;
        // Compression from the file suffix, several files under one prefix.
        s3.put(&format!("in/{name}/mixed/a.gz"), gzip(bytes)).await;
        s3.put(&format!("in/{name}/mixed/b.zst"), zstd(bytes)).await;
        s3.put(&format!("in/{name}/mixed/c.bz2"), bzip2(bytes))
            .await;
    }
    s3.put("in/parquet/data.parquet", as_parquet(&data)).await;

    c.batch_execute(&format!("CREATE TABLE expected {TYPED} DISTKEY(id)"))
        .await
        .unwrap();
    let loaded = rows(
        &c,
        "COPY expected FROM 's3://warehouse/in/text/plain/data' REGION 'test'",
    )
    .await;
    assert!(loaded.is_empty());
    assert_eq!(one(&c, "SELECT pg_last_copy_count()").await, "300");
    // The loaded values are the generated ones.
    let expected = dump(&c, "expected").await;
    assert_eq!(expected.len(), 300);
    let min_day = date_text(data.iter().filter_map(|r| r.day).min().unwrap());
    let max_ts = ts_text(data.iter().filter_map(|r| r.ts).max().unwrap());
    assert_eq!(
        rows(
            &c,
            &format!(
                "SELECT count(*), sum(b), sum(d), count(name), \
                 CASE WHEN min(day) = DATE '{min_day}' THEN 1 ELSE 0 END, \
                 CASE WHEN max(ts) = TIMESTAMP '{max_ts}' THEN 1 ELSE 0 END, \
                 count(*) FILTER (WHERE ok), sum(r), sum(f), max(code) FROM expected"
            )
        )
        .await[0],
        vec![
            Some("300".into()),
            Some(data.iter().filter_map(|r| r.b).sum::<i64>().to_string()),
            Some({
                let cents: i64 = data.iter().filter_map(|r| r.cents).sum();
                format!("{}.{:02}", cents / 100, cents % 100)
            }),
            Some(data.iter().filter(|r| r.name.is_some()).count().to_string()),
            Some("1".into()),
            Some("1".into()),
            Some(
                data.iter()
                    .filter(|r| r.ok == Some(true))
                    .count()
                    .to_string()
            ),
            Some(format!(
                "{:?}",
                data.iter().filter_map(|r| r.r).map(f64::from).sum::<f64>()
            )),
            Some(format!(
                "{:?}",
                data.iter().filter_map(|r| r.f).sum::<f64>()
            )),
            Some("c9".into()),
        ]
    );

    let mut n = 0;
    for (name, options) in [
        ("text", ""),
        ("csv", "CSV IGNOREHEADER 1 NULL AS '\\N'"),
        ("json", "JSON 'auto ignorecase'"),
    ] {
        for (comp, option) in [
            ("plain", ""),
            ("gzip", "GZIP"),
            ("zstd", "ZSTD"),
            ("bzip2", "BZIP2"),
        ] {
            n += 1;
            let t = format!("t{n}");
            c.batch_execute(&format!("CREATE TABLE {t} {TYPED}"))
                .await
                .unwrap();
            let sql =
                format!("COPY {t} FROM 's3://warehouse/in/{name}/{comp}/data' {options} {option}");
            try_rows(&c, &sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            assert_eq!(dump(&c, &t).await, expected, "{sql}");
        }
        let t = format!("mixed_{name}");
        c.batch_execute(&format!("CREATE TABLE {t} {TYPED}"))
            .await
            .unwrap();
        let sql = format!("COPY {t} FROM 's3://warehouse/in/{name}/mixed/' {options}");
        rows(&c, &sql).await;
        assert_eq!(one(&c, &format!("SELECT count(*) FROM {t}")).await, "900");
    }
    // A NOT NULL column the Parquet file does not have is a clear error, not a crash.
    c.batch_execute("CREATE TABLE strict (id INT NOT NULL, missing INT NOT NULL)")
        .await
        .unwrap();
    let (state, message, _) = error_of(
        &c,
        "COPY strict FROM 's3://warehouse/in/parquet/' FORMAT AS PARQUET",
    )
    .await;
    assert_eq!(state, "22P04");
    assert!(
        message.contains("data.parquet")
            && message.contains("\"missing\"")
            && message.contains("NOT NULL"),
        "{message}"
    );
    c.batch_execute(&format!("CREATE TABLE pq {TYPED}"))
        .await
        .unwrap();
    rows(
        &c,
        "COPY pq FROM 's3://warehouse/in/parquet/' FORMAT AS PARQUET",
    )
    .await;
    assert_eq!(dump(&c, "pq").await, expected);

    // A column list loads those columns; the others are NULL.
    c.batch_execute("CREATE TABLE partial (id INT, name VARCHAR(20), note VARCHAR(5))")
        .await
        .unwrap();
    s3.put("in/partial.csv", b"1,\"a, b\"\n2,c\n".to_vec())
        .await;
    rows(
        &c,
        "COPY partial (id, name) FROM 's3://warehouse/in/partial.csv' CSV",
    )
    .await;
    assert_eq!(
        rows(&c, "SELECT id, name, note FROM partial ORDER BY id").await,
        vec![
            vec![Some("1".into()), Some("a, b".into()), None],
            vec![Some("2".into()), Some("c".into()), None],
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_errors_name_the_file_line_column_and_reason() {
    let s3 = S3Server::start().await;
    let cluster = s3_cluster(&s3, 1, &[]).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE e (id INT NOT NULL, name VARCHAR(5), day DATE)")
        .await
        .unwrap();
    s3.put(
        "err/extra.txt",
        b"1|a|2024-01-01\n2|b|2024-01-02|9\n".to_vec(),
    )
    .await;
    s3.put("err/short.txt", b"1|a|2024-01-01\n2|b\n".to_vec())
        .await;
    s3.put("err/long.txt", b"1|abcdef|2024-01-01\n".to_vec())
        .await;
    s3.put("err/date.txt", b"1|a|2024-01-01\n2|b|2024-13-45\n".to_vec())
        .await;
    s3.put("err/utf8.txt", b"1|a\xffb|2024-01-01\n".to_vec())
        .await;
    s3.put("err/digit.txt", b"x1|a|2024-01-01\n".to_vec()).await;
    s3.put("err/notnull.txt", b"\\N|a|2024-01-01\n".to_vec())
        .await;
    s3.put(
        "err/blank.txt",
        b"1|a|2024-01-01\n\n2|b|2024-01-02\n".to_vec(),
    )
    .await;
    s3.put("err/bad.gz", b"this is not gzip".to_vec()).await;

    let cases: [(&str, &str, &[&str]); 8] = [
        (
            "extra.txt",
            "",
            &["line 2", "Extra column(s) found", "error 1202"],
        ),
        (
            "short.txt",
            "",
            &["line 2", "column day", "Delimiter not found"],
        ),
        (
            "long.txt",
            "",
            &[
                "line 1",
                "column name (character varying(5))",
                "String length exceeds DDL length",
                "'abcdef'",
            ],
        ),
        (
            "date.txt",
            "",
            &[
                "line 2",
                "column day (date)",
                "Invalid Date Format",
                "2024-13-45",
            ],
        ),
        (
            "utf8.txt",
            "",
            &["line 1", "column name", "invalid or unsupported UTF8", "ff"],
        ),
        (
            "digit.txt",
            "",
            &["line 1", "column id (integer)", "Invalid digit", "x1"],
        ),
        (
            "notnull.txt",
            "",
            &["line 1", "column id", "Missing data for not-null field"],
        ),
        ("blank.txt", "", &["line 2", "Delimiter not found"]),
    ];
    for (file, options, wanted) in cases {
        let url = format!("s3://warehouse/err/{file}");
        let (state, message, hint) = error_of(&c, &format!("COPY e FROM '{url}' {options}")).await;
        assert_eq!(state, "22P04", "{file}: {message}");
        assert!(message.contains(&url), "{file}: {message}");
        for w in wanted {
            assert!(message.contains(w), "{file}: {message:?} lacks {w:?}");
        }
        assert!(hint.contains("stl_load_errors"), "{file}: {hint}");
        let qid = one(&c, "SELECT pg_last_copy_id()").await;
        let logged = rows(
            &c,
            &format!(
                "SELECT filename, line_number, err_code FROM stl_load_errors WHERE query = {qid}"
            ),
        )
        .await;
        assert_eq!(logged.len(), 1, "{file}: {logged:?}");
        assert_eq!(logged[0][0].as_deref(), Some(url.as_str()));
    }
    assert_eq!(one(&c, "SELECT count(*) FROM e").await, "0");

    // The same inputs load with the options made for them.
    for (file, options) in [
        ("long.txt", "TRUNCATECOLUMNS"),
        ("utf8.txt", "ACCEPTINVCHARS AS '^'"),
        ("short.txt", "FILLRECORD"),
        ("blank.txt", "IGNOREBLANKLINES"),
    ] {
        rows(
            &c,
            &format!("COPY e FROM 's3://warehouse/err/{file}' {options}"),
        )
        .await;
    }
    assert_eq!(
        rows(&c, "SELECT name, day FROM e ORDER BY id, name").await,
        vec![
            vec![Some("a".into()), Some("2024-01-01".into())],
            vec![Some("a".into()), Some("2024-01-01".into())],
            vec![Some("a^b".into()), Some("2024-01-01".into())],
            vec![Some("abcde".into()), Some("2024-01-01".into())],
            vec![Some("b".into()), None],
            vec![Some("b".into()), Some("2024-01-02".into())],
        ]
    );

    // Whole-input failures.
    let (state, message, _) = error_of(&c, "COPY e FROM 's3://warehouse/err/bad.gz'").await;
    assert_eq!(state, "22P04");
    assert!(
        message.contains("err/bad.gz") && message.contains("gzip"),
        "{message}"
    );
    let (state, message, _) = error_of(&c, "COPY e FROM 's3://warehouse/nothing/here'").await;
    assert_eq!(state, "58P01");
    assert!(message.contains("no object has this prefix"), "{message}");
    let (state, message, _) = error_of(
        &c,
        "COPY e FROM 's3://warehouse/err/' ACCESS_KEY_ID 'wrong' SECRET_ACCESS_KEY 'wrong'",
    )
    .await;
    assert_eq!(state, "42501", "{message}");
    let (state, message, _) = error_of(&c, "COPY e FROM 's3://warehouse/err/' REGION 'mars'").await;
    assert_eq!(state, "22P02");
    assert!(
        message.contains("region \"mars\" is not configured"),
        "{message}"
    );
    let (state, _, _) = error_of(&c, "COPY e FROM 's3://warehouse/err/' NOSUCHOPTION").await;
    assert_eq!(state, "42601");
    let (state, _, _) = error_of(&c, "COPY nosuch FROM 's3://warehouse/err/'").await;
    assert_eq!(state, "42P01");
    let (state, _, _) = error_of(&c, "COPY e (id, nosuch) FROM 's3://warehouse/err/'").await;
    assert_eq!(state, "42703");
    assert_eq!(one(&c, "SELECT count(*) FROM e").await, "6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxerror_below_at_and_above_the_bad_row_count() {
    let s3 = S3Server::start().await;
    let cluster = s3_cluster(&s3, 2, &[]).await;
    let (c, notices) = cluster.client_with_notices().await;
    c.batch_execute("CREATE TABLE m (id INT, v INT) DISTSTYLE EVEN")
        .await
        .unwrap();
    let mut body = String::new();
    for i in 1..=100 {
        if [10, 50, 90].contains(&i) {
            body.push_str(&format!("{i},oops\n"));
        } else {
            body.push_str(&format!("{i},{i}\n"));
        }
    }
    s3.put("m/part-1.csv", body.into_bytes()).await;
    let (state, message, _) = error_of(&c, "COPY m FROM 's3://warehouse/m/' CSV MAXERROR 2").await;
    assert_eq!(state, "22P04");
    assert!(
        message.contains("3 rows rejected, more than MAXERROR 2"),
        "{message}"
    );
    assert!(message.contains("line 10"), "{message}");
    assert_eq!(one(&c, "SELECT count(*) FROM m").await, "0");

    rows(
        &c,
        "COPY m FROM 's3://warehouse/m/' CSV MAXERROR 3 IAM_ROLE 'arn:aws:iam::1:role/r'",
    )
    .await;
    assert_eq!(one(&c, "SELECT count(*) FROM m").await, "97");
    assert_eq!(one(&c, "SELECT pg_last_copy_count()").await, "97");
    let qid = one(&c, "SELECT pg_last_copy_id()").await;
    assert_eq!(
        rows(&c, &format!("SELECT line_number, colname, raw_field_value, err_code FROM stl_load_errors WHERE query = {qid} ORDER BY line_number")).await,
        [10, 50, 90]
            .iter()
            .map(|l| vec![Some(l.to_string()), Some("v".into()), Some("oops".into()), Some("1207".into())])
            .collect::<Vec<_>>()
    );
    rows(
        &c,
        "COPY m FROM 's3://warehouse/m/part-1.csv' CSV MAXERROR 1000",
    )
    .await;
    assert_eq!(one(&c, "SELECT count(*) FROM m").await, "194");
    let notices = notices.lock().unwrap().clone();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("IAM_ROLE is accepted and ignored")),
        "{notices:?}"
    );
    assert!(
        notices
            .iter()
            .any(|n| n.contains("3 rows rejected (MAXERROR 3)")),
        "{notices:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_entries_and_mandatory_files() {
    let s3 = S3Server::start().await;
    let cluster = s3_cluster(&s3, 1, &[]).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE mf (id INT, v VARCHAR(10))")
        .await
        .unwrap();
    s3.put("mf/a.txt", b"1|a\n2|b\n".to_vec()).await;
    s3.put("mf/b.txt.gz", gzip(b"3|c\n")).await;
    s3.put("mf/ignored.txt", b"9|z\n".to_vec()).await;
    let manifest = |mandatory: bool| {
        format!(
            r#"{{"entries": [
                {{"url": "s3://warehouse/mf/a.txt", "mandatory": true}},
                {{"url": "s3://warehouse/mf/b.txt.gz", "mandatory": true}},
                {{"url": "s3://warehouse/mf/missing.txt", "mandatory": {mandatory}}}
            ]}}"#
        )
        .into_bytes()
    };
    s3.put("mf/strict.manifest", manifest(true)).await;
    s3.put("mf/lenient.manifest", manifest(false)).await;
    let (state, message, _) = error_of(
        &c,
        "COPY mf FROM 's3://warehouse/mf/strict.manifest' MANIFEST",
    )
    .await;
    assert_eq!(state, "58P01");
    assert!(
        message.contains("s3://warehouse/mf/missing.txt") && message.contains("mandatory"),
        "{message}"
    );
    assert_eq!(one(&c, "SELECT count(*) FROM mf").await, "0");
    rows(
        &c,
        "COPY mf FROM 's3://warehouse/mf/lenient.manifest' MANIFEST",
    )
    .await;
    assert_eq!(
        rows(&c, "SELECT id FROM mf ORDER BY id").await,
        vec![
            vec![Some("1".into())],
            vec![Some("2".into())],
            vec![Some("3".into())]
        ]
    );
}

#[tokio::test]
async fn copy_from_a_local_folder_places_rows_by_diststyle() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    let folder = cluster.dir.join("input");
    std::fs::create_dir_all(&folder).unwrap();
    for part in 0..3 {
        let mut f = String::new();
        for i in 0..1000 {
            f.push_str(&format!("{}|{}\n", part * 1000 + i, i % 7));
        }
        std::fs::write(folder.join(format!("part-{part}.txt")), f).unwrap();
    }
    c.batch_execute(
        "CREATE TABLE k (id INT, v INT) DISTSTYLE KEY DISTKEY(id);
         CREATE TABLE e (id INT, v INT) DISTSTYLE EVEN;
         CREATE TABLE a (id INT, v INT) DISTSTYLE ALL;",
    )
    .await
    .unwrap();
    let prefix = format!("{}/part-", folder.display());
    for t in ["k", "e", "a"] {
        rows(&c, &format!("COPY {t} FROM '{prefix}'")).await;
        assert_eq!(one(&c, &format!("SELECT count(*) FROM {t}")).await, "3000");
    }
    let k = per_slice(&c, "k").await;
    assert_eq!(k.iter().sum::<i64>(), 3000);
    assert!(k.iter().all(|&n| n > 500), "{k:?}");
    // Keys are co-located: the same ids went to the same slices as an INSERT puts them.
    c.batch_execute("CREATE TABLE k2 (id INT, v INT) DISTKEY(id); INSERT INTO k2 SELECT * FROM k")
        .await
        .unwrap();
    assert_eq!(per_slice(&c, "k2").await, k);
    let e = per_slice(&c, "e").await;
    assert_eq!(e.iter().sum::<i64>(), 3000);
    assert!(e.iter().all(|&n| n >= 500), "{e:?}");
    assert_eq!(per_slice(&c, "a").await, vec![3000, 0, 3000, 0]);
    // file:// URLs name the same files.
    rows(&c, &format!("COPY e FROM 'file://{prefix}1'")).await;
    assert_eq!(one(&c, "SELECT count(*) FROM e").await, "4000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unload_then_copy_round_trips_every_type() {
    let s3 = S3Server::start().await;
    let cluster = s3_cluster(&s3, 2, &[]).await;
    let c = cluster.client().await;
    c.batch_execute(&format!("CREATE TABLE src {TYPED} DISTKEY(id)"))
        .await
        .unwrap();
    s3.put("rt/in.txt", as_text(&sample(500))).await;
    rows(&c, "COPY src FROM 's3://warehouse/rt/in.txt'").await;
    let original = dump(&c, "src").await;

    let formats = [
        ("parquet", "FORMAT PARQUET", "FORMAT PARQUET"),
        (
            "csv",
            "FORMAT CSV HEADER NULL AS '\\N'",
            "CSV IGNOREHEADER 1 NULL AS '\\N'",
        ),
        ("csvgz", "CSV NULL AS '\\N' GZIP", "CSV NULL AS '\\N'"),
        ("json", "FORMAT JSON", "JSON 'auto'"),
        ("jsonzst", "JSON ZSTD", "JSON 'auto'"),
        ("text", "NULL AS '\\N'", ""),
    ];
    for (name, unload, copy) in formats {
        let n = rows(
            &c,
            &format!("UNLOAD ('SELECT * FROM src') TO 's3://warehouse/out/{name}/' {unload}"),
        )
        .await;
        assert!(n.is_empty());
        // PARALLEL ON: one file per slice, named by slice.
        let keys = s3.list(&format!("out/{name}")).await;
        assert_eq!(keys.len(), 4, "{keys:?}");
        assert!(
            keys[0].starts_with(&format!("out/{name}/0000_part_00")),
            "{keys:?}"
        );
        c.batch_execute(&format!("CREATE TABLE back_{name} {TYPED}"))
            .await
            .unwrap();
        rows(
            &c,
            &format!("COPY back_{name} FROM 's3://warehouse/out/{name}/' {copy}"),
        )
        .await;
        assert_eq!(dump(&c, &format!("back_{name}")).await, original, "{name}");
    }

    // An existing prefix is refused unless ALLOWOVERWRITE.
    let (state, message, _) = error_of(
        &c,
        "UNLOAD ('SELECT * FROM src') TO 's3://warehouse/out/parquet/' FORMAT PARQUET",
    )
    .await;
    assert_eq!(state, "58P02");
    assert!(message.contains("ALLOWOVERWRITE"), "{message}");
    rows(
        &c,
        "UNLOAD ('SELECT * FROM src') TO 's3://warehouse/out/parquet/' FORMAT PARQUET ALLOWOVERWRITE",
    )
    .await;

    // PARALLEL OFF: one ordered file; MANIFEST lists it and COPY reads the manifest.
    rows(
        &c,
        "UNLOAD ('SELECT id, name FROM src ORDER BY id DESC') TO 's3://warehouse/serial/x_' CSV PARALLEL OFF MANIFEST",
    )
    .await;
    assert_eq!(
        s3.list("serial").await,
        vec!["serial/x_0000_part_00.csv", "serial/x_manifest"]
    );
    let text = String::from_utf8(s3.get("serial/x_0000_part_00.csv").await).unwrap();
    assert!(
        text.starts_with("500,\"name, 500\"\n499,"),
        "{}",
        &text[..40]
    );
    c.batch_execute("CREATE TABLE serial (id INT, name VARCHAR(20))")
        .await
        .unwrap();
    rows(
        &c,
        "COPY serial FROM 's3://warehouse/serial/x_manifest' CSV MANIFEST",
    )
    .await;
    assert_eq!(one(&c, "SELECT count(*) FROM serial").await, "500");

    // MAXFILESIZE rolls files over.
    c.batch_execute("CREATE TABLE wide (id INT, pad VARCHAR(200)); INSERT INTO wide SELECT CAST(value AS INT), repeat('x', 190) FROM generate_series(1, 40000)")
        .await
        .unwrap();
    rows(
        &c,
        "UNLOAD ('SELECT * FROM wide') TO 's3://warehouse/big/' PARALLEL OFF MAXFILESIZE 1 MB",
    )
    .await;
    let parts = s3.list("big").await;
    assert!(parts.len() >= 8, "{parts:?}");
    for p in &parts {
        let size = s3.get(p).await.len();
        assert!(
            size <= 1 << 20,
            "{p} has {size} bytes, more than MAXFILESIZE"
        );
    }
    assert!(parts.contains(&"big/0000_part_01".to_string()), "{parts:?}");

    // PARTITION BY writes Hive-style folders; INCLUDE keeps the column in the files.
    rows(
        &c,
        "UNLOAD ('SELECT * FROM src') TO 's3://warehouse/parts' FORMAT PARQUET PARTITION BY (code) INCLUDE",
    )
    .await;
    let keys = s3.list("parts").await;
    assert!(
        keys.iter().any(|k| k.starts_with("parts/code=c1/")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("parts/code=__HIVE_DEFAULT_PARTITION__/")),
        "{keys:?}"
    );
    c.batch_execute(&format!("CREATE TABLE back_parts {TYPED}"))
        .await
        .unwrap();
    rows(&c, "COPY back_parts FROM 's3://warehouse/parts/' PARQUET").await;
    assert_eq!(dump(&c, "back_parts").await, original);
}

#[tokio::test]
async fn copy_from_stdin_is_atomic() {
    let cluster = TestCluster::start(2, 1).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE s (id INT, name VARCHAR(10))")
        .await
        .unwrap();
    let sink = c
        .copy_in("COPY s FROM STDIN WITH (FORMAT csv, HEADER true)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    use futures::SinkExt;
    for chunk in ["id,name\n1,a", "lpha\n2,\"be, ta\"\n", "3,gamma\n"] {
        sink.send(bytes::Bytes::from(chunk)).await.unwrap();
    }
    let n = sink.finish().await.unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        rows(&c, "SELECT name FROM s ORDER BY id").await,
        vec![
            vec![Some("alpha".into())],
            vec![Some("be, ta".into())],
            vec![Some("gamma".into())]
        ]
    );
    // A bad row at the end rejects the whole COPY (MAXERROR 0).
    let sink = c.copy_in("COPY s FROM STDIN CSV").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from("4,delta\n5,epsilon-too-long\n"))
        .await
        .unwrap();
    let err = sink.finish().await.unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code().code(), "22P04");
    assert!(db.message().contains("STDIN, line 2"), "{}", db.message());
    assert_eq!(one(&c, "SELECT count(*) FROM s").await, "3");
    // Input that cannot be read at all (not gzip) keeps its code and speaks of STDIN.
    let sink = c.copy_in("COPY s FROM STDIN CSV GZIP").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from("6,zeta\n")).await.unwrap();
    let err = sink.finish().await.unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code().code(), "22P04", "{}", db.message());
    assert!(db.message().contains("STDIN"), "{}", db.message());
    assert!(db.message().contains("gzip"), "{}", db.message());
    assert_eq!(one(&c, "SELECT count(*) FROM s").await, "3");
    // psql's \copy sends COPY ... FROM STDIN with the file's bytes.
    let file = cluster.dir.join("local.csv");
    std::fs::write(&file, "id,name\n10,x\n11,y\n").unwrap();
    let out = cluster
        .psql()
        .args(["-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("\\copy s FROM '{}' CSV HEADER", file.display()))
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "COPY 2");
    assert_eq!(one(&c, "SELECT count(*) FROM s").await, "5");
    // Without options \copy speaks PostgreSQL's text format both ways: tab-separated,
    // backslash escapes, \N for NULL; what goes out comes back the same.
    c.batch_execute("CREATE TABLE tx (id INT, v VARCHAR(20))")
        .await
        .unwrap();
    let text = cluster.dir.join("local.txt");
    std::fs::write(
        &text,
        "1\ta\\tb\n2\t\\N\n3\tline\\nbreak\n4\tback\\\\slash\n5\t\n",
    )
    .unwrap();
    let back = cluster.dir.join("back.txt");
    let out = cluster
        .psql()
        .args(["-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("\\copy tx FROM '{}'", text.display()))
        .arg("-c")
        .arg(format!("\\copy tx TO '{}'", back.display()))
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        one(
            &c,
            "SELECT string_agg(coalesce(replace(replace(v, chr(9), '<tab>'), chr(10), '<nl>'), '<null>'), '|' ORDER BY id) FROM tx"
        )
        .await,
        "a<tab>b|<null>|line<nl>break|back\\slash|"
    );
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        std::fs::read_to_string(&text).unwrap()
    );
}

/// A CSV file of `rows` lines with one bad value at line `bad_line`.
fn big_csv(rows: usize, bad_line: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 48);
    for i in 1..=rows {
        if i == bad_line {
            writeln!(out, "{i},not-a-number,\"bad row\",2024-01-01").unwrap();
        } else {
            writeln!(
                out,
                "{i},{},\"row {i}, quoted\",2024-01-{:02}",
                i * 3,
                i % 28 + 1
            )
            .unwrap();
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_split_across_slices_with_progress_and_exact_line_numbers() {
    let s3 = S3Server::start().await;
    let cluster = s3_cluster(
        &s3,
        2,
        &[
            ("BLUESHIFT_LEADER_COPY_SPLIT_MB", "1"),
            ("BLUESHIFT_LEADER_COPY_PROGRESS_MS", "100"),
        ],
    )
    .await;
    let (c, notices) = cluster.client_with_notices().await;
    let rows_n = 150_000;
    s3.put("big/data.csv", big_csv(rows_n, 123_457)).await;
    c.batch_execute("CREATE TABLE big (id INT, v BIGINT, note VARCHAR(40), day DATE) DISTKEY(id)")
        .await
        .unwrap();
    rows(
        &c,
        "COPY big FROM 's3://warehouse/big/data.csv' CSV MAXERROR 5",
    )
    .await;
    assert_eq!(
        one(&c, "SELECT count(*) FROM big").await,
        (rows_n - 1).to_string()
    );
    assert_eq!(
        one(&c, "SELECT sum(v) FROM big").await,
        ((1..=rows_n as i64).map(|i| i * 3).sum::<i64>() - 123_457 * 3).to_string()
    );
    let qid = one(&c, "SELECT pg_last_copy_id()").await;
    // The file was read as several byte ranges; the line number is the file's.
    assert_eq!(
        rows(
            &c,
            &format!(
                "SELECT line_number, raw_field_value FROM stl_load_errors WHERE query = {qid}"
            )
        )
        .await,
        vec![vec![Some("123457".into()), Some("not-a-number".into())]]
    );
    let stl = rows(
        &c,
        &format!("SELECT count(*) FROM stl_query WHERE query = {qid} AND status = 'success'"),
    )
    .await;
    assert_eq!(stl[0][0].as_deref(), Some("1"));
    let seen = notices.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|n| n.starts_with("COPY big: ") && n.contains("tasks") && n.contains("MB read")),
        "no progress NOTICE in {seen:?}"
    );
}

/// Waits until `stv_load_state` shows a COPY that has read some input (and is still running).
async fn wait_until_loading<T>(c: &tokio_postgres::Client, load: &tokio::task::JoinHandle<T>) {
    loop {
        let state = rows(c, "SELECT bytes_loaded FROM stv_load_state").await;
        if state
            .first()
            .and_then(|r| r[0].as_deref())
            .is_some_and(|n| n != "0")
        {
            break;
        }
        assert!(
            !load.is_finished(),
            "the COPY ended before a process could be killed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        !load.is_finished(),
        "the COPY ended before a process could be killed"
    );
}

#[tokio::test]
async fn kill9_of_a_compute_node_during_copy_leaves_the_table_unchanged() {
    let mut cluster = TestCluster::start_full(
        2,
        2,
        &["--node-timeout-secs", "5"],
        &[("BLUESHIFT_LEADER_COPY_SPLIT_MB", "1")],
    )
    .await;
    let c = cluster.client().await;
    let file = cluster.dir.join("big.csv");
    std::fs::write(&file, big_csv(1_500_000, 0)).unwrap();
    c.batch_execute("CREATE TABLE k (id INT, v BIGINT, note VARCHAR(40), day DATE) DISTKEY(id); INSERT INTO k VALUES (1, 1, 'before', '2024-01-01')")
        .await
        .unwrap();
    let copier = cluster.client().await;
    let sql = format!("COPY k FROM '{}' CSV", file.display());
    let load = tokio::spawn(async move { copier.simple_query(&sql).await });
    // Wait until the nodes have read some of the input, then kill one.
    wait_until_loading(&c, &load).await;
    cluster.kill9_compute(1);
    let err = load
        .await
        .unwrap()
        .expect_err("COPY must fail when a node dies");
    let db = err.as_db_error().expect("a database error");
    assert_eq!(db.code().code(), "58030", "{}", db.message());
    cluster.spawn_compute(1);
    let c = cluster.client().await;
    // Queries work again once the node is back, and the table is as before.
    let mut count = None;
    for _ in 0..200 {
        if let Ok(r) = try_rows(&c, "SELECT count(*), min(note) FROM k").await {
            count = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        count.expect("cluster answers after the restart"),
        vec![vec![Some("1".into()), Some("before".into())]]
    );
    assert!(rows(&c, "SELECT * FROM stv_load_state").await.is_empty());

    // The same for the leader: killed mid-COPY, restarted, the table is as before.
    let copier = cluster.client().await;
    let sql = format!("COPY k FROM '{}' CSV", file.display());
    let load = tokio::spawn(async move { copier.simple_query(&sql).await });
    wait_until_loading(&c, &load).await;
    cluster.kill9_leader();
    assert!(load.await.unwrap().is_err());
    cluster.spawn_leader();
    cluster.wait_ready().await;
    let c = cluster.client().await;
    assert_eq!(
        rows(&c, "SELECT count(*), min(note) FROM k").await,
        vec![vec![Some("1".into()), Some("before".into())]]
    );
}

#[tokio::test]
async fn field_options_shape_values_as_redshift_does() {
    let cluster = TestCluster::start(1, 2).await;
    let c = cluster.client().await;
    let dir = cluster.dir.join("opts");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path.display().to_string()
    };
    c.batch_execute(
        "CREATE TABLE f (id INT, a VARCHAR(10), b VARCHAR(10), day DATE, ts TIMESTAMP)",
    )
    .await
    .unwrap();
    // ESCAPE: a backslash makes the delimiter, a newline and itself literal.
    let escaped = write(
        "escaped.txt",
        "1|a\\|b|x\\\ny|2024-01-02|2024-01-02 03:04:05\n",
    );
    rows(&c, &format!("COPY f FROM '{escaped}' ESCAPE")).await;
    // REMOVEQUOTES and a custom delimiter.
    let quoted = write(
        "quoted.txt",
        "2;\"p;q\";\"r\";2024-01-03;2024-01-03 00:00:00\n",
    );
    rows(
        &c,
        &format!("COPY f FROM '{quoted}' DELIMITER ';' REMOVEQUOTES"),
    )
    .await;
    // EMPTYASNULL, BLANKSASNULL, TRIMBLANKS, NULL AS.
    let blanks = write("blanks.txt", "3||   |nil|\n4|keep   |x|2024-01-04|\n");
    rows(
        &c,
        &format!("COPY f FROM '{blanks}' EMPTYASNULL BLANKSASNULL TRIMBLANKS NULL AS 'nil'"),
    )
    .await;
    // DATEFORMAT / TIMEFORMAT patterns and epoch seconds.
    let dates = write("dates.csv", "5,a,b,03/15/2024,15.03.2024 10:11:12\n");
    rows(
        &c,
        &format!(
            "COPY f FROM '{dates}' CSV DATEFORMAT 'MM/DD/YYYY' TIMEFORMAT 'DD.MM.YYYY HH24:MI:SS'"
        ),
    )
    .await;
    let epoch = write("epoch.csv", "6,a,b,2024-01-05,1700000000\n");
    rows(
        &c,
        &format!("COPY f FROM '{epoch}' CSV TIMEFORMAT 'epochsecs'"),
    )
    .await;
    // 'auto' reads the common spellings.
    let auto = write(
        "auto.csv",
        "7,a,b,2024/01/06,2024-01-06T07:08:09\n8,a,b,20240107,2024-01-07 07:08\n",
    );
    rows(&c, &format!("COPY f FROM '{auto}' CSV")).await;
    let s = |v: &str| Some(v.to_string());
    // JSON numbers keep every digit; strings are unescaped; ROUNDEC rounds, the default cuts.
    c.batch_execute("CREATE TABLE j (d DECIMAL(38,10), e DECIMAL(8,2), s VARCHAR(20))")
        .await
        .unwrap();
    let json = write(
        "j.json",
        "{\"d\": 1234567890123456789.0123456789, \"e\": 20.259, \"s\": \"a\\\"b\\u00e9\"}\n",
    );
    rows(&c, &format!("COPY j FROM '{json}' JSON 'auto'")).await;
    rows(&c, &format!("COPY j FROM '{json}' JSON 'auto' ROUNDEC")).await;
    assert_eq!(
        rows(&c, "SELECT d, e, s FROM j ORDER BY e").await,
        vec![
            vec![s("1234567890123456789.0123456789"), s("20.25"), s("a\"bé")],
            vec![s("1234567890123456789.0123456789"), s("20.26"), s("a\"bé")],
        ]
    );
    let got = rows(
        &c,
        "SELECT id, a, b, CAST(day AS VARCHAR), CAST(ts AS VARCHAR) FROM f ORDER BY id",
    )
    .await;
    assert_eq!(
        got,
        vec![
            vec![
                s("1"),
                s("a|b"),
                s("x\ny"),
                s("2024-01-02"),
                s("2024-01-02T03:04:05")
            ],
            vec![
                s("2"),
                s("p;q"),
                s("r"),
                s("2024-01-03"),
                s("2024-01-03T00:00:00")
            ],
            vec![s("3"), None, None, None, None],
            vec![s("4"), s("keep"), s("x"), s("2024-01-04"), None],
            vec![
                s("5"),
                s("a"),
                s("b"),
                s("2024-03-15"),
                s("2024-03-15T10:11:12")
            ],
            vec![
                s("6"),
                s("a"),
                s("b"),
                s("2024-01-05"),
                s("2023-11-14T22:13:20")
            ],
            vec![
                s("7"),
                s("a"),
                s("b"),
                s("2024-01-06"),
                s("2024-01-06T07:08:09")
            ],
            vec![
                s("8"),
                s("a"),
                s("b"),
                s("2024-01-07"),
                s("2024-01-07T07:08:00")
            ],
        ]
    );
}
