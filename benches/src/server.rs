//! The release `spur-server` binary as the HTTP benches run it: started on a
//! free loopback port with per-address caps off (every bench client writes
//! from one address), waited for, and measured from `/proc`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The release binary; the benches never build it themselves.
pub fn binary() -> Result<PathBuf, Failure> {
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
