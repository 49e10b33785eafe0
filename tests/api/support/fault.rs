//! A FAULT INJECTOR, not a registry: a tiny HTTP server that answers the faults a real
//! distribution registry cannot be made to produce (429 with Retry-After, truncated JSON, a
//! `Link` header that loops, `tags/list` pagination, which distribution 2.8 ignores, and a
//! registry that answers only after 3 s, for the per-request timeout).
//! Everything else in the tests uses the real docker-registry.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct FaultServer {
    pub port: u16,
    pub hits: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

async fn rate_limited() -> impl IntoResponse {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "7")],
        "slow down",
    )
}

async fn truncated() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"name":"truncated","tags":["1","2""#,
    )
}

async fn looping() -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::LINK,
        "</v2/looping/tags/list?n=1&last=a>; rel=\"next\""
            .parse()
            .unwrap(),
    );
    (headers, r#"{"name":"looping","tags":["a"]}"#)
}

/// Pagination as distribution 3.x does it (2.8 ignores `n` for tags and answers in one page).
async fn paged(
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> impl IntoResponse {
    let all = ["a", "b", "c", "d", "e"];
    let n: usize = query.get("n").and_then(|n| n.parse().ok()).unwrap_or(100);
    let start = query
        .get("last")
        .and_then(|last| all.iter().position(|tag| tag == last))
        .map_or(0, |index| index + 1);
    let page = &all[start..(start + n).min(all.len())];
    let mut headers = HeaderMap::new();
    if start + n < all.len() {
        let link = format!(
            "</v2/paged/tags/list?n={n}&last={}>; rel=\"next\"",
            page[page.len() - 1]
        );
        headers.insert(header::LINK, link.parse().unwrap());
    }
    (
        headers,
        axum::Json(serde_json::json!({"name": "paged", "tags": page})),
    )
}

/// A registry too slow for a short `timeout`: the answer comes after 3 s.
async fn slow() -> impl IntoResponse {
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    axum::Json(serde_json::json!({"name": "slow", "tags": ["1"]}))
}

impl FaultServer {
    pub async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let router = Router::new()
            .route("/v2/limited/tags/list", get(rate_limited))
            .route("/v2/truncated/tags/list", get(truncated))
            .route("/v2/looping/tags/list", get(looping))
            .route("/v2/paged/tags/list", get(paged))
            .route("/v2/slow/tags/list", get(slow))
            .layer(axum::middleware::from_fn(
                move |request, next: axum::middleware::Next| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move { next.run(request).await }
                },
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            port,
            hits,
            _task: task,
        }
    }
}
