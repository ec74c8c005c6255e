//! Messages from other channels: one conversation per thread, stored once
//! however often delivered, every reply through the outbox.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::channels::delivery::{Deliverer, DeliveryPolicy};
use crate::channels::{
    ChannelSender, DeliveryState, ExternalThread, InboundEvent, MessageKind, OutboxItem,
    OutboxStore, SendError,
};
use crate::clock::ManualClock;
use crate::store::MemoryStore;

fn engine(store: Arc<MemoryStore>) -> SupportEngine {
    SupportEngine::builder().store(store).build()
}

fn text(thread: &ExternalThread, id: &str, text: &str) -> InboundEvent {
    InboundEvent {
        thread: thread.clone(),
        external_id: id.into(),
        sender_name: Some("Kerry".into()),
        kind: MessageKind::Text,
        text: Some(text.into()),
        sender_email: None,
        subject: None,
        attachments: Vec::new(),
    }
}

fn customer(n: u32) -> ExternalThread {
    ExternalThread::new("whatsapp", "106540352242922", format!("1631555{n:04}"))
}

#[tokio::test]
async fn a_redelivered_message_is_stored_and_answered_once() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone());
    let event = text(
        &customer(1),
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ=",
        "Do you ship to India?",
    );
    let first = engine.receive(event.clone()).await.unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.conversation.channel, "whatsapp");
    assert_eq!(first.conversation.metadata["name"], "Kerry");
    for _ in 0..3 {
        let again = engine.receive(event.clone()).await.unwrap();
        assert!(again.duplicate, "a redelivery is answered from storage");
        assert_eq!(again.conversation.id, first.conversation.id);
    }
    let page = engine
        .history(first.conversation.session_id, None, 20)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 2, "one message, one reply");
    let queued = store.deliveries(first.conversation.id).await.unwrap();
    assert_eq!(queued.len(), 1, "one reply queued: {queued:?}");
    assert_eq!(Some(queued[0].message_id), first.reply.map(|r| r.id));

    // The next message joins the thread's conversation; another customer gets their own.
    let next = engine
        .receive(text(&customer(1), "wamid.2", "and to Germany?"))
        .await
        .unwrap();
    assert_eq!(next.conversation.id, first.conversation.id);
    let other = engine
        .receive(text(&customer(2), "wamid.2", "hello"))
        .await
        .unwrap();
    assert_ne!(other.conversation.id, first.conversation.id);
    assert!(!other.duplicate, "ids are scoped to their thread");
}

#[tokio::test]
async fn concurrent_first_messages_of_a_thread_share_one_conversation() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone());
    let thread = customer(3);
    let turns = futures::future::join_all(
        (0..4).map(|i| engine.receive(text(&thread, &format!("wamid.c{i}"), "hello there"))),
    )
    .await;
    let ids: std::collections::HashSet<_> = turns
        .into_iter()
        .map(|t| t.unwrap().conversation.id)
        .collect();
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn what_the_assistant_cannot_read_is_answered_in_words() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(store.clone());
    let voice = InboundEvent {
        kind: MessageKind::Audio,
        text: None,
        ..text(&customer(4), "wamid.voice", "")
    };
    let turn = engine.receive(voice).await.unwrap();
    let reply = turn.reply.expect("a reply");
    assert!(reply.text.contains("audio"), "{}", reply.text);
    assert!(reply.text.contains("type"), "{}", reply.text);
    assert_eq!(turn.message.text, "[audio]");
    assert_eq!(
        turn.conversation.status,
        Status::Automated,
        "not handed over"
    );
    // A photo with a caption is answered by its caption.
    let photo = InboundEvent {
        kind: MessageKind::Image,
        ..text(&customer(4), "wamid.photo", "Do you ship to India?")
    };
    let turn = engine.receive(photo).await.unwrap();
    assert!(turn.reply.unwrap().text.contains("India"));
}

