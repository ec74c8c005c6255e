//! Starting a real server for a test, and reading its answers.

use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use spur_server::AppState;
use spur_server::config::{Options, Settings};
use tokio_util::sync::CancellationToken;

pub struct Server {
    pub base: String,
    pub client: Client,
    pub shutdown: CancellationToken,
    pub state: AppState,
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Options for a test: a fresh SQLite file, limits off unless set.
pub fn sqlite_options() -> Options {
    let path = std::env::temp_dir().join(format!("spur-api-{}.db", uuid::Uuid::new_v4()));
    let files = std::env::temp_dir().join(format!("spur-api-files-{}", uuid::Uuid::new_v4()));
    Options {
        database_url: Some(format!("sqlite://{}", path.display())),
        files_dir: Some(files),
        rate_limit_per_ip: Some(0),
        rate_limit_per_session: Some(0),
        rate_limit_per_ip_day: Some(0),
        ..Options::default()
    }
}

pub async fn postgres_options() -> Options {
    let url = spur_core::testing::postgres::fresh_database()
        .await
        .expect("PostgreSQL must be reachable (SPUR_TEST_POSTGRES_URL or 127.0.0.1:5432)");
    Options {
        database_url: Some(url),
        ..sqlite_options()
    }
}

pub fn redis_url() -> String {
    std::env::var("SPUR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

impl Server {
    /// The conversation bound to a channel's thread, if any yet.
    pub async fn thread_conversation(
        &self,
        thread: &spur_core::channels::ExternalThread,
    ) -> Option<spur_core::conversation::Conversation> {
        self.state
            .engine
            .store()
            .conversation_by_thread(&thread.address())
            .await
            .unwrap()
    }

    /// Waits (up to 10 s) until message `seq` of the thread's conversation
    /// records what became of each of its files.
    pub async fn settled_files(
        &self,
        thread: &spur_core::channels::ExternalThread,
        seq: i64,
    ) -> Vec<spur_core::channels::Attachment> {
        for _ in 0..100 {
            if let Some(conversation) = self.thread_conversation(thread).await {
                let page = self
                    .state
                    .engine
                    .history(conversation.session_id, None, 20)
                    .await
                    .unwrap();
                if let Some(message) = page.messages.iter().find(|m| m.seq == seq)
                    && !message.meta.attachments.is_empty()
                    && message.meta.attachments.iter().all(|a| !a.pending())
                {
                    return message.meta.attachments.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("message {seq}'s files never settled");
    }

    pub async fn start(options: Options) -> Self {
        let settings = Settings::load(options).unwrap();
        let shutdown = CancellationToken::new();
        let state = spur_server::setup::state(&settings, shutdown.clone())
            .await
            .unwrap();
        Self::serve(state, shutdown).await
    }

    /// Signs in on `clock`: tests move time instead of sleeping.
    pub async fn start_with_clock(
        options: Options,
        clock: std::sync::Arc<dyn spur_core::clock::Clock>,
    ) -> Self {
        let settings = Settings::load(options).unwrap();
        let shutdown = CancellationToken::new();
        let state = spur_server::setup::state_with_clock(&settings, shutdown.clone(), clock)
            .await
            .unwrap();
        Self::serve(state, shutdown).await
    }

    pub async fn serve(state: AppState, shutdown: CancellationToken) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let done = tokio::spawn(spur_server::serve(
            listener,
            state.clone(),
            shutdown.clone(),
        ));
        Self {
            base,
            client: Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            shutdown,
            state,
            done,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `GET` a JSON body, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// `POST` for a JSON body, whatever the status.
    pub async fn post_json(&self, path: &str, body: Value) -> Value {
        self.post(path, body).await.json().await.unwrap()
    }

    /// `POST /v1/chat/message`, expecting 200.
    pub async fn say(&self, message: &str, session: Option<&str>) -> Value {
        let response = self
            .post(
                "/v1/chat/message",
                json!({"message": message, "sessionId": session}),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }
}

pub const ADMIN_EMAIL: &str = "admin@shop.example";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const AGENT_PASSWORD: &str = "agent-password-1";

impl Server {
    /// A request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs in, expecting success; returns the token.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// The seeded admin's token (created as `spur-server seed` does).
    pub async fn admin_token(&self) -> String {
        self.state
            .auth
            .ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .unwrap();
        self.token(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates an agent through the admin API; returns (account id, token).
    pub async fn agent(&self, admin: &str, email: &str) -> (String, String) {
        let response = self
            .call(
                reqwest::Method::POST,
                "/v1/admin/agents",
                Some(admin),
                Some(json!({"email": email, "name": "Agent", "password": AGENT_PASSWORD})),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        let id = body["id"].as_str().unwrap().to_string();
        (id, self.token(email, AGENT_PASSWORD).await)
    }

    /// An agent claims conversation `id` and replies `text`, both expecting 200.
    pub async fn claim_and_reply(&self, token: &str, id: impl std::fmt::Display, text: &str) {
        let (status, body) = self
            .post_as(
                token,
                &format!("/v1/agent/conversations/{id}/claim"),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .post_as(
                token,
                &format!("/v1/agent/conversations/{id}/reply"),
                json!({ "text": text }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// `GET` with a token, expecting 200.
    pub async fn get_as(&self, token: &str, path: &str) -> Value {
        let response = self
            .call(reqwest::Method::GET, path, Some(token), None)
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// `POST` with a token; returns (status, body).
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .call(reqwest::Method::POST, path, Some(token), Some(body))
            .await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Asserts the one error shape, returning the code.
pub async fn error_code(response: Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!code.is_empty(), "error shape: {body}");
    assert!(body["error"]["message"].is_string(), "error shape: {body}");
    code
}

/// Server-Sent Events from a response, until `stop` says so or the stream ends.
pub async fn sse_events(
    response: Response,
    mut stop: impl FnMut(&SseEvent) -> bool,
) -> Vec<SseEvent> {
    use futures::StreamExt;
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = SseEvent::default();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event.event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("id:") {
                    event.id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    event.data.push_str(v.trim_start());
                }
            }
            if event.event.is_empty() && event.data.is_empty() {
                continue; // keep-alive comment
            }
            let halt = stop(&event);
            events.push(event);
            if halt {
                return events;
            }
        }
    }
    events
}

#[derive(Clone, Debug, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A series' value in Prometheus text (`name{labels}` exactly), 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

impl Server {
    /// A series' current value on this server's `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        metric(&self.get("/metrics").await.text().await.unwrap(), series)
    }
}

/// Sends `request` and reads its JSON body, whatever the status.
pub async fn json_of(request: RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A server process that never outlives its test.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Redis of the test's own on `port` (killed when dropped), once it answers.
pub async fn own_redis(port: u16) -> Process {
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server must be installed");
    let redis = Process(child);
    let url = format!("redis://127.0.0.1:{port}");
    let up = async {
        while redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), up)
        .await
        .expect("redis starts");
    redis
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Waits (up to 30 s) until the server process at `base` answers `/healthz`.
pub async fn wait_ready(base: &str) {
    let client = reqwest::Client::new();
    let ready = async {
        loop {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("the server starts");
}

/// The real binary on a free port with a fresh SQLite file and `env`,
/// ready; `stop` ends it and returns what it logged on stdout.
pub struct LoggedServer {
    process: Process,
    pub base: String,
    db: std::path::PathBuf,
}

impl LoggedServer {
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let db = std::env::temp_dir().join(format!("spur-bin-{}.db", uuid::Uuid::new_v4()));
        Self::start_on(db, env).await
    }

    /// On the SQLite file `db` (a restart keeps its data).
    pub async fn start_on(db: std::path::PathBuf, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let process = Process(
            std::process::Command::new(env!("CARGO_BIN_EXE_spur-server"))
                .env_clear()
                .envs([
                    ("HOST", "127.0.0.1".to_string()),
                    ("PORT", port.to_string()),
                    ("DATABASE_URL", format!("sqlite://{}", db.display())),
                ])
                .envs(env.iter().copied())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&base).await;
        Self { process, base, db }
    }

    /// SIGKILL: no drain, nothing finished; the database is left for a restart.
    pub fn kill(mut self) -> std::path::PathBuf {
        let _ = self.process.0.kill();
        let _ = self.process.0.wait();
        std::mem::take(&mut self.db)
    }

    pub fn stop(mut self) -> String {
        use std::io::Read;
        let _ = self.process.0.kill();
        let _ = self.process.0.wait();
        let mut log = String::new();
        if let Some(mut out) = self.process.0.stdout.take() {
            let _ = out.read_to_string(&mut log);
        }
        let _ = std::fs::remove_file(&self.db);
        log
    }
}
