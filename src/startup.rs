//! Wires the service together: binds the listener, starts intake, engine, scan scheduler and writers,
//! and shuts down gracefully on SIGTERM/SIGINT (readiness false, intake 503, in-flight work
//! finishes within a bound, journal flushed). Owns no business logic.

use tokio_util::sync::CancellationToken;

/// Resolves when SIGTERM or SIGINT arrives (or Ctrl-C where SIGTERM does not exist).
pub async fn shutdown_signal() {
    let interrupt = async {
        // If the handler cannot be installed, never resolve rather than shutting down at once.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}

use crate::config::Settings;
use crate::engine::Engine;
use crate::gitops::Writers;
use crate::http::AppState;
use crate::http::health::Readiness;
use crate::journal::Journal;
use crate::registry::Gateway;
use std::sync::Arc;

/// A running service, as tests and `serve` use it.
pub struct Application {
    pub listener: tokio::net::TcpListener,
    pub state: AppState,
    pub engine: Arc<Engine>,
    /// Cancelled to shut down (SIGTERM in `serve`; tests and benches cancel it themselves).
    pub shutdown: CancellationToken,
    scans: tokio::sync::mpsc::UnboundedReceiver<crate::registry::ScanResult>,
}

impl Application {
    /// Open the journal, build the registry gateway, writers and engine, bind the listener (port 0 in tests).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        crate::failpoint::configure().map_err(anyhow::Error::msg)?;
        let settings = Arc::new(settings);
        let readiness = Readiness::new();
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("binding {}", settings.server.listen))?;
        // The journal first: its migrations create what the leases write (`replicas`).
        let journal = open_journal(&settings).await?;
        // Replicas on one PostgreSQL journal share the work by leases; alone, this one owns it.
        let wake_target: Arc<std::sync::OnceLock<std::sync::Weak<Engine>>> = Arc::default();
        let ownership = match &settings.intake.journal_url {
            Some(url) => {
                let target = Arc::clone(&wake_target);
                crate::ownership::Leases::start(
                    crate::ownership::Shards::from_settings(&settings),
                    crate::ownership::LeaseSettings {
                        url: url.clone(),
                        advertise: advertise_url(&settings, &listener),
                        replica: crate::ownership::replica_name(),
                        tick: std::time::Duration::from_secs(1),
                    },
                    Arc::new(move |lowest| {
                        if let Some(engine) = target.get().and_then(std::sync::Weak::upgrade) {
                            engine.wake_from(lowest);
                        }
                    }),
                    shutdown.clone(),
                )
                .context("reading the PostgreSQL URL for the leases")?
            }
            None => crate::ownership::Ownership::sole(&settings),
        };
        // Alerts on every readiness transition (before any check is set, so none is missed).
        let alerts = crate::alerts::Alerts::start(
            &settings,
            journal.clone(),
            ownership.replica().to_owned(),
            shutdown.clone(),
        )?;
        if let Some(alerts) = alerts.clone() {
            alerts.remember_pushed(&settings).await;
            readiness.observe(Arc::new(move |subject, outcome| alerts.observe(subject, outcome)));
        }
        let (engine, scans) = open_engine(&settings, journal, ownership).await?;
        if let Some(alerts) = alerts.clone() {
            let told = Arc::clone(&alerts);
            engine.on_pushed(Arc::new(move |pushed| told.deployed(pushed)));
            let watched = Arc::downgrade(&engine);
            crate::alerts::sources::watch(
                alerts,
                Arc::clone(&settings),
                Arc::new(move || watched.upgrade().map(|engine| engine.status())),
                Arc::new(crate::http::refusals::hook_refusals),
                shutdown.clone(),
            );
        }
        let _ = wake_target.set(Arc::downgrade(&engine));
        show_ownership(&engine.ownership, &readiness);
        forward_journal_health(&engine.journal, &readiness);
        // Readiness follows the last write attempt per remote, not only the startup probe, and
        // the warm-up below (installed first, so the warm-up's end is not missed).
        let remote_readiness = Arc::clone(&readiness);
        engine.writers.report_health(Arc::new(move |check, outcome| {
            remote_readiness.set(check, outcome)
        }));
        // The first notification must not pay for a clone and a full checkout (`run-once`,
        // which writes at once anyway, does not warm up: its write would fetch a second time).
        engine.writers.warm_up(settings.automations.values());
        let journal = engine.journal.clone();
        if settings.trust_notifications {
            tracing::warn!(
                "NO REGISTRY CONFIRMATION: trusting notifications as they come (quickstart mode); never use this in production"
            );
        }
        let state = AppState {
            settings: Arc::clone(&settings),
            journal,
            readiness,
            engine: Some(Arc::clone(&engine)),
            alerts,
        };
        Ok(Self {
            listener,
            state,
            engine,
            shutdown,
            scans,
        })
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.settings.server.listen)
    }

    /// Serve until the shutdown flag is triggered; then drain requests and in-flight writes.
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            engine,
            shutdown,
            scans,
        } = self;
        spawn_write_checks(&state, &engine);
        // Without registry confirmation (quickstart) there is no registry to poll either.
        let scan_tasks = if state.settings.trust_notifications {
            Vec::new()
        } else {
            let mut tasks = crate::scheduler::Scheduler::sharing(
                Arc::clone(&engine.registry),
                Some(engine.ownership.clone()),
            )
            .spawn(&shutdown);
            tasks.extend(engine.spawn_digest_refresh(&shutdown));
            tasks
        };
        let engine_task = tokio::spawn(Arc::clone(&engine).run(scans, shutdown.clone()));
        let tls = match &state.settings.server.tls {
            Some(files) => Some(crate::http::tls::ReloadingCertificate::load(
                &files.cert,
                &files.key,
            )?),
            None => None,
        };
        let readiness = Arc::clone(&state.readiness);
        let limits = state.settings.server.limits.clone();
        let grace = limits.shutdown_grace;
        let router = crate::http::router(state);
        let watcher = shutdown.clone();
        let server = tokio::spawn(crate::http::serve::serve(
            listener,
            router,
            tls,
            shutdown.clone(),
            limits,
        ));
        watcher.cancelled().await;
        readiness.begin_shutdown();
        // In-flight writes and pushes finish, bounded by the grace period.
        if tokio::time::timeout(grace, engine_task).await.is_err() {
            tracing::warn!("in-flight work did not finish within the grace period");
        }
        for task in scan_tasks {
            task.abort();
        }
        server.await??;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The engine as `serve` runs it and `run-once` drives it: journal open, registry clients,
