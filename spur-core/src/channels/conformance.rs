//! The outbox's behaviour suite: every store that implements
//! [`OutboxStore`] runs exactly these checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{DeliveryState, ExternalThread, OutboxStore, StatusUpdate};
use crate::conversation::{
    Conversation, ConversationId, Message, MessageId, MessageMeta, Sender, SessionId, Status,
};
use crate::store::{Applied, Change, ConversationStore};

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000 + seconds).unwrap()
}

fn message(sender: Sender, text: &str, seconds: i64) -> Message {
    Message {
        id: MessageId(Uuid::now_v7()),
        conversation_id: ConversationId(Uuid::nil()),
        seq: 0,
        sender,
        text: text.into(),
        created_at: at(seconds),
        idempotency_key: None,
        reply_to: None,
        meta: MessageMeta::default(),
    }
}

fn thread(customer: &str) -> ExternalThread {
    ExternalThread::new("whatsapp", "1000", format!("{customer}-{}", Uuid::new_v4()))
}

/// Opens a conversation on `thread` with `messages`, delivering.
async fn open(
    store: &dyn ConversationStore,
    thread: &ExternalThread,
    messages: Vec<Message>,
) -> Result<(Conversation, Vec<Message>), crate::store::StoreError> {
    let conversation = Conversation {
        id: ConversationId(Uuid::now_v7()),
        session_id: SessionId(Uuid::new_v4()),
        channel: thread.channel.clone(),
        status: Status::Automated,
        assignee: None,
        metadata: serde_json::json!({}),
        last_seq: 0,
        version: 0,
        created_at: at(0),
        updated_at: at(0),
    };
    let change = Change {
        conversation_id: conversation.id,
        create: Some(conversation.clone()),
        expected_version: 0,
        status: Status::Automated,
        assignee: None,
        updated_at: at(0),
        metadata: None,
        messages,
        history: 0,
        deliver: Some(thread.address()),
    };
    match store.apply(change).await? {
        Applied::Stored {
            conversation,
            messages,
            ..
        } => Ok((conversation, messages)),
        other => panic!("expected Stored, got {other:?}"),
    }
}

/// Adds `messages` to `conversation`, delivering to `deliver`.
async fn append(
    store: &dyn ConversationStore,
    conversation: &Conversation,
    messages: Vec<Message>,
    deliver: Option<String>,
) -> (Conversation, Vec<Message>) {
    let change = Change {
        conversation_id: conversation.id,
        create: None,
        expected_version: conversation.version,
        status: conversation.status,
        assignee: None,
        updated_at: at(5),
        metadata: None,
        messages,
        history: 0,
        deliver,
    };
    match store.apply(change).await.unwrap() {
        Applied::Stored {
            conversation,
            messages,
            ..
        } => (conversation, messages),
        other => panic!("expected Stored, got {other:?}"),
    }
}

/// Runs every check against `store`.
pub async fn run_all<S: ConversationStore + OutboxStore>(store: &S) {
    threads_bind_once_and_only_replies_are_queued(store).await;
    a_thread_goes_out_in_order_with_leases_and_retries(store).await;
    statuses_only_move_forward(store).await;
}

pub async fn threads_bind_once_and_only_replies_are_queued<S: ConversationStore + OutboxStore>(
    store: &S,
) {
    let customer = thread("bind");
    let (conversation, stored) = open(
        store,
        &customer,
        vec![
            message(Sender::Customer, "hello", 1),
            message(Sender::Assistant, "hi, how can I help?", 2),
        ],
    )
    .await
    .unwrap();
    let bound = store
        .conversation_by_thread(&customer.address())
        .await
        .unwrap()
        .expect("the thread is bound");
    assert_eq!(bound.id, conversation.id);
    assert!(
        store
            .conversation_by_thread(&thread("other").address())
            .await
            .unwrap()
            .is_none()
    );
    // One conversation per thread.
    assert!(
        open(
            store,
            &customer,
            vec![message(Sender::Customer, "again", 3)]
        )
        .await
        .is_err(),
        "a second conversation for a bound thread is refused"
    );
    // Only what the customer did not write is queued.
    let queued = store.deliveries(conversation.id).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].message_id, stored[1].id);
    assert_eq!(queued[0].state, DeliveryState::Queued);
    // A change that does not deliver queues nothing.
    append(
        store,
        &conversation,
        vec![message(Sender::Agent, "kept here", 4)],
        None,
    )
    .await;
    assert_eq!(store.deliveries(conversation.id).await.unwrap().len(), 1);
    // Drain it, so the next checks see only their own items.
    let item = store.claim_outbound(at(10), at(70)).await.unwrap().unwrap();
    assert_eq!(item.message_id, stored[1].id);
    assert_eq!(item.thread, customer);
    assert_eq!(item.text, "hi, how can I help?");
    assert_eq!(item.sender, Sender::Assistant);
    store
        .outbound_sent(item.message_id, &format!("p-{}", Uuid::new_v4()), at(11))
        .await
        .unwrap();
}

