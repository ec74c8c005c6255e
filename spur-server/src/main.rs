//! `spur-server [serve|migrate|seed|worker]`: configuration, logging, signals.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use secrecy::ExposeSecret;
use spur_core::Inbound;
use spur_core::events::NoEvents;
use spur_core::store::ConversationFilter;
use spur_server::config::{Cli, Command, Settings};
use spur_server::setup;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = spur_server::telemetry::Telemetry::init();
    let cli = Cli::parse();
    let settings = match Settings::load(cli.options) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("spur-server: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(&settings).await,
        Command::Seed => seed(&settings).await,
        Command::Worker => worker(settings).await,
    };
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("spur-server: {error}");
            ExitCode::FAILURE
        }
    }
}

type Failure = Box<dyn std::error::Error>;

async fn serve(settings: Settings) -> Result<(), Failure> {
    let shutdown = CancellationToken::new();
    let state = setup::state(&settings, shutdown.clone()).await?;
    let addr = SocketAddr::new(settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("HOST/PORT: cannot listen on {addr}: {e}"))?;
    tracing::info!(
        %addr,
        database = %settings.database_for_logs(),
        provider = state.engine.provider().name(),
        model = state.engine.provider().model(),
        knowledge_articles = state.engine.knowledge().len(),
        shared_limits = settings.redis_url.is_some(),
        widget = settings.widget_dir.is_some(),
        "spur-server listening; open http://{addr}/"
    );
    let tasks = state.tasks.clone();
    if let Some(metrics_addr) = settings.metrics_addr {
        let listener = tokio::net::TcpListener::bind(metrics_addr)
            .await
            .map_err(|e| format!("METRICS_ADDR: cannot listen on {metrics_addr}: {e}"))?;
        let (app, stop) = (spur_server::metrics_app(state.clone()), shutdown.clone());
        tracing::info!(%metrics_addr, "metrics served on their own address");
        tasks.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "metrics listener stopped");
            }
        });
    }
    tasks.spawn(signal(shutdown.clone()));
    spur_server::serve(listener, state, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Classification workers without the HTTP server (`USE_QUEUE=true`).
async fn worker(settings: Settings) -> Result<(), Failure> {
    let Some(queue_settings) = &settings.queue else {
        return Err("USE_QUEUE: `spur-server worker` needs USE_QUEUE=true".into());
    };
    let shutdown = CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let stores = setup::connect_store(&settings.database_url).await?;
    let knowledge = setup::knowledge_source(&settings, &stores)?;
    let engine = setup::engine(
        &settings,
        &knowledge,
        stores.conversations.clone(),
        Arc::new(NoEvents),
        Arc::new(spur_core::clock::SystemClock),
    )
    .await?;
    let tickets = setup::tickets(&settings, &stores, &engine, &shutdown, &tasks, None).await?;
    let queue = tickets
        .queue
        .clone()
        .ok_or("USE_QUEUE: no queue configured")?;
    let workers = queue_settings.workers.max(1);
    tracing::info!(
        backend = queue.backend(),
        workers,
        "classification workers running"
    );
    queue.spawn_workers(
        &setup::job_context(&settings, &tickets),
        workers,
        &shutdown,
        &tasks,
    );
    signal(shutdown).await;
    // Each worker finishes the job in hand.
    tasks.close();
    tasks.wait().await;
    tracing::info!("workers stopped");
    Ok(())
}

/// SIGINT or SIGTERM starts a graceful shutdown.
async fn signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
    shutdown.cancel();
}

async fn migrate(settings: &Settings) -> Result<(), Failure> {
    setup::connect_store(&settings.database_url).await?;
    tracing::info!(database = %settings.database_for_logs(), "migrations applied");
    Ok(())
}

/// A demo conversation to look at, and the admin account from
/// `ADMIN_EMAIL` / `ADMIN_PASSWORD` (created, or its password reset).
async fn seed(settings: &Settings) -> Result<(), Failure> {
    let stores = setup::connect_store(&settings.database_url).await?;
    match (&settings.admin_email, &settings.admin_password) {
        (Some(email), Some(password)) => {
            let auth = setup::accounts(settings, &stores);
            let admin = auth
                .ensure_admin(email, password.expose_secret())
                .await
                .map_err(|e| format!("ADMIN_EMAIL/ADMIN_PASSWORD: {e}"))?;
            println!("admin account ready: {}", admin.email);
        }
        (None, None) => {
            println!("no ADMIN_EMAIL/ADMIN_PASSWORD: no admin account created");
        }
        _ => return Err("set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither".into()),
    }
    // Seeding twice adds nothing: the demo conversation is for an empty
    // database only.
    let existing = stores
        .conversations
        .list_conversations(&ConversationFilter::default(), None, 1)
        .await?;
    if !existing.conversations.is_empty() {
        println!("the database already has conversations: no demo conversation added");
        return Ok(());
    }
    let knowledge = setup::knowledge_source(settings, &stores)?;
    let engine = setup::engine(
        settings,
        &knowledge,
        stores.conversations,
        Arc::new(NoEvents),
        Arc::new(spur_core::clock::SystemClock),
    )
    .await?;
    let first = engine
        .send_message(Inbound::new("Hi! Do you ship to India?"))
        .await?;
    let session = first.conversation.session_id;
    engine
        .send_message(Inbound::new("And how long do returns take?").in_session(session))
        .await?;
    println!("seeded a demo conversation; sessionId {session}");
    Ok(())
}
