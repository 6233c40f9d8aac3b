//! `cargo bench --bench soak`: ten minutes (`SOAK_SECS`) of mixed good and
//! hostile traffic against a release `tributary serve` over faulty demo
//! upstreams; prints RSS and good-request latency per interval
//! (`SOAK_INTERVAL_SECS`, default 30) and fails on any unexpected answer.

#[path = "soak/driver.rs"]
mod driver;

use std::time::Duration;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let settings = driver::Settings {
        bin: std::env::var("SOAK_GATEWAY_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tributary").to_owned()),
        duration: Duration::from_secs(env_u64("SOAK_SECS", 600)),
        interval: Duration::from_secs(env_u64("SOAK_INTERVAL_SECS", 30)),
        good_loops: 16,
        degraded_loops: 4,
        hostile_loops: 2,
        idle_sockets: 200,
        server_args: String::new(),
        relaxed_timeouts: false,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "soak: {} s, {} good + {} degraded + {} hostile loops, {} idle sockets, gateway {}",
        settings.duration.as_secs(),
        settings.good_loops,
        settings.degraded_loops,
        settings.hostile_loops,
        settings.idle_sockets,
        settings.bin
    );
    match runtime.block_on(driver::run(&settings)) {
        Ok(summary) => {
            summary.print();
            if summary.unexpected > 0 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("soak failed: {e}");
            std::process::exit(1);
        }
    }
}
