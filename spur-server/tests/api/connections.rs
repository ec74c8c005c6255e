//! Slow and idle clients do not hold the server: trickled headers, idle
//! sockets and trickled bodies are cut off; one address holds a bounded
//! number of connections and live feeds.

use std::time::Duration;

use spur_server::config::Options;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{Server, error_code, postgres_options, redis_url, sqlite_options};

/// Whether the server closed the connection within `within` (a hang
/// guard: the server's own limits here are a few hundred milliseconds).
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(within, read).await.unwrap_or(false)
}

fn host(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_dropped() {
    let server = Server::start(Options {
        header_read_timeout_ms: Some(300),
        body_read_timeout_ms: Some(300),
        ..sqlite_options()
    })
    .await;

    // A socket that never says anything.
    let mut idle = TcpStream::connect(host(&server)).await.unwrap();
    assert!(closed_by_server(&mut idle, Duration::from_secs(5)).await);

    // Headers trickled a line at a time, forever.
    let mut trickle = TcpStream::connect(host(&server)).await.unwrap();
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut cut = false;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if trickle
            .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            cut = true;
            break;
        }
    }
    assert!(
        cut || closed_by_server(&mut trickle, Duration::from_secs(1)).await,
        "trickled headers are cut off"
    );

    // A kept-alive connection left idle after its request.
    let mut kept = TcpStream::connect(host(&server)).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(closed_by_server(&mut kept, Duration::from_secs(5)).await);

    // A body trickled byte by byte into the streaming route.
    let mut slow_body = TcpStream::connect(host(&server)).await.unwrap();
    slow_body
        .write_all(
            b"POST /v1/chat/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = async {
        for byte in b"\"message\": \"hello there\"" {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow_body.write_all(&[*byte]).await.is_err() {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok();
    let _ = tokio::time::timeout(Duration::from_secs(5), slow_body.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_closes_sockets_that_said_nothing() {
    let server = Server::start(Options {
        header_read_timeout_ms: Some(60_000),
        ..sqlite_options()
    })
    .await;
    let mut silent = TcpStream::connect(host(&server)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.shutdown.cancel();
    assert!(closed_by_server(&mut silent, Duration::from_secs(5)).await);
    let done = tokio::time::timeout(Duration::from_secs(5), server.done).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "the server returns once its sockets are closed: {done:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_a_bounded_number_of_connections() {
    let server = Server::start(Options {
        connections_per_ip: Some(3),
        ..sqlite_options()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(host(&server)).await.unwrap());
    }
    // Accepted only to be closed at once.
    let mut fourth = TcpStream::connect(host(&server)).await.unwrap();
    assert!(closed_by_server(&mut fourth, Duration::from_secs(5)).await);
    drop(held.pop());
    // A place is free again once one closes.
    let mut again = None;
    for _ in 0..50 {
        let mut stream = TcpStream::connect(host(&server)).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply).await;
        if reply.starts_with(b"HTTP/1.1 200") {
            again = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a freed place serves again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_a_bounded_number_of_feeds() {
    let server = Server::start(Options {
        feeds_per_ip: Some(2),
        ..sqlite_options()
    })
    .await;
    let session = server.say("Hello there", None).await["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/chat/events/{session}");
    let feed = || server.get(&path);
    let first = feed().await;
    let second = feed().await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    assert_eq!(error_code(feed().await, 429).await, "too_many_feeds");
    let admin = server.admin_token().await;
    let agents = server
        .call(reqwest::Method::GET, "/v1/agent/events", Some(&admin), None)
        .await;
    assert_eq!(
        error_code(agents, 429).await,
        "too_many_feeds",
        "agents' feeds count too"
    );
    drop(first);
    let mut reopened = false;
    for _ in 0..100 {
        let response = feed().await;
        if response.status() == 200 {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened, "a closed feed frees its place");
    drop(second);
}

/// One customer session holds a bounded number of feeds (tabs, reconnects),
/// however many addresses it comes from; another session is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_holds_a_bounded_number_of_feeds() {
    let server = Server::start(Options {
        feeds_per_ip: Some(0),
        feeds_per_session: Some(2),
        ..sqlite_options()
    })
    .await;
    let session = |said: serde_json::Value| said["sessionId"].as_str().unwrap().to_string();
    let (mine, theirs) = (
        session(server.say("Hello there", None).await),
        session(server.say("Hi", None).await),
    );
    let feed = |session: &str| {
        let path = format!("/v1/chat/events/{session}");
        let server = &server;
        async move { server.get(&path).await }
    };
    let first = feed(&mine).await;
    let second = feed(&mine).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    assert_eq!(error_code(feed(&mine).await, 429).await, "too_many_feeds");
    assert_eq!(
        feed(&theirs).await.status(),
        200,
        "another session is not capped"
    );
    drop(first);
    let mut reopened = false;
    for _ in 0..100 {
        if feed(&mine).await.status() == 200 {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened, "a closed feed frees its place");
}

/// With Redis the feed caps hold for the deployment, not per instance: an
/// address's feed on one instance counts on the other, a closed feed frees
/// its place everywhere, and an instance that stops leaves nothing counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_caps_hold_across_instances_through_redis() {
    let database = postgres_options().await.database_url;
    let options = |per_ip: usize, per_session: usize| Options {
        database_url: database.clone(),
        redis_url: Some(redis_url()),
        feeds_per_ip: Some(per_ip),
        feeds_per_session: Some(per_session),
        trusted_proxies: Some(vec!["127.0.0.1".into()]),
        ..sqlite_options()
    };
    let a = Server::start(options(2, 0)).await;
    let b = Server::start(options(2, 0)).await;
    // Addresses of this run's own: earlier runs' counts are not in the way.
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let ip = format!("10.{}.{}.{}", bytes[0], bytes[1], bytes[2]);
    let other = format!("10.{}.{}.{}", bytes[3], bytes[4], bytes[5]);
    let third = format!("10.{}.{}.{}", bytes[6], bytes[7], bytes[8]);
    let session = a.say("Hello there", None).await["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let feed = |server: &Server, from: &str| {
        let request = server
            .client
            .get(server.url(&format!("/v1/chat/events/{session}")))
            .header("x-forwarded-for", from);
        async move { request.send().await.unwrap() }
    };
    let first = feed(&a, &ip).await;
    let second = feed(&b, &ip).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    // A holds one of the address's feeds: only the shared count is full.
    assert_eq!(error_code(feed(&a, &ip).await, 429).await, "too_many_feeds");
    assert_eq!(error_code(feed(&b, &ip).await, 429).await, "too_many_feeds");
    assert_eq!(
        feed(&b, &other).await.status(),
        200,
        "another address is not capped"
    );

    drop(first);
    let reopened = eventually(|| async { feed(&b, &ip).await.status() == 200 }).await;
    assert!(reopened, "a closed feed frees its place on every instance");

    // A stops: what it held is given back, and B serves the address again.
    let held_on_a = [feed(&a, &third).await, feed(&a, &third).await];
    assert!(held_on_a.iter().all(|r| r.status() == 200));
    assert_eq!(
        error_code(feed(&b, &third).await, 429).await,
        "too_many_feeds"
    );
    a.shutdown.cancel();
    drop(held_on_a);
    let freed = eventually(|| async { feed(&b, &third).await.status() == 200 }).await;
    assert!(freed, "a stopped instance leaves nothing counted");
    drop(second);

    // The per-session cap is shared the same way.
    let c = Server::start(options(0, 1)).await;
    let d = Server::start(options(0, 1)).await;
    let session = c.say("Hi", None).await["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/chat/events/{session}");
    let on_c = c.get(&path).await;
    assert_eq!(on_c.status(), 200);
    assert_eq!(error_code(d.get(&path).await, 429).await, "too_many_feeds");
}

/// Whether `check` comes true within five seconds.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A killed instance never gives its feeds back: they stop counting when
/// its heartbeat runs out, and another instance takes the places.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_feeds_stop_counting_when_its_heartbeat_runs_out() {
    use spur_server::redis_link::RedisLink;
    use spur_server::shared_feeds::SharedFeeds;
    let link = RedisLink::connect(&redis_url(), Duration::from_millis(500))
        .await
        .unwrap();
    let prefix = format!("spur-test:feeds:{}", uuid::Uuid::new_v4().simple());
    let ttl = Duration::from_millis(600);
    let tasks = tokio_util::task::TaskTracker::new();
    let (killed, alive) = (
        tokio_util::sync::CancellationToken::new(),
        tokio_util::sync::CancellationToken::new(),
    );
    let dying = SharedFeeds::start(link.clone(), &prefix, ttl, &killed, &tasks);
    let survivor = SharedFeeds::start(link, &prefix, ttl, &alive, &tasks);
    let held = dying.take("ip:10.0.0.1", 1).await.unwrap();
    assert!(held.is_some());
    assert!(
        survivor.take("ip:10.0.0.1", 1).await.unwrap().is_none(),
        "full"
    );
    // Killed: no heartbeat from now on, and its feed is never given back.
    std::mem::forget(held);
    killed.cancel();
    tokio::time::sleep(ttl * 2).await;
    assert!(
        survivor.take("ip:10.0.0.1", 1).await.unwrap().is_some(),
        "the dead instance's feed no longer counts"
    );
    alive.cancel();
}
