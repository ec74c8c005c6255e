use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::conversation::TransitionError;
use crate::events::BroadcastEvents;
use crate::llm::{ProviderError, Script, ScriptedProvider};
use crate::prompt::Role;

/// Scripted replies are made-up text: the grounding guard (tested on its
/// own and in `grounding_*` below) would rightly stop them.
fn engine_with(provider: Arc<ScriptedProvider>, config: EngineConfig) -> SupportEngine {
    let config = EngineConfig {
        grounding: false,
        ..config
    };
    SupportEngine::builder()
        .provider(provider)
        .config(config)
        .build()
}

fn offline() -> SupportEngine {
    SupportEngine::builder().build()
}

#[tokio::test]
async fn offline_answers_from_knowledge_and_stores_both_messages() {
    let engine = offline();
    let turn = engine
        .send_message(Inbound::new("Do you ship to India?"))
        .await
        .unwrap();
    let reply = turn.reply.clone().unwrap();
    assert!(
        reply.text.contains("USA, India and Europe"),
        "{}",
        reply.text
    );
    assert_eq!(turn.conversation.status, Status::Automated);
    assert_eq!(reply.reply_to, Some(turn.message.id));
    assert_eq!(reply.meta.provider.as_deref(), Some("offline"));
    assert!(!reply.meta.passages.is_empty());
    let page = engine
        .history(turn.conversation.session_id, None, 10)
        .await
        .unwrap();
    let senders: Vec<Sender> = page.messages.iter().map(|m| m.sender).collect();
    assert_eq!(senders, vec![Sender::Customer, Sender::Assistant]);
    assert_eq!(
        page.messages[0]
            .meta
            .classification
            .as_ref()
            .unwrap()
            .category,
        "general"
    );

    let next = engine
        .send_message(
            Inbound::new("how long does delivery take?").in_session(turn.conversation.session_id),
        )
        .await
        .unwrap();
    assert_eq!(next.conversation.id, turn.conversation.id);
    assert!(next.reply_text().unwrap().contains("5-7 business days"));
}

#[tokio::test]
async fn bad_input_and_unknown_sessions_are_refused_before_storing() {
    let engine = offline();
    assert!(matches!(
        engine.send_message(Inbound::new("   ")).await,
        Err(EngineError::Validation(_))
    ));
    assert!(matches!(
        engine.send_message(Inbound::new("x".repeat(5_001))).await,
        Err(EngineError::Validation(_))
    ));
    let unknown = Inbound::new("hi").in_session(SessionId(uuid::Uuid::new_v4()));
    assert!(matches!(
        engine.send_message(unknown).await,
        Err(EngineError::UnknownSession)
    ));
}

#[tokio::test]
async fn retried_messages_are_answered_from_storage() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::Reply("first".into()),
        Script::Reply("second".into()),
    ]));
    let engine = engine_with(provider.clone(), EngineConfig::default());
    let first = engine
        .send_message(Inbound::new("hello there").with_idempotency_key(KEY))
        .await
        .unwrap();
    let retry = engine
        .send_message(Inbound::new("hello there").with_idempotency_key(KEY))
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.conversation.id, first.conversation.id);
    assert_eq!(
        retry.reply.as_ref().map(|r| r.id),
        first.reply.as_ref().map(|r| r.id)
    );
    assert_eq!(
        provider.requests().len(),
        1,
        "the provider is not called again"
    );
    // The same retry once the client learnt its session is the same turn.
    let session = first.conversation.session_id;
    let with_session = engine
        .send_message(
            Inbound::new("hello there")
                .with_idempotency_key(KEY)
                .in_session(session),
        )
        .await
        .unwrap();
    assert!(with_session.duplicate);
    assert_eq!(with_session.message.id, first.message.id);
    let page = engine.history(session, None, 10).await.unwrap();
    assert_eq!(page.messages.len(), 2);

    // The same key with other words is refused, not answered with the first turn.
    assert!(matches!(
        engine
            .send_message(Inbound::new("something else").with_idempotency_key(KEY))
            .await,
        Err(EngineError::IdempotencyMismatch)
    ));

    // Keys are scoped to their conversation: another conversation using the
    // same key stores its own message and never sees the first one.
    let other = engine.send_message(Inbound::new("another")).await.unwrap();
    let own = engine
        .send_message(
            Inbound::new("hello there")
                .with_idempotency_key(KEY)
                .in_session(other.conversation.session_id),
        )
        .await
        .unwrap();
    assert!(!own.duplicate);
    assert_eq!(own.conversation.id, other.conversation.id);
    assert_ne!(own.message.id, first.message.id);
    // A key replays inside its own conversation only.
    let other_key = "f00dfeed-7d2f-4e8a-9c3b-6f1d2e3a4b5c";
    for _ in 0..2 {
        engine
            .send_message(
                Inbound::new("in its session")
                    .with_idempotency_key(other_key)
                    .in_session(other.conversation.session_id),
            )
            .await
            .unwrap();
    }
    let page = engine
        .history(other.conversation.session_id, None, 20)
        .await
        .unwrap();
    assert_eq!(
        page.messages
            .iter()
            .filter(|m| m.text == "in its session")
            .count(),
        1
    );
    // Without its session, that key starts a conversation of its own.
    let elsewhere = engine
        .send_message(Inbound::new("in its session").with_idempotency_key(other_key))
        .await
        .unwrap();
    assert_ne!(elsewhere.conversation.id, other.conversation.id);
    assert!(!elsewhere.duplicate);
    // Guessable keys are refused, with or without a session.
    for session in [None, Some(other.conversation.session_id)] {
        let mut inbound = Inbound::new("short key").with_idempotency_key("k-1");
        inbound.session = session;
        assert!(matches!(
            engine.send_message(inbound).await,
            Err(EngineError::Validation(
                crate::validate::ValidationError::MalformedIdempotencyKey
            ))
        ));
    }
    // The key is never serialised with the message.
    let json = serde_json::to_string(&page.messages).unwrap();
    assert!(
        !json.contains(other_key) && !json.contains("idempotency"),
        "{json}"
    );
}