/// writers, pins and suspensions loaded from the journal. Also returns the scan results channel
/// the registry gateway reports changed tag lists on.
async fn open_engine(
    settings: &Arc<Settings>,
    journal: Journal,
    ownership: crate::ownership::Ownership,
) -> anyhow::Result<(
    Arc<Engine>,
    tokio::sync::mpsc::UnboundedReceiver<crate::registry::ScanResult>,
)> {
    use anyhow::Context as _;
    let (sender, scans) = tokio::sync::mpsc::unbounded_channel();
    let registry = Gateway::new(settings, sender).context("building the registry clients")?;
    // What `IfNotPresent` found present before this process started.
    for kept in journal
        .first_digests()
        .await
        .context("loading the kept digests (IfNotPresent) from the journal")?
    {
        registry
            .digests
            .keep_first(&kept.repository, &kept.tag, kept.digest);
    }
    // One set of overrides: the engine sets them and plans with them, the writers check them
    // again at write time.
    let overrides = Arc::new(crate::engine::SharedOverrides::default());
    let writers = Writers::new(
        settings.data_dir.clone(),
        settings.intake.coalesce_window,
        Arc::new(crate::engine::WriteGate {
            overrides: Arc::clone(&overrides),
            ownership: ownership.clone(),
        }) as Arc<dyn crate::gitops::Gate>,
    );
    let engine = Engine::new(
        Arc::clone(settings),
        journal,
        registry,
        writers,
        overrides,
        ownership,
    );
    engine
        .load_overrides()
        .await
        .context("loading pins and suspensions from the journal")?;
    Ok((engine, scans))
}

