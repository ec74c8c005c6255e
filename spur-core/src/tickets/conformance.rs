//! One behaviour suite for every [`TicketStore`] (SQLite and PostgreSQL run
//! exactly these checks). `conversation` must name a stored conversation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::*;
use crate::accounts::AccountId;
use crate::classify::{Classification, ClassificationSource, LocalClassifier};
use crate::clock::FixedClock;

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000 + seconds).unwrap()
}

fn new_ticket(title: &str, description: &str) -> NewTicket {
    NewTicket {
        title: title.into(),
        description: description.into(),
        ..NewTicket::default()
    }
}

pub async fn run_all(store: Arc<dyn TicketStore>, conversation: ConversationId) {
    users_are_unique_and_paged(store.as_ref()).await;
    references_are_checked(store.as_ref(), conversation).await;
    deleting_a_user_keeps_their_tickets(store.as_ref()).await;
    classification_is_recorded_once_and_keeps_overrides(store.as_ref()).await;
    tickets_filter_and_page_stably(store.as_ref()).await;
    stale_tickets_are_claimed_once(store.as_ref()).await;
    desk_files_and_classifies(store).await;
}

/// The sweep's claim: oldest first, each stale ticket once per period
/// however many sweepers ask at the same time, classified ones never.
async fn stale_tickets_are_claimed_once(store: &dyn TicketStore) {
    let old = -9_000_000;
    let mut stale = Vec::new();
    for i in 0..3 {
        let ticket = Ticket::pending(new_ticket(&format!("stale {i}"), "d"), at(old + i));
        store.create_ticket(&ticket).await.unwrap();
        stale.push(ticket.id);
    }
    let done = Ticket::pending(new_ticket("classified", "d"), at(old - 10));
    store.create_ticket(&done).await.unwrap();
    let result = AiResult {
        classification: Classification {
            category: "billing".into(),
            priority: "low".into(),
            confidence: 0.9,
            source: ClassificationSource::Local,
        },
        status: AiStatus::Done,
        reason: None,
    };
    store
        .record_classification(done.id, &result, at(old))
        .await
        .unwrap();
    let fresh = Ticket::pending(new_ticket("fresh", "d"), at(-1_000));
    store.create_ticket(&fresh).await.unwrap();

    let cutoff = at(-5_000_000);
    let oldest = store.claim_stale_pending(cutoff, at(0), 1).await.unwrap();
    assert_eq!(oldest, vec![stale[0]], "oldest first");
    // Two sweepers at once share the rest without overlap.
    let (a, b) = futures::join!(
        store.claim_stale_pending(cutoff, at(0), 2),
        store.claim_stale_pending(cutoff, at(0), 2),
    );
    let mut claimed: Vec<TicketId> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    claimed.sort_by_key(|id| id.0);
    let mut rest = stale[1..].to_vec();
    rest.sort_by_key(|id| id.0);
    assert_eq!(claimed, rest, "each stale ticket claimed exactly once");
    assert!(
        store
            .claim_stale_pending(cutoff, at(1), 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed tickets are not stale again within the period"
    );
}

async fn users_are_unique_and_paged(store: &dyn TicketStore) {
    let ana = User::new(" Ana ", " Ana@Shop.example", at(0));
    assert_eq!(
        (ana.name.as_str(), ana.email.as_str()),
        ("Ana", "ana@shop.example")
    );
    store.create_user(&ana).await.unwrap();
    let twin = User::new("Other", "ANA@shop.example", at(1));
    assert!(matches!(
        store.create_user(&twin).await,
        Err(TicketError::EmailTaken)
    ));
    assert_eq!(store.user(ana.id).await.unwrap(), Some(ana.clone()));
    for i in 1..=4 {
        store
            .create_user(&User::new("U", &format!("u{i}@shop.example"), at(i)))
            .await
            .unwrap();
    }
    let first = store.users(None, 3).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.items[0].email, "u4@shop.example");
    let rest = store.users(first.next, 3).await.unwrap();
    assert_eq!(rest.items.len(), 2);
    assert_eq!(rest.items[1], ana);
    assert!(rest.next.is_none());
    assert!(matches!(
        store.delete_user(UserId(uuid::Uuid::now_v7())).await,
        Err(TicketError::NotFound)
    ));
}