const KEY: &str = "0b5e1a4c-7d2f-4e8a-9c3b-6f1d2e3a4b5c";

/// Twenty messages at once in one session: every one stored and answered,
/// none refused as busy.
#[tokio::test]
async fn concurrent_messages_in_one_session_are_all_stored_and_answered() {
    let path = std::env::temp_dir().join(format!("spur-busy-{}.db", uuid::Uuid::new_v4()));
    let store: Arc<dyn crate::store::ConversationStore> = Arc::new(
        crate::store::SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap(),
    );
    let replies = (0..21).map(|i| Script::Reply(format!("answer {i}")));
    let engine = SupportEngine::builder()
        .store(store)
        .provider(Arc::new(ScriptedProvider::new(replies)))
        .config(EngineConfig {
            grounding: false,
            ..EngineConfig::default()
        })
        .build();
    let first = engine.send_message(Inbound::new("hello")).await.unwrap();
    let session = first.conversation.session_id;
    let sends = (0..20).map(|i| {
        let engine = engine.clone();
        async move {
            engine
                .send_message(Inbound::new(format!("question {i}")).in_session(session))
                .await
        }
    });
    let results = futures::future::join_all(sends).await;
    for result in &results {
        assert!(result.is_ok(), "{:?}", result.as_ref().err());
    }
    let page = engine.history(session, None, 100).await.unwrap();
    assert_eq!(page.messages.len(), 42, "20 questions and 20 answers more");
}

#[tokio::test]
async fn provider_failures_become_fallbacks_then_a_handoff() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::Reply("Our returns window is 14 days.".into()),
        Script::Fail(ProviderError::Http {
            status: 500,
            message: "boom".into(),
        }),
        Script::Fail(ProviderError::RateLimited),
    ]));
    let engine = engine_with(provider.clone(), EngineConfig::default());
    let first = engine
        .send_message(Inbound::new("return policy?"))
        .await
        .unwrap();
    let session = first.conversation.session_id;

    let failed = engine
        .send_message(Inbound::new("and for shoes?").in_session(session))
        .await
        .unwrap();
    assert!(failed.used_fallback());
    let meta = &failed.reply.as_ref().unwrap().meta;
    assert_eq!(meta.error_code.as_deref(), Some("llm_upstream_error"));
    assert_eq!(failed.conversation.status, Status::Automated);

    let again = engine
        .send_message(Inbound::new("hello?").in_session(session))
        .await
        .unwrap();
    assert!(again.used_fallback());
    assert_eq!(
        again.escalation,
        Some(EscalationReason::RepeatedFailures { count: 2 })
    );
    assert_eq!(again.conversation.status, Status::Agent);
    assert!(again.notice.is_some());

    // The fallback reply never reached a prompt.
    let fallback_text = &engine.config().prompt.texts.fallback_reply;
    let last = provider.requests().pop().unwrap();
    assert!(last.messages.iter().all(|m| &m.content != fallback_text));
    let users: Vec<&str> = last
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(
        users,
        vec!["return policy?", "and for shoes?", "hello?"],
        "customer messages are all kept"
    );

    // With a person holding it, the bot stays silent.
    let calls = provider.requests().len();
    let held = engine
        .send_message(Inbound::new("anyone?").in_session(session))
        .await
        .unwrap();
    assert!(held.reply.is_none());
    assert_eq!(provider.requests().len(), calls);
}

