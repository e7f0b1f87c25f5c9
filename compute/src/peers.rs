//! The peer directory: the cluster's topology and a client for every compute node. The
//! leader reaches the nodes through it, and so does a node that sends rows to another
//! (COPY routing today; redistribute and broadcast exchanges next).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use blueshift_storage::placement::Topology;

use crate::client::ComputeClient;
use crate::error::{Error, Result};
use crate::protocol::GcRequest;

#[derive(Debug)]
pub struct Peers {
    pub topology: Topology,
    clients: Vec<ComputeClient>,
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
