//! Routes and deterministic bodies of the demo's services. Ids `404` and
//! `500` answer with those statuses, so failures can be tried in GraphiQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) fn router(name: &str) -> Router {
    match name {
        "catalogue" => Router::new().route("/products/{id}", get(product)),
        "pricing" => Router::new()
            .route("/prices/{id}", get(price))
            .route("/prices/{id}/current", get(current_price)),
        "inventory" => Router::new()
            .route("/stock/{id}", get(stock))
            .route("/stock/{id}/events", get(stock_events)),
        "recommendations" => {
            Router::new().route("/products/{id}/recommendations", get(recommendations))
        }
        "shipping" => Router::new().route("/estimates/{id}", get(shipping)),
        "orders" => orders(),
        _ => Router::new(),
    }
}

/// A stable number from an id, so every run answers the same.
fn seed(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn failure(id: &str) -> Option<Response> {
    match id {
        "404" => Some((StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response()),
        "500" => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "boom"})),
            )
                .into_response(),
        ),
        _ => None,
    }
}

const BRANDS: [&str; 4] = ["Acme", "Globex", "Initech", "Umbrella"];
const CATEGORIES: [&str; 4] = ["kitchen", "garden", "office", "outdoor"];
const WAREHOUSES: [&str; 3] = ["AMS-1", "FRA-2", "DUB-1"];
const CARRIERS: [&str; 3] = ["DHL", "UPS", "PostNL"];

async fn product(Path(id): Path<String>) -> Response {
    if let Some(r) = failure(&id) {
        return r;
    }
    let s = seed(&id);
    Json(json!({
        "id": id,
        "name": format!("Product {id}"),
        "description": format!("A dependable product, number {id}."),
        "brand": BRANDS[(s % 4) as usize],
        "category": CATEGORIES[(s / 4 % 4) as usize],
    }))
    .into_response()
}

async fn price(Path(id): Path<String>) -> Response {
    if let Some(r) = failure(&id) {
        return r;
    }
    let cents = 500 + seed(&id) % 50_000;
    Json(json!({"productId": id, "amount": cents as f64 / 100.0, "currency": "EUR"}))
        .into_response()
}

async fn stock(Path(id): Path<String>) -> Response {
    if let Some(r) = failure(&id) {
        return r;
    }
    let s = seed(&id);
    let quantity = s % 40;
    Json(json!({
        "productId": id,
        "inStock": quantity > 0,
        "quantity": quantity,
        "warehouse": WAREHOUSES[(s % 3) as usize],
    }))
    .into_response()
}

/// Milliseconds since the Unix epoch, as events carry it.
fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// A price that changes every three seconds: what `@poll` notices.
async fn current_price(Path(id): Path<String>) -> Response {
    if let Some(r) = failure(&id) {
        return r;
    }
    let tick = (now_ms() / 3000.0) as u64;
    let cents = 500 + seed(&id).wrapping_add(tick * 37) % 50_000;
    Json(json!({"productId": id, "amount": cents as f64 / 100.0, "currency": "EUR"}))
        .into_response()
}

#[derive(Deserialize)]
struct Every {
    /// Milliseconds between events (default 1000, at least 10).
    every: Option<u64>,
}

