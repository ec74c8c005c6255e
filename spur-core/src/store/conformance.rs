//! One behaviour suite for every [`ConversationStore`]: memory, SQLite and
//! PostgreSQL run exactly these checks. Hosts and new backends call
//! [`run_all`] from their own tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    Applied, Change, ConversationFilter, ConversationStore, ReplyFilter, ReplyTotals, StoreError,
};
use crate::conversation::{
    Conversation, ConversationId, Message, MessageId, MessageMeta, Sender, SessionId, Status,
};

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000 + seconds).unwrap()
}

fn conversation(seconds: i64) -> Conversation {
    Conversation {
        id: ConversationId(Uuid::now_v7()),
        session_id: SessionId(Uuid::new_v4()),
        channel: "web".into(),
        status: Status::Automated,
        assignee: None,
        metadata: serde_json::json!({"page": "/checkout"}),
        last_seq: 0,
        version: 0,
        created_at: at(seconds),
        updated_at: at(seconds),
    }
}

fn message(sender: Sender, text: &str, key: Option<&str>) -> Message {
    Message {
        id: MessageId(Uuid::now_v7()),
        conversation_id: ConversationId(Uuid::nil()),
        seq: 0,
        sender,
        text: text.into(),
        created_at: at(1) + Duration::milliseconds(123),
        idempotency_key: key.map(str::to_string),
        reply_to: None,
        meta: MessageMeta {
            model: Some("m".into()),
            tokens_in: Some(12),
            used_fallback: sender == Sender::Assistant,
            passages: vec!["policies/returns".into()],
            ..MessageMeta::default()
        },
    }
}

fn create(c: &Conversation, messages: Vec<Message>) -> Change {
    Change {
        conversation_id: c.id,
        create: Some(c.clone()),
        expected_version: 0,
        status: c.status,
        assignee: None,
        updated_at: c.updated_at,
        metadata: None,
        messages,
        history: 0,
        deliver: None,
    }
}

fn append(c: &Conversation, messages: Vec<Message>) -> Change {
    Change {
        conversation_id: c.id,
        create: None,
        expected_version: c.version,
        status: c.status,
        assignee: c.assignee.clone(),
        updated_at: c.updated_at + Duration::seconds(1),
        metadata: None,
        messages,
        history: 0,
        deliver: None,
    }
}

fn stored(applied: Applied) -> (Conversation, Vec<Message>) {
    match applied {
        Applied::Stored {
            conversation,
            messages,
            ..
        } => (conversation, messages),
        other => panic!("expected Stored, got {other:?}"),
    }
}

/// Runs every check against `store`.
pub async fn run_all(store: Arc<dyn ConversationStore>) {
    create_and_read_back(store.as_ref()).await;
    sequences_and_history_pages(store.as_ref()).await;
    reads_history_with_changes(store.as_ref()).await;
    idempotency_keys_never_duplicate(store.as_ref()).await;
    compare_and_swap(store.as_ref()).await;
    metadata_changes_only_when_given(store.as_ref()).await;
    notes_stay_with_their_conversation(store.as_ref()).await;
    canned_replies_by_shortcut(store.as_ref()).await;
    replies_are_found(store.as_ref()).await;
    message_meta_is_replaced(store.as_ref()).await;
    channel_messages_awaiting_a_reply(store.as_ref()).await;
    listing_by_status_and_activity(store.as_ref()).await;
    inbox_rows_and_filters(store.as_ref()).await;
    a_customers_conversations_by_address(store.as_ref()).await;
    reply_log(store.as_ref()).await;
    ratings_and_analytics(store.as_ref()).await;
    concurrent_appends_keep_every_message(store).await;
}

/// A change that asks for history gets the page
/// [`ConversationStore::history`] gives before its first message, or none
/// (the caller reads it); `true` when every change got it.
pub async fn reads_history_with_changes(store: &dyn ConversationStore) -> bool {
    let c = conversation(30);
    let asked = |change: Change, n: usize| Change {
        history: n,
        ..change
    };
    let first: Vec<Message> = (0..3)
        .map(|i| message(Sender::Customer, &format!("m{i}"), None))
        .collect();
    let Applied::Stored {
        history,
        conversation: c,
        ..
    } = store.apply(asked(create(&c, first), 5)).await.unwrap()
    else {
        panic!("stored")
    };
    let mut every = match history {
        Some(page) => {
            assert!(
                page.messages.is_empty() && page.next_before.is_none(),
                "{page:?}"
            );
            true
        }
        None => false,
    };
    let mut c = c;
    for (n, more) in [(2, 2), (10, 1), (4, 0)] {
        let new: Vec<Message> = (0..more)
            .map(|i| message(Sender::Assistant, &format!("r{i}"), None))
            .collect();
        let before = c.last_seq + 1;
        let Applied::Stored {
            conversation,
            history,
            ..
        } = store.apply(asked(append(&c, new), n)).await.unwrap()
        else {
            panic!("stored")
        };
        c = conversation;
        let expected = store.history(c.id, Some(before), n).await.unwrap();
        match history {
            Some(page) => assert_eq!(page, expected, "{n} before seq {before}"),
            None => every = false,
        }
    }
    let Applied::Stored { history, .. } = store.apply(append(&c, Vec::new())).await.unwrap() else {
        panic!("stored")
    };
    assert_eq!(history, None, "none asked, none read");
    every
}