#[tokio::test]
async fn slow_providers_time_out_into_the_fallback() {
    let provider = Arc::new(ScriptedProvider::new([Script::Delay(
        Duration::from_secs(5),
        Box::new(Script::Reply("too late".into())),
    )]));
    let config = EngineConfig {
        llm_timeout: Duration::from_millis(100),
        ..EngineConfig::default()
    };
    let engine = engine_with(provider, config);
    let started = std::time::Instant::now();
    let turn = engine
        .send_message(Inbound::new("where is my parcel"))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(turn.used_fallback());
    assert_eq!(
        turn.reply.unwrap().meta.error_code.as_deref(),
        Some("llm_timeout")
    );
}

#[tokio::test]
async fn asking_for_a_person_hands_over_and_agents_work_the_conversation() {
    let events = Arc::new(BroadcastEvents::new(64));
    let mut feed = events.receiver();
    let engine = SupportEngine::builder().events(events).build();
    let turn = engine
        .send_message(Inbound::new("I want to talk to a human"))
        .await
        .unwrap();
    assert_eq!(turn.conversation.status, Status::Agent);
    assert_eq!(turn.escalation, Some(EscalationReason::CustomerRequest));
    assert!(turn.reply.is_none());
    assert!(turn.notice.as_ref().unwrap().text.contains("support team"));
    let id = turn.conversation.id;

    let mut kinds = Vec::new();
    while let Ok(event) = feed.try_recv() {
        kinds.push(match event {
            EngineEvent::MessageStored { .. } => "message",
            EngineEvent::StatusChanged { .. } => "status",
            EngineEvent::Escalated { .. } => "escalated",
            EngineEvent::ReplyDelta { .. } => "delta",
            EngineEvent::Typing { .. } => "typing",
            EngineEvent::NoteAdded { .. } => "note",
            EngineEvent::FilesKept { .. } => "files",
        });
    }
    assert_eq!(kinds, vec!["message", "message", "status", "escalated"]);

    engine.claim(id, "ana").await.unwrap();
    assert!(matches!(
        engine.claim(id, "bo").await,
        Err(EngineError::Transition(
            TransitionError::ClaimedByOther { .. }
        ))
    ));
    assert!(matches!(
        engine.agent_reply(id, "bo", "hi").await,
        Err(EngineError::Transition(_))
    ));
    let reply = engine
        .agent_reply(id, "ana", "Hi, Ana here. How can I help?")
        .await
        .unwrap();
    assert_eq!(reply.sender, Sender::Agent);
    let handed = engine.hand_back(id, "ana").await.unwrap();
    assert_eq!(handed.status, Status::Automated);
    let closed = engine.close_conversation(id).await.unwrap();
    assert_eq!(closed.status, Status::Closed);
    // Writing after close reopens the same conversation with the bot.
    let reopened = engine
        .send_message(
            Inbound::new("one more thing: do you ship to Europe?")
                .in_session(turn.conversation.session_id),
        )
        .await
        .unwrap();
    assert_eq!(reopened.conversation.id, id);
    assert_eq!(reopened.conversation.status, Status::Automated);
    assert!(reopened.reply.is_some());
    // Or someone takes a closed conversation up again, and holds it.
    assert!(matches!(
        engine.reopen(id, "ana").await,
        Err(EngineError::Transition(TransitionError::NotClosed))
    ));
    engine.close_conversation(id).await.unwrap();
    let taken = engine.reopen(id, "ana").await.unwrap();
    assert_eq!(taken.status, Status::Agent);
    assert_eq!(taken.assignee.as_deref(), Some("ana"));
    engine
        .agent_reply(id, "ana", "Following up on your order")
        .await
        .unwrap();
}

#[tokio::test]
async fn explicit_escalation_is_idempotent() {
    let engine = offline();
    let turn = engine.send_message(Inbound::new("hello")).await.unwrap();
    let session = turn.conversation.session_id;
    let first = engine.escalate(session).await.unwrap();
    assert_eq!(first.conversation.status, Status::Agent);
    assert!(first.notice.is_some());
    let second = engine.escalate(session).await.unwrap();
    assert!(second.notice.is_none(), "no second notice");
    let page = engine.history(session, None, 10).await.unwrap();
    assert_eq!(page.messages.len(), 3);
    engine.close(session).await.unwrap();
    assert!(matches!(
        engine.escalate(session).await,
        Err(EngineError::Transition(_))
    ));
}

