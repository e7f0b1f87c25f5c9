//! An S3-compatible server on a loopback port, for the benchmarks: the same server the
//! integration tests start (s3s-fs, SigV4 with the tests' fixed keys, bucket `warehouse`).
//!
//! ```text
//! cargo run -p blueshift-tests --bin s3serve -- --root DIR --port 9000
//! ```

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "An S3-compatible server over a local folder")]
struct Args {
    /// The folder holding the buckets.
    #[arg(long)]
    root: PathBuf,
    /// Loopback port (0: any free one; the chosen one is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (addr, accept) = blueshift_tests::s3::serve(&args.root, args.port).await;
    println!(
        "listening on http://{addr} (access key {}, secret {}, bucket {})",
        blueshift_tests::s3::ACCESS_KEY,
        blueshift_tests::s3::SECRET_KEY,
        blueshift_tests::s3::BUCKET
    );
    accept.await.unwrap();
}
