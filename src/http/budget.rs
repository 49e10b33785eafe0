//! The hooks' shared budget for request bodies being read: at most `server.maxBodiesInFlight`
//! bodies and `server.maxBodyBytesInFlight` bytes at once (a body without `Content-Length`
//! reserves the whole `intake.bodyLimit`). Past it the hook answers 503 with `Retry-After`, so
//! a flood of large bodies (HMAC routes must read them before they can verify) cannot take the
//! memory with it.

use super::refusals::{Sampled, refused};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes are reserved in units of this size, so the permit count fits in `u32`.
const UNIT: usize = 1024;

#[derive(Debug, Clone)]
pub struct BodyBudget {
    bodies: Arc<Semaphore>,
    units: Arc<Semaphore>,
    units_total: usize,
    body_limit: usize,
    log: Arc<Sampled>,
}

/// A body's share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    _body: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

impl BodyBudget {
    pub fn new(max_bodies: usize, max_bytes: usize, body_limit: usize) -> Self {
        let units_total = max_bytes
            .max(body_limit)
            .div_ceil(UNIT)
            .clamp(1, u32::MAX as usize);
        Self {
            bodies: Arc::new(Semaphore::new(max_bodies.max(1))),
            units: Arc::new(Semaphore::new(units_total)),
            units_total,
            body_limit,
            log: Arc::new(Sampled::new(Duration::from_secs(10))),
        }
    }

    /// Reserve room for the body `headers` announce, or the 503 to answer instead.
    #[allow(clippy::result_large_err)]
    pub fn reserve(&self, route: &'static str, headers: &HeaderMap) -> Result<Reservation, Response> {
        let announced = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<usize>().ok())
            .unwrap_or(self.body_limit)
            .min(self.body_limit);
        let units = announced.div_ceil(UNIT).clamp(1, self.units_total);
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        let body = Arc::clone(&self.bodies).try_acquire_owned();
        let bytes = Arc::clone(&self.units).try_acquire_many_owned(units);
        match (body, bytes) {
            (Ok(body), Ok(bytes)) => Ok(Reservation {
                _body: body,
                _bytes: bytes,
            }),
            _ => {
                refused(route, "busy");
                self.log.warn(|suppressed| {
                    tracing::warn!(
                        route,
                        suppressed,
                        "too many request bodies in flight (server.maxBodiesInFlight / maxBodyBytesInFlight): answered 503 with Retry-After"
                    );
                });
                let mut response = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many request bodies are being read; retry later",
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                Err(response)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length(bytes: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
        headers
    }

    #[test]
    fn bodies_past_the_byte_budget_get_503_with_retry_after_until_one_finishes() {
        let budget = BodyBudget::new(10, 3 * 1024 * 1024, 1024 * 1024);
        let held: Vec<_> = (0..3)
            .map(|_| budget.reserve("/hooks/forgejo", &length(1024 * 1024)).unwrap())
            .collect();
        let refused = budget
            .reserve("/hooks/forgejo", &length(1024 * 1024))
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        drop(held);
        assert!(budget.reserve("/hooks/forgejo", &length(1024 * 1024)).is_ok());
    }

    #[test]
    fn bodies_past_the_count_budget_are_refused_and_unannounced_ones_reserve_the_limit() {
        let budget = BodyBudget::new(2, 64 * 1024 * 1024, 1024 * 1024);
        let _a = budget.reserve("r", &length(10)).unwrap();
        let _b = budget.reserve("r", &length(10)).unwrap();
        assert!(budget.reserve("r", &length(10)).is_err());
        let budget = BodyBudget::new(10, 1024 * 1024, 1024 * 1024);
        let _whole = budget.reserve("r", &HeaderMap::new()).unwrap();
        assert!(budget.reserve("r", &length(10)).is_err());
    }
}