async fn canned_replies_by_shortcut(store: &dyn ConversationStore) {
    let reply = |shortcut: &str, text: &str| crate::conversation::CannedReply {
        shortcut: shortcut.into(),
        text: text.into(),
        author: "ana-id".into(),
        updated_at: at(20),
    };
    store
        .save_canned_reply(&reply("returns", "30 days"))
        .await
        .unwrap();
    store
        .save_canned_reply(&reply("hello", "Hi ünïcode!"))
        .await
        .unwrap();
    store
        .save_canned_reply(&reply("returns", "Within 30 days, free."))
        .await
        .unwrap();
    let all = store.canned_replies().await.unwrap();
    assert_eq!(
        all,
        vec![
            reply("hello", "Hi ünïcode!"),
            reply("returns", "Within 30 days, free.")
        ],
        "by shortcut, the newest text"
    );
    assert!(
        !store
            .delete_canned_reply("hello", Some("bo-id"))
            .await
            .unwrap(),
        "not who saved it"
    );
    assert!(
        store
            .delete_canned_reply("hello", Some("ana-id"))
            .await
            .unwrap()
    );
    assert!(!store.delete_canned_reply("hello", None).await.unwrap());
    assert_eq!(store.canned_replies().await.unwrap().len(), 1);
    assert!(store.delete_canned_reply("returns", None).await.unwrap());
}

async fn notes_stay_with_their_conversation(store: &dyn ConversationStore) {
    let c = conversation(8);
    let other = conversation(9);
    stored(store.apply(create(&c, vec![])).await.unwrap());
    stored(store.apply(create(&other, vec![])).await.unwrap());
    let note = |conversation: &Conversation, text: &str, seconds: i64| crate::conversation::Note {
        id: Uuid::now_v7(),
        conversation_id: conversation.id,
        author: "ana-id".into(),
        author_name: "Ana".into(),
        text: text.into(),
        created_at: at(seconds),
    };
    for (i, text) in ["first", "second ünïcode", "third"].iter().enumerate() {
        store
            .add_note(&note(&c, text, 10 + i as i64))
            .await
            .unwrap();
    }
    store
        .add_note(&note(&other, "elsewhere", 11))
        .await
        .unwrap();
    let newest = store.notes(c.id, 2).await.unwrap();
    let texts: Vec<&str> = newest.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        texts,
        vec!["second ünïcode", "third"],
        "the newest, oldest first"
    );
    let expected = crate::conversation::Note {
        id: newest[1].id,
        ..note(&c, "third", 12)
    };
    assert_eq!(newest[1], expected, "read back as written");
    assert_eq!(store.notes(other.id, 10).await.unwrap().len(), 1);
    let nowhere = note(&conversation(10), "lost", 13);
    assert!(matches!(
        store.add_note(&nowhere).await,
        Err(StoreError::NotFound)
    ));
    // Notes are never messages.
    let page = store.history(c.id, None, 10).await.unwrap();
    assert!(page.messages.is_empty());
}

async fn metadata_changes_only_when_given(store: &dyn ConversationStore) {
    let c = conversation(7);
    let (saved, _) = stored(store.apply(create(&c, vec![])).await.unwrap());
    let kept = stored(store.apply(append(&saved, vec![])).await.unwrap()).0;
    assert_eq!(kept.metadata, c.metadata, "no metadata in the change: kept");
    let mut change = append(&kept, vec![]);
    let mut metadata = kept.metadata.clone();
    metadata["contact"] = serde_json::json!({"email": "ana@shop.example"});
    change.metadata = Some(metadata.clone());
    let (changed, _) = stored(store.apply(change).await.unwrap());
    assert_eq!(changed.metadata, metadata);
    let read = store.conversation(c.id).await.unwrap().unwrap();
    assert_eq!(read.metadata["contact"]["email"], "ana@shop.example");
    assert_eq!(read.metadata["page"], "/checkout", "the rest kept");
}