#[tokio::test]
async fn the_offline_responder_hands_off_what_it_does_not_know() {
    let engine = offline();
    let turn = engine
        .send_message(Inbound::new("Which wine goes with grilled fish?"))
        .await
        .unwrap();
    assert_eq!(turn.escalation, Some(EscalationReason::NoAnswer));
    assert_eq!(turn.conversation.status, Status::Agent);
    assert!(turn.reply.is_some() && turn.notice.is_some());
}

#[tokio::test]
async fn streaming_yields_deltas_and_stores_the_whole_reply() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::Chunks(vec![
            "We ship ".into(),
            "to the USA, ".into(),
            "India and Europe.".into(),
        ]),
        Script::ChunksThenFail(
            vec!["Partial ".into()],
            ProviderError::Stream("dropped".into()),
        ),
    ]));
    let engine = engine_with(provider, EngineConfig::default());
    let mut rx = engine
        .send_message_stream(Inbound::new("where do you ship?"))
        .await
        .unwrap();
    let mut deltas = String::new();
    let mut done = None;
    while let Some(event) = rx.recv().await {
        match event {
            StreamEvent::Started { message, .. } => assert_eq!(message.seq, 1),
            StreamEvent::Delta { text } => deltas.push_str(&text),
            StreamEvent::Done(turn) => done = Some(turn),
        }
    }
    let turn = done.unwrap();
    assert_eq!(deltas, "We ship to the USA, India and Europe.");
    assert_eq!(turn.reply.as_ref().unwrap().text, deltas);

    let mut rx = engine
        .send_message_stream(Inbound::new("and Canada?").in_session(turn.conversation.session_id))
        .await
        .unwrap();
    let mut last = None;
    while let Some(event) = rx.recv().await {
        last = Some(event);
    }
    let Some(StreamEvent::Done(turn)) = last else {
        panic!("no done event")
    };
    assert!(turn.used_fallback());
    assert_eq!(
        turn.reply.unwrap().meta.error_code.as_deref(),
        Some("llm_stream_broken")
    );
}