/// The inventory's live stock: a Server-Sent Events stream, one event per
/// `every` ms (default 1 s) with the stock level and the time it was sent
/// (`at`, ms since the epoch), and a comment every 5 s as a heartbeat.
async fn stock_events(Path(id): Path<String>, Query(q): Query<Every>) -> Response {
    if let Some(r) = failure(&id) {
        return r;
    }
    let every = std::time::Duration::from_millis(q.every.unwrap_or(1000).max(10));
    let s = seed(&id);
    let ticks = tokio::time::interval(every);
    let events = futures_util::stream::unfold((ticks, 0u64), move |(mut ticks, n)| {
        let id = id.clone();
        async move {
            ticks.tick().await;
            let quantity = (s.wrapping_add(n * 7)) % 40;
            let event = json!({
                "productId": id,
                "quantity": quantity,
                "inStock": quantity > 0,
                "warehouse": WAREHOUSES[(s % 3) as usize],
                "sequence": n,
                "at": now_ms(),
            });
            let chunk = format!("id: {n}\nevent: stock\ndata: {event}\n\n");
            Some((Ok::<_, std::convert::Infallible>(chunk), (ticks, n + 1)))
        }
    });
    (
        [
            (http::header::CONTENT_TYPE, "text/event-stream"),
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(events),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn recommendations(Path(id): Path<String>, Query(q): Query<Limit>) -> Response {
    if let Some(r) = failure(&id) {
        return r;
    }
    let limit = q.limit.unwrap_or(4).clamp(1, 20);
    let s = seed(&id);
    let recs: Vec<Value> = (0..limit)
        .map(|i| {
            let other = (s.wrapping_add(i as u64 * 7919)) % 1000;
            json!({"productId": other.to_string(), "score": (100 - i * 5) as f64 / 100.0})
        })
        .collect();
    Json(Value::Array(recs)).into_response()
}

#[derive(Deserialize)]
struct Zip {
    zip: Option<String>,
}

async fn shipping(Path(id): Path<String>, Query(q): Query<Zip>) -> Response {
    if let Some(r) = failure(&id) {
        return r;
    }
    let s = seed(&id) ^ q.zip.as_deref().map_or(0, seed);
    Json(json!({
        "productId": id,
        "days": 1 + s % 5,
        "cost": (s % 1500) as f64 / 100.0,
        "carrier": CARRIERS[(s % 3) as usize],
    }))
    .into_response()
}

/// Orders: `POST /orders` creates one, `POST /orders/{id}/capture` pays it.
/// Capturing an order that does not exist yet answers 404, which is how a
/// test sees that mutations ran in order.
fn orders() -> Router {
    #[derive(Default)]
    struct Store {
        next: AtomicU64,
        orders: Mutex<Vec<Value>>,
    }
    let store = Arc::new(Store::default());
    let create_store = store.clone();
    Router::new()
        .route(
            "/orders",
            post(move |Json(body): Json<Value>| {
                let store = create_store.clone();
                async move {
                    let n = store.next.fetch_add(1, Ordering::Relaxed) + 1;
                    let product_id = body.get("productId").cloned().unwrap_or(Value::Null);
                    let quantity = body.get("quantity").and_then(Value::as_u64).unwrap_or(1);
                    let order = json!({
                        "id": format!("order-{n}"),
                        "productId": product_id,
                        "quantity": quantity,
                        "status": "CREATED",
                        "total": quantity as f64 * 19.99,
                    });
                    store
                        .orders
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(order.clone());
                    (StatusCode::CREATED, Json(order))
                }
            }),
        )
        .route(
            "/orders/{id}/capture",
            post(move |Path(id): Path<String>| {
                let store = store.clone();
                async move {
                    let mut orders = store.orders.lock().unwrap_or_else(PoisonError::into_inner);
                    match orders.iter_mut().find(|o| o["id"] == id.as_str()) {
                        Some(order) => {
                            order["status"] = json!("PAID");
                            (StatusCode::OK, Json(order.clone()))
                        }
                        None => (
                            StatusCode::NOT_FOUND,
                            Json(json!({"error": "no such order"})),
                        ),
                    }
                }
            }),
        )
        .route("/customers/{id}/orders", get(customer_orders))
}

/// A customer's recent orders, the same every time: each names its
/// product by upc (`"1"`..`"100"`, the products subgraph's), its lines hold
/// `{ "upc": ... }` objects, and `suggested` is a list of them.
async fn customer_orders(Path(id): Path<String>) -> Response {
    if let Some(r) = failure(&id) {
        return r;
    }
    let s = seed(&id);
    let upc = |k: u64| ((s.rotate_left(k as u32 * 7) % 100) + 1).to_string();
    let orders: Vec<Value> = (0..3u64)
        .map(|k| {
            let status = ["SHIPPED", "PAID", "CREATED"][k as usize];
            json!({
                "id": format!("{id}-{}", k + 1),
                "productId": upc(k),
                "quantity": (s >> (k * 3)) % 4 + 1,
                "status": status,
                "lines": [{ "upc": upc(k), "quantity": 1 }, { "upc": upc(k + 5), "quantity": 2 }],
                "suggested": [{ "upc": upc(k + 10) }, { "upc": upc(k + 11) }],
            })
        })
        .collect();
    Json(json!(orders)).into_response()
}