async fn create_and_read_back(store: &dyn ConversationStore) {
    let c = conversation(0);
    let first = message(Sender::Customer, "Hello ünïcode ✓", None);
    let (saved, messages) = stored(store.apply(create(&c, vec![first.clone()])).await.unwrap());
    assert_eq!(saved.version, 1);
    assert_eq!(saved.last_seq, 1);
    assert_eq!(messages[0].seq, 1);
    assert_eq!(messages[0].conversation_id, c.id);

    let read = store.conversation(c.id).await.unwrap().unwrap();
    assert_eq!(read, saved);
    assert_eq!(read.metadata["page"], "/checkout");
    let by_session = store
        .conversation_by_session(c.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_session.id, c.id);
    assert!(
        store
            .conversation(ConversationId(Uuid::now_v7()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .conversation_by_session(SessionId(Uuid::new_v4()))
            .await
            .unwrap()
            .is_none()
    );

    let page = store.history(c.id, None, 10).await.unwrap();
    assert_eq!(
        page.messages, messages,
        "a message reads back exactly, metadata included"
    );
    assert_eq!(page.next_before, None);

    let unknown = append(&conversation(0), vec![message(Sender::Customer, "x", None)]);
    assert!(matches!(
        store.apply(unknown).await,
        Err(StoreError::NotFound)
    ));
}

async fn sequences_and_history_pages(store: &dyn ConversationStore) {
    let c = conversation(10);
    let (mut c, _) = stored(store.apply(create(&c, vec![])).await.unwrap());
    for i in 0..25 {
        let (next, _) = stored(
            store
                .apply(append(
                    &c,
                    vec![message(Sender::Customer, &format!("m{i}"), None)],
                ))
                .await
                .unwrap(),
        );
        c = next;
    }
    assert_eq!(c.last_seq, 25);
    let newest = store.history(c.id, None, 10).await.unwrap();
    let seqs: Vec<i64> = newest.messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (16..=25).collect::<Vec<_>>(),
        "newest page, oldest first"
    );
    assert_eq!(newest.next_before, Some(16));
    let older = store.history(c.id, newest.next_before, 10).await.unwrap();
    assert_eq!(older.messages.first().map(|m| m.seq), Some(6));
    let oldest = store.history(c.id, older.next_before, 10).await.unwrap();
    assert_eq!(oldest.messages.len(), 5);
    assert_eq!(oldest.next_before, None, "no cursor past the first message");
    assert!(
        store
            .history(c.id, Some(1), 10)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    let after: Vec<i64> = store
        .messages_after(c.id, 20, 3)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(after, vec![21, 22, 23], "replay after a seq, oldest first");
    assert!(store.messages_after(c.id, 25, 10).await.unwrap().is_empty());
    store.ping().await.unwrap();
}

async fn idempotency_keys_never_duplicate(store: &dyn ConversationStore) {
    let key = format!("key-{}", Uuid::new_v4());
    let c = conversation(20);
    let original = message(Sender::Customer, "once", Some(&key));
    let (c, _) = stored(
        store
            .apply(create(&c, vec![original.clone()]))
            .await
            .unwrap(),
    );

    // A retry in the same conversation: nothing written, the original returned.
    let retry = store
        .apply(append(
            &c,
            vec![message(Sender::Customer, "once", Some(&key))],
        ))
        .await
        .unwrap();
    match retry {
        Applied::Duplicate {
            conversation,
            message,
        } => {
            assert_eq!(conversation.id, c.id);
            assert_eq!(message.id, original.id);
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }
    // A retry that would create a new conversation creates nothing.
    let orphan = conversation(21);
    let again = store
        .apply(create(
            &orphan,
            vec![message(Sender::Customer, "once", Some(&key))],
        ))
        .await
        .unwrap();
    assert!(matches!(again, Applied::Duplicate { .. }));
    assert!(
        store.conversation(orphan.id).await.unwrap().is_none(),
        "rolled back"
    );
    let after = store.conversation(c.id).await.unwrap().unwrap();
    assert_eq!((after.version, after.last_seq), (c.version, 1));
    assert_eq!(
        store
            .message_by_idempotency_key(&key)
            .await
            .unwrap()
            .map(|m| m.id),
        Some(original.id)
    );
    assert!(
        store
            .message_by_idempotency_key("never-used")
            .await
            .unwrap()
            .is_none()
    );
}

async fn compare_and_swap(store: &dyn ConversationStore) {
    let c = conversation(30);
    let (c, _) = stored(store.apply(create(&c, vec![])).await.unwrap());
    let mut claim = append(&c, vec![]);
    claim.status = Status::Agent;
    claim.assignee = Some("ana".into());
    let (claimed, _) = stored(store.apply(claim.clone()).await.unwrap());
    assert_eq!(claimed.status, Status::Agent);
    assert_eq!(claimed.assignee.as_deref(), Some("ana"));
    // The same change computed from the old version must fail.
    claim.assignee = Some("bo".into());
    assert!(matches!(
        store.apply(claim).await,
        Err(StoreError::Conflict)
    ));
    let now = store.conversation(c.id).await.unwrap().unwrap();
    assert_eq!(now.assignee.as_deref(), Some("ana"));
}

async fn replies_are_found(store: &dyn ConversationStore) {
    let c = conversation(40);
    let question = message(Sender::Customer, "q", None);
    let (c, _) = stored(
        store
            .apply(create(&c, vec![question.clone()]))
            .await
            .unwrap(),
    );
    assert!(store.reply_to(question.id).await.unwrap().is_none());
    let mut answer = message(Sender::Assistant, "a", None);
    answer.reply_to = Some(question.id);
    stored(store.apply(append(&c, vec![answer.clone()])).await.unwrap());
    let found = store.reply_to(question.id).await.unwrap().unwrap();
    assert_eq!(found.id, answer.id);
    assert!(found.meta.used_fallback);
}

async fn message_meta_is_replaced(store: &dyn ConversationStore) {
    use crate::channels::{Attachment, MessageKind};
    let c = conversation(41);
    let photo = message(Sender::Customer, "[image]", None);
    let (c, _) = stored(store.apply(create(&c, vec![photo.clone()])).await.unwrap());
    let mut meta = photo.meta.clone();
    meta.attachments = vec![Attachment {
        blob: Some("ab".repeat(32)),
        ..Attachment::at(MessageKind::Image, "1003")
    }];
    store.set_message_meta(c.id, photo.id, &meta).await.unwrap();
    let page = store.history(c.id, None, 10).await.unwrap();
    assert_eq!(page.messages[0].meta, meta);
    let other = conversation(42);
    let (other, _) = stored(store.apply(create(&other, Vec::new())).await.unwrap());
    assert!(
        matches!(
            store.set_message_meta(other.id, photo.id, &meta).await,
            Err(StoreError::NotFound)
        ),
        "a message is changed only through its own conversation"
    );
}

/// Only conversations on another channel, held by the assistant, changed
/// in the window, whose newest message is the customer's.
async fn channel_messages_awaiting_a_reply(store: &dyn ConversationStore) {
    let on_channel = |seconds: i64, status: Status| {
        let mut c = conversation(seconds);
        c.status = status;
        let thread = crate::channels::ExternalThread::new("whatsapp", "1", c.id.to_string());
        c.metadata = serde_json::json!({ crate::conversation::CHANNEL_THREAD: thread.address() });
        (c, thread.address())
    };
    let open = |c: &Conversation, address: String, messages: Vec<Message>| Change {
        deliver: Some(address),
        ..create(c, messages)
    };
    let question = || message(Sender::Customer, "q", None);
    let (waiting, address) = on_channel(7_000, Status::Automated);
    store
        .apply(open(&waiting, address, vec![question()]))
        .await
        .unwrap();
    let (answered, address) = on_channel(7_001, Status::Automated);
    let (answered, _) = stored(
        store
            .apply(open(&answered, address, vec![question()]))
            .await
            .unwrap(),
    );
    // Not queued for delivery (`deliver` unset): the outbox's own suite
    // runs on this store after.
    let reply = message(Sender::Assistant, "a", None);
    store.apply(append(&answered, vec![reply])).await.unwrap();
    let (with_agent, address) = on_channel(7_002, Status::Agent);
    store
        .apply(open(&with_agent, address, vec![question()]))
        .await
        .unwrap();
    let (too_new, address) = on_channel(7_200, Status::Automated);
    store
        .apply(open(&too_new, address, vec![question()]))
        .await
        .unwrap();
    let web = conversation(7_003);
    store.apply(create(&web, vec![question()])).await.unwrap();

    let found = store
        .awaiting_reply(at(6_900), at(7_100), 500)
        .await
        .unwrap();
    let ours = [waiting.id, answered.id, with_agent.id, too_new.id, web.id];
    let found: Vec<_> = found.into_iter().filter(|id| ours.contains(id)).collect();
    assert_eq!(found, vec![waiting.id]);
    assert!(
        store
            .awaiting_reply(at(6_900), at(7_100), 0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn listing_by_status_and_activity(store: &dyn ConversationStore) {
    // Far in the future, so these are the newest whatever ran before.
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut c = conversation(1_000_000 + i);
        if i % 2 == 1 {
            c.status = Status::Closed;
        }
        stored(store.apply(create(&c, vec![])).await.unwrap());
        ids.push(c.id);
    }
    let closed = ConversationFilter {
        status: Some(Status::Closed),
        ..ConversationFilter::default()
    };
    let page = store.list_conversations(&closed, None, 1).await.unwrap();
    assert_eq!(
        page.conversations
            .iter()
            .map(|c| c.conversation.id)
            .collect::<Vec<_>>(),
        vec![ids[3]]
    );
    let next = store
        .list_conversations(&closed, page.next.as_ref(), 1)
        .await
        .unwrap();
    assert_eq!(next.conversations[0].conversation.id, ids[1]);
    let all = store
        .list_conversations(&ConversationFilter::default(), None, 3)
        .await
        .unwrap();
    assert_eq!(
        all.conversations
            .iter()
            .map(|c| c.conversation.id)
            .collect::<Vec<_>>(),
        vec![ids[4], ids[3], ids[2]],
        "newest activity first"
    );
    assert!(all.next.is_some());
    let open = ConversationFilter {
        not_status: Some(Status::Closed),
        ..ConversationFilter::default()
    };
    let page = store.list_conversations(&open, None, 2).await.unwrap();
    assert_eq!(
        page.conversations
            .iter()
            .map(|c| c.conversation.id)
            .collect::<Vec<_>>(),
        vec![ids[4], ids[2]]
    );

    // Times order by instant, whatever their written form (x.5 s < x.50001 s).
    let mut later = Vec::new();
    for micros in [500_010, 500_000] {
        let mut c = conversation(2_000_000);
        c.updated_at += Duration::microseconds(micros);
        stored(store.apply(create(&c, vec![])).await.unwrap());
        later.push(c.id);
    }
    let page = store
        .list_conversations(&ConversationFilter::default(), None, 2)
        .await
        .unwrap();
    assert_eq!(
        page.conversations
            .iter()
            .map(|c| c.conversation.id)
            .collect::<Vec<_>>(),
        later
    );
}

fn classified(text: &str, category: &str, priority: &str) -> Message {
    let mut m = message(Sender::Customer, text, None);
    m.meta.classification = Some(crate::classify::Classification {
        category: category.into(),
        priority: priority.into(),
        confidence: 0.8,
        source: crate::classify::ClassificationSource::Local,
    });
    m
}

async fn inbox_rows_and_filters(store: &dyn ConversationStore) {
    // Far in the future, so these are the newest whatever ran before.
    let billing = conversation(3_000_000);
    let timed = |mut m: Message, seconds: i64| {
        m.created_at = at(3_000_000 + seconds);
        m
    };
    stored(
        store
            .apply(create(
                &billing,
                vec![
                    timed(classified("I was charged twice", "billing", "high"), 0),
                    timed(message(Sender::Assistant, "Sorry! Let me check.", None), 1),
                    timed(
                        classified("Still 100% wrong_ly charged", "billing", "high"),
                        60,
                    ),
                    timed(classified("Hello??", "billing", "urgent"), 120),
                ],
            ))
            .await
            .unwrap(),
    );
    let tech = conversation(3_000_001);
    let (tech_stored, _) = stored(
        store
            .apply(create(
                &tech,
                vec![timed(
                    classified(&"The app crashes. ".repeat(20), "technical", "medium"),
                    30,
                )],
            ))
            .await
            .unwrap(),
    );
    let newest = store
        .list_conversations(&ConversationFilter::default(), None, 2)
        .await
        .unwrap();
    let rows: Vec<(ConversationId, Option<&str>, Option<&str>, i64)> = newest
        .conversations
        .iter()
        .map(|l| {
            (
                l.conversation.id,
                l.category.as_deref(),
                l.priority.as_deref(),
                l.unanswered,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (tech.id, Some("technical"), Some("medium"), 1),
            (billing.id, Some("billing"), Some("urgent"), 2),
        ],
        "the newest customer message's classification; customer messages since the last answer"
    );
    // Waiting since the oldest unanswered message; the newest message, cut short.
    let waits: Vec<_> = newest
        .conversations
        .iter()
        .map(|l| l.waiting_since)
        .collect();
    assert_eq!(waits, vec![Some(at(3_000_030)), Some(at(3_000_060))]);
    assert_eq!(newest.conversations[1].preview.as_deref(), Some("Hello??"));
    let cut = newest.conversations[0].preview.clone().unwrap();
    assert_eq!(cut.chars().count(), crate::store::PREVIEW_CHARS, "{cut}");
    assert!(cut.ends_with('…') && cut.starts_with("The app crashes."));
    let only = |filter: ConversationFilter| async move {
        store
            .list_conversations(&filter, None, 10)
            .await
            .unwrap()
            .conversations
            .iter()
            .map(|l| l.conversation.id)
            .filter(|id| *id == billing.id || *id == tech.id)
            .collect::<Vec<_>>()
    };
    let by =
        |category: Option<&str>, priority: Option<&str>, text: Option<&str>| ConversationFilter {
            category: category.map(str::to_string),
            priority: priority.map(str::to_string),
            text: text.map(str::to_string),
            ..ConversationFilter::default()
        };
    assert_eq!(
        only(by(Some("billing"), None, None)).await,
        vec![billing.id]
    );
    assert_eq!(only(by(None, Some("urgent"), None)).await, vec![billing.id]);
    assert_eq!(
        only(by(None, Some("high"), None)).await,
        Vec::<ConversationId>::new()
    );
    assert_eq!(only(by(None, None, Some("CRASHES"))).await, vec![tech.id]);
    // LIKE's wildcards are matched literally.
    assert_eq!(
        only(by(None, None, Some("100% wrong_ly"))).await,
        vec![billing.id]
    );
    assert_eq!(
        only(by(None, None, Some("100%% wrong"))).await,
        Vec::<ConversationId>::new()
    );
    assert_eq!(
        only(by(None, None, Some("_pp"))).await,
        Vec::<ConversationId>::new()
    );

    // Mine and unassigned.
    let mut claim = append(&tech_stored, vec![]);
    claim.status = Status::Agent;
    claim.assignee = Some("ana".into());
    stored(store.apply(claim).await.unwrap());
    let held = |assignee: crate::store::AssigneeFilter| ConversationFilter {
        assignee: Some(assignee),
        ..ConversationFilter::default()
    };
    use crate::store::AssigneeFilter::{Agent, Nobody};
    assert_eq!(only(held(Agent("ana".into()))).await, vec![tech.id]);
    assert_eq!(
        only(held(Agent("bo".into()))).await,
        Vec::<ConversationId>::new()
    );
    assert_eq!(only(held(Nobody)).await, vec![billing.id]);
}

/// The customer panel's "previous conversations": every conversation with
/// the same contact address, in any ASCII case, given at the start or later.
async fn a_customers_conversations_by_address(store: &dyn ConversationStore) {
    let address = format!("Priya.{}@Example.com", Uuid::new_v4().simple());
    let mut first = conversation(4_000_000);
    first.metadata = serde_json::json!({"contact": {"email": address.to_lowercase()}});
    stored(store.apply(create(&first, vec![])).await.unwrap());
    // Left later, in the chat, in another case.
    let second = conversation(4_000_010);
    let (second_stored, _) = stored(store.apply(create(&second, vec![])).await.unwrap());
    let mut left = append(&second_stored, vec![]);
    left.metadata = Some(second_stored.metadata_with_email(&address));
    stored(store.apply(left).await.unwrap());
    // Someone else, and someone who left nothing.
    let mut other = conversation(4_000_020);
    other.metadata = serde_json::json!({"contact": {"email": format!("x{address}")}});
    stored(store.apply(create(&other, vec![])).await.unwrap());
    stored(
        store
            .apply(create(&conversation(4_000_030), vec![]))
            .await
            .unwrap(),
    );

    let filter = ConversationFilter {
        contact_email: Some(address.to_uppercase()),
        ..ConversationFilter::default()
    };
    let page = store.list_conversations(&filter, None, 10).await.unwrap();
    let ids: Vec<ConversationId> = page
        .conversations
        .iter()
        .map(|l| l.conversation.id)
        .collect();
    assert_eq!(ids, vec![second.id, first.id], "newest first, nobody else");
}

async fn reply_log(store: &dyn ConversationStore) {
    let c = conversation(200);
    let turn = |i: i64, fallback: bool| {
        let mut customer = message(Sender::Customer, "Where is my parcel?", None);
        customer.created_at = at(200 + i);
        let mut reply = message(Sender::Assistant, "On its way.", None);
        reply.created_at = at(200 + i) + Duration::milliseconds(500);
        reply.meta.used_fallback = fallback;
        reply.meta.tokens_in = Some(100 + i as u32);
        reply.meta.tokens_out = if fallback { None } else { Some(20) };
        reply.meta.error_code = fallback.then(|| "timeout".to_string());
        vec![customer, reply]
    };
    let (c, _) = stored(store.apply(create(&c, turn(0, false))).await.unwrap());
    let (c, _) = stored(store.apply(append(&c, turn(1, true))).await.unwrap());
    stored(store.apply(append(&c, turn(2, false))).await.unwrap());
    let mine = ReplyFilter {
        conversation: Some(c.id),
        ..ReplyFilter::default()
    };
    let page = store.replies(&mine, None, 2).await.unwrap();
    let tokens: Vec<Option<u32>> = page.replies.iter().map(|m| m.meta.tokens_in).collect();
    assert_eq!(
        tokens,
        vec![Some(102), Some(101)],
        "newest first, replies only"
    );
    let rest = store.replies(&mine, page.next.as_ref(), 2).await.unwrap();
    assert_eq!(rest.replies.len(), 1);
    assert_eq!(rest.replies[0].meta.tokens_in, Some(100));
    assert_eq!(rest.next, None);
    assert_eq!(rest.replies[0].meta.passages, vec!["policies/returns"]);

    let failed = ReplyFilter {
        fallbacks_only: true,
        ..mine.clone()
    };
    let page = store.replies(&failed, None, 10).await.unwrap();
    assert_eq!(page.replies.len(), 1);
    assert_eq!(page.replies[0].meta.error_code.as_deref(), Some("timeout"));
    let window = ReplyFilter {
        since: Some(at(201)),
        until: Some(at(202)),
        ..mine.clone()
    };
    let page = store.replies(&window, None, 10).await.unwrap();
    assert_eq!(page.replies.len(), 1);
    assert_eq!(page.replies[0].meta.tokens_in, Some(101));

    assert_eq!(
        store.reply_totals(&mine).await.unwrap(),
        ReplyTotals {
            replies: 3,
            fallbacks: 1,
            tokens_in: 303,
            tokens_out: 40,
        }
    );
    assert_eq!(store.reply_totals(&failed).await.unwrap().replies, 1);
    let nobody = ReplyFilter {
        conversation: Some(ConversationId(Uuid::now_v7())),
        ..ReplyFilter::default()
    };
    assert_eq!(
        store.reply_totals(&nobody).await.unwrap(),
        ReplyTotals::default()
    );
}

async fn concurrent_appends_keep_every_message(store: Arc<dyn ConversationStore>) {
    let c = conversation(50);
    stored(store.apply(create(&c, vec![])).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        let id = c.id;
        tasks.push(tokio::spawn(async move {
            // Retry on conflict, as the engine does.
            loop {
                let current = store.conversation(id).await.unwrap().unwrap();
                let change = append(
                    &current,
                    vec![message(Sender::Customer, &format!("c{i}"), None)],
                );
                match store.apply(change).await {
                    Ok(_) => break,
                    Err(StoreError::Conflict) => tokio::task::yield_now().await,
                    Err(other) => panic!("{other}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let page = store.history(c.id, None, 100).await.unwrap();
    let seqs: Vec<i64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=16).collect::<Vec<_>>(),
        "no message lost, no gap, no duplicate"
    );
}

/// Ratings are kept one per answer / conversation, and analytics' facts
/// give the metrics their definitions promise on a seeded period: ten
/// settled conversations of which six the assistant resolved (60%), one
/// still in play.
async fn ratings_and_analytics(store: &dyn ConversationStore) {
    use crate::insight::{Analytics, AnalyticsOptions, Answerer, Csat, Rating, ReplyRating};
    const T: i64 = 10_000_000;
    let ms = |ms: i64| at(T) + Duration::milliseconds(ms);
    let say = |sender: Sender, text: &str, when: i64| {
        let mut m = message(sender, text, None);
        m.created_at = ms(when);
        m.meta = MessageMeta::default();
        m
    };
    let answer = |when: i64, latency: u64| {
        let mut m = say(Sender::Assistant, "We ship in 2 days.", when);
        m.meta.tokens_in = Some(100);
        m.meta.tokens_out = Some(20);
        m.meta.latency_ms = Some(latency);
        m
    };
    // A conversation started `start` ms after T, its messages and status.
    let seed = |start: i64, channel: &str, status: Status, messages: Vec<Message>| {
        let mut c = conversation(0);
        c.created_at = ms(start);
        c.channel = channel.into();
        c.status = status;
        c.updated_at = messages.last().map_or(c.created_at, |m| m.created_at);
        create(&c, messages)
    };
    let mut ids = Vec::new();
    let mut keep = |applied: Applied| {
        let (c, m) = stored(applied);
        ids.push((c.id, m.iter().map(|m| m.id).collect::<Vec<_>>()));
    };
    for i in 0..6 {
        // 1-6: asked and answered; the sixth on WhatsApp, the first closed.
        let start = i * 60_000;
        let mut messages = vec![
            say(Sender::Customer, "When do you ship?", start),
            answer(start + 2_000, 300),
        ];
        if i == 4 {
            messages.push(say(Sender::Customer, "And to Spain?", start + 20_000));
            messages.push(answer(start + 21_000, 1_500));
        }
        if i == 0 {
            messages[1].meta.grounding = Some(crate::grounding::Grounding {
                verdict: crate::grounding::Verdict::Supported,
                unsupported: vec![],
            });
        }
        let channel = if i == 5 { "whatsapp" } else { "web" };
        let status = if i == 0 {
            Status::Closed
        } else {
            Status::Automated
        };
        keep(
            store
                .apply(seed(start, channel, status, messages))
                .await
                .unwrap(),
        );
    }
    // 7: answered, then a thumbs down.
    keep(
        store
            .apply(seed(
                400_000,
                "web",
                Status::Automated,
                vec![
                    say(Sender::Customer, "When do you ship?", 400_000),
                    answer(402_000, 300),
                ],
            ))
            .await
            .unwrap(),
    );
    // 8: only the fallback.
    let mut fallback = answer(502_000, 9_000);
    fallback.meta.used_fallback = true;
    fallback.meta.error_code = Some("timeout".into());
    keep(
        store
            .apply(seed(
                500_000,
                "web",
                Status::Automated,
                vec![
                    say(Sender::Customer, "When do you ship?", 500_000),
                    fallback,
                ],
            ))
            .await
            .unwrap(),
    );
    // 9: handed to a person, who answers twice (the second right after a
    // customer message: 30 s of waiting).
    let mut notice = say(Sender::System, "Connecting you to a person.", 611_000);
    notice.meta.escalation = Some("customer_request".into());
    let mut handed = seed(
        600_000,
        "web",
        Status::Agent,
        vec![
            say(Sender::Customer, "When do you ship?", 600_000),
            answer(602_000, 300),
            say(Sender::Customer, "A person please", 610_000),
            notice,
            say(Sender::Agent, "Hi, I am Ana.", 671_000),
            say(Sender::Customer, "Where is it?", 700_000),
            say(Sender::Agent, "Leaving today.", 730_000),
        ],
    );
    handed.assignee = Some("ana".into());
    keep(store.apply(handed).await.unwrap());
    // 10: "not sure" (a gap): no answer.
    let mut unsure = answer(802_000, 300);
    unsure.meta.gap = Some(crate::conversation::Gap {
        kind: "no_answer".into(),
        question: "Do you sell gift cards?".into(),
    });
    keep(
        store
            .apply(seed(
                800_000,
                "web",
                Status::Automated,
                vec![
                    say(Sender::Customer, "Do you sell gift cards?", 800_000),
                    unsure,
                ],
            ))
            .await
            .unwrap(),
    );
    // 11: answered two days later, an hour before "now": still in play.
    let late = 2 * 86_400_000;
    keep(
        store
            .apply(seed(
                late,
                "web",
                Status::Automated,
                vec![
                    say(Sender::Customer, "When do you ship?", late),
                    answer(late + 2_000, 300),
                ],
            ))
            .await
            .unwrap(),
    );

    // Ratings: only answers of the conversation named; a second replaces the first.
    let rate = |i: usize, m: usize, rating: Rating| ReplyRating {
        conversation_id: ids[i].0,
        message_id: ids[i].1[m],
        rating,
        comment: Some("thanks".into()),
        at: ms(900_000),
    };
    assert!(store.rate_reply(&rate(0, 1, Rating::Up)).await.unwrap());
    assert!(
        !store.rate_reply(&rate(0, 0, Rating::Up)).await.unwrap(),
        "a customer's own message"
    );
    let elsewhere = ReplyRating {
        conversation_id: ids[1].0,
        ..rate(0, 1, Rating::Down)
    };
    assert!(
        !store.rate_reply(&elsewhere).await.unwrap(),
        "another conversation's answer"
    );
    assert!(store.rate_reply(&rate(6, 1, Rating::Up)).await.unwrap());
    assert!(
        store.rate_reply(&rate(6, 1, Rating::Down)).await.unwrap(),
        "changed"
    );
    assert!(
        store.rate_reply(&rate(8, 4, Rating::Up)).await.unwrap(),
        "an agent's answer"
    );
    let csat = |i: usize, score: u8| Csat {
        conversation_id: ids[i].0,
        score,
        comment: None,
        at: ms(900_000),
    };
    assert!(store.rate_conversation(&csat(1, 2)).await.unwrap());
    assert!(
        store.rate_conversation(&csat(1, 5)).await.unwrap(),
        "changed"
    );
    assert!(store.rate_conversation(&csat(8, 2)).await.unwrap());
    let unanswered = conversation(0);
    stored(
        store
            .apply(create(
                &unanswered,
                vec![say(Sender::Customer, "Hello?", 0)],
            ))
            .await
            .unwrap(),
    );
    let nothing = Csat {
        conversation_id: unanswered.id,
        ..csat(0, 4)
    };
    assert!(
        !store.rate_conversation(&nothing).await.unwrap(),
        "nobody answered yet"
    );
    let missing = Csat {
        conversation_id: ConversationId(Uuid::now_v7()),
        ..csat(0, 4)
    };
    assert!(!store.rate_conversation(&missing).await.unwrap());

    let day = |offset: i64| {
        let t = jiff::Timestamp::from_second(at(T).unix_timestamp() + offset * 86_400).unwrap();
        jiff::tz::TimeZone::UTC.to_datetime(t).date()
    };
    let options = AnalyticsOptions {
        zone: jiff::tz::TimeZone::UTC,
        first_day: day(0),
        last_day: day(2),
        now_ms: crate::insight::facts::millis(ms(late + 3_600_000 + 2_000)),
        quiet: std::time::Duration::from_secs(24 * 3600),
        prices: Some((1.0, 2.0)),
    };
    let query = options.query(None).unwrap();
    let facts = store.conversation_facts(&query).await.unwrap();
    assert_eq!(
        facts.len(),
        11,
        "the eleven started in the period, oldest first"
    );
    assert_eq!(facts[0].id, ids[0].0);
    let handed = &facts[8];
    assert_eq!(handed.handoff_reason.as_deref(), Some("customer_request"));
    assert_eq!(
        (
            handed.agent_messages,
            handed.agent_answers,
            handed.agent_wait_ms
        ),
        (2, 1, 30_000)
    );
    assert_eq!(handed.csat, Some((2, Answerer::Agent)));
    assert_eq!(facts[1].csat, Some((5, Answerer::Bot)));
    assert_eq!(
        facts[4].latency[1] + facts[4].latency[3],
        2,
        "300 ms and 1.5 s"
    );
    let breakdown = store.reply_breakdown(&query).await.unwrap();
    assert_eq!(breakdown.fallback_codes.get("timeout"), Some(&1));
    assert_eq!(breakdown.verdicts.get("supported"), Some(&1));

    let a = Analytics::compute(&facts, breakdown, &options);
    let t = &a.totals;
    assert_eq!(
        (t.conversations, t.settled, t.automated_resolutions),
        (11, 10, 6)
    );
    assert_eq!(t.automated_resolution_rate, Some(0.6));
    assert_eq!(t.handoffs, 1);
    assert_eq!(t.handoff_reasons.get("customer_request"), Some(&1));
    assert_eq!((t.replies, t.fallbacks), (12, 1));
    assert_eq!(
        (t.feedback.bot.up, t.feedback.bot.down, t.feedback.agent.up),
        (1, 1, 1)
    );
    assert_eq!(
        (t.csat.count, t.csat.average, t.csat.distribution),
        (2, Some(3.5), [0, 1, 0, 0, 1])
    );
    assert_eq!(
        (t.csat.bot.average, t.csat.human.average),
        (Some(5.0), Some(2.0))
    );
    assert_eq!(t.first_response_bot.p50_ms, Some(2_000));
    assert_eq!(t.first_response_human.p50_ms, Some(60_000));
    assert_eq!(t.agent_reply.average_ms, Some(30_000));
    assert_eq!((t.tokens_in, t.tokens_out), (1_200, 240));
    assert_eq!(t.cost_usd, Some((1_200.0 + 2.0 * 240.0) / 1e6));
    assert_eq!(t.latency.p50_under_ms, Some(500));
    assert_eq!(a.days.len(), 3);
    assert_eq!(
        (
            a.days[0].conversations,
            a.days[1].conversations,
            a.days[2].conversations
        ),
        (10, 0, 1)
    );
    let web = store
        .conversation_facts(&options.query(Some("whatsapp".into())).unwrap())
        .await
        .unwrap();
    assert_eq!(web.len(), 1, "one channel's conversations");
}