#[tokio::test]
async fn agents_and_notices_go_out_through_the_outbox_but_web_chats_never_do() {
    let store = Arc::new(MemoryStore::new());
    // A Sunday: the demo shop's people are out, so a web chat would be
    // offered the email form.
    let sunday = time::macros::datetime!(2026-12-06 12:00 UTC);
    let engine = SupportEngine::builder()
        .store(store.clone())
        .clock(Arc::new(crate::clock::FixedClock(sunday)))
        .build();
    let turn = engine
        .receive(text(&customer(5), "wamid.p", "I want to talk to a human"))
        .await
        .unwrap();
    let notice = turn.notice.clone().expect("handed over");
    assert!(
        !notice.meta.ask_email,
        "the person answers on WhatsApp: no email form offered"
    );
    engine.claim(turn.conversation.id, "ana").await.unwrap();
    engine
        .agent_reply(turn.conversation.id, "ana", "Hi, Ana here")
        .await
        .unwrap();
    let queued = store.deliveries(turn.conversation.id).await.unwrap();
    assert_eq!(
        queued.len(),
        2,
        "the notice and the agent's reply: {queued:?}"
    );

    // A web client cannot bind its conversation to someone's thread.
    let sneaky = Inbound {
        metadata: Some(serde_json::json!({ "channel_thread": customer(6).address() })),
        ..Inbound::new("Do you ship to India?")
    };
    let web = engine.send_message(sneaky).await.unwrap();
    assert!(web.conversation.metadata.get("channel_thread").is_none());
    assert!(
        store
            .deliveries(web.conversation.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .conversation_by_thread(&customer(6).address())
            .await
            .unwrap()
            .is_none()
    );
}

/// A channel that fails the first `fail` sends, then takes everything.
struct Flaky {
    fail: Mutex<usize>,
    sent: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl ChannelSender for Flaky {
    fn channel(&self) -> &str {
        "whatsapp"
    }

    async fn send(&self, item: &OutboxItem) -> Result<String, SendError> {
        {
            let mut fail = self.fail.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(SendError::Retry("HTTP 500".into()));
            }
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(item.text.clone());
        Ok(format!("wamid.out{}", sent.len()))
    }
}

#[tokio::test]
async fn the_deliverer_retries_in_order_and_gives_up_in_the_end() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let engine = SupportEngine::builder()
        .store(store.clone())
        .clock(clock.clone())
        .build();
    let turn = engine
        .receive(text(&customer(7), "wamid.d", "I want to talk to a human"))
        .await
        .unwrap();
    engine.claim(turn.conversation.id, "ana").await.unwrap();
    engine
        .agent_reply(turn.conversation.id, "ana", "Ana here")
        .await
        .unwrap();
    let sender = Arc::new(Flaky {
        fail: Mutex::new(1),
        sent: Mutex::new(Vec::new()),
    });
    let policy = DeliveryPolicy {
        max_attempts: 3,
        ..DeliveryPolicy::default()
    };
    let deliverer = Deliverer::new(store.clone(), vec![sender.clone()], clock.clone(), policy);
    use crate::channels::delivery::ChannelHealth;
    assert_eq!(deliverer.health(), vec![("whatsapp".to_string(), None)]);
    let pass = deliverer.deliver_due().await.unwrap();
    assert_eq!((pass.sent, pass.retried), (0, 1), "the notice failed once");
    assert_eq!(deliverer.health()[0].1, Some(ChannelHealth::Failing));
    assert!(
        sender.sent.lock().unwrap().is_empty(),
        "the agent's reply waits for it"
    );
    clock.advance(std::time::Duration::from_secs(2));
    deliverer.deliver_due().await.unwrap();
    deliverer.deliver_due().await.unwrap();
    let sent = sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(deliverer.health()[0].1, Some(ChannelHealth::Ok));
    assert_eq!(sent[1], "Ana here", "in the order they were written");
    let states: Vec<_> = store
        .deliveries(turn.conversation.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.state, d.attempts))
        .collect();
    assert_eq!(
        states,
        vec![(DeliveryState::Sent, 2), (DeliveryState::Sent, 1)]
    );

    // A channel nobody configured: retried, then failed after max_attempts.
    let lost = ExternalThread::new("telegram", "1", "2");
    let turn = engine
        .receive(text(&lost, "t.1", "I want to talk to a human"))
        .await
        .unwrap();
    for _ in 0..3 {
        deliverer.deliver_due().await.unwrap();
        clock.advance(std::time::Duration::from_secs(600));
    }
    let delivery = &store.deliveries(turn.conversation.id).await.unwrap()[0];
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert!(delivery.error.as_deref().unwrap().contains("telegram"));
}

