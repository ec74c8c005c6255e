//! The release `spur-server` binary as the HTTP benches run it: started on a
//! free loopback port with per-address caps off (every bench client writes
//! from one address), waited for, and measured from `/proc`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The release server (the benches never build it themselves), or `SPUR_SERVER_BIN` (a debug build for the
/// benches that count rather than time, such as `spur-webhooks --kill`).
pub fn binary() -> Result<PathBuf, Failure> {
    if let Some(chosen) = std::env::var_os("SPUR_SERVER_BIN") {
        return Ok(PathBuf::from(chosen));
    }
    let binary = std::env::current_dir()?.join("target/release/spur-server");
    if !binary.exists() {
        return Err("build it first: cargo build --release -p spur-server".into());
    }
    Ok(binary)
}

pub fn free_port() -> Result<u16, Failure> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts the server on `port` with `database` and the settings in `env`,
/// with no per-address or per-session caps and warnings only.
pub fn start(
    binary: &std::path::Path,
    port: u16,
    database: &str,
    env: &[(&str, &str)],
) -> Result<Child, Failure> {
    Ok(Command::new(binary)
        .env_clear()
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database)
        .env("RATE_LIMIT_PER_IP", "0")
        .env("RATE_LIMIT_PER_SESSION", "0")
        .env("RATE_LIMIT_PER_IP_DAY", "0")
        .env("CONNECTIONS_PER_IP", "0")
        .env("FEEDS_PER_IP", "0")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?)
}

/// `spur-server seed`: migrations, and the admin account when `env` has
/// `ADMIN_EMAIL` and `ADMIN_PASSWORD`.
pub fn seed(binary: &std::path::Path, database: &str, env: &[(&str, &str)]) -> Result<(), Failure> {
    let status = Command::new(binary)
        .arg("seed")
        .env_clear()
        .env("DATABASE_URL", database)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("spur-server seed: {status}").into());
    }
    Ok(())
}

/// Waits up to 30 s for the server at `base` to answer a customer.
pub async fn first_answer(client: &reqwest::Client, base: &str) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if say(client, base, "Do you ship to India?").await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{base}: no answer within 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new conversation's first message; its session id.
pub async fn say(client: &reqwest::Client, base: &str, message: &str) -> Result<String, Failure> {
    let said: Value = client
        .post(format!("{base}/v1/chat/message"))
        .json(&json!({ "message": message }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(said["sessionId"]
        .as_str()
        .ok_or("no sessionId")?
        .to_string())
}

/// Requests in flight while setting a bench up (conversations, feeds).
const SETUP_CONCURRENCY: usize = 32;

/// `n` new customers who said hello: their sessions.
pub async fn conversations(
    client: &reqwest::Client,
    base: &str,
    n: usize,
) -> Result<Vec<String>, Failure> {
    let sessions = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..SETUP_CONCURRENCY {
        let (client, base, sessions) = (client.clone(), base.to_string(), sessions.clone());
        let share = n / SETUP_CONCURRENCY + usize::from(worker < n % SETUP_CONCURRENCY);
        workers.spawn(async move {
            for _ in 0..share {
                let session = say(&client, &base, "hello").await?;
                sessions.lock().await.push(session);
            }
            Ok::<(), Failure>(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(std::mem::take(&mut *sessions.lock().await))
}

/// One live feed per session, one connection each as browsers hold them,
/// each past its first event; `clients` take turns (one per source
/// address, so that more feeds than one address has ports can open).
pub async fn open_feeds(
    clients: &[reqwest::Client],
    base: &str,
    sessions: &[String],
) -> Result<Vec<reqwest::Response>, Failure> {
    let mut feeds = Vec::with_capacity(sessions.len());
    for (round, chunk) in sessions.chunks(SETUP_CONCURRENCY).enumerate() {
        let client = &clients[round % clients.len().max(1)];
        let mut opening = tokio::task::JoinSet::new();
        for session in chunk {
            let (client, url) = (client.clone(), format!("{base}/v1/chat/events/{session}"));
            opening.spawn(async move {
                let mut feed = client.get(url).send().await?.error_for_status()?;
                // The first event (the status) says the feed is live.
                feed.chunk().await?.ok_or("the feed ended")?;
                Ok::<_, Failure>(feed)
            });
        }
        while let Some(opened) = opening.join_next().await {
            feeds.push(opened??);
        }
    }
    Ok(feeds)
}

/// The process's resident memory, KiB.
pub fn rss_kib(child: &Child) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Kills the server when dropped, whatever the bench did.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