#[tokio::test]
async fn a_person_taking_over_mid_reply_silences_the_bot() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::Reply("welcome".into()),
        Script::Delay(
            Duration::from_millis(300),
            Box::new(Script::Reply("bot answer".into())),
        ),
    ]));
    let engine = engine_with(provider, EngineConfig::default());
    let first = engine.send_message(Inbound::new("hello")).await;
    assert!(first.is_ok());
    let session = first.unwrap().conversation.session_id;
    let id = engine.conversation(session).await.unwrap().id;
    let racing = engine.clone();
    let reply = tokio::spawn(async move {
        racing
            .send_message(Inbound::new("where is my order").in_session(session))
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    engine.claim(id, "ana").await.unwrap();
    let turn = reply.await.unwrap().unwrap();
    assert!(turn.reply.is_none());
    let page = engine.history(session, None, 10).await.unwrap();
    assert!(page.messages.iter().all(|m| m.text != "bot answer"));
}

/// A reader that falls behind (a slow SSE client, a slow Python `async for`)
/// neither times the model out nor loses words: deltas are merged for it and
/// the stored reply is the model's whole answer.
#[tokio::test]
async fn a_slow_reader_never_turns_a_good_answer_into_the_fallback() {
    let chunks: Vec<String> = (0..300).map(|i| format!("w{i} ")).collect();
    let provider = Arc::new(ScriptedProvider::new([Script::Chunks(chunks.clone())]));
    let engine = engine_with(
        provider,
        EngineConfig {
            llm_timeout: Duration::from_millis(300),
            ..EngineConfig::default()
        },
    );
    let mut rx = engine
        .send_message_stream(Inbound::new("hello there"))
        .await
        .unwrap();
    // Away well past the model's deadline, with far more deltas than the channel holds.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (mut read, mut done) = (String::new(), None);
    while let Some(event) = rx.recv().await {
        match event {
            StreamEvent::Delta { text } => read.push_str(&text),
            StreamEvent::Done(turn) => done = Some(turn),
            StreamEvent::Started { .. } => {}
        }
    }
    let reply = done.expect("the turn completes").reply.unwrap();
    assert!(!reply.meta.used_fallback, "{:?}", reply.meta.error_code);
    assert_eq!(reply.text, chunks.concat());
    assert_eq!(read, chunks.concat(), "every word reaches the reader once");
}

/// Replies streamed on the engine's own tasks are waited for by `drain`.
#[tokio::test]
async fn drain_waits_for_streamed_replies_to_be_stored() {
    let provider = Arc::new(ScriptedProvider::new((0..5).map(|_| {
        Script::Delay(
            Duration::from_millis(200),
            Box::new(Script::Chunks(vec!["all ".into(), "done".into()])),
        )
    })));
    let engine = engine_with(provider, EngineConfig::default());
    let mut sessions = Vec::new();
    for _ in 0..5 {
        // The receivers are dropped at once: nobody is reading.
        let rx = engine
            .send_message_stream(Inbound::new("hello there"))
            .await
            .unwrap();
        drop(rx);
    }
    assert_eq!(engine.replies_in_flight(), 5);
    assert!(engine.drain(Duration::from_secs(5)).await);
    assert_eq!(engine.replies_in_flight(), 0);
    let page = engine
        .store()
        .list_conversations(&Default::default(), None, 10)
        .await
        .unwrap();
    for listed in page.conversations {
        let history = engine
            .store()
            .history(listed.conversation.id, None, 10)
            .await
            .unwrap();
        assert_eq!(history.messages.len(), 2);
        assert_eq!(history.messages[1].text, "all done");
        sessions.push(listed.conversation.session_id);
    }
    assert_eq!(sessions.len(), 5);
}

/// A caller that goes away mid-turn (a client disconnecting) cancels
/// nothing: the message and its reply are stored, and `drain` waits for them.
#[tokio::test]
async fn a_caller_that_goes_away_mid_turn_leaves_the_reply_stored() {
    let provider = Arc::new(ScriptedProvider::new([Script::Delay(
        Duration::from_millis(200),
        Box::new(Script::Reply("stored anyway".into())),
    )]));
    let engine = engine_with(provider, EngineConfig::default());
    let gone = tokio::time::timeout(
        Duration::from_millis(20),
        engine.send_message(Inbound::new("hi")),
    )
    .await;
    assert!(gone.is_err(), "the caller gave up before the reply");
    assert_eq!(engine.replies_in_flight(), 1);
    assert!(engine.drain(Duration::from_secs(5)).await);
    let page = engine
        .store()
        .list_conversations(&Default::default(), None, 10)
        .await
        .unwrap();
    let [listed] = page.conversations.as_slice() else {
        panic!("one conversation: {:?}", page.conversations.len());
    };
    let history = engine
        .store()
        .history(listed.conversation.id, None, 10)
        .await
        .unwrap();
    let texts: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hi", "stored anyway"]);
}

/// The prompt's history pages back past notices (never shown to a model)
/// until it has the newest messages the limit allows.
#[tokio::test]
async fn history_behind_many_notices_still_reaches_the_prompt() {
    let provider = Arc::new(ScriptedProvider::always("an answer"));
    let mut config = EngineConfig::default();
    config.prompt.max_history_messages = 2;
    let engine = engine_with(provider.clone(), config);
    let first = engine
        .send_message(Inbound::new("the first question"))
        .await
        .unwrap();
    // More notices than the first page holds, stored after that answer.
    let conversation = engine
        .conversation_by_id(first.conversation.id)
        .await
        .unwrap();
    let notices = (0..10)
        .map(|i| {
            engine.message(
                Sender::System,
                format!("notice {i}"),
                None,
                MessageMeta::default(),
            )
        })
        .collect();
    engine
        .store()
        .apply(Change {
            conversation_id: conversation.id,
            create: None,
            expected_version: conversation.version,
            status: conversation.status,
            assignee: None,
            updated_at: engine.now(),
            metadata: None,
            messages: notices,
            history: 0,
            deliver: None,
        })
        .await
        .unwrap();
    let mut next = Inbound::new("the second question");
    next.session = Some(first.conversation.session_id);
    engine.send_message(next).await.unwrap();
    let prompt = provider.requests().pop().unwrap();
    let shown: Vec<&str> = prompt
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(
        shown,
        ["the first question", "an answer", "the second question"]
    );
}

fn shop_engine(facts: crate::facts::ShopFacts, at: OffsetDateTime) -> SupportEngine {
    let kb = KnowledgeBase::from_markdown(
        "policies",
        "## Returns\nSend items back within 30 days for a full refund.\n\
         ## Payment\nWe take PayPal and Visa.\n",
    )
    .with_facts(facts);
    SupportEngine::builder()
        .knowledge(kb)
        .clock(Arc::new(crate::clock::FixedClock(at)))
        .build()
}

/// The handoff notice states the operator's facts, never the demo's: who is
/// there now, when they are back in the shop's zone, or no time at all.
#[tokio::test]
async fn handoff_notices_tell_this_shops_hours() {
    use time::macros::datetime;
    let berlin = crate::facts::ShopFacts {
        name: Some("Nordlicht".into()),
        time_zone: Some("Europe/Berlin".into()),
        hours: "Mon-Fri 08:00-17:00".parse().ok(),
        holidays: Vec::new(),
        contact: Some("hilfe@nordlicht.example".into()),
    };
    let ask = |engine: SupportEngine| async move {
        let turn = engine
            .send_message(Inbound::new("I want to talk to a human"))
            .await
            .unwrap();
        turn.notice.expect("a handoff notice").text
    };
    // Saturday 12:00 Berlin: closed, back Monday.
    let closed = ask(shop_engine(berlin.clone(), datetime!(2026-11-28 11:00 UTC))).await;
    assert!(
        closed.contains("on Monday at 08:00 (Berlin time)"),
        "{closed}"
    );
    assert!(closed.contains("hilfe@nordlicht.example"), "{closed}");
    assert!(
        !closed.contains("IST") && !closed.contains("9am"),
        "{closed}"
    );
    // Monday 10:00 Berlin: people are there.
    let open = ask(shop_engine(berlin, datetime!(2026-11-30 09:00 UTC))).await;
    assert!(open.contains("connecting you"), "{open}");
    // Unknown hours: no time promised.
    let unknown = ask(shop_engine(
        crate::facts::ShopFacts::default(),
        datetime!(2026-11-28 11:00 UTC),
    ))
    .await;
    assert!(!unknown.chars().any(|c| c.is_ascii_digit()), "{unknown}");
    assert!(!unknown.contains("back"), "{unknown}");
}

/// Nobody there: the notice offers to leave an email address, the address is
/// stored on the conversation and the confirmation says when the answer
/// comes, true for this shop. People there, or an address already known:
/// no offer.
#[tokio::test]
async fn nobody_there_the_customer_leaves_an_email() {
    use time::macros::datetime;
    let berlin = crate::facts::ShopFacts {
        name: Some("Nordlicht".into()),
        time_zone: Some("Europe/Berlin".into()),
        hours: "Mon-Fri 08:00-17:00".parse().ok(),
        holidays: Vec::new(),
        contact: None,
    };
    // Saturday 12:00 Berlin: closed, back Monday.
    let engine = shop_engine(berlin.clone(), datetime!(2026-11-28 11:00 UTC));
    let turn = engine
        .send_message(Inbound::new("I want to talk to a human"))
        .await
        .unwrap();
    let notice = turn.notice.expect("a handoff notice");
    assert!(notice.meta.ask_email, "{notice:?}");
    assert!(notice.text.contains("email address"), "{}", notice.text);
    let session = turn.conversation.session_id;
    let refused = engine.leave_email(session, "ana at example").await;
    assert!(
        matches!(
            refused,
            Err(EngineError::Validation(
                crate::validate::ValidationError::InvalidEmail
            ))
        ),
        "{refused:?}"
    );
    let left = engine
        .leave_email(session, "Ana@Example.com")
        .await
        .unwrap();
    assert_eq!(left.conversation.contact_email(), Some("ana@example.com"));
    assert_eq!(left.conversation.status, Status::Agent, "still waiting");
    let said = left.notice.expect("a confirmation");
    assert!(said.meta.email_left && !said.meta.ask_email);
    assert!(
        said.text.contains("ana@example.com")
            && said.text.contains("on Monday at 08:00 (Berlin time)"),
        "{}",
        said.text
    );
    let stored = engine.conversation(session).await.unwrap();
    assert_eq!(stored.contact_email(), Some("ana@example.com"));
    // The same address again changes nothing but says it again; a new one replaces it.
    let again = engine.leave_email(session, "bo@example.com").await.unwrap();
    assert_eq!(again.conversation.contact_email(), Some("bo@example.com"));

    // An address the host already gave: no offer.
    let known = engine
        .send_message(Inbound {
            metadata: Some(serde_json::json!({"contact": {"email": "cy@example.com"}})),
            ..Inbound::new("I want to talk to a human")
        })
        .await
        .unwrap();
    assert!(!known.notice.expect("a notice").meta.ask_email);

    // Monday 10:00 Berlin: people are there, no offer.
    let open = shop_engine(berlin, datetime!(2026-11-30 09:00 UTC))
        .send_message(Inbound::new("I want to talk to a human"))
        .await
        .unwrap();
    let notice = open.notice.expect("a notice");
    assert!(
        !notice.meta.ask_email && !notice.text.contains("email"),
        "{}",
        notice.text
    );

    // An address left while the bot has the conversation is for a person
    // too (the confirmation promises one): it is queued for them.
    let with_bot = engine
        .send_message(Inbound::new("How long do I have to send items back?"))
        .await
        .unwrap();
    assert_eq!(with_bot.conversation.status, Status::Automated);
    let left = engine
        .leave_email(with_bot.conversation.session_id, "dee@example.com")
        .await
        .unwrap();
    assert_eq!(
        (
            left.conversation.status,
            left.conversation.assignee.as_deref()
        ),
        (Status::Agent, None),
        "waiting for a person"
    );
    assert!(left.notice.expect("a confirmation").meta.email_left);

    // A closed conversation takes no address.
    engine.close(session).await.unwrap();
    let closed = engine.leave_email(session, "ana@example.com").await;
    assert!(
        matches!(
            closed,
            Err(EngineError::Transition(TransitionError::Closed))
        ),
        "{closed:?}"
    );
}

/// Asking for a person while already queued gets an answer; small talk and
/// "are you a bot?" get a short reply and no handoff.
#[tokio::test]
async fn small_talk_and_asking_again_get_answers() {
    let engine = offline();
    let first = engine
        .send_message(Inbound::new("are you a bot?"))
        .await
        .unwrap();
    assert_eq!(first.conversation.status, Status::Automated);
    assert!(first.reply.unwrap().text.contains("virtual assistant"));
    let session = first.conversation.session_id;
    let thanks = engine
        .send_message(Inbound::new("thanks!").in_session(session))
        .await
        .unwrap();
    let text = thanks.reply.unwrap().text;
    assert!(text.contains("welcome"), "{text}");
    assert!(!text.contains("Hi!"), "thanks is not a greeting: {text}");
    engine
        .send_message(Inbound::new("talk to a real person please").in_session(session))
        .await
        .unwrap();
    let again = engine
        .send_message(Inbound::new("hello?? I asked for a human").in_session(session))
        .await
        .unwrap();
    let notice = again.notice.expect("an answer while waiting").text;
    assert!(notice.contains("already in line"), "{notice}");
}

/// A model's invented number is caught before it is stored: the sentence
/// is removed, or the reply becomes "not sure" and a handoff.
#[tokio::test]
async fn the_grounding_guard_repairs_or_blocks_invented_facts() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::Reply("You can send items back within 30 days. Refunds take 5 days.".into()),
        Script::Reply("Sure, we also take Klarna with 20% off.".into()),
    ]));
    let kb = KnowledgeBase::from_markdown(
        "policies",
        "## Returns\nSend items back within 30 days for a full refund.\n",
    );
    let engine = SupportEngine::builder()
        .provider(provider)
        .knowledge(kb)
        .build();
    let turn = engine
        .send_message(Inbound::new("how long do I have to return something?"))
        .await
        .unwrap();
    let reply = turn.reply.unwrap();
    assert_eq!(reply.text, "You can send items back within 30 days.");
    let grounding = reply.meta.grounding.clone().unwrap();
    assert_eq!(grounding.verdict, crate::grounding::Verdict::Repaired);
    assert_eq!(grounding.unsupported, vec!["5"]);
    assert_eq!(reply.meta.sources.len(), 1);
    assert_eq!(reply.meta.sources[0].title, "Returns");

    let turn = engine
        .send_message(
            Inbound::new("can I pay with something else?").in_session(turn.conversation.session_id),
        )
        .await
        .unwrap();
    let reply = turn.reply.unwrap();
    assert!(reply.text.contains("not sure"), "{}", reply.text);
    assert_eq!(
        reply.meta.grounding.unwrap().verdict,
        crate::grounding::Verdict::Blocked
    );
    assert!(reply.meta.sources.is_empty());
    assert_eq!(
        turn.conversation.status,
        Status::Agent,
        "handed to a person"
    );
}

