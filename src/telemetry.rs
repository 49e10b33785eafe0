//! Logs and metrics: the tracing subscriber (JSON when stderr is not a terminal, `RUST_LOG`
//! env-filter) and the Prometheus recorder behind `/metrics`. Installs globals once; no business logic.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Log format: human-readable on a terminal, JSON lines otherwise (for log collectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl LogFormat {
    /// `PUSHDEPLOY_LOG_FORMAT=json|pretty` overrides the terminal detection.
    pub fn detect() -> Self {
        match std::env::var("PUSHDEPLOY_LOG_FORMAT").as_deref() {
            Ok("json") => Self::Json,
            Ok("pretty") => Self::Pretty,
            _ if std::io::stderr().is_terminal() => Self::Pretty,
            _ => Self::Json,
        }
    }
}

/// Install the global tracing subscriber writing to stderr. Later calls are no-ops.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // An Err means a subscriber is already installed (tests, or a second call): keep it.
    drop(result);
}

/// End-to-end latency buckets (seconds): notification arrival → commit pushed.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use. Rendering it gives `/metrics`.
pub fn metrics() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only when another recorder is installed first (e.g. a test's); ours then stays local.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Render the current metrics in the Prometheus text format, running upkeep first.
pub fn render_metrics() -> String {
    let handle = metrics();
    handle.run_upkeep();
    handle.render()
}