/// The journal where the configuration puts it: PostgreSQL, or SQLite in the data dir.
async fn open_journal(settings: &Settings) -> anyhow::Result<Journal> {
    use anyhow::Context as _;
    let location = match &settings.intake.journal_url {
        Some(url) => crate::journal::Location::Postgres(url.clone()),
        None => crate::journal::Location::Sqlite(settings.data_dir.clone()),
    };
    Journal::open_at(&location).await.context("opening the journal")
}

/// Where the other replicas reach this one: `PUSHDEPLOY_ADVERTISE_URL`, else this scheme,
/// the listen address when it names one (else `POD_IP`, else the host name) and the bound port.
fn advertise_url(settings: &Settings, listener: &tokio::net::TcpListener) -> String {
    if let Ok(url) = std::env::var("PUSHDEPLOY_ADVERTISE_URL")
        && !url.trim().is_empty()
    {
        return url.trim().trim_end_matches('/').to_owned();
    }
    let bound = listener.local_addr().unwrap_or(settings.server.listen);
    let scheme = if settings.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let host = if bound.ip().is_unspecified() {
        std::env::var("POD_IP")
            .ok()
            .filter(|ip| !ip.trim().is_empty())
            .or_else(crate::ownership::host_name)
            .unwrap_or_else(|| "localhost".to_owned())
    } else {
        bound.ip().to_string()
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    format!("{scheme}://{host}:{}", bound.port())
}

/// `pushdeploy run-once`: one scan of every repository, decided and written through the same
/// engine as `serve` (pins, suspensions and deployments in the journal of `data_dir`).
pub async fn run_once(settings: Settings) -> anyhow::Result<(Arc<Settings>, crate::engine::OnceReport)> {
    if settings.intake.journal_url.is_some() {
        anyhow::bail!(
            "run-once writes as the only writer, but intake.journal.url shares the journal with replicas (which own the writers by leases); run it against a configuration without intake.journal.url, or use POST /api/v1/repositories/{{namespace}}/{{name}}/scan on a replica"
        );
    }
    let settings = Arc::new(settings);
    let ownership = crate::ownership::Ownership::sole(&settings);
    let journal = open_journal(&settings).await?;
    let (engine, _scans) = open_engine(&settings, journal, ownership).await?;
    // Every deployment is committed to the journal before `decide` returns it.
    Ok((settings, engine.reconcile_once().await))
}

/// Readiness follows the journal's storage: not ready (with the reason) while it refuses writes.
/// Keep `/readyz`'s list of owned shards current (replicas sharing a journal only).
fn show_ownership(ownership: &crate::ownership::Ownership, readiness: &Arc<Readiness>) {
    if !ownership.is_shared() {
        return;
    }
    let ownership = ownership.clone();
    let readiness = Arc::clone(readiness);
    let mut changes = ownership.changes();
    tokio::spawn(async move {
        loop {
            let report = ownership.report();
            readiness.set_ownership(report.replica, report.owned);
            if changes.changed().await.is_err() {
                return;
            }
        }
    });
}

fn forward_journal_health(journal: &Journal, readiness: &Arc<Readiness>) {
    let (mut health, readiness) = (journal.health(), Arc::clone(readiness));
    readiness.set("journal", health.borrow().clone());
    tokio::spawn(async move {
        while health.changed().await.is_ok() {
            readiness.set("journal", health.borrow_and_update().clone());
        }
    });
}

/// Probe write access to every gitops remote (without changing it) and report in readiness.
fn spawn_write_checks(state: &AppState, engine: &Arc<Engine>) {
    for automation in state.settings.automations.values() {
        let name = format!("gitops {}", automation.key);
        state
            .readiness
            .set(name.clone(), Err("write access not checked yet".to_owned()));
        let mut workspace = engine.writers.probe_workspace(automation);
        let readiness = Arc::clone(&state.readiness);
        tokio::task::spawn_blocking(move || {
            let outcome =
                crate::gitops::check_write_access(&mut workspace).map_err(|error| error.to_string());
            if let Err(error) = &outcome {
                tracing::error!(check = %name, %error, "gitops write access check failed");
            }
            readiness.set(name, outcome);
        });
    }
}

/// `pushdeploy serve`: run until SIGTERM/SIGINT.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let application = Application::build(settings).await?;
    tracing::info!(address = %application.address(), "listening");
    let trigger = application.shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        trigger.cancel();
    });
    application.run().await
}
