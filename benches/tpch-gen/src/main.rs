//! Writes the eight TPC-H tables at a scale factor as `<out>/csv/<table>.csv` (header line,
//! comma-separated, comments quoted) and `<out>/parquet/<table>.parquet` (zstd, row groups
//! of 128Ki rows), two tables at a time.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatchReader;
use clap::Parser;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use tpchgen::csv::{
    CustomerCsv, LineItemCsv, NationCsv, OrderCsv, PartCsv, PartSuppCsv, RegionCsv, SupplierCsv,
};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

#[derive(Parser)]
struct Args {
    /// TPC-H scale factor.
    #[arg(long, default_value_t = 1.0)]
    sf: f64,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

/// Row groups of 128Ki rows (DuckDB writes 122,880): readers can spread a file's groups
/// over their threads.
const ROW_GROUP_ROWS: usize = 131_072;

const TABLES: [&str; 8] = [
    "lineitem", "orders", "partsupp", "part", "customer", "supplier", "nation", "region",
];

macro_rules! csv_table {
    ($path:expr, $csv:ident, $generator:expr) => {{
        let mut w = BufWriter::with_capacity(1 << 20, File::create($path)?);
        writeln!(w, "{}", $csv::header())?;
        for row in $generator.iter() {
            writeln!(w, "{}", $csv::new(row))?;
        }
        w.flush()
    }};
}

fn write_parquet(path: &Path, reader: impl RecordBatchReader) -> std::io::Result<()> {
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let file = File::create(path)?;
    let mut w =
        ArrowWriter::try_new(file, reader.schema(), Some(props)).map_err(std::io::Error::other)?;
    for batch in reader {
        w.write(&batch.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    w.close().map_err(std::io::Error::other)?;
    Ok(())
}

fn generate(table: &str, sf: f64, out: &Path) -> std::io::Result<()> {
    let csv = out.join("csv").join(format!("{table}.csv"));
    let pq = out.join("parquet").join(format!("{table}.parquet"));
    let n = 100_000;
    match table {
        "lineitem" => {
            csv_table!(&csv, LineItemCsv, LineItemGenerator::new(sf, 1, 1))?;
            write_parquet(
                &pq,
                LineItemArrow::new(LineItemGenerator::new(sf, 1, 1)).with_batch_size(n),
            )
        }
        "orders" => {
            csv_table!(&csv, OrderCsv, OrderGenerator::new(sf, 1, 1))?;
            write_parquet(
                &pq,
                OrderArrow::new(OrderGenerator::new(sf, 1, 1)).with_batch_size(n),
            )
        }
        "partsupp" => {
            csv_table!(&csv, PartSuppCsv, PartSuppGenerator::new(sf, 1, 1))?;
            write_parquet(
                &pq,
                PartSuppArrow::new(PartSuppGenerator::new(sf, 1, 1)).with_batch_size(n),
            )
        }
        "part" => {
            csv_table!(&csv, PartCsv, PartGenerator::new(sf, 1, 1))?;
            write_parquet(
                &pq,
                PartArrow::new(PartGenerator::new(sf, 1, 1)).with_batch_size(n),
            )
        }
        "customer" => {
            csv_table!(&csv, CustomerCsv, CustomerGenerator::new(sf, 1, 1))?;
            write_parquet(
                &pq,
                CustomerArrow::new(CustomerGenerator::new(sf, 1, 1)).with_batch_size(n),
            )
        }
        "supplier" => {
            csv_table!(&csv, SupplierCsv, SupplierGenerator::new(sf, 1, 1))?;
            write_parquet(
                &pq,
                SupplierArrow::new(SupplierGenerator::new(sf, 1, 1)).with_batch_size(n),
            )
        }
        "nation" => {
            csv_table!(&csv, NationCsv, NationGenerator::new(sf, 1, 1))?;
            write_parquet(
                &pq,
                NationArrow::new(NationGenerator::new(sf, 1, 1)).with_batch_size(n),
            )
        }
        "region" => {
            csv_table!(&csv, RegionCsv, RegionGenerator::new(sf, 1, 1))?;
            write_parquet(
                &pq,
                RegionArrow::new(RegionGenerator::new(sf, 1, 1)).with_batch_size(n),
            )
        }
        other => Err(std::io::Error::other(format!("unknown table {other}"))),
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(args.out.join("csv"))?;
    std::fs::create_dir_all(args.out.join("parquet"))?;
    // lineitem alone on one thread; the other tables on the second.
    std::thread::scope(|s| {
        let big = s.spawn(|| generate("lineitem", args.sf, &args.out));
        let rest = s.spawn(|| {
            for t in &TABLES[1..] {
                generate(t, args.sf, &args.out)?;
            }
            Ok::<_, std::io::Error>(())
        });
        big.join().expect("lineitem writer")?;
        rest.join().expect("table writer")
    })
}