/// Streamed, the guard lets through only supported sentences, and the
/// deltas add up to the stored reply; a blocked reply streams "not sure".
#[tokio::test]
async fn streamed_replies_pass_the_grounding_guard_sentence_by_sentence() {
    let words =
        |text: &str| -> Vec<String> { text.split_inclusive(' ').map(str::to_string).collect() };
    let provider = Arc::new(ScriptedProvider::new([
        Script::Chunks(words(
            "You can send items back within 30 days. Refunds take 5 days. Thanks!",
        )),
        Script::Chunks(words("We take Klarna with 20% off.")),
    ]));
    let kb = KnowledgeBase::from_markdown(
        "policies",
        "## Returns\nSend items back within 30 days for a full refund.\n",
    );
    let engine = SupportEngine::builder()
        .provider(provider)
        .knowledge(kb)
        .build();
    let read = |engine: SupportEngine, inbound: Inbound| async move {
        let mut rx = engine.send_message_stream(inbound).await.unwrap();
        let (mut read, mut done) = (String::new(), None);
        while let Some(event) = rx.recv().await {
            match event {
                StreamEvent::Delta { text } => read.push_str(&text),
                StreamEvent::Done(turn) => done = Some(turn),
                StreamEvent::Started { .. } => {}
            }
        }
        (read, done.expect("the turn completes"))
    };
    let (shown, turn) = read(
        engine.clone(),
        Inbound::new("how long can I return things?"),
    )
    .await;
    assert!(!shown.contains('5'), "{shown}");
    let reply = turn.reply.unwrap();
    assert_eq!(
        reply.text,
        "You can send items back within 30 days. Thanks!"
    );
    assert_eq!(shown, reply.text);
    let session = turn.conversation.session_id;
    let (shown, turn) = read(engine, Inbound::new("other payment?").in_session(session)).await;
    assert!(!shown.contains("Klarna"), "{shown}");
    assert_eq!(shown, turn.reply.unwrap().text);
    assert!(shown.contains("not sure"), "{shown}");
}