async fn references_are_checked(store: &dyn TicketStore, conversation: ConversationId) {
    let mut ghost_user = Ticket::pending(new_ticket("t", "d"), at(10));
    ghost_user.created_by = Some(UserId(uuid::Uuid::now_v7()));
    assert!(matches!(
        store.create_ticket(&ghost_user).await,
        Err(TicketError::UnknownUser)
    ));
    let mut ghost_conversation = Ticket::pending(new_ticket("t", "d"), at(10));
    ghost_conversation.conversation_id = Some(ConversationId(uuid::Uuid::now_v7()));
    assert!(matches!(
        store.create_ticket(&ghost_conversation).await,
        Err(TicketError::UnknownConversation)
    ));
    let mut from_chat = Ticket::pending(new_ticket("From chat", "transcript"), at(11));
    from_chat.conversation_id = Some(conversation);
    store.create_ticket(&from_chat).await.unwrap();
    let mut again = Ticket::pending(new_ticket("Again", "transcript"), at(12));
    again.conversation_id = Some(conversation);
    assert!(matches!(
        store.create_ticket(&again).await,
        Err(TicketError::ConversationHasTicket)
    ));
    assert_eq!(
        store.ticket_for_conversation(conversation).await.unwrap(),
        Some(from_chat.clone())
    );
    assert_eq!(store.ticket(from_chat.id).await.unwrap(), Some(from_chat));
    assert_eq!(
        store.ticket(TicketId(uuid::Uuid::now_v7())).await.unwrap(),
        None
    );
}

async fn deleting_a_user_keeps_their_tickets(store: &dyn TicketStore) {
    let bo = User::new("Bo", "bo@shop.example", at(20));
    store.create_user(&bo).await.unwrap();
    let mut ticket = Ticket::pending(new_ticket("Bo's", "printer on fire"), at(21));
    ticket.created_by = Some(bo.id);
    store.create_ticket(&ticket).await.unwrap();
    store.delete_user(bo.id).await.unwrap();
    assert_eq!(store.user(bo.id).await.unwrap(), None);
    let kept = store.ticket(ticket.id).await.unwrap().unwrap();
    assert_eq!((kept.title.as_str(), kept.created_by), ("Bo's", None));
}

fn result(category: &str, priority: &str, status: AiStatus) -> AiResult {
    AiResult {
        classification: Classification {
            category: category.into(),
            priority: priority.into(),
            confidence: 0.75,
            source: ClassificationSource::Llm,
        },
        status,
        reason: None,
    }
}

async fn classification_is_recorded_once_and_keeps_overrides(store: &dyn TicketStore) {
    let ticket = Ticket::pending(new_ticket("Charged twice", "refund please"), at(30));
    store.create_ticket(&ticket).await.unwrap();
    let agent = AccountId(uuid::Uuid::now_v7());
    // An agent sets the priority before the classifier answers.
    let patch = TicketPatch {
        priority: Some("high".into()),
        by: Some(agent),
        ..TicketPatch::default()
    };
    let patched = store
        .update_ticket(ticket.id, &patch, at(31))
        .await
        .unwrap();
    assert!(patched.priority_overridden && !patched.category_overridden);
    assert_eq!(patched.overridden_by, Some(agent));
    assert_eq!(patched.updated_at, at(31));

    let recorded = store
        .record_classification(ticket.id, &result("billing", "low", AiStatus::Done), at(32))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.ai_status, AiStatus::Done);
    assert_eq!(recorded.category.as_deref(), Some("billing"));
    assert_eq!(
        recorded.priority.as_deref(),
        Some("high"),
        "the override stays"
    );
    assert_eq!(recorded.ai_confidence, Some(0.75));
    assert_eq!(recorded.ai_source.as_deref(), Some("llm"));
    // A second result (a job run twice) changes nothing.
    let second = store
        .record_classification(
            ticket.id,
            &result("general", "low", AiStatus::Fallback),
            at(33),
        )
        .await
        .unwrap();
    assert_eq!(second, None);
    assert_eq!(store.ticket(ticket.id).await.unwrap().unwrap(), recorded);

    let closed = store
        .update_ticket(
            ticket.id,
            &TicketPatch {
                status: Some(TicketStatus::Closed),
                ..TicketPatch::default()
            },
            at(34),
        )
        .await
        .unwrap();
    assert_eq!(closed.status, TicketStatus::Closed);
    assert_eq!(
        closed.overridden_by,
        Some(agent),
        "closing is not an override"
    );
    assert!(matches!(
        store
            .update_ticket(
                TicketId(uuid::Uuid::now_v7()),
                &TicketPatch::default(),
                at(35)
            )
            .await,
        Err(TicketError::NotFound)
    ));
}