#[tokio::test]
async fn a_webhook_hears_back_once_the_message_is_stored() {
    let store = Arc::new(MemoryStore::new());
    // A model that takes its time: the acknowledgement does not wait for it.
    let provider = Arc::new(crate::llm::ScriptedProvider::new(vec![
        crate::llm::Script::Delay(
            std::time::Duration::from_secs(1),
            Box::new(crate::llm::Script::Reply("We ship to India.".into())),
        ),
    ]));
    let engine = SupportEngine::builder()
        .store(store.clone())
        .provider(provider)
        .config(EngineConfig {
            grounding: false,
            ..EngineConfig::default()
        })
        .build();
    let event = text(&customer(8), "wamid.s", "Do you ship to India?");
    let message = engine.receive_stored(event.clone()).await.unwrap();
    assert_eq!(message.text, "Do you ship to India?");
    let conversation = store
        .conversation_by_thread(&customer(8).address())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.last_seq, 1, "stored, the reply still coming");
    assert!(engine.drain(std::time::Duration::from_secs(5)).await);
    let page = engine
        .history(conversation.session_id, None, 10)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 2);
    assert_eq!(store.deliveries(conversation.id).await.unwrap().len(), 1);
    // A redelivery acknowledges the same message and adds nothing.
    let again = engine.receive_stored(event).await.unwrap();
    assert_eq!(again.id, message.id);
    assert!(engine.drain(std::time::Duration::from_secs(5)).await);
    assert_eq!(store.deliveries(conversation.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_retry_while_the_reply_is_under_way_waits_for_it_instead_of_answering_again() {
    // A web client retrying with its key, or a channel delivering twice at once.
    let provider = Arc::new(crate::llm::ScriptedProvider::new(vec![
        crate::llm::Script::Reply("Hi.".into()),
        crate::llm::Script::Delay(
            std::time::Duration::from_millis(300),
            Box::new(crate::llm::Script::Reply("First answer.".into())),
        ),
        crate::llm::Script::Reply("Second answer.".into()),
    ]));
    let engine = SupportEngine::builder()
        .provider(provider.clone())
        .config(EngineConfig {
            grounding: false,
            ..EngineConfig::default()
        })
        .build();
    let opened = engine.send_message(Inbound::new("hello")).await.unwrap();
    let session = opened.conversation.session_id;
    let ask = || {
        engine.send_message(
            Inbound::new("Do you ship to India?")
                .in_session(session)
                .with_idempotency_key("retry-key-0123456789-0123456789-0123"),
        )
    };
    let (first, second) = tokio::join!(ask(), async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        ask().await
    });
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.message.id, second.message.id);
    assert_eq!(
        first.reply.as_ref().map(|r| r.id),
        second.reply.as_ref().map(|r| r.id),
        "the retry reports the one reply"
    );
    let page = engine.history(session, None, 20).await.unwrap();
    let replies: Vec<&str> = page
        .messages
        .iter()
        .filter(|m| m.sender == Sender::Assistant)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        replies.len(),
        2,
        "the greeting's and one for the question: {replies:?}"
    );
}

/// Serves one photo; anything else is missing at the channel.
struct OnePhoto;

#[async_trait::async_trait]
impl crate::channels::media::MediaFetcher for OnePhoto {
    fn channel(&self) -> &str {
        "whatsapp"
    }

    async fn fetch(
        &self,
        _account: &str,
        source: &str,
        _max_bytes: u64,
    ) -> Result<crate::channels::media::Fetched, crate::channels::media::FetchError> {
        match source {
            "1003" => Ok(crate::channels::media::Fetched {
                bytes: b"\xff\xd8 a photo".to_vec(),
                mime: Some("image/jpeg".into()),
            }),
            _ => Err(crate::channels::media::FetchError::Failed(
                "HTTP 404".into(),
            )),
        }
    }
}

#[tokio::test]
async fn files_are_kept_with_the_message_and_a_lost_one_says_why() {
    use crate::blobs::{BlobStore, MemoryBlobStore};
    use crate::channels::Attachment;
    let store = Arc::new(MemoryStore::new());
    let blobs = Arc::new(MemoryBlobStore::new());
    let engine = SupportEngine::builder()
        .store(store.clone())
        .media(crate::channels::media::Media::new(blobs.clone()).fetcher(Arc::new(OnePhoto)))
        .build();
    let photo = |id: &str, source: &str| InboundEvent {
        kind: MessageKind::Image,
        text: Some(format!("Do you ship this to India? ({id})")),
        attachments: vec![Attachment::at(MessageKind::Image, source)],
        ..text(&customer(7), id, "")
    };
    let turn = engine.receive(photo("wamid.P1", "1003")).await.unwrap();
    assert!(turn.reply.is_some(), "the caption is answered");
    let lost = engine.receive(photo("wamid.P2", "9999")).await.unwrap();
    let page = engine
        .history(turn.conversation.session_id, None, 20)
        .await
        .unwrap();
    let customer_files: Vec<_> = page
        .messages
        .iter()
        .filter(|m| m.sender == Sender::Customer)
        .map(|m| m.meta.attachments.clone())
        .collect();
    let kept = &customer_files[0][0];
    let key = kept.blob.as_deref().expect("the photo is kept");
    assert_eq!(kept.mime.as_deref(), Some("image/jpeg"));
    assert_eq!(blobs.get(key).await.unwrap().unwrap(), b"\xff\xd8 a photo");
    let missing = &customer_files[1][0];
    assert_eq!(missing.blob, None);
    assert_eq!(
        missing.error.as_deref(),
        Some("could not be fetched: HTTP 404")
    );
    assert!(lost.reply.is_some(), "a lost file does not cost the reply");

    // A redelivery fetches nothing again and changes nothing.
    let again = engine.receive(photo("wamid.P1", "1003")).await.unwrap();
    assert!(again.duplicate);
    let after = engine
        .history(turn.conversation.session_id, None, 20)
        .await
        .unwrap();
    assert_eq!(after.messages, page.messages);
}

