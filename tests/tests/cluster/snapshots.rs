//! Snapshots and restore, through the operator's `blueshift` command and SQL: incremental
//! uploads to a real S3-compatible server, restore onto the same and another topology
//! (started with `blueshift dev` and queried), damaged and missing objects, automatic
//! snapshots and expiry.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use blueshift_tests::s3::{BUCKET, S3Server};
use blueshift_tests::{TestCluster, blueshift_bin, error_of, free_port, rows};
use serde_json::Value;

/// Runs the `blueshift` command; returns (success, stdout, stderr).
fn cli(config: Option<&Path>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(blueshift_bin());
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = cmd
        .args(args)
        .env("BLUESHIFT_LOG", "warn")
        .env("PGPASSWORD", blueshift_tests::ADMIN_PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn cli_json(config: Option<&Path>, args: &[&str]) -> Value {
    let (ok, out, err) = cli(config, args);
    assert!(ok, "blueshift {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A `blueshift dev` process, stopped (SIGTERM, so it stops its own children) when
/// dropped, also when a test fails.
struct Dev(Option<Child>);

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

/// `blueshift dev` on a data folder; returns the child and its port once it answers.
fn start_dev(dir: &Path, extra: &[&str]) -> (Dev, u16) {
    let port = free_port();
    let mut child = Command::new(blueshift_bin())
        .args(["dev", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env("BLUESHIFT_LOG", "warn")
        .env(
            "BLUESHIFT_LEADER_ADMIN_PASSWORD",
            blueshift_tests::ADMIN_PASSWORD,
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("psql") {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "dev exited early: {printed}"
        );
        printed.push_str(&line);
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (Dev(Some(child)), port)
}

fn stop_dev(mut dev: Dev) {
    let mut child = dev.0.take().unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

async fn connect(port: u16) -> tokio_postgres::Client {
    let (client, conn) =
        tokio_postgres::connect(&blueshift_tests::conn_str_for(port), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    client
}

/// Queries whose answers a restored cluster must give exactly as the source did.
const CHECKS: &[&str] = &[
    "SELECT count(*), sum(k), sum(d), count(DISTINCT s), min(day), max(day) FROM big",
    "SELECT k % 7, count(*), sum(d) FROM big GROUP BY 1 ORDER BY 1",
    "SELECT count(*), sum(a), string_agg(b, ',' ORDER BY a) FROM ev",
    "SELECT a, b FROM allt ORDER BY a NULLS FIRST",
    "SELECT count(*), sum(x) FROM auto_t",
    "SELECT count(*) FROM big JOIN allt ON big.k = allt.a",
    "SELECT \"table\", diststyle, tbl_rows FROM svv_table_info ORDER BY 1",
];

async fn answers(c: &tokio_postgres::Client) -> Vec<Vec<Vec<Option<String>>>> {
    let mut out = Vec::new();
    for q in CHECKS {
        out.push(rows(c, q).await);
    }
    out
}

fn config_file(dir: &Path, s3: &S3Server, extra: &str) -> std::path::PathBuf {
    let path = dir.join("blueshift.toml");
    std::fs::write(
        &path,
        format!(
            "{}\n[snapshots]\nlocation = \"s3://{BUCKET}/snaps\"\nregion = \"test\"\nautomated = false\n{extra}",
            s3.config()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshots_are_incremental_and_restore_onto_any_topology() {
    let s3 = S3Server::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let config_text = std::fs::read_to_string(config_file(tmp.path(), &s3, "")).unwrap();
    let cluster = TestCluster::start_config(2, 2, &[], &[], Some(&config_text)).await;
    let config = cluster.config.clone().unwrap();
    let port = cluster.port.to_string();
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE big (k INT NOT NULL, s VARCHAR(12), d DECIMAL(12,2), day DATE) DISTKEY(k) SORTKEY(k);
         INSERT INTO big SELECT value, 's' || (value % 1000), value / 8.0, DATE '2024-01-01' + (value % 400)::int FROM generate_series(1, 200000);
         DELETE FROM big WHERE k % 50 = 0;
         UPDATE big SET s = NULL WHERE k % 97 = 0;
         CREATE TABLE ev (a INT, b VARCHAR(8)) DISTSTYLE EVEN;
         INSERT INTO ev SELECT value, 'e' || value FROM generate_series(1, 3001);
         CREATE TABLE allt (a INT, b BOOLEAN) DISTSTYLE ALL;
         INSERT INTO allt VALUES (1, true), (2, false), (NULL, NULL), (7, true);
         CREATE TABLE auto_t (x DOUBLE PRECISION);
         INSERT INTO auto_t VALUES (1.5), (-0.25), (NULL);",
    )
    .await
    .unwrap();

    // A first snapshot uploads every file; a second of the unchanged cluster uploads none.
    let s1 = cli_json(
        Some(&config),
        &["snapshot", "create", "s1", "--json", "--port", &port],
    );
    assert!(s1["bytes_uploaded"].as_u64().unwrap() > 0, "{s1}");
    assert_eq!(
        s1["bytes_uploaded"],
        s1["bytes"].as_u64().unwrap() + dv_bytes(&s3).await
    );
    let big_bytes = s1["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "big")
        .unwrap()["bytes"]
        .as_u64()
        .unwrap();
    let s2 = cli_json(
        Some(&config),
        &["snapshot", "create", "s2", "--json", "--port", &port],
    );
    assert_eq!(s2["bytes_uploaded"], 0, "{s2}");
    assert_eq!(s2["files_uploaded"], 0, "{s2}");
    assert_eq!(s2["tables"], s1["tables"]);

    // About 1% more rows: about 1% of the table's bytes go up.
    c.batch_execute(
        "INSERT INTO big SELECT value, 'n', 1.25, DATE '2025-06-01' FROM generate_series(300001, 302000)",
    )
    .await
    .unwrap();
    let s3snap = cli_json(
        Some(&config),
        &["snapshot", "create", "s3", "--json", "--port", &port],
    );
    let up = s3snap["bytes_uploaded"].as_u64().unwrap();
    assert!(
        up > 0 && up * 20 < big_bytes,
        "uploaded {up} of {big_bytes}"
    );
    let golden = answers(&c).await;

    // Writes and queries go on while a snapshot is taken; the snapshot holds one commit.
    let other = cluster.client().await;
    let third = cluster.client().await;
    let (snap, write, read) = tokio::join!(
        other.batch_execute("CREATE SNAPSHOT during"),
        c.batch_execute("INSERT INTO ev VALUES (-2, 'during')"),
        third.simple_query("SELECT count(*) FROM big"),
    );
    snap.unwrap();
    write.unwrap();
    read.unwrap();
    c.batch_execute("DROP SNAPSHOT during; DELETE FROM ev WHERE a = -2")
        .await
        .unwrap();
    assert_eq!(answers(&c).await, golden);

    // Later changes are not in s3.
    c.batch_execute("DELETE FROM big WHERE k < 1000; INSERT INTO ev VALUES (-1, 'late')")
        .await
        .unwrap();

    // Listing and SQL views.
    let listed = cli_json(
        Some(&config),
        &["snapshot", "list", "--json", "--port", &port],
    );
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["s1", "s2", "s3"]);
    assert_eq!(listed[0]["kind"], "manual");
    assert_eq!(listed[0]["status"], "available");
    assert_eq!(listed[0]["regions"], serde_json::json!(["test"]));
    let (ok, text, err) = cli(
        Some(&config),
        &["snapshot", "describe", "s3", "--port", &port],
    );
    assert!(
        ok && text.contains("big") && text.contains("checksum"),
        "{text}{err}"
    );
    assert_eq!(
        rows(
            &c,
            "SELECT snapshot_name, kind, tables FROM svv_snapshots ORDER BY 1"
        )
        .await,
        vec![
            vec![Some("s1".into()), Some("manual".into()), Some("4".into())],
            vec![Some("s2".into()), Some("manual".into()), Some("4".into())],
            vec![Some("s3".into()), Some("manual".into()), Some("4".into())],
        ]
    );
    assert_eq!(
        rows(
            &c,
            "SELECT count(*) FROM stl_snapshot_log WHERE action = 'create' AND status = 'ok'"
        )
        .await,
        vec![vec![Some("4".into())]],
        "s1, s2, s3 and the one taken during writes"
    );
    let (code, msg, _) = error_of(&c, "CREATE SNAPSHOT s1").await;
    assert_eq!(code, "42710", "{msg}");
    let (code, msg, _) = error_of(&c, "DROP SNAPSHOT nope").await;
    assert_eq!(code, "42704", "{msg}");
    let (code, _, _) = error_of(&c, "CREATE SNAPSHOT 'bad/name'").await;
    assert_eq!(code, "22P02");

    // Deleting s1 keeps every file s2 and s3 still name: s2 restores below.
    let (ok, _, err) = cli(
        Some(&config),
        &["snapshot", "delete", "s1", "--port", &port],
    );
    assert!(ok, "{err}");

    // Restore s3 onto the same topology and onto 1 x 3, and start each with `blueshift dev`.
    for (folder, topo) in [
        ("same", vec![]),
        ("resliced", vec!["--nodes", "1", "--slices-per-node", "3"]),
    ] {
        let dest = tmp.path().join(folder);
        let dest_s = dest.display().to_string();
        let mut args = vec![
            "restore",
            "--snapshot",
            "s3",
            "--data-dir",
            &dest_s,
            "--json",
        ];
        args.extend(topo.iter().copied());
        let report = cli_json(Some(&config), &args);
        for check in report["checks"].as_array().unwrap() {
            assert_eq!(check["rows"], check["expected_rows"], "{report}");
            assert_eq!(check["checksum"], check["expected_checksum"], "{report}");
        }
        let config_arg = config.display().to_string();
        let (dev, dev_port) = start_dev(&dest, &["--config", &config_arg]);
        let r = connect(dev_port).await;
        assert_eq!(answers(&r).await, golden, "restored into {folder}");
        if folder == "resliced" {
            // One table of a 2 x 2 snapshot into this 1 x 3 cluster: its rows are re-placed.
            r.batch_execute(
                "RESTORE TABLE big_back FROM SNAPSHOT s3 TABLE big;
                 RESTORE TABLE allt_back FROM SNAPSHOT s3 TABLE allt;
                 RESTORE TABLE ev_back FROM SNAPSHOT s3 TABLE ev",
            )
            .await
            .unwrap();
            for (t, back, cols) in [
                ("big", "big_back", "k, s, d, day"),
                ("allt", "allt_back", "a, b"),
                ("ev", "ev_back", "a, b"),
            ] {
                assert_eq!(
                    rows(
                        &r,
                        &format!("SELECT {cols} FROM {t} EXCEPT ALL SELECT {cols} FROM {back}")
                    )
                    .await,
                    Vec::<Vec<Option<String>>>::new(),
                    "{back}"
                );
                assert_eq!(
                    rows(&r, &format!("SELECT count(*) FROM {t}")).await,
                    rows(&r, &format!("SELECT count(*) FROM {back}")).await
                );
            }
            let per_slice = rows(&r, "SELECT count(DISTINCT slice) FROM stv_tbl_perm WHERE name = 'big_back' AND rows > 0").await;
            assert_eq!(
                per_slice[0][0].as_deref(),
                Some("3"),
                "KEY rows spread over every slice"
            );
        }
        let slices = rows(&r, "SELECT count(*) FROM stv_slices").await;
        assert_eq!(
            slices[0][0].as_deref(),
            Some(if folder == "same" { "4" } else { "3" })
        );
        // The restored cluster is a cluster: it takes writes.
        r.batch_execute("INSERT INTO ev VALUES (9, 'new')")
            .await
            .unwrap();
        drop(r);
        stop_dev(dev);
        // dev takes the topology from the folder, and refuses flags that contradict it.
        let (ok, _, err) = cli(None, &["dev", "--data-dir", &dest_s, "--nodes", "5"]);
        assert!(!ok && err.contains("cannot change"), "{err}");
    }

    // s2 still restores after s1's deletion collected the files only s1 named.
    let dest = tmp.path().join("from-s2");
    let report = cli_json(
        Some(&config),
        &[
            "restore",
            "--snapshot",
            "s2",
            "--data-dir",
            &dest.display().to_string(),
            "--json",
        ],
    );
    assert_eq!(report["tables"], 4);

    // A missing manifest: restore names it and leaves nothing behind.
    let manifest = "snaps/manifests/s2.json";
    assert!(has(&s3, manifest).await);
    object_store::ObjectStoreExt::delete(&s3.store(), &object_store::path::Path::from(manifest))
        .await
        .unwrap();
    let dest = tmp.path().join("no-manifest");
    let (ok, _, err) = cli(
        Some(&config),
        &[
            "restore",
            "--snapshot",
            "s2",
            "--data-dir",
            &dest.display().to_string(),
        ],
    );
    assert!(!ok && err.contains("manifests/s2.json"), "{err}");
    assert!(!dest.exists());

    // Garbage collection: dropping s2 takes only what no other snapshot names; dropping
    // the last one leaves no file behind.
    let before = s3.list("snaps/files").await.len();
    c.batch_execute("DROP SNAPSHOT s2").await.unwrap();
    assert_eq!(
        s3.list("snaps/files").await.len(),
        before,
        "s3 names every file s2 did, and more"
    );
    c.batch_execute("DROP SNAPSHOT s3").await.unwrap();
    assert!(s3.list("snaps/files").await.is_empty());
    assert!(s3.list("snaps/snapshots").await.is_empty());
    assert!(s3.list("snaps/manifests").await.is_empty());
}

/// Bytes of delete vector files in the location (they are not in a record's `bytes`).
async fn dv_bytes(s3: &S3Server) -> u64 {
    let mut n = 0;
    for key in s3.list("snaps/files").await {
        if key.ends_with(".dv") {
            n += s3.get(&key).await.len() as u64;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_or_missing_object_stops_restore_and_leaves_no_folder() {
    let cluster = TestCluster::start(1, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE t (a INT, b VARCHAR(10)) DISTSTYLE EVEN;
         INSERT INTO t SELECT value, 'v' || value FROM generate_series(1, 5000);
         CREATE SNAPSHOT 'snap-1'",
    )
    .await
    .unwrap();
    let location = cluster.dir.join("leader").join("snapshots");
    let loc = location.display().to_string();
    let files: Vec<_> = std::fs::read_dir(location.join("files"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let restore = |dest: &Path| {
        cli(
            None,
            &[
                "restore",
                "--snapshot",
                "snap-1",
                "--location",
                &loc,
                "--data-dir",
                &dest.display().to_string(),
            ],
        )
    };
    // Intact: restores.
    let (ok, out, err) = restore(&tmp.path().join("good"));
    assert!(ok && out.contains("verified"), "{out}{err}");

    // One flipped byte: the error names the object, and nothing is left to start.
    let victim = &files[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let saved = bytes.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(victim, &bytes).unwrap();
    let dest = tmp.path().join("bad");
    let (ok, _, err) = restore(&dest);
    let name = victim.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        !ok && err.contains(&name) && err.contains("corrupted"),
        "{err}"
    );
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only the good restore remains"
    );

    // A missing object: likewise.
    std::fs::write(victim, &saved).unwrap();
    std::fs::remove_file(victim).unwrap();
    let (ok, _, err) = restore(&dest);
    assert!(!ok && err.contains(&name), "{err}");
    assert!(!dest.exists());

    // A snapshot that does not exist, and a folder that is not empty.
    let (ok, _, err) = cli(
        None,
        &[
            "restore",
            "--snapshot",
            "nope",
            "--location",
            &loc,
            "--data-dir",
            &dest.display().to_string(),
        ],
    );
    assert!(!ok && err.contains("does not exist"), "{err}");
    let (ok, _, err) = restore(&tmp.path().join("good"));
    assert!(!ok && err.contains("not empty"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn automatic_snapshots_come_by_interval_and_by_bytes_and_expire() {
    let s3 = S3Server::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let path = config_file(
        tmp.path(),
        &s3,
        "check_seconds = 0.2\ninterval_hours = 0.0005\nmin_gap_minutes = 0\n",
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("automated = false", "automated = true");
    let cluster = TestCluster::start_config(1, 2, &[], &[], Some(&text)).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2)")
        .await
        .unwrap();
    // The interval (1.8 s) passes: an automated snapshot of the table's commit appears
    // (one of the empty cluster may come first, if the interval ran out before the insert).
    let auto = wait_for(
        &c,
        "SELECT snapshot_name FROM svv_snapshots WHERE kind = 'automated' AND rows = 2",
    )
    .await;
    assert!(auto.starts_with("auto-"), "{auto}");
    // An unchanged cluster gets no more.
    let taken = rows(&c, "SELECT count(*) FROM svv_snapshots").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rows(&c, "SELECT count(*) FROM svv_snapshots").await, taken);
    // An expired snapshot (created two days before its one-day retention) is deleted.
    let key = format!("snaps/snapshots/{auto}.json");
    let mut record: Value = serde_json::from_slice(&s3.get(&key).await).unwrap();
    let two_days_ago = record["created_unix_ms"].as_i64().unwrap() - 2 * 86_400_000;
    record["created_unix_ms"] = two_days_ago.into();
    s3.put(&key, serde_json::to_vec(&record).unwrap()).await;
    c.batch_execute("INSERT INTO t VALUES (3)").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = rows(&c, &format!("SELECT count(*) FROM stl_snapshot_log WHERE action = 'expire' AND snapshot_name = '{auto}'")).await;
        if log[0][0].as_deref() == Some("1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expired snapshot was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!has(&s3, &key).await);

    // By bytes: a large interval, 1 MB changed per node.
    drop(c);
    let path = config_file(
        tmp.path(),
        &s3,
        "check_seconds = 0.2\ninterval_hours = 1000\nbytes_changed_per_node_mb = 1\nmin_gap_minutes = 0\n",
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("automated = false", "automated = true")
        .replace("/snaps\"", "/snaps-bytes\"");
    let cluster2 = TestCluster::start_config(1, 1, &[], &[], Some(&text)).await;
    let c = cluster2.client().await;
    c.batch_execute("CREATE TABLE small (a INT); INSERT INTO small VALUES (1)")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rows(&c, "SELECT count(*) FROM svv_snapshots").await,
        vec![vec![Some("0".into())]],
        "a few bytes changed is not enough"
    );
    c.batch_execute(
        "CREATE TABLE wide (a BIGINT, s VARCHAR(40)); INSERT INTO wide SELECT value * 7919, md5(value::varchar) FROM generate_series(1, 200000)",
    )
    .await
    .unwrap();
    wait_for(
        &c,
        "SELECT snapshot_name FROM svv_snapshots WHERE kind = 'automated'",
    )
    .await;
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lazy_restore_answers_at_once_and_fetches_its_files_as_it_runs() {
    let s3 = S3Server::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let config = config_file(tmp.path(), &s3, "");
    let config_text = std::fs::read_to_string(&config).unwrap();
    let cluster = TestCluster::start_config(2, 1, &[], &[], Some(&config_text)).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE big (k INT, s VARCHAR(12)) DISTKEY(k) SORTKEY(k);
         INSERT INTO big SELECT value, 's' || (value % 100) FROM generate_series(1, 100000);
         DELETE FROM big WHERE k % 9 = 0;
         CREATE TABLE small (a INT, b VARCHAR(4)) DISTSTYLE ALL;
         INSERT INTO small VALUES (1, 'x'), (2, NULL);
         CREATE VIEW joined AS SELECT s, count(*) AS n FROM big JOIN small ON big.k = small.a GROUP BY s;
         CREATE SNAPSHOT 'l1'",
    )
    .await
    .unwrap();
    let queries = [
        "SELECT count(*), sum(k), count(DISTINCT s) FROM big",
        "SELECT a, b FROM small ORDER BY a",
        "SELECT s, count(*) FROM big JOIN small ON big.k = small.a GROUP BY s ORDER BY s",
        // Views travel in the snapshot.
        "SELECT s, n FROM joined ORDER BY s",
    ];
    let mut golden = Vec::new();
    for q in queries {
        golden.push(rows(&c, q).await);
    }
    let sums = rows(&c, "CHECKSUM TABLE big, small").await;
    drop(cluster);

    // The folder holds the catalog and, per node, the plan of its files: no block yet.
    let dest = tmp.path().join("lazy");
    let dest_s = dest.display().to_string();
    let args = ["restore", "--snapshot", "l1", "--data-dir", &dest_s];
    let (ok, _, err) = cli(
        Some(&config),
        &[&args[..], &["--lazy", "--nodes", "1"]].concat(),
    );
    assert!(!ok && err.contains("--lazy"), "{err}");
    let report = cli_json(Some(&config), &[&args[..], &["--lazy", "--json"]].concat());
    assert_eq!(report["lazy"], true, "{report}");
    assert_eq!(report["bytes_downloaded"], 0, "{report}");
    assert!(report["files_to_fetch"].as_u64().unwrap() > 2, "{report}");
    for n in 0..2 {
        let names: Vec<String> = std::fs::read_dir(dest.join(format!("compute-{n}")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, ["lazy.json"]);
    }

    // One of big's files is kept from the nodes for now: the background keeps trying.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(s3.root.path().join(BUCKET).join("snaps/manifests/l1.json")).unwrap(),
    )
    .unwrap();
    let slices = manifest["tables"]["big"]["data"]["slices"]
        .as_object()
        .unwrap();
    let held_id = slices.values().next().unwrap()["blocks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let held = s3
        .root
        .path()
        .join(BUCKET)
        .join(format!("snaps/files/{held_id}.parquet"));
    let aside = held.with_extension("aside");
    std::fs::rename(&held, &aside).unwrap();

    let config_arg = config.display().to_string();
    let (dev, port) = start_dev(&dest, &["--config", &config_arg]);
    let r = connect(port).await;
    // Queries whose files the location holds answer at once, fetching what they read.
    assert_eq!(rows(&r, queries[1]).await, golden[1]);
    // One that needs the held file fails, naming it, rather than hang or answer short.
    let err = r.simple_query(queries[0]).await.unwrap_err();
    let db = err.as_db_error().expect("an error from the server");
    assert!(db.message().contains(&held_id), "{}", db.message());
    assert!(dest.join("compute-0/lazy.json").exists() || dest.join("compute-1/lazy.json").exists());

    // Stopped half-filled, the cluster starts again with its plans and goes on.
    stop_dev(dev);
    let (dev, port) = start_dev(&dest, &["--config", &config_arg]);
    let r = connect(port).await;
    assert_eq!(rows(&r, queries[1]).await, golden[1]);
    assert!(dest.join("compute-0/lazy.json").exists() || dest.join("compute-1/lazy.json").exists());

    // Back in place: the background finishes, every plan is removed, every answer is right.
    std::fs::rename(&aside, &held).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while (0..2).any(|n| dest.join(format!("compute-{n}/lazy.json")).exists()) {
        assert!(
            Instant::now() < deadline,
            "the nodes never finished fetching"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (q, want) in queries.iter().zip(&golden) {
        assert_eq!(&rows(&r, q).await, want, "{q}");
    }
    let restored_sums = rows(&r, "CHECKSUM TABLE big, small").await;
    let strip =
        |v: &Vec<Vec<Option<String>>>| -> Vec<_> { v.iter().map(|r| r[..3].to_vec()).collect() };
    assert_eq!(strip(&restored_sums), strip(&sums));
    let committed = blueshift_tests::committed_blocks(&r).await;
    stop_dev(dev);

    // Every file is now local: the cluster starts and answers with the location gone.
    let files = (0..2)
        .map(|n| count_files(&dest.join(format!("compute-{n}/slices")), "parquet"))
        .sum::<usize>();
    assert_eq!(files, committed);
    drop(s3);
    let (dev, port) = start_dev(&dest, &["--config", &config_arg]);
    let r = connect(port).await;
    for (q, want) in queries.iter().zip(&golden) {
        assert_eq!(&rows(&r, q).await, want, "{q}");
    }
    stop_dev(dev);
}

/// Files with extension `ext` anywhere under `dir`.
fn count_files(dir: &Path, ext: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                count_files(&p, ext)
            } else {
                usize::from(p.extension().is_some_and(|x| x == ext))
            }
        })
        .sum()
}

/// Polls until the query returns a row; returns its first column.
async fn wait_for(c: &tokio_postgres::Client, sql: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = rows(c, sql).await;
        if let Some(row) = r.first() {
            return row[0].clone().unwrap();
        }
        assert!(Instant::now() < deadline, "nothing from {sql}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two S3-compatible servers stand for two regions.
fn two_region_config(east: &S3Server, west: &S3Server) -> String {
    use blueshift_tests::s3::{ACCESS_KEY, SECRET_KEY};
    let region = |name: &str, s: &S3Server| {
        format!(
            "[regions.{name}]\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\nallow_http = true\n",
            s.endpoint()
        )
    };
    format!(
        "{}{}[snapshots]\nlocation = \"s3://{BUCKET}/east\"\nregion = \"east\"\nautomated = false\ncheck_seconds = 0.3\ncopy_to_region = \"west\"\ncopy_location = \"s3://{BUCKET}/west\"\n",
        region("east", east),
        region("west", west)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshots_are_copied_to_the_second_region_and_one_table_restores() {
    let east = S3Server::start().await;
    let west = S3Server::start().await;
    let text = two_region_config(&east, &west);
    let cluster = TestCluster::start_config(2, 1, &[], &[], Some(&text)).await;
    let config = cluster.config.clone().unwrap();
    let port = cluster.port.to_string();
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE t (k INT, v VARCHAR(20)) DISTKEY(k);
         INSERT INTO t SELECT value, 'v' || value FROM generate_series(1, 100000);
         CREATE TABLE d (a INT) DISTSTYLE ALL;
         INSERT INTO d VALUES (1), (2), (3);
         CREATE SNAPSHOT s1",
    )
    .await
    .unwrap();
    // The copy follows on its own; the listing shows both regions once it is complete.
    wait_for(&c, "SELECT snapshot_name FROM svv_snapshots WHERE snapshot_name = 's1' AND regions = 'east,west'").await;
    let west_only = cli_json(
        Some(&config),
        &[
            "snapshot", "list", "--region", "west", "--json", "--port", &port,
        ],
    );
    assert_eq!(west_only.as_array().unwrap().len(), 1);
    assert!(!west.list("west/files").await.is_empty());
    assert!(west.list("west/pending").await.is_empty());

    // The second copy is incremental: only the new blocks cross.
    c.batch_execute(
        "INSERT INTO t SELECT value, 'w' FROM generate_series(200001, 201000); CREATE SNAPSHOT s2",
    )
    .await
    .unwrap();
    wait_for(&c, "SELECT snapshot_name FROM svv_snapshots WHERE snapshot_name = 's2' AND regions = 'east,west'").await;
    let copied = rows(
        &c,
        "SELECT snapshot_name, bytes FROM stl_snapshot_log WHERE action = 'copy' ORDER BY 1",
    )
    .await;
    let bytes = |i: usize| copied[i][1].as_deref().unwrap().parse::<u64>().unwrap();
    assert!(bytes(1) > 0 && bytes(1) * 10 < bytes(0), "{copied:?}");
    let (ok, out, err) = cli(
        Some(&config),
        &[
            "snapshot",
            "copy",
            "s1",
            "--to-region",
            "west",
            "--port",
            &port,
        ],
    );
    assert!(ok && out.contains("already"), "{out}{err}");
    let (code, msg, _) = error_of(&c, "COPY SNAPSHOT s1 TO REGION 'mars'").await;
    assert_eq!(code, "22P02", "{msg}");
    let golden = rows(&c, "SELECT count(*), sum(k), max(v) FROM t").await;

    // One table back under a new name, from the west copy, checked against the record.
    c.batch_execute("DELETE FROM t WHERE k < 50000")
        .await
        .unwrap();
    let (ok, out, err) = cli(
        Some(&config),
        &[
            "restore-table",
            "--snapshot",
            "s2",
            "--source-table",
            "t",
            "--target-table",
            "t_back",
            "--region",
            "west",
            "--port",
            &port,
        ],
    );
    assert!(ok && out.contains("checksum verified"), "{out}{err}");
    assert_eq!(
        rows(&c, "SELECT count(*), sum(k), max(v) FROM t_back").await,
        golden
    );
    let (ok, out, err) = cli(
        Some(&config),
        &[
            "restore-table",
            "--snapshot",
            "s1",
            "--source-table",
            "d",
            "--target-table",
            "d_back",
            "--port",
            &port,
        ],
    );
    assert!(ok, "{out}{err}");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM d_back JOIN d USING (a)").await,
        vec![vec![Some("3".into())]]
    );
    let (code, _, _) = error_of(&c, "RESTORE TABLE t_back FROM SNAPSHOT s1 TABLE t").await;
    assert_eq!(code, "42P07");
    let (code, msg, _) = error_of(&c, "RESTORE TABLE x FROM SNAPSHOT s1 TABLE nope").await;
    assert_eq!(code, "42P01", "{msg}");
    // The restored tables survive a restart (they were committed, with their files).
    drop(c);
    let mut cluster = cluster;
    cluster.restart_hard().await;
    let c = cluster.client().await;
    assert_eq!(
        rows(&c, "SELECT count(*), sum(k), max(v) FROM t_back").await,
        golden
    );

    // A whole cluster from the west copy.
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dr");
    let report = cli_json(
        Some(&config),
        &[
            "restore",
            "--snapshot",
            "s2",
            "--region",
            "west",
            "--data-dir",
            &dest.display().to_string(),
            "--json",
        ],
    );
    assert_eq!(report["region"], "west");
    let (dev, dev_port) = start_dev(&dest, &["--config", &config.display().to_string()]);
    let r = connect(dev_port).await;
    assert_eq!(
        rows(&r, "SELECT count(*), sum(k), max(v) FROM t").await,
        golden
    );
    drop(r);
    stop_dev(dev);

    // Dropping a snapshot removes it from both regions.
    c.batch_execute("DROP SNAPSHOT s1").await.unwrap();
    assert!(!has(&east, "east/snapshots/s1.json").await);
    assert!(!has(&west, "west/snapshots/s1.json").await);
    assert!(has(&west, "west/snapshots/s2.json").await);
}

fn drill_dirs() -> usize {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("blueshift-drill-")
            })
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dr_drill_restores_from_the_dr_region_and_verifies_every_table() {
    let east = S3Server::start().await;
    let west = S3Server::start().await;
    let text = two_region_config(&east, &west);
    let cluster = TestCluster::start_config(2, 2, &[], &[], Some(&text)).await;
    let config = cluster.config.clone().unwrap();
    let port = cluster.port.to_string();
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE f (id BIGINT, amount DECIMAL(12,2), note VARCHAR(30)) DISTKEY(id) SORTKEY(id);
         INSERT INTO f SELECT value, value * 1.25, 'n' || (value % 77) FROM generate_series(1, 50000);
         DELETE FROM f WHERE id % 9 = 0;
         CREATE TABLE dim (k INT, name VARCHAR(10)) DISTSTYLE ALL;
         INSERT INTO dim VALUES (1, 'one'), (2, 'two');
         CREATE TABLE e (x INT) DISTSTYLE EVEN;",
    )
    .await
    .unwrap();
    let before = drill_dirs();
    let report = cli_json(Some(&config), &["dr-drill", "--json", "--port", &port]);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["fresh"], true);
    assert_eq!(report["region"], "west");
    assert_eq!(report["live_verified"], true, "{report}");
    assert_eq!(report["tables_verified"], 3);
    assert_eq!(report["tables_mismatched"], 0);
    assert!(report["bytes_transferred"].as_u64().unwrap() > 0);
    assert!(report["rto_seconds"].as_f64().unwrap() >= report["restore_seconds"].as_f64().unwrap());
    // The first drill found no earlier snapshot in the DR region; the second finds the first.
    assert!(report["rpo_seconds"].is_null(), "{report}");
    assert_eq!(drill_dirs(), before, "the temporary cluster is removed");
    let first = report["snapshot"].as_str().unwrap().to_string();
    let (ok, out, err) = cli(
        Some(&config),
        &["dr-drill", "--snapshot", &first, "--port", &port],
    );
    assert!(
        ok && out.contains("PASSED") && out.contains("RPO"),
        "{out}{err}"
    );

    // A damaged object in the DR region: the drill fails, and still cleans up.
    let victim = west
        .list("west/files")
        .await
        .into_iter()
        .find(|k| k.ends_with(".parquet"))
        .unwrap();
    let mut bytes = west.get(&victim).await;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x11;
    west.put(&victim, bytes).await;
    let (ok, out, err) = cli(
        Some(&config),
        &["dr-drill", "--snapshot", &first, "--port", &port],
    );
    assert!(!ok && err.contains("corrupted"), "{out}{err}");
    assert_eq!(drill_dirs(), before);
}

/// Whether the server holds the object `key` (listing is by folder).
async fn has(s3: &S3Server, key: &str) -> bool {
    let folder = key.rsplit_once('/').map_or("", |(f, _)| f);
    s3.list(folder).await.iter().any(|k| k == key)
}

/// Waits until `key` exists in the server (a snapshot's pending marker: the snapshot is
/// under way). Returns false if the snapshot finished first.
async fn until_pending(s3: &S3Server, key: &str, done: &tokio::task::JoinHandle<bool>) -> bool {
    loop {
        if has(s3, key).await {
            return true;
        }
        if done.is_finished() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn spawn_snapshot(conn_str: String, name: &'static str) -> tokio::task::JoinHandle<bool> {
    tokio::spawn(async move {
        let Ok((client, conn)) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls).await
        else {
            return false;
        };
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SNAPSHOT {name}"))
            .await
            .is_ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_snapshots_and_restores_leaves_every_earlier_snapshot_restorable() {
    let east = S3Server::start().await;
    let west = S3Server::start().await;
    let text = two_region_config(&east, &west);
    let mut cluster = TestCluster::start_config(2, 1, &[], &[], Some(&text)).await;
    let config = cluster.config.clone().unwrap();
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE big (k BIGINT, v VARCHAR(40)) DISTKEY(k);
         INSERT INTO big SELECT value, md5(value::varchar) FROM generate_series(1, 1500000);
         CREATE SNAPSHOT s1",
    )
    .await
    .unwrap();
    wait_for(&c, "SELECT snapshot_name FROM svv_snapshots WHERE snapshot_name = 's1' AND regions = 'east,west'").await;
    let golden = rows(&c, "SELECT count(*), sum(k), max(v) FROM big").await;

    // The leader dies while s2 uploads (new blocks everywhere, so there is work to do).
    c.batch_execute("UPDATE big SET v = upper(v)")
        .await
        .unwrap();
    drop(c);
    let job = spawn_snapshot(cluster.conn_str(), "s2");
    let mid = until_pending(&east, "east/pending/s2.json", &job).await;
    cluster.kill9_leader();
    eprintln!("leader killed during s2: {mid}");
    cluster.spawn_leader();
    cluster.wait_ready().await;
    let c = cluster.client().await;
    // Its marker is cleared at start-up; s1 is listed and whole in both regions.
    assert!(east.list("east/pending").await.is_empty());
    let listed = rows(&c, "SELECT snapshot_name FROM svv_snapshots ORDER BY 1").await;
    assert!(listed.contains(&vec![Some("s1".into())]), "{listed:?}");
    if mid {
        assert!(
            !listed.contains(&vec![Some("s2".into())]),
            "s2 was not finished: {listed:?}"
        );
    }
    // The next run completes.
    if !listed.contains(&vec![Some("s2".into())]) {
        c.batch_execute("CREATE SNAPSHOT s2").await.unwrap();
    }

    // A compute node dies while s3 uploads: s3 fails with the node named, its marker goes,
    // and once the node is back s3 completes.
    c.batch_execute("UPDATE big SET v = lower(v)")
        .await
        .unwrap();
    let job = spawn_snapshot(cluster.conn_str(), "s3");
    let mid = until_pending(&east, "east/pending/s3.json", &job).await;
    cluster.kill9_compute(1);
    eprintln!("compute node killed during s3: {mid}");
    let finished = job.await.unwrap();
    if mid {
        assert!(!finished || has(&east, "east/snapshots/s3.json").await);
    }
    cluster.spawn_compute(1);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if has(&east, "east/snapshots/s3.json").await {
            break;
        }
        let tried = c.batch_execute("CREATE SNAPSHOT s3").await;
        if tried.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "s3 never completed after the node came back: {tried:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(east.list("east/pending").await.is_empty());

    // The leader dies while copying s4 to the second region: after the restart the copy
    // is finished (it is started again from the top, and only missing files cross).
    c.batch_execute("UPDATE big SET v = v || 'x'; CREATE SNAPSHOT s4")
        .await
        .unwrap();
    let copying = loop {
        if has(&west, "west/pending/s4.json").await {
            break true;
        }
        if has(&west, "west/snapshots/s4.json").await {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    drop(c);
    cluster.kill9_leader();
    eprintln!("leader killed during the copy of s4: {copying}");
    cluster.spawn_leader();
    cluster.wait_ready().await;
    let c = cluster.client().await;
    wait_for(&c, "SELECT snapshot_name FROM svv_snapshots WHERE snapshot_name = 's4' AND regions = 'east,west'").await;
    assert!(west.list("west/pending").await.is_empty());

    // The leader dies while deleting s2 (its record goes first, then its files): s1 and
    // s3 keep every file they name.
    let job = {
        let conn_str = cluster.conn_str();
        tokio::spawn(async move {
            let (client, conn) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client.batch_execute("DROP SNAPSHOT s2").await.is_ok()
        })
    };
    while has(&east, "east/snapshots/s2.json").await && !job.is_finished() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(c);
    cluster.kill9_leader();
    cluster.spawn_leader();
    cluster.wait_ready().await;
    let c = cluster.client().await;
    assert!(!has(&east, "east/snapshots/s2.json").await);
    // Its copy in the second region may still be there; deleting again completes.
    let listed = rows(&c, "SELECT snapshot_name FROM svv_snapshots ORDER BY 1").await;
    if listed.contains(&vec![Some("s2".into())]) {
        c.batch_execute("DROP SNAPSHOT s2").await.unwrap();
    }
    let listed = rows(&c, "SELECT snapshot_name FROM svv_snapshots ORDER BY 1").await;
    assert!(!listed.contains(&vec![Some("s2".into())]), "{listed:?}");
    for snap in ["s1", "s3", "s4"] {
        let d = tempfile::tempdir().unwrap();
        let report = cli_json(
            Some(&config),
            &[
                "restore",
                "--snapshot",
                snap,
                "--json",
                "--data-dir",
                &d.path().join("x").display().to_string(),
            ],
        );
        assert_eq!(report["rows"], 1_500_000, "{report}");
    }
    drop(c);

    // A restore killed part-way leaves nothing that could be started; the next one works,
    // and s1 (taken before all of this) restores from both regions with its rows.
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("r");
    let mut restore = Command::new(blueshift_bin())
        .arg("--config")
        .arg(&config)
        .args([
            "restore",
            "--snapshot",
            "s1",
            "--region",
            "west",
            "--data-dir",
        ])
        .arg(&dest)
        .env("BLUESHIFT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let staging_seen = loop {
        let staging = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".r.restoring-"));
        if staging || matches!(restore.try_wait(), Ok(Some(_))) {
            break staging;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    restore.kill().ok();
    let status = restore.wait().unwrap();
    eprintln!(
        "restore killed part-way: {}",
        staging_seen && !status.success()
    );
    if staging_seen && !status.success() {
        assert!(!dest.exists(), "a killed restore left {}", dest.display());
    }
    std::fs::remove_dir_all(&dest).ok();
    // The next restore to that folder clears what the killed one left, and completes.
    let report = cli_json(
        Some(&config),
        &[
            "restore",
            "--snapshot",
            "s1",
            "--region",
            "west",
            "--json",
            "--data-dir",
            &dest.display().to_string(),
        ],
    );
    assert_eq!(report["rows"], 1_500_000, "{report}");
    for region in ["west", "test-primary"] {
        let mut args = vec!["restore", "--snapshot", "s1", "--json", "--data-dir"];
        let d = tmp.path().join(format!("r-{region}"));
        let d_s = d.display().to_string();
        args.push(&d_s);
        if region == "west" {
            args.extend(["--region", "west"]);
        }
        let report = cli_json(Some(&config), &args);
        assert_eq!(report["rows"], 1_500_000, "{report}");
        let (dev, port) = start_dev(&d, &["--config", &config.display().to_string()]);
        let r = connect(port).await;
        let restored = rows(&r, "SELECT count(*), sum(k), max(v) FROM big").await;
        drop(r);
        stop_dev(dev);
        assert_eq!(restored, golden);
    }
    // No staging folder is left behind.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("restoring"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