async fn tickets_filter_and_page_stably(store: &dyn TicketStore) {
    let cy = User::new("Cy", "cy@shop.example", at(40));
    store.create_user(&cy).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut ticket = Ticket::pending(
            new_ticket(
                &format!("Paging {i}"),
                if i % 2 == 0 {
                    "100% refund_please"
                } else {
                    "crash"
                },
            ),
            // Two pairs share a timestamp: the id breaks the tie.
            at(50 + i / 2),
        );
        ticket.created_by = Some(cy.id);
        store.create_ticket(&ticket).await.unwrap();
        let (category, status) = if i % 2 == 0 {
            ("billing", AiStatus::Done)
        } else {
            ("technical", AiStatus::Fallback)
        };
        store
            .record_classification(ticket.id, &result(category, "medium", status), at(60))
            .await
            .unwrap();
        ids.push(ticket.id);
    }
    let mine = TicketFilter {
        created_by: Some(cy.id),
        ..TicketFilter::default()
    };
    let first = store.tickets(&mine, None, 3, true).await.unwrap();
    assert_eq!(first.total, Some(7));
    assert_eq!(
        first.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[6], ids[5], ids[4]]
    );
    // A ticket filed between pages does not shift the next page.
    let mut late = Ticket::pending(new_ticket("Late", "d"), at(99));
    late.created_by = Some(cy.id);
    store.create_ticket(&late).await.unwrap();
    let second = store.tickets(&mine, first.next, 3, false).await.unwrap();
    assert_eq!(second.total, None);
    assert_eq!(
        second.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[3], ids[2], ids[1]]
    );
    let third = store.tickets(&mine, second.next, 3, false).await.unwrap();
    assert_eq!(
        third.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    assert!(third.next.is_none());

    let total = |filter: &TicketFilter| {
        let filter = filter.clone();
        async move { store.tickets(&filter, None, 50, true).await.unwrap().total }
    };
    let billing = TicketFilter {
        category: Some("billing".into()),
        ai_status: Some(AiStatus::Done),
        ..mine.clone()
    };
    assert_eq!(total(&billing).await, Some(4));
    let fallback = TicketFilter {
        ai_status: Some(AiStatus::Fallback),
        ..mine.clone()
    };
    assert_eq!(total(&fallback).await, Some(3));
    // Text search is case-insensitive and treats % and _ literally.
    let text = |t: &str| TicketFilter {
        text: Some(t.into()),
        ..mine.clone()
    };
    assert_eq!(total(&text("REFUND_PLEASE")).await, Some(4));
    assert_eq!(total(&text("100%")).await, Some(4));
    assert_eq!(total(&text("paging 3")).await, Some(1));
    assert_eq!(total(&text("100_")).await, Some(0));
    let closed = TicketFilter {
        status: Some(TicketStatus::Closed),
        ..mine
    };
    assert_eq!(total(&closed).await, Some(0));
}

async fn desk_files_and_classifies(store: Arc<dyn TicketStore>) {
    let clock = Arc::new(FixedClock(at(200)));
    let desk = TicketDesk::new(
        store.clone(),
        TicketClassifier::Local(Arc::new(LocalClassifier::default())),
        Duration::from_secs(1),
    )
    .with_clock(clock);
    let ticket = desk
        .file_and_classify(new_ticket(
            "Charged twice",
            "My invoice shows a double payment, refund please",
        ))
        .await
        .unwrap();
    assert_eq!(ticket.ai_status, AiStatus::Done);
    assert_eq!(ticket.category.as_deref(), Some("billing"));
    assert_eq!(ticket.ai_source.as_deref(), Some("local"));
    assert!(matches!(
        desk.classify(ticket.id, true).await.unwrap(),
        ClassifyOutcome::AlreadyClassified
    ));
    assert!(matches!(
        desk.classify(TicketId(uuid::Uuid::now_v7()), true)
            .await
            .unwrap(),
        ClassifyOutcome::Missing
    ));
    let patch = |category: &str| TicketPatch {
        category: Some(category.into()),
        ..TicketPatch::default()
    };
    assert!(matches!(
        desk.update(ticket.id, patch("astrology")).await,
        Err(TicketError::UnknownLabel(_))
    ));
    let moved = desk.update(ticket.id, patch("technical")).await.unwrap();
    assert_eq!(moved.category.as_deref(), Some("technical"));
    assert!(moved.category_overridden);
}