#[tokio::test]
async fn files_in_hand_are_kept_before_the_message_is_stored_within_limits() {
    use crate::blobs::{BlobStore, MemoryBlobStore};
    use crate::channels::Attachment;
    use crate::channels::media::{File, Media};
    let blobs = Arc::new(MemoryBlobStore::new());
    let engine = SupportEngine::builder()
        .media(Media::new(blobs.clone()))
        .build();
    let file = |mime: &str, bytes: &[u8]| File {
        attachment: Attachment {
            kind: MessageKind::Document,
            mime: Some(mime.into()),
            name: Some("f".into()),
            ..Attachment::default()
        },
        bytes: bytes.to_vec(),
    };
    let mut event = text(&customer(8), "m1", "see attached");
    let big = vec![0u8; 10 * 1024 * 1024 + 1];
    engine
        .keep_files(
            &mut event,
            vec![
                file("application/pdf", b"%PDF-1.7"),
                file("application/x-msdownload", b"MZ"),
                file("application/pdf", &big),
            ],
        )
        .await;
    let kept = &event.attachments[0];
    assert_eq!(kept.size, Some(8));
    let key = kept.blob.as_deref().expect("kept");
    assert_eq!(blobs.get(key).await.unwrap().unwrap(), b"%PDF-1.7");
    assert_eq!(
        event.attachments[1].error.as_deref(),
        Some("application/x-msdownload files are not kept")
    );
    assert_eq!(
        event.attachments[2].error.as_deref(),
        Some("larger than 10485760 bytes")
    );
    assert!(event.attachments[1..].iter().all(|a| a.blob.is_none()));
    let turn = engine.receive(event).await.unwrap();
    assert_eq!(
        turn.message.meta.attachments.len(),
        3,
        "recorded on the message"
    );

    // Without a blob store the files are recorded, not kept.
    let bare = SupportEngine::builder().build();
    let mut event = text(&customer(9), "m1", "see attached");
    bare.keep_files(&mut event, vec![file("application/pdf", b"%PDF")])
        .await;
    assert_eq!(
        event.attachments[0].error.as_deref(),
        Some("not kept: no blob store")
    );
}

/// Answers once let through: two instances' replies in flight at once.
struct Gated(Arc<tokio::sync::Semaphore>);

#[async_trait::async_trait]
impl crate::llm::LlmProvider for Gated {
    fn name(&self) -> &str {
        "gated"
    }
    fn model(&self) -> &str {
        "gated"
    }
    async fn complete(
        &self,
        _: &crate::llm::CompletionRequest,
    ) -> Result<crate::llm::Completion, crate::llm::ProviderError> {
        let _permit = self.0.acquire().await;
        Ok(crate::llm::Completion {
            text: "Yes, we ship to India.".into(),
            model: "gated".into(),
            usage: None,
            handoff: false,
            tool_calls: Vec::new(),
        })
    }
}

/// A redelivery taken by another instance while the first is still
/// writing the reply: both write one, one is kept.
#[tokio::test]
async fn two_instances_answering_one_message_store_one_reply() {
    let store = Arc::new(MemoryStore::new());
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let instance = || {
        SupportEngine::builder()
            .store(store.clone())
            .provider(Arc::new(Gated(gate.clone())))
            .build()
    };
    let (a, b) = (instance(), instance());
    let event = text(&customer(11), "wamid.twice", "Do you ship to India?");
    let first = a.receive_stored(event.clone()).await.unwrap();
    let again = b.receive_stored(event).await.unwrap();
    assert_eq!(again.id, first.id, "stored once");
    // Both instances are writing a reply now; let them finish.
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.add_permits(2);
    assert!(a.drain(Duration::from_secs(5)).await);
    assert!(b.drain(Duration::from_secs(5)).await);
    let page = store
        .history(first.conversation_id, None, 20)
        .await
        .unwrap();
    let replies: Vec<_> = page
        .messages
        .iter()
        .filter(|m| m.sender == Sender::Assistant)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(replies, vec!["Yes, we ship to India."], "{page:?}");
    let queued = store.deliveries(first.conversation_id).await.unwrap();
    assert_eq!(queued.len(), 1, "one reply goes out");
}