/// New knowledge applies from the next turn, facts and all.
#[tokio::test]
async fn replaced_knowledge_answers_from_the_next_turn() {
    let engine = offline();
    let before = engine
        .send_message(Inbound::new("do you repair tent poles?"))
        .await
        .unwrap();
    assert_eq!(before.conversation.status, Status::Agent, "not known yet");
    engine.replace_knowledge(
        KnowledgeBase::from_markdown("repairs", "## Repairs\nOur workshop repairs tent poles.\n")
            .with_facts(crate::facts::ShopFacts {
                name: Some("Nordlicht".into()),
                ..crate::facts::ShopFacts::default()
            }),
    );
    let after = engine
        .send_message(Inbound::new("do you repair tent poles?"))
        .await
        .unwrap();
    assert!(after.reply.unwrap().text.contains("workshop"));
    assert_eq!(engine.facts().display_name(), "Nordlicht");
    assert_eq!(engine.knowledge().len(), 1);
    // The built-in responder greets in the new shop's name.
    let hello = engine.send_message(Inbound::new("hello")).await.unwrap();
    let hello = hello.reply.unwrap().text;
    assert!(hello.contains("Nordlicht"), "{hello}");
}

/// Internal notes are for agents: never in the customer's history, never in
/// a prompt; an empty one is refused, an unknown conversation is an error.
#[tokio::test]
async fn notes_never_reach_the_customer_or_a_prompt() {
    let provider = Arc::new(ScriptedProvider::always("Our returns window is 14 days."));
    let engine = engine_with(provider.clone(), EngineConfig::default());
    let first = engine
        .send_message(Inbound::new("return policy?"))
        .await
        .unwrap();
    let id = first.conversation.id;
    let secret = "VIP customer, refund without asking";
    let note = engine
        .add_note(id, "ana-id", " Ana ", secret)
        .await
        .unwrap();
    assert_eq!(
        (note.author.as_str(), note.author_name.as_str()),
        ("ana-id", "Ana")
    );
    assert_eq!(engine.store().notes(id, 10).await.unwrap(), vec![note]);
    assert!(matches!(
        engine.add_note(id, "ana-id", "Ana", "   ").await,
        Err(EngineError::Validation(_))
    ));
    assert!(matches!(
        engine
            .add_note(ConversationId(uuid::Uuid::now_v7()), "ana-id", "Ana", "x")
            .await,
        Err(EngineError::UnknownConversation)
    ));
    engine
        .send_message(Inbound::new("and for shoes?").in_session(first.conversation.session_id))
        .await
        .unwrap();
    let prompt = provider.requests().pop().unwrap();
    assert!(prompt.messages.iter().all(|m| !m.content.contains("VIP")));
    let history = engine
        .history(first.conversation.session_id, None, 50)
        .await
        .unwrap();
    assert!(history.messages.iter().all(|m| !m.text.contains("VIP")));
}

/// Canned replies: a shortcut of a-z, 0-9 and `-` (a leading `/` and case
/// forgiven), a text checked like a message; saving again replaces.
#[tokio::test]
async fn canned_replies_are_checked_and_replaced() {
    let engine = offline();
    let saved = engine
        .save_canned_reply("/Returns", "Within 30 days.", "ana-id")
        .await
        .unwrap();
    assert_eq!(saved.shortcut, "returns");
    for bad in ["", "/", "two words", "ümlaut", &"x".repeat(33)] {
        assert!(
            matches!(
                engine.save_canned_reply(bad, "text", "ana-id").await,
                Err(EngineError::Validation(
                    crate::validate::ValidationError::InvalidShortcut
                ))
            ),
            "{bad:?}"
        );
    }
    assert!(
        engine
            .save_canned_reply("ok", "  ", "ana-id")
            .await
            .is_err()
    );
    engine
        .save_canned_reply("returns", "Within 30 days, free.", "bo-id")
        .await
        .unwrap();
    let all = engine.store().canned_replies().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].text.as_str(), all[0].author.as_str()),
        ("Within 30 days, free.", "bo-id")
    );
}