pub async fn a_thread_goes_out_in_order_with_leases_and_retries<
    S: ConversationStore + OutboxStore,
>(
    store: &S,
) {
    let customer = thread("order");
    let (conversation, stored) = open(
        store,
        &customer,
        vec![
            message(Sender::Customer, "where is my order?", 100),
            message(Sender::Assistant, "first", 101),
            message(Sender::System, "second", 102),
        ],
    )
    .await
    .unwrap();
    let (first, second) = (stored[1].id, stored[2].id);
    let claim =
        |now: i64| async move { store.claim_outbound(at(now), at(now + 60)).await.unwrap() };

    assert!(
        claim(50).await.is_none(),
        "nothing is due before it was queued"
    );
    let item = claim(110).await.expect("the first is due");
    assert_eq!((item.message_id, item.attempts), (first, 1));
    assert!(
        claim(111).await.is_none(),
        "the second waits while the first is out"
    );
    // The first failed: retried later, and the second still waits for it.
    store
        .outbound_retry(first, "HTTP 500", at(130))
        .await
        .unwrap();
    assert!(claim(120).await.is_none());
    let item = claim(130).await.expect("the retry is due");
    assert_eq!((item.message_id, item.attempts), (first, 2));
    // A deliverer that died holding it: the lease ends, another takes it.
    assert!(claim(189).await.is_none());
    let item = claim(191).await.expect("the lease ended");
    assert_eq!((item.message_id, item.attempts), (first, 3));
    store
        .outbound_sent(first, "p-first", at(192))
        .await
        .unwrap();
    let item = claim(192).await.expect("now the second");
    assert_eq!(item.message_id, second);
    store
        .outbound_failed(second, "number does not exist", at(193))
        .await
        .unwrap();
    assert!(claim(1000).await.is_none(), "sent and failed are done");
    let states: Vec<_> = store
        .deliveries(conversation.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.state, d.attempts, d.error))
        .collect();
    assert_eq!(
        states,
        vec![
            (DeliveryState::Sent, 3, Some("HTTP 500".into())),
            (
                DeliveryState::Failed,
                1,
                Some("number does not exist".into())
            ),
        ]
    );

    // Many threads claimed at once: no item is handed out twice.
    let mut expected = HashSet::new();
    for i in 0..8 {
        let (_, stored) = open(
            store,
            &thread(&format!("many{i}")),
            vec![
                message(Sender::Customer, "q", 200),
                message(Sender::Assistant, "a", 201),
            ],
        )
        .await
        .unwrap();
        expected.insert(stored[1].id);
    }
    let claims = (0..12).map(|_| store.claim_outbound(at(300), at(360)));
    let claimed: Vec<MessageId> = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter_map(|c| c.unwrap().map(|item| item.message_id))
        .collect();
    let distinct: HashSet<MessageId> = claimed.iter().copied().collect();
    assert_eq!(distinct.len(), claimed.len(), "an item was claimed twice");
    assert_eq!(distinct, expected);
    for id in distinct {
        store
            .outbound_sent(id, &format!("p-{id}"), at(301))
            .await
            .unwrap();
    }
}

pub async fn statuses_only_move_forward<S: ConversationStore + OutboxStore>(store: &S) {
    let customer = thread("status");
    let (conversation, stored) = open(
        store,
        &customer,
        vec![
            message(Sender::Customer, "hi", 400),
            message(Sender::Assistant, "hello", 401),
        ],
    )
    .await
    .unwrap();
    let provider_id = format!("wamid.{}", Uuid::new_v4());
    let update = |state: DeliveryState| StatusUpdate {
        provider_id: provider_id.clone(),
        state,
        error: None,
    };
    let item = store
        .claim_outbound(at(402), at(462))
        .await
        .unwrap()
        .unwrap();
    // The provider's "delivered" can come before the send is recorded.
    assert!(
        !store
            .record_status(&update(DeliveryState::Delivered), at(403))
            .await
            .unwrap(),
        "no message has that id yet"
    );
    store
        .outbound_sent(item.message_id, &provider_id, at(403))
        .await
        .unwrap();
    assert!(
        store
            .record_status(&update(DeliveryState::Read), at(405))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_status(&update(DeliveryState::Delivered), at(406))
            .await
            .unwrap(),
        "a late 'delivered' does not take a read message back"
    );
    assert!(
        !store
            .record_status(&update(DeliveryState::Sent), at(406))
            .await
            .unwrap()
    );
    let failed = StatusUpdate {
        error: Some("131026: message undeliverable".into()),
        ..update(DeliveryState::Failed)
    };
    assert!(store.record_status(&failed, at(407)).await.unwrap());
    let delivery = &store.deliveries(conversation.id).await.unwrap()[0];
    assert_eq!(delivery.message_id, stored[1].id);
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert_eq!(
        delivery.error.as_deref(),
        Some("131026: message undeliverable")
    );
}
