//! Apollo Federation v2 subgraphs of a small shop (products, reviews,
//! inventory): real GraphQL-over-HTTP servers with `_service { sdl }` and
//! `_entities`, behind the same latency, fault switch and request recorder as
//! the demo's REST upstreams ([`MockService`]).
//!
//! Each serves the SDL file in `schema/federation/subgraphs/` it was composed
//! from; `schema/federation/supergraph.graphql` is their composition
//! (`node benches/federation/compose.mjs`), routed to [`Subgraph::default_url`].

mod data;
mod http;
mod inventory;
mod log;
mod null_propagation;
mod products;
mod reviews;
mod schema;

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::dynamic::{Schema, SchemaError};

use super::{MockService, MockState};

pub use log::SubgraphRequest;

/// The composed supergraph, its subgraphs at their [`Subgraph::default_url`]s.
pub const SUPERGRAPH: &str = include_str!("../../../schema/federation/supergraph.graphql");

/// Where [`serve_fixed`] and the committed supergraph put products; reviews
/// and inventory are on the next two ports.
pub const DEFAULT_BASE_PORT: u16 = 4201;

/// One of the shop's subgraphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subgraph {
    Products,
    Reviews,
    Inventory,
}

impl Subgraph {
    /// In port order (products on the base port).
    pub const ALL: [Subgraph; 3] = [Subgraph::Products, Subgraph::Reviews, Subgraph::Inventory];

    /// The name in the supergraph's `join__Graph`.
    pub fn name(self) -> &'static str {
        match self {
            Subgraph::Products => "products",
            Subgraph::Reviews => "reviews",
            Subgraph::Inventory => "inventory",
        }
    }

    /// The subgraph's SDL, exactly as composed and as `_service { sdl }` answers.
    pub fn sdl(self) -> &'static str {
        match self {
            Subgraph::Products => products::SDL,
            Subgraph::Reviews => reviews::SDL,
            Subgraph::Inventory => inventory::SDL,
        }
    }

    /// Its url in [`SUPERGRAPH`].
    pub fn default_url(self) -> String {
        format!(
            "http://127.0.0.1:{}/graphql",
            DEFAULT_BASE_PORT + self.offset()
        )
    }

    fn offset(self) -> u16 {
        match self {
            Subgraph::Products => 0,
            Subgraph::Reviews => 1,
            Subgraph::Inventory => 2,
        }
    }

    fn schema(self) -> Result<Schema, SchemaError> {
        match self {
            Subgraph::Products => products::schema(),
            Subgraph::Reviews => reviews::schema(),
            Subgraph::Inventory => inventory::schema(),
        }
    }
}

/// How long each subgraph waits before answering (zero by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latencies {
    pub products: Duration,
    pub reviews: Duration,
    pub inventory: Duration,
}

impl Latencies {
    pub fn uniform(latency: Duration) -> Latencies {
        Latencies {
            products: latency,
            reviews: latency,
            inventory: latency,
        }
    }

    pub fn of(&self, subgraph: Subgraph) -> Duration {
        match subgraph {
            Subgraph::Products => self.products,
            Subgraph::Reviews => self.reviews,
            Subgraph::Inventory => self.inventory,
        }
    }
}

/// One running subgraph.
pub struct SubgraphServer {
    pub subgraph: Subgraph,
    /// The HTTP server, its latency, faults and recorded requests.
    service: MockService,
}

impl SubgraphServer {
    /// `http://ADDR:PORT/graphql`.
    pub fn url(&self) -> String {
        format!("{}/graphql", self.service.url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.service.addr
    }

    /// Run-time controls: latency, faults (e.g. `Fault::Status(500)`,
    /// `Fault::GraphqlErrors`, `Fault::Hang`), the raw request records and
    /// their reset.
    pub fn state(&self) -> &MockState {
        &self.service.state
    }

    /// The requests received since the last reset, oldest first (at most
    /// [`KEPT_HITS`](super::mock::KEPT_HITS)).
    pub fn requests(&self) -> Vec<SubgraphRequest> {
        self.service
            .state
            .hits()
            .into_iter()
            .map(SubgraphRequest::read)
            .collect()
    }
}

/// The three running subgraphs; dropping it (or [`Subgraphs::shutdown`])
/// stops them.
pub struct Subgraphs {
    pub products: SubgraphServer,
    pub reviews: SubgraphServer,
    pub inventory: SubgraphServer,
}

impl Subgraphs {
    /// Starts each subgraph on a free loopback port.
    pub async fn start(latencies: Latencies) -> std::io::Result<Subgraphs> {
        Subgraphs::start_on("127.0.0.1", 0, latencies).await
    }

    /// Starts them on `host` at `base_port`, `base_port + 1`, `base_port + 2`
    /// in [`Subgraph::ALL`]'s order (`base_port` 0: each on any free port).
    pub async fn start_on(
        host: &str,
        base_port: u16,
        latencies: Latencies,
    ) -> std::io::Result<Subgraphs> {
        let start = |subgraph: Subgraph| async move {
            let name = subgraph.name();
            let port = if base_port == 0 {
                0
            } else {
                base_port.checked_add(subgraph.offset()).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("base port {base_port} leaves no port for {name}"),
                    )
                })?
            };
            let schema = subgraph.schema().map_err(|e| {
                std::io::Error::other(format!("the {name} subgraph's schema: {}", e.0))
            })?;
            let routes = http::router(schema);
            let service =
                MockService::start_at(name, host, port, latencies.of(subgraph), routes).await?;
            Ok::<_, std::io::Error>(SubgraphServer { subgraph, service })
        };
        Ok(Subgraphs {
            products: start(Subgraph::Products).await?,
            reviews: start(Subgraph::Reviews).await?,
            inventory: start(Subgraph::Inventory).await?,
        })
    }

    pub fn get(&self, subgraph: Subgraph) -> &SubgraphServer {
        match subgraph {
            Subgraph::Products => &self.products,
            Subgraph::Reviews => &self.reviews,
            Subgraph::Inventory => &self.inventory,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &SubgraphServer> {
        Subgraph::ALL.into_iter().map(|s| self.get(s))
    }

    /// [`SUPERGRAPH`] routed to where these subgraphs actually listen.
    pub fn supergraph(&self) -> String {
        self.iter().fold(SUPERGRAPH.to_owned(), |sdl, server| {
            sdl.replace(&server.subgraph.default_url(), &server.url())
        })
    }

    /// Forgets every subgraph's recorded requests.
    pub fn reset(&self) {
        for server in self.iter() {
            server.state().reset();
        }
    }

    /// Stops accepting; requests in flight finish.
    pub fn shutdown(self) {
        drop(self);
    }
}

/// The `tributary subgraphs` command: serves the three subgraphs on `host` at
/// `base_port` and up ([`DEFAULT_BASE_PORT`] matches the committed
/// supergraph), each answering after `latency`, until SIGINT or SIGTERM.
pub async fn serve_fixed(host: &str, base_port: u16, latency: Duration) -> std::io::Result<()> {
    let subgraphs = Subgraphs::start_on(host, base_port, Latencies::uniform(latency)).await?;
    for server in subgraphs.iter() {
        println!(
            "subgraph {:<10} {} ({} ms)",
            server.subgraph.name(),
            server.url(),
            server.state().latency().as_millis()
        );
    }
    crate::server::shutdown_signal().await;
    subgraphs.shutdown();
    Ok(())
}
