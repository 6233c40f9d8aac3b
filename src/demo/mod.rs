//! The seed scenario: five simulated upstreams of a product page (plus an
//! orders service for mutations), and the demo schema bound to them; and the
//! shop's federation subgraphs ([`subgraphs`]).

pub mod fault;
pub mod mock;
mod services;
pub mod subgraphs;

use std::collections::HashMap;
use std::time::Duration;

pub use fault::Fault;
pub use mock::{Hit, MockService, MockState};

/// The demo schema, compiled in so `tributary demo` works from anywhere.
pub const DEMO_SCHEMA: &str = include_str!("../../schema/demo.graphql");

/// Seed latencies: catalogue 120, pricing 95, inventory 110,
/// recommendations 140, shipping 65 (sequential sum 530 ms, slowest 140 ms).
pub const SEED: [(&str, u64); 6] = [
    ("catalogue", 120),
    ("pricing", 95),
    ("inventory", 110),
    ("recommendations", 140),
    ("shipping", 65),
    ("orders", 30),
];

/// The running simulated upstreams.
pub struct Demo {
    pub services: Vec<MockService>,
}

impl Demo {
    /// Starts every service on a free loopback port; `latency` overrides the
    /// seed latencies (e.g. zero for throughput runs).
    pub async fn start(latency: Option<Duration>) -> std::io::Result<Demo> {
        Demo::start_on("127.0.0.1", 0, latency).await
    }

    /// Starts every service on `host`, at fixed ports `base_port`,
    /// `base_port + 1`, ... in the order of [`SEED`] (`base_port` 0: each on
    /// any free port). `latency` as in [`Demo::start`].
    pub async fn start_on(
        host: &str,
        base_port: u16,
        latency: Option<Duration>,
    ) -> std::io::Result<Demo> {
        let mut services = Vec::new();
        for (offset, (name, ms)) in (0u16..).zip(SEED) {
            let port = if base_port == 0 {
                0
            } else {
                base_port.checked_add(offset).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("base port {base_port} leaves no port for {name}"),
                    )
                })?
            };
            let router = services::router(name);
            let latency = latency.unwrap_or(Duration::from_millis(ms));
            services.push(MockService::start_at(name, host, port, latency, router).await?);
        }
        Ok(Demo { services })
    }

    /// `CATALOGUE_URL` etc. pointing at the running services: the demo
    /// schema reads its upstream URLs from these.
    pub fn env(&self) -> HashMap<String, String> {
        self.services
            .iter()
            .map(|s| (format!("{}_URL", s.name.to_ascii_uppercase()), s.url()))
            .collect()
    }

    pub fn service(&self, name: &str) -> Option<&MockService> {
        self.services.iter().find(|s| s.name == name)
    }
}
