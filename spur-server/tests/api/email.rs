//! Email through the server: raw MIME posted to `/webhooks/email` behind
//! the operator's token, threads across replies with quoted history, and
//! the replies sent through the outbox to a real SMTP server (aiosmtpd on
//! loopback) with the headers mail clients thread by.

use std::path::PathBuf;
use std::time::Duration;

use mail_parser::MessageParser;
use spur_core::channels::ExternalThread;
use spur_core::channels::email::EmailThread;
use spur_core::conversation::{Conversation, Sender};
use spur_server::config::Options;

use crate::support::{Process, Server, free_port, postgres_options, sqlite_options};

const TOKEN: &str = "inbound-mail-token-for-tests";
const SHOP: &str = "support@acme.example";

/// A real SMTP server on loopback writing what it takes into a maildir.
struct Smtp {
    port: u16,
    maildir: PathBuf,
    _process: Process,
}

impl Smtp {
    async fn start(port: u16) -> Self {
        let maildir = std::env::temp_dir().join(format!("spur-smtp-{}", uuid::Uuid::new_v4()));
        let child = std::process::Command::new(spur_core::testing::mcp::python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("a Python with aiosmtpd (bash scripts/mcp-venv.sh)");
        let process = Process(child);
        let up = async {
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), up)
            .await
            .expect("aiosmtpd starts");
        Self {
            port,
            maildir,
            _process: process,
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message taken so far, raw, oldest first.
    fn taken(&self) -> Vec<Vec<u8>> {
        let Ok(dir) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = dir.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        // Maildir names start with the delivery time.
        files.sort();
        files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
    }

    /// Waits (up to 30 s) until `count` messages were taken.
    async fn received(&self, count: usize) -> Vec<Vec<u8>> {
        for _ in 0..300 {
            let taken = self.taken();
            if taken.len() >= count {
                return taken;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{count} emails were not sent; taken: {}",
            self.taken().len()
        );
    }
}

fn email_options(options: Options, smtp_url: String) -> Options {
    Options {
        email_address: Some(SHOP.into()),
        email_name: Some("Acme Support".into()),
        email_webhook_token: Some(TOKEN.to_string().into()),
        smtp_url: Some(smtp_url.into()),
        ..options
    }
}

async fn email_server(options: Options) -> (Server, Smtp) {
    let smtp = Smtp::start(free_port()).await;
    let server = Server::start(email_options(options, smtp.url())).await;
    (server, smtp)
}

/// A message from `from` to the shop.
fn mail(from: &str, headers: &str, body: &str) -> String {
    format!(
        "From: Ann Smith <{from}>\r\nTo: Acme <{SHOP}>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
}

async fn post_mail(server: &Server, raw: &str, auth: Option<&str>) -> u16 {
    let mut request = server
        .client
        .post(server.url("/webhooks/email"))
        .header("content-type", "message/rfc822")
        .body(raw.to_string());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.unwrap().status().as_u16()
}

/// The status of a `POST /webhooks/email` announcing a `len`-byte body,
/// over a plain socket, headers only: a server that answers it has not
/// read the body (a client library writing 10 MiB could lose such an
/// answer to a broken pipe).
async fn headers_only_post(server: &Server, auth: Option<&str>, len: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let head = format!(
        "POST /webhooks/email HTTP/1.1\r\nHost: {host}\r\nContent-Type: message/rfc822\r\nContent-Length: {len}\r\n{auth}Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    // A server waiting for the body never answers: no answer, then.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let status_line = String::from_utf8_lossy(&response);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {status_line:?}"))
}

async fn deliver(server: &Server, raw: &str) {
    assert_eq!(
        post_mail(server, raw, Some(&format!("Bearer {TOKEN}"))).await,
        200
    );
}

async fn conversation_of(server: &Server, customer: &str, root: &str) -> Option<Conversation> {
    let thread = EmailThread {
        customer: customer.into(),
        root: root.into(),
    };
    server
        .thread_conversation(&ExternalThread::new("email", SHOP, thread.encode()))
        .await
}

async fn customer_texts(server: &Server, conversation: &Conversation) -> Vec<String> {
    server
        .state
        .engine
        .store()
        .history(conversation.id, None, 50)
        .await
        .unwrap()
        .messages
        .into_iter()
        .filter(|m| m.sender == Sender::Customer)
        .map(|m| m.text)
        .collect()
}

/// The headers of a sent reply that threading depends on.
struct Reply {
    to: String,
    from: String,
    subject: String,
    message_id: String,
    in_reply_to: String,
    references: Vec<String>,
    auto_submitted: Option<String>,
    body: String,
}

fn read(raw: &[u8]) -> Reply {
    let message = MessageParser::default().parse(raw).expect("MIME");
    let first = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string()
    };
    Reply {
        to: first(message.to()),
        from: first(message.from()),
        subject: message.subject().unwrap_or_default().into(),
        message_id: message.message_id().unwrap_or_default().into(),
        in_reply_to: message.in_reply_to().as_text().unwrap_or_default().into(),
        references: message
            .references()
            .as_text_list()
            .unwrap_or_default()
            .iter()
            .map(|r| r.to_string())
            .collect(),
        auto_submitted: message
            .header_raw("Auto-Submitted")
            .map(|v| v.trim().into()),
        body: message.body_text(0).unwrap_or_default().into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_of_three_replies_is_one_conversation_answered_in_the_thread() {
    let (server, smtp) = email_server(sqlite_options()).await;
    let ann = "ann@example.org";
    deliver(
        &server,
        &mail(
            "Ann@Example.org",
            "Message-ID: <first@example.org>\r\nSubject: Shipping question\r\n",
            "Hello, do you ship to India?\r\n\r\n-- \r\nAnn Smith\r\nSmith Ltd",
        ),
    )
    .await;
    let first = read(&smtp.received(1).await[0]);
    assert_eq!(first.to, ann);
    assert_eq!(first.from, SHOP);
    assert_eq!(first.subject, "Re: Shipping question");
    assert_eq!(first.in_reply_to, "first@example.org");
    assert_eq!(first.references, ["first@example.org"]);
    assert!(
        first.message_id.ends_with("@acme.example"),
        "{}",
        first.message_id
    );
    // The assistant's answer says it is automatic (RFC 3834).
    assert_eq!(first.auto_submitted.as_deref(), Some("auto-replied"));
    assert!(first.body.contains("India"), "{}", first.body);

    // A reply quoting the whole thread, threaded by References.
    let ours = first.message_id.clone();
    deliver(
        &server,
        &mail(
            ann,
            &format!(
                "Message-ID: <second@example.org>\r\nSubject: Re: Shipping question\r\nIn-Reply-To: <{ours}>\r\nReferences: <first@example.org> <{ours}>\r\n"
            ),
            &format!(
                "Thanks! How long does it take?\r\n\r\nOn Mon, 7 Dec 2026 at 10:01, Acme Support <{SHOP}> wrote:\r\n> {}\r\n>\r\n> On Mon, 7 Dec 2026, Ann <{ann}> wrote:\r\n>> Hello, do you ship to India?\r\n",
                first.body.lines().next().unwrap_or_default()
            ),
        ),
    )
    .await;
    let second = read(&smtp.received(2).await[1]);
    // A client that keeps only In-Reply-To, and Outlook's quoting.
    deliver(
        &server,
        &mail(
            ann,
            &format!(
                "Message-ID: <third@example.org>\r\nSubject: RE: Shipping question\r\nIn-Reply-To: <{}>\r\n",
                second.message_id
            ),
            &format!(
                "And can I return it?\r\n\r\n________________________________\r\nFrom: Acme Support <{SHOP}>\r\nSent: Monday, December 7, 2026 10:02 AM\r\nTo: Ann Smith <{ann}>\r\nSubject: Re: Shipping question\r\n\r\n{}",
                second.body
            ),
        ),
    )
    .await;
    let replies: Vec<Reply> = smtp.received(3).await.iter().map(|r| read(r)).collect();

    let conversation = conversation_of(&server, ann, "first@example.org")
        .await
        .expect("one conversation for the thread");
    assert_eq!(
        customer_texts(&server, &conversation).await,
        [
            "Shipping question\n\nHello, do you ship to India?",
            "Thanks! How long does it take?",
            "And can I return it?",
        ]
    );
    for reply in &replies {
        assert_eq!(reply.subject, "Re: Shipping question");
        assert_eq!(reply.in_reply_to, "first@example.org");
        assert_eq!(reply.to, ann);
    }
    let ids: std::collections::HashSet<_> = replies.iter().map(|r| &r.message_id).collect();
    assert_eq!(ids.len(), 3, "each reply has its own Message-ID");
    // The console knows the customer by their address.
    assert_eq!(conversation.contact_email(), Some(ann));
    assert_eq!(conversation.metadata["subject"], "Shipping question");
    assert_eq!(conversation.channel, "email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_takes_only_its_token_and_keeps_threads_apart() {
    use base64::Engine as _;
    let (server, smtp) = email_server(sqlite_options()).await;
    let raw = mail(
        "ann@example.org",
        "Message-ID: <t1@example.org>\r\n",
        "Hi, do you ship to India?",
    );
    let basic = |user_pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    };
    for auth in [
        None,
        Some("Bearer wrong-token-of-some-length".to_string()),
        Some(format!("Bearer {TOKEN}x")),
        Some(basic(&format!("api:{TOKEN}-old"))),
        Some(basic(TOKEN)),
        Some(format!("Token {TOKEN}")),
    ] {
        assert_eq!(
            post_mail(&server, &raw, auth.as_deref()).await,
            401,
            "{auth:?}"
        );
    }
    // The token is checked before the body is read: the answer comes for
    // the headers alone, announcing a body over the limit.
    let huge = spur_server::EMAIL_LIMIT + 1;
    assert_eq!(headers_only_post(&server, None, huge).await, 401);
    assert!(
        conversation_of(&server, "ann@example.org", "t1@example.org")
            .await
            .is_none(),
        "nothing stored without the token"
    );
    // With it, a body declared over the limit is refused before it is read too.
    assert_eq!(
        headers_only_post(&server, Some(&format!("Bearer {TOKEN}")), huge).await,
        413
    );
    assert_eq!(
        post_mail(&server, &raw, Some(&basic(&format!("inbound:{TOKEN}")))).await,
        200
    );
    smtp.received(1).await;
    // Someone else answering with Ann's thread ids opens their own conversation.
    let mallory = mail(
        "mallory@example.net",
        "Message-ID: <m1@example.net>\r\nIn-Reply-To: <t1@example.org>\r\nReferences: <t1@example.org>\r\n",
        "What did Ann order?",
    );
    deliver(&server, &mallory).await;
    let ann = conversation_of(&server, "ann@example.org", "t1@example.org")
        .await
        .unwrap();
    let theirs = conversation_of(&server, "mallory@example.net", "t1@example.org")
        .await
        .unwrap();
    assert_ne!(ann.id, theirs.id);
    assert_eq!(customer_texts(&server, &ann).await.len(), 1);
    let replies = smtp.received(2).await;
    assert_eq!(read(&replies[1]).to, "mallory@example.net");
    // Not configured: no such route.
    let plain = Server::start(sqlite_options()).await;
    assert_eq!(
        post_mail(&plain, &raw, Some(&format!("Bearer {TOKEN}"))).await,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_are_one_message_and_robots_get_no_answer() {
    let (server, smtp) = email_server(postgres_options().await).await;
    let raw = mail(
        "ann@example.org",
        "Message-ID: <dup@example.org>\r\nSubject: Shipping\r\n",
        "Do you ship to India?",
    );
    let posts = (0..5).map(|_| deliver(&server, &raw));
    futures::future::join_all(posts).await;
    deliver(&server, &raw).await;
    smtp.received(1).await;
    let conversation = conversation_of(&server, "ann@example.org", "dup@example.org")
        .await
        .unwrap();
    assert_eq!(customer_texts(&server, &conversation).await.len(), 1);
    // An out-of-office answer to our reply, and a bounce: acknowledged, not answered.
    let out_of_office = mail(
        "ann@example.org",
        "Message-ID: <ooo@example.org>\r\nAuto-Submitted: auto-replied\r\nIn-Reply-To: <dup@example.org>\r\n",
        "I am away until Monday.",
    );
    deliver(&server, &out_of_office).await;
    let bounce = mail(
        "MAILER-DAEMON@mx.example.org",
        "Message-ID: <b@mx.example.org>\r\n",
        "Delivery failed",
    );
    deliver(&server, &bounce).await;
    // Mail that is not mail at all.
    assert_eq!(
        post_mail(&server, "", Some(&format!("Bearer {TOKEN}"))).await,
        400
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.taken().len(), 1, "one reply in all");
    assert_eq!(customer_texts(&server, &conversation).await.len(), 1);
    assert_eq!(
        server
            .metric("spur_email_ignored_total{reason=\"automatic\"}")
            .await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_waits_in_the_outbox_while_the_smtp_server_is_down() {
    let port = free_port();
    let server = Server::start(email_options(
        sqlite_options(),
        format!("smtp://127.0.0.1:{port}"),
    ))
    .await;
    deliver(
        &server,
        &mail(
            "ann@example.org",
            "Message-ID: <down@example.org>\r\n",
            "Do you ship to India?",
        ),
    )
    .await;
    let conversation = conversation_of(&server, "ann@example.org", "down@example.org")
        .await
        .unwrap();
    let channels = server.state.channels.as_ref().unwrap();
    let mut tried = None;
    for _ in 0..100 {
        let deliveries = channels.outbox.deliveries(conversation.id).await.unwrap();
        if let Some(d) = deliveries
            .first()
            .filter(|d| d.attempts >= 1 && d.error.is_some())
        {
            tried = Some(d.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tried = tried.expect("a failed try is recorded");
    assert_eq!(tried.state, spur_core::channels::DeliveryState::Queued);
    assert!(tried.error.unwrap_or_default().contains("SMTP"));
    // The server comes up: the retry sends it, once.
    let smtp = Smtp::start(port).await;
    let sent = smtp.received(1).await;
    assert!(read(&sent[0]).body.contains("India"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.taken().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_are_kept_with_the_email_and_shown_to_agents() {
    let (server, _smtp) = email_server(sqlite_options()).await;
    let raw = format!(
        "From: Ann <ann@example.org>\r\nTo: {SHOP}\r\nMessage-ID: <box@example.org>\r\nSubject: Damaged parcel\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe box arrived crushed, photo attached.\r\n--b\r\nContent-Type: image/png; name=\"box.png\"\r\nContent-Disposition: attachment; filename=\"box.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b\r\nContent-Type: image/svg+xml\r\nContent-Disposition: attachment; filename=\"x.svg\"\r\n\r\n<svg onload=\"alert(1)\"/>\r\n--b--\r\n"
    );
    deliver(&server, &raw).await;
    let conversation = conversation_of(&server, "ann@example.org", "box@example.org")
        .await
        .unwrap();
    let stored = server
        .state
        .engine
        .store()
        .history(conversation.id, None, 5)
        .await
        .unwrap();
    let files = &stored.messages[0].meta.attachments;
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0].name.as_deref(), Some("box.png"));
    assert!(
        files[0].blob.is_some(),
        "kept before the message was stored"
    );
    assert_eq!(
        files[1].error.as_deref(),
        Some("image/svg+xml files are not kept")
    );
    let admin = server.admin_token().await;
    let id = conversation.id;
    let file = server
        .call(
            reqwest::Method::GET,
            &format!("/v1/agent/conversations/{id}/files/1/0"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/png");
    assert_eq!(
        file.bytes().await.unwrap().as_ref(),
        b"\x89PNG\r\n\x1a\n",
        "decoded from base64"
    );
    let refused = server
        .call(
            reqwest::Method::GET,
            &format!("/v1/agent/conversations/{id}/files/1/1"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(refused.status(), 404, "a file not kept is not served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_without_threading_headers_joins_its_thread_by_subject() {
    let (server, _smtp) = email_server(sqlite_options()).await;
    let send = |from: &str, id: &str, subject: &str, body: &str| {
        mail(
            from,
            &format!("Message-ID: <{id}@example.org>\r\nSubject: {subject}\r\n"),
            body,
        )
    };
    deliver(
        &server,
        &send(
            "ann@example.org",
            "s1",
            "Where is my parcel?",
            "Ordered last week.",
        ),
    )
    .await;
    let thread = conversation_of(&server, "ann@example.org", "s1@example.org")
        .await
        .unwrap();
    // A client that dropped In-Reply-To and References.
    deliver(
        &server,
        &send(
            "ann@example.org",
            "s2",
            "RE: Where is my parcel?",
            "Any news?",
        ),
    )
    .await;
    assert!(
        conversation_of(&server, "ann@example.org", "s2@example.org")
            .await
            .is_none(),
        "no thread of its own"
    );
    assert_eq!(
        customer_texts(&server, &thread).await,
        vec!["Where is my parcel?\n\nOrdered last week.", "Any news?"]
    );
    // Someone else with the same subject, a forward, another subject: their own threads.
    for (from, id, subject) in [
        ("bob@example.org", "s3", "Re: Where is my parcel?"),
        ("ann@example.org", "s4", "Fwd: Where is my parcel?"),
        ("ann@example.org", "s5", "Re: Another question"),
    ] {
        deliver(&server, &send(from, id, subject, "hello")).await;
        assert!(
            conversation_of(&server, from, &format!("{id}@example.org"))
                .await
                .is_some(),
            "{from} {subject}"
        );
    }
    assert_eq!(customer_texts(&server, &thread).await.len(), 2);
}
