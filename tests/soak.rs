//! The soak in short: one minute of mixed good and hostile traffic against
//! a `tributary serve` process over faulty upstreams (the ten-minute run is
//! `cargo bench --bench soak`, numbers in docs/benchmarks.md). Good requests
//! must all succeed, every hostile one must get its refusal, the gateway's
//! memory must level off and its good-request p99 stay bounded.

#[path = "../benches/soak/driver.rs"]
mod driver;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_mixed_traffic_leaves_good_requests_unharmed() {
    let settings = driver::Settings {
        bin: env!("CARGO_BIN_EXE_tributary").to_owned(),
        duration: Duration::from_secs(
            std::env::var("SOAK_SECS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(60),
        ),
        interval: Duration::from_secs(10),
        good_loops: 4,
        degraded_loops: 2,
        hostile_loops: 1,
        idle_sockets: 40,
        // Short connection timeouts, so the minute sees sockets cut.
        server_args: r#"headerReadTimeout: "2s", idleTimeout: "3s""#.to_owned(),
        // Generous: this is a debug build on a shared machine.
        relaxed_timeouts: true,
    };
    let summary = driver::run(&settings).await.expect("the soak runs");
    summary.print();
    assert_eq!(summary.unexpected, 0, "{:?}", summary.examples);
    assert!(summary.good > 100, "only {} good requests", summary.good);
    assert!(
        summary.hostile > 9,
        "only {} hostile requests",
        summary.hostile
    );
    assert!(
        summary.degraded > 10,
        "only {} degraded requests",
        summary.degraded
    );
    assert!(summary.connections_cut > 0, "no idle socket was cut");
    // Memory levels off: the second half grows by less than 64 MiB over
    // its start (a leak of the hostile documents alone would be hundreds).
    let half = summary.samples.len() / 2;
    let mid = summary.samples[half.saturating_sub(1)].rss_kib;
    let peak = summary.samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    assert!(
        peak < mid + 64 * 1024,
        "RSS grew from {mid} KiB to {peak} KiB"
    );
    // Good requests stay fast while the hostile ones are refused.
    for s in &summary.samples {
        assert!(
            s.good_p99_ms < 2_000.0,
            "p99 {} ms at {} s",
            s.good_p99_ms,
            s.at_s
        );
    }
}
