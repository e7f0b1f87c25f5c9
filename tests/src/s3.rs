//! A real S3-compatible HTTP server for the tests: s3s-fs on a loopback port, SigV4 with a
//! fixed key pair, each bucket a folder under a temporary root.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const ACCESS_KEY: &str = "blueshift-test";
pub const SECRET_KEY: &str = "blueshift-test-secret";
pub const BUCKET: &str = "warehouse";

pub struct S3Server {
    pub root: tempfile::TempDir,
    pub addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl S3Server {
    /// Starts the server on the current Tokio runtime (use a multi-threaded test runtime,
    /// so it answers while the test waits on the cluster).
    pub async fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        let (addr, accept) = serve(root.path(), 0).await;
        S3Server { root, addr, accept }
    }
}

/// Serves the folder `root` (bucket `warehouse` inside it, made if missing) over the S3
/// API on a loopback port (`0`: any free one). Returns the address and the accept loop.
pub async fn serve(root: &std::path::Path, port: u16) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    {
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        (addr, accept)
    }
}

impl S3Server {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A configuration naming this server as region `test`, the default.
    pub fn config(&self) -> String {
        format!(
            "[storage]\ndefault_region = \"test\"\n\n[regions.test]\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\nallow_http = true\n",
            self.endpoint()
        )
    }

    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(self.endpoint())
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .with_bucket_name(BUCKET)
                .build()
                .unwrap(),
        )
    }

    /// Uploads an object through the S3 API.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.store()
            .put(&Path::from(key), bytes.into())
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }

    pub async fn get(&self, key: &str) -> Vec<u8> {
        self.store()
            .get(&Path::from(key))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    /// Keys under a prefix, sorted.
    pub async fn list(&self, prefix: &str) -> Vec<String> {
        use futures::TryStreamExt;
        let mut keys: Vec<String> = self
            .store()
            .list(Some(&Path::from(prefix)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
