//! `/v1/agent/*`: the agents' inbox. Conversations by id (agents never see
//! a customer's sessionId), claim / reply / hand back / close, and a live
//! feed of everything that happens in every conversation.

use std::convert::Infallible;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spur_core::accounts::Role;
use spur_core::classify::Classification;
use spur_core::conversation::{Conversation, ConversationId, Sender, Status};
use spur_core::events::EngineEvent;
use spur_core::store::{
    AssigneeFilter, ConversationCursor, ConversationFilter, ListedConversation,
};
use time::OffsetDateTime;

use crate::auth::AgentUser;
use crate::cursor;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::views::AgentMessage;

/// A conversation in the inbox (no sessionId: that is the customer's secret).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub id: String,
    #[schema(value_type = String, example = "agent")]
    pub status: Status,
    /// The account id of the agent holding it.
    pub assignee: Option<String>,
    pub channel: String,
    /// Where the customer asked to be answered (left in the chat when nobody
    /// was there, or given by the host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    /// The customer's name as their channel shows it (a WhatsApp profile,
    /// an email's sender) or as the host gave it (`metadata.name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// Messages so far.
    pub message_count: i64,
    /// How the newest customer message was classified (inbox rows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Customer messages since the last answer (inbox rows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<i64>,
    /// When the oldest of those was written: how long the customer has
    /// waited for an answer (inbox rows only).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub waiting_since: Option<OffsetDateTime>,
    /// The newest message, cut short (inbox rows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<&Conversation> for ConversationSummary {
    fn from(c: &Conversation) -> Self {
        Self {
            id: c.id.to_string(),
            status: c.status,
            assignee: c.assignee.clone(),
            channel: c.channel.clone(),
            contact_email: c.contact_email().map(str::to_string),
            customer_name: c.metadata["name"]
                .as_str()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| n.chars().take(100).collect()),
            message_count: c.last_seq,
            category: None,
            priority: None,
            unread: None,
            waiting_since: None,
            preview: None,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl From<&ListedConversation> for ConversationSummary {
    fn from(l: &ListedConversation) -> Self {
        Self {
            category: l.category.clone(),
            priority: l.priority.clone(),
            unread: Some(l.unanswered),
            waiting_since: l.waiting_since,
            preview: l.preview.clone(),
            ..Self::from(&l.conversation)
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxPage {
    pub conversations: Vec<ConversationSummary>,
    /// Pass as `cursor` for the next page; absent at the end.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `active` (not closed, the default), `mine` (held by the caller),
    /// `unassigned` (not closed, nobody holds it), `waiting` (for a person,
    /// nobody holds it yet), `bot` (the assistant answers), `closed` or `all`.
    #[param(pattern = "^(active|mine|unassigned|waiting|bot|closed|all)?$")]
    pub view: Option<String>,
    /// `automated`, `agent` or `closed`.
    #[param(pattern = "^(automated|agent|closed)?$")]
    pub status: Option<String>,
    /// The newest customer message's category (`billing`, `technical`...).
    pub category: Option<String>,
    /// ... and priority (`low`, `medium`, `high` by default; see `/v1/agent/labels`).
    pub priority: Option<String>,
    /// Text any message contains (case-insensitive).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// A `nextCursor` from the page before.
    #[param(
        pattern = "^([0-9]{1,18}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$"
    )]
    pub cursor: Option<String>,
    /// 1 to 100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// The inbox: newest activity first, keyset-paginated (stable under inserts).
#[utoipa::path(get, path = "/v1/agent/conversations", tag = "agent", security(("bearer" = [])),
    params(InboxQuery),
    responses((status = 200, body = InboxPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn inbox(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Query(query): Query<InboxQuery>,
) -> Result<Json<InboxPage>, ApiError> {
    let open = |assignee| ConversationFilter {
        not_status: Some(Status::Closed),
        assignee,
        ..ConversationFilter::default()
    };
    let mut filter = match query
        .view
        .as_deref()
        .filter(|v| !v.is_empty())
        .unwrap_or("active")
    {
        "active" => open(None),
        "mine" => open(Some(AssigneeFilter::Agent(agent.account.id.to_string()))),
        "unassigned" => open(Some(AssigneeFilter::Nobody)),
        "waiting" => ConversationFilter {
            status: Some(Status::Agent),
            assignee: Some(AssigneeFilter::Nobody),
            ..ConversationFilter::default()
        },
        "bot" => ConversationFilter {
            status: Some(Status::Automated),
            ..ConversationFilter::default()
        },
        "closed" => ConversationFilter {
            status: Some(Status::Closed),
            ..ConversationFilter::default()
        },
        "all" => ConversationFilter::default(),
        _ => {
            return Err(ApiError::invalid_query(
                "view must be active, mine, unassigned, waiting, bot, closed or all",
            ));
        }
    };
    if let Some(status) = query.status.as_deref().filter(|s| !s.is_empty()) {
        let status = Status::parse(status)
            .ok_or_else(|| ApiError::invalid_query("status must be automated, agent or closed"))?;
        filter.status = Some(status);
    }
    let given = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    filter.category = given(query.category);
    filter.priority = given(query.priority);
    filter.text = given(query.q);
    if filter
        .text
        .as_ref()
        .is_some_and(|q| q.chars().count() > 200)
    {
        return Err(ApiError::invalid_query("q is limited to 200 characters"));
    }
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => Some(
            cursor::decode(text)
                .map(|(updated_at, id)| ConversationCursor { updated_at, id })
                .ok_or_else(|| ApiError::invalid_query("malformed cursor"))?,
        ),
        None => None,
    };
    let limit = super::fields::page_limit(query.limit, 25, 100)?;
    let page = state
        .engine
        .store()
        .list_conversations(&filter, cursor.as_ref(), limit)
        .await?;
    Ok(Json(InboxPage {
        conversations: page
            .conversations
            .iter()
            .map(ConversationSummary::from)
            .collect(),
        next_cursor: page
            .next
            .as_ref()
            .map(|c| cursor::encode(c.updated_at, c.id)),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    /// What the host attached (customer name, page, locale...).
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// How the newest classified customer message in `messages` was read.
    #[schema(value_type = Option<Object>)]
    pub classification: Option<Classification>,
    /// Why it was handed to a person (`customer_request`, `repeated_fallbacks`...),
    /// from the newest handoff notice in `messages`.
    pub escalation_reason: Option<String>,
    /// The newest messages, oldest first, with their metadata.
    pub messages: Vec<AgentMessage>,
    /// Agents' internal notes (the newest 100, oldest first): never shown
    /// to the customer.
    pub notes: Vec<super::notes::NoteView>,
    /// Who is writing, and their other conversations.
    pub customer: super::customer::CustomerView,
    /// Pass as `before` for older messages.
    pub next_before: Option<i64>,
    /// On another channel (WhatsApp...): where each message bound for the
    /// customer is (queued, sending, sent, delivered, read, or failed with
    /// the provider's error), by `messageId`; empty for web chats.
    #[schema(value_type = Vec<Object>)]
    pub deliveries: Vec<spur_core::channels::Delivery>,
    /// On WhatsApp, Messenger and Instagram: when the channel stops taking
    /// free-form replies (24 hours after the customer's newest message in
    /// this page; absent for older pages and other channels).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reply_window_closes_at: Option<OffsetDateTime>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailQuery {
    /// A `nextBefore` from the page before (a message seq).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

pub(super) fn conversation_id(text: &str) -> Result<ConversationId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            "not a conversation id",
        )
    })
}

/// One conversation with its messages, classification and handoff reason.
#[utoipa::path(get, path = "/v1/agent/conversations/{id}", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), DetailQuery),
    responses((status = 200, body = ConversationDetail), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn conversation(
    State(state): State<AppState>,
    _agent: AgentUser,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Result<Json<ConversationDetail>, ApiError> {
    let conversation = state
        .engine
        .conversation_by_id(conversation_id(&id)?)
        .await?;
    let limit = super::fields::page_limit(query.limit, 50, 200)?;
    let before = super::fields::before_seq(query.before)?;
    let page = state
        .engine
        .store()
        .history(conversation.id, before, limit)
        .await?;
    // Read from the page's messages, newest first.
    let newest = page.messages.iter().rev();
    let classification = newest
        .clone()
        .filter(|m| m.sender == Sender::Customer)
        .find_map(|m| m.meta.classification.clone());
    let escalation_reason = newest.clone().find_map(|m| m.meta.escalation.clone());
    let reply_window_closes_at = spur_core::channels::reply_window(&conversation.channel)
        .filter(|_| before.is_none())
        .and_then(|window| {
            newest
                .clone()
                .find(|m| m.sender == Sender::Customer)
                .map(|m| m.created_at + window)
        });
    Ok(Json(ConversationDetail {
        summary: ConversationSummary::from(&conversation),
        metadata: conversation.metadata.clone(),
        classification,
        escalation_reason,
        messages: page.messages.iter().map(AgentMessage::from).collect(),
        notes: state
            .engine
            .store()
            .notes(conversation.id, 100)
            .await?
            .iter()
            .map(super::notes::NoteView::from)
            .collect(),
        customer: super::customer::customer(&state, &conversation).await?,
        next_before: page.next_before,
        deliveries: match (&state.channels, conversation.channel_thread()) {
            (Some(channels), Some(_)) => channels.outbox.deliveries(conversation.id).await?,
            _ => Vec::new(),
        },
        reply_window_closes_at,
    }))
}

/// Takes the conversation: the assistant goes silent. One owner at a time.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/claim", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ConversationSummary), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "claimed by another agent, or closed")))]
pub async fn claim(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(id): Path<String>,
) -> Result<Json<ConversationSummary>, ApiError> {
    let conversation = state
        .engine
        .claim(conversation_id(&id)?, &agent.account.id.to_string())
        .await?;
    Ok(Json(ConversationSummary::from(&conversation)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub text: String,
}

/// The owning agent writes to the customer.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/reply", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = ReplyBody,
    responses((status = 200, body = AgentMessage, description = "the stored message, with its metadata"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not claimed by this agent")))]
pub async fn reply(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(id): Path<String>,
    json: Result<Json<ReplyBody>, JsonRejection>,
) -> Result<Json<AgentMessage>, ApiError> {
    let Json(body) = json?;
    let message = state
        .engine
        .agent_reply_as(
            conversation_id(&id)?,
            &agent.account.id.to_string(),
            Some(&agent.account.name),
            &body.text,
        )
        .await?;
    Ok(Json(AgentMessage::from(&message)))
}

/// The owning agent gives the conversation back to the assistant.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/handback", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ConversationSummary), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn hand_back(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(id): Path<String>,
) -> Result<Json<ConversationSummary>, ApiError> {
    let conversation = state
        .engine
        .hand_back(conversation_id(&id)?, &agent.account.id.to_string())
        .await?;
    Ok(Json(ConversationSummary::from(&conversation)))
}

/// The owning agent is typing: the customer's feed shows it (nothing is stored).
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/typing", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not claimed by this agent")))]
pub async fn typing(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .agent_typing(conversation_id(&id)?, &agent.account.id.to_string())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Closes the conversation: one nobody holds or the caller's own (admins:
/// any). A customer writing again reopens it.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/close", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ConversationSummary), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "held by another agent (already_claimed), or already closed")))]
pub async fn close(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(id): Path<String>,
) -> Result<Json<ConversationSummary>, ApiError> {
    let id = conversation_id(&id)?;
    let conversation = if agent.account.role == Role::Admin {
        state.engine.close_conversation(id).await?
    } else {
        state
            .engine
            .agent_close(id, &agent.account.id.to_string())
            .await?
    };
    Ok(Json(ConversationSummary::from(&conversation)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Labels {
    pub categories: Vec<String>,
    pub priorities: Vec<String>,
}

/// The category and priority names conversations are classified into (for filters).
#[utoipa::path(get, path = "/v1/agent/labels", tag = "agent", security(("bearer" = [])),
    responses((status = 200, body = Labels), (status = 401, body = ErrorBody)))]
pub async fn labels(State(state): State<AppState>, _agent: AgentUser) -> Json<Labels> {
    let taxonomy = state.engine.classifier().taxonomy();
    let names =
        |labels: &[spur_core::classify::Label]| labels.iter().map(|l| l.name.clone()).collect();
    Json(Labels {
        categories: names(&taxonomy.categories),
        priorities: names(&taxonomy.priorities),
    })
}

/// What an agent's live feed says about one engine event (never a sessionId).
fn agent_event(event: EngineEvent) -> Option<Event> {
    let (name, data) = match event {
        EngineEvent::MessageStored {
            conversation,
            message,
            ..
        } => (
            "message",
            json!({"conversationId": conversation, "message": AgentMessage::from(message.as_ref())}),
        ),
        EngineEvent::StatusChanged {
            conversation,
            from,
            to,
            assignee,
            ..
        } => (
            "status",
            json!({"conversationId": conversation, "from": from, "to": to, "assignee": assignee}),
        ),
        EngineEvent::Escalated {
            conversation,
            reason,
            ..
        } => (
            "escalated",
            json!({"conversationId": conversation, "reason": reason.code()}),
        ),
        EngineEvent::Typing {
            conversation,
            sender,
            ..
        } => (
            "typing",
            json!({"conversationId": conversation, "sender": sender}),
        ),
        EngineEvent::NoteAdded { conversation, note } => (
            "note",
            json!({"conversationId": conversation, "note": super::notes::NoteView::from(note.as_ref())}),
        ),
        EngineEvent::FilesKept {
            conversation,
            message,
        } => (
            "files",
            json!({"conversationId": conversation, "messageId": message}),
        ),
        // Agents see replies when they are stored, not token by token.
        EngineEvent::ReplyDelta { .. } => return None,
    };
    Some(Event::default().event(name).data(data.to_string()))
}

/// Everything that happens in every conversation, live: `message`,
/// `status` (claims, hand-backs, closes), `escalated`, `typing`, `note`
/// (an agent's internal note), `files` (a customer's files fetched). A `resync` event
/// means events were missed: reload the inbox. The feed ends with
/// `unauthorized` within a second of the sign-in ending (logout, disabled
/// account, expiry, on any instance), or with `reconnect` when this
/// instance stops.
#[utoipa::path(get, path = "/v1/agent/events", tag = "agent", security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream",
        description = "message {conversationId, message}, status {conversationId, from, to, assignee}, escalated {conversationId, reason}, typing {conversationId, sender}, note {conversationId, note}, files {conversationId, messageId} (a customer's files were fetched), ticket {the ticket as GET /v1/tickets/{id} shows it: filed, classified, updated}, resync {}; last: unauthorized {} or reconnect {}"),
        (status = 401, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    AgentUser(agent): AgentUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let held = state.open_feed(peer, &headers).await?;
    let (shutdown, auth) = (state.shutdown.clone(), state.auth.clone());
    let conversations = state.events.subscribe().filter_map(|item| {
        futures::future::ready(match item {
            Ok(event) => agent_event(event),
            Err(_missed) => Some(Event::default().event("resync").data("{}")),
        })
    });
    let tickets = tokio_stream::wrappers::BroadcastStream::new(state.tickets.events.subscribe())
        .map(|item| match item {
            Ok(ticket) => Event::default().event("ticket").data(
                serde_json::to_string(&crate::routes::tickets::TicketView::from(&ticket))
                    .unwrap_or_default(),
            ),
            Err(_lagged) => Event::default().event("resync").data("{}"),
        });
    // The last event: this instance stops, or the sign-in ended.
    let last = futures::stream::once(async move {
        // Counts against the client's open feeds until the feed ends.
        let _held = held;
        tokio::select! {
            _ = shutdown.cancelled_owned() => crate::reconnect_event(),
            ended = auth.ended(&agent) => {
                tracing::info!(account = %agent.account.id, ?ended, "agent feed closed: sign-in ended");
                Event::default().event("unauthorized").data("{}")
            }
        }
    });
    let last = last.flat_map(|event| futures::stream::iter([Feed::Last(event), Feed::End]));
    // The ending is polled first: nothing is delivered after it.
    let live = futures::stream::select_with_strategy(
        futures::stream::select(conversations, tickets).map(Feed::Live),
        last,
        |_: &mut ()| futures::stream::PollNext::Right,
    )
    .scan((), |(), item| {
        futures::future::ready(match item {
            Feed::Live(event) | Feed::Last(event) => Some(Ok(event)),
            Feed::End => None,
        })
    });
    // A first event, so the client knows it is subscribed before acting.
    let ready = futures::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    Ok(Sse::new(ready.chain(live)).keep_alive(KeepAlive::default()))
}

/// An agent feed's items: live events until the last one, then the end.
enum Feed {
    Live(Event),
    Last(Event),
    End,
}
