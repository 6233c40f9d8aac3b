//! The Redis tier, end to end: two gateway replicas in front of one mock
//! upstream share a real `redis-server` (started on a free port, killed when
//! the test ends).
//!
//! What one replica fetched, the other serves without calling; when Redis
//! goes away or stalls, requests are answered from the upstream within the
//! tier's timeout, with one warning per replica; when it comes back (on the
//! same port), sharing resumes by itself.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use support::TestGateway;
use support::redis::Redis;
use tributary::demo::MockService;

// A real redis-server: `support::redis::Redis`.

// ---------------------------------------------------------------------------
// Logs: what the gateway warned about.

/// Everything logged on this test's thread (the gateway, its Redis client
/// and the test share a current-thread runtime), until dropped.
struct Logs {
    text: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> Logs {
        let text = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(text.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || sink.clone())
            .finish();
        Logs {
            text,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Lines from the Redis tier at `level` (`WARN`, `INFO`).
    fn redis_lines(&self, level: &str) -> Vec<String> {
        let text = self.text.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| l.contains(&format!(" {level} ")) && l.contains("cache::redis"))
            .map(str::to_owned)
            .collect()
    }
}

// ---------------------------------------------------------------------------
// The upstream and the replicas.

/// `GET /items/{id}` -> `{id, served}`, `served` counting the answers given.
fn items() -> Router {
    let served = Arc::new(AtomicU64::new(0));
    Router::new().route(
        "/items/{id}",
        get(move |Path(id): Path<String>| {
            let n = served.fetch_add(1, Ordering::Relaxed) + 1;
            async move { Json(json!({"id": id, "served": n})) }
        }),
    )
}

/// Two replicas of one configuration (`cache` is `svc`'s cache policy).
async fn replicas(redis: &Redis, svc: &MockService, cache: &str) -> (TestGateway, TestGateway) {
    let sdl = format!(
        r#"schema
  @cache(redis: "${{REDIS_URL}}", redisTimeout: "50ms")
  @upstream(name: "svc", url: "${{SVC_URL}}", retry: false, cache: {cache})
{{ query: Query }}
type Query {{ item(id: ID!): Item @rest(upstream: "svc", path: "/items/{{$args.id}}") }}
type Item {{ id: ID! served: Int! }}
"#
    );
    let env = [("REDIS_URL", redis.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = support::gateway(&sdl, &[svc], &env).await;
    let second = support::gateway(&sdl, &[svc], &env).await;
    (first, second)
}

/// Asks `gw` for item `id`; returns its `served` number, how many calls
/// reached `svc` meanwhile and how long it took.
async fn item(gw: &TestGateway, svc: &MockService, id: u32) -> (u64, usize, Duration) {
    let before = svc.state.count();
    let started = Instant::now();
    let (status, body) = gw
        .query(&format!(r#"{{ item(id: "{id}") {{ id served }} }}"#))
        .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["item"]["id"], Value::from(id.to_string()));
    let served = body["data"]["item"]["served"]
        .as_u64()
        .unwrap_or_else(|| panic!("served is a number: {body}"));
    (served, svc.state.count() - before, took)
}

/// Asks `gw` for new items (from `next` on) until one of its answers lands
/// in Redis: proof that the replica writes to Redis again.
async fn until_it_writes_again(gw: &TestGateway, svc: &MockService, redis: &Redis, next: &mut u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys = redis.dbsize().await;
        item(gw, svc, *next).await;
        *next += 1;
        if redis.grows_past(keys, Duration::from_millis(300)).await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not write to Redis within 5 s of its return"
        );
    }
}

// ---------------------------------------------------------------------------
// Stories.

#[tokio::test]
async fn replicas_share_answers_through_redis_and_ride_out_its_outage() {
    let logs = Logs::capture();
    let mut redis = Redis::start().await;
    let svc = support::mock("svc", 20, items()).await;
    let (one, two) = replicas(&redis, &svc, r#"{ ttl: "1m" }"#).await;

    // Replica one fetches; replica two's very first request is served from
    // what one fetched.
    let (served, calls, _) = item(&one, &svc, 1).await;
    assert_eq!((served, calls), (1, 1));
    assert!(
        redis.grows_past(0, Duration::from_secs(2)).await,
        "replica one's answer reaches Redis"
    );
    let (served, calls, _) = item(&two, &svc, 1).await;
    assert_eq!(calls, 0, "replica two finds it in Redis");
    assert_eq!(served, 1, "the very answer replica one fetched");

    // Redis goes away: every request is still answered, from the upstream
    // (or from each replica's memory), each within its timeout and the
    // upstream's latency; each replica warns once.
    redis.stop();
    for (gw, id) in [
        (&one, 2),
        (&two, 3),
        (&one, 4),
        (&two, 5),
        (&one, 6),
        (&two, 7),
    ] {
        let (_, calls, took) = item(gw, &svc, id).await;
        assert_eq!(calls, 1, "item {id} comes from the upstream");
        assert!(
            took < Duration::from_secs(1),
            "item {id} took {took:?} with Redis down (redisTimeout is 50ms, the upstream 20ms)"
        );
    }
    let (_, calls, _) = item(&two, &svc, 1).await;
    assert_eq!(calls, 0, "what a replica holds in memory is still served");
    let warnings = logs.redis_lines("WARN");
    assert_eq!(
        warnings.len(),
        2,
        "one warning per replica for the whole outage:\n{}",
        warnings.join("\n")
    );

    // Redis returns on the same port (empty): both replicas use it again
    // by themselves, and replica two again serves what replica one fetched.
    let redis = Redis::start_on(redis.port).await;
    let mut next = 100;
    until_it_writes_again(&one, &svc, &redis, &mut next).await;
    until_it_writes_again(&two, &svc, &redis, &mut next).await;
    let keys = redis.dbsize().await;
    let (_, calls, _) = item(&one, &svc, 50).await;
    assert_eq!(calls, 1);
    assert!(redis.grows_past(keys, Duration::from_secs(2)).await);
    let (_, calls, _) = item(&two, &svc, 50).await;
    assert_eq!(calls, 0, "sharing through Redis has resumed");

    assert_eq!(
        logs.redis_lines("WARN").len(),
        2,
        "no new warning once it is back"
    );
    assert_eq!(
        logs.redis_lines("INFO").len(),
        2,
        "each replica says Redis is back:\n{}",
        logs.redis_lines("INFO").join("\n")
    );
}

#[tokio::test]
async fn a_fresh_shared_answer_beats_a_replicas_own_stale_one() {
    let redis = Redis::start().await;
    let svc = support::mock("svc", 0, items()).await;
    let (one, two) = replicas(&redis, &svc, r#"{ ttl: "300ms", staleIfError: "1m" }"#).await;

    let (served, calls, _) = item(&one, &svc, 1).await;
    assert_eq!((served, calls), (1, 1));
    assert!(redis.grows_past(0, Duration::from_secs(2)).await);
    let (served, calls, _) = item(&two, &svc, 1).await;
    assert_eq!((served, calls), (1, 0), "replica two takes it from Redis");

    // Both replicas now hold a copy past its TTL (kept for staleIfError).
    // Replica one refreshes it; replica two should take the fresh shared
    // answer rather than call the upstream again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (served, calls, _) = item(&one, &svc, 1).await;
    assert_eq!((served, calls), (2, 1), "replica one refreshes");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !redis.only_value().await.contains(r#""served":2"#) {
        assert!(Instant::now() < deadline, "the refresh reaches Redis");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (served, calls, _) = item(&two, &svc, 1).await;
    assert_eq!(calls, 0, "replica two finds the fresh answer in Redis");
    assert_eq!(served, 2);
}

#[tokio::test]
async fn a_stalled_redis_costs_each_request_at_most_its_timeout() {
    let logs = Logs::capture();
    let redis = Redis::start().await;
    let svc = support::mock("svc", 20, items()).await;
    let (one, two) = replicas(&redis, &svc, r#"{ ttl: "1m" }"#).await;
    item(&one, &svc, 1).await;
    assert!(redis.grows_past(0, Duration::from_secs(2)).await);

    // Redis stops answering without closing anything: each lookup gives up
    // after redisTimeout (50ms) and the upstream answers.
    redis.freeze();
    for id in 2..=5 {
        let (_, calls, took) = item(&one, &svc, id).await;
        assert_eq!(calls, 1, "item {id} comes from the upstream");
        assert!(
            took < Duration::from_secs(1),
            "item {id} took {took:?} with Redis stalled (redisTimeout is 50ms, the upstream 20ms)"
        );
    }
    let warnings = logs.redis_lines("WARN");
    assert_eq!(
        warnings.len(),
        1,
        "one warning for the stall:\n{}",
        warnings.join("\n")
    );

    redis.thaw();
    let mut next = 100;
    until_it_writes_again(&one, &svc, &redis, &mut next).await;
    let keys = redis.dbsize().await;
    let (_, calls, _) = item(&one, &svc, 50).await;
    assert_eq!(calls, 1);
    assert!(redis.grows_past(keys, Duration::from_secs(2)).await);
    let (_, calls, _) = item(&two, &svc, 50).await;
    assert_eq!(calls, 0, "sharing through Redis has resumed");
    assert_eq!(logs.redis_lines("INFO").len(), 1, "Redis is back, once");
}
