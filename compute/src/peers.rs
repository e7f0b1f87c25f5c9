//! The peer directory: the cluster's topology and a client for every compute node. The
//! leader reaches the nodes through it, and so does a node that sends rows to another
//! (COPY routing today; redistribute and broadcast exchanges next).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blueshift_storage::placement::Topology;

use crate::client::ComputeClient;
use crate::error::{Error, Result};
use crate::protocol::GcRequest;

#[derive(Debug)]
pub struct Peers {
    pub topology: Topology,
    clients: Vec<ComputeClient>,
    /// Cancels in flight; [`Peers::running`] waits for them.
    cancelling: Arc<InFlight>,
}

impl Peers {
    pub fn new(addrs: &[String], slices_per_node: u32, timeout: Duration) -> Result<Self> {
        if addrs.is_empty() {
            return Err(Error::BadRequest(
                "a cluster needs at least one compute node".into(),
            ));
        }
        let clients = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| ComputeClient::new(i as u32, a, timeout))
            .collect::<Result<Vec<_>>>()?;
        Ok(Peers {
            topology: Topology {
                nodes: addrs.len() as u32,
                slices_per_node,
            },
            clients,
            cancelling: Arc::default(),
        })
    }

    pub fn client_for_slice(&self, slice: u32) -> &ComputeClient {
        &self.clients[self.topology.node_of(slice) as usize]
    }

    pub fn client(&self, node: u32) -> Option<&ComputeClient> {
        self.clients.get(node as usize)
    }

    /// How long a call to a node may go unanswered.
    pub fn timeout(&self) -> Duration {
        self.clients[0].timeout()
    }

    /// Every node's address, node 0 first.
    pub fn addrs(&self) -> Vec<String> {
        self.clients.iter().map(|c| c.addr().to_string()).collect()
    }

    /// Waits until every node answers a health check, or `within` passes.
    pub async fn wait_healthy(&self, cluster_id: &str, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        for client in &self.clients {
            loop {
                match client.health(cluster_id).await {
                    Ok(h) if h.node == client.node() => break,
                    Ok(h) => {
                        return Err(Error::NotReady(format!(
                            "{} answers as node {}, expected node {}",
                            client.addr(),
                            h.node,
                            client.node()
                        )));
                    }
                    Err(e) if Instant::now() >= deadline => {
                        return Err(Error::NotReady(e.to_string()));
                    }
                    // The node answered, but refuses (e.g. its folder belongs to another cluster).
                    Err(e @ Error::Remote { .. }) => {
                        return Err(Error::NotReady(e.to_string()));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(())
    }

    /// Every node's figures of the streams it served for boundaries starting with
    /// `prefix` (`telemetry`).
    pub async fn query_figures(
        &self,
        prefix: &str,
    ) -> Result<Vec<crate::telemetry::StreamFigures>> {
        let asks = self.clients.iter().map(|c| c.query_figures(prefix));
        let answers = futures::future::try_join_all(asks).await?;
        Ok(answers.into_iter().flatten().collect())
    }

    /// Stops every node's streams of a run (a query that failed, was cancelled or is
    /// planned again), answering once they are gone. A node that cannot be asked is
    /// logged: its streams stop when their readers go.
    pub async fn cancel_run(&self, run: &str) {
        let _counted = InFlight::start(&self.cancelling);
        self.cancel_on_nodes(run).await;
    }

    /// [`Peers::cancel_run`] as a task of its own (it goes on if the caller stops
    /// waiting); counts as in flight from the call on.
    pub fn cancel_run_later(self: &Arc<Self>, run: String) -> Option<tokio::task::JoinHandle<()>> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let counted = InFlight::start(&self.cancelling);
        let peers = Arc::clone(self);
        Some(handle.spawn(async move {
            peers.cancel_on_nodes(&run).await;
            drop(counted);
        }))
    }

    async fn cancel_on_nodes(&self, run: &str) {
        let prefix = format!("{run}/");
        let asks = self.clients.iter().map(|c| c.cancel_run(&prefix));
        for (node, answer) in futures::future::join_all(asks)
            .await
            .into_iter()
            .enumerate()
        {
            match answer {
                Ok(n) if n > 0 => tracing::debug!(run, node, streams = n, "cancelled"),
                Ok(_) => {}
                Err(e) => tracing::warn!(run, node, "cancel: {}", e.message()),
            }
        }
    }

    /// The streams every node is serving now (`stv_exec_state`), once the cancels in
    /// flight are done.
    pub async fn running(&self) -> Result<Vec<crate::telemetry::StreamFigures>> {
        self.cancelling.settled(self.timeout()).await;
        let asks = self.clients.iter().map(|c| c.running(""));
        let answers = futures::future::try_join_all(asks).await?;
        Ok(answers.into_iter().flatten().collect())
    }

    /// Removes, on every node, block files that the committed state does not name: blocks
    /// staged by writes that never committed (crash, error, kill -9) and blocks of dropped
    /// tables. Must run while no write is in flight.
    pub async fn gc(&self, live: &BTreeMap<u32, Vec<String>>) -> Result<usize> {
        let mut removed = 0;
        for client in &self.clients {
            let node = client.node();
            let mine = live
                .iter()
                .filter(|(s, _)| self.topology.node_of(**s) == node)
                .map(|(s, ids)| (*s, ids.clone()))
                .collect();
            removed += client.gc(&GcRequest { live: mine }).await?.removed;
        }
        Ok(removed)
    }
}

/// A count of operations in flight, and a way to wait until there are none.
#[derive(Debug, Default)]
struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    done: tokio::sync::Notify,
}

/// One operation counted in an [`InFlight`] until dropped.
struct Counted(Arc<InFlight>);

impl InFlight {
    fn start(this: &Arc<InFlight>) -> Counted {
        this.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Counted(Arc::clone(this))
    }

    /// Waits (at most `limit`) until nothing is in flight.
    async fn settled(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let done = self.done.notified();
            if self.count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.0.done.notify_waiters();
    }
}
