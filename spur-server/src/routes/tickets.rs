//! `/v1/tickets` (and the seed's `/tickets`) and
//! `/v1/conversations/{id}/ticket`: filing, reading, listing and updating
//! tickets (agents and admins).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spur_core::conversation::ConversationId;
use spur_core::tickets::{
    AiStatus, NewTicket, Ticket, TicketError, TicketFilter, TicketId, TicketPatch, TicketStatus,
};
use time::OffsetDateTime;

use super::fields::{id, invalid, next_cursor, page_cursor, page_limit, required};
use crate::auth::AgentUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Tickets};

const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 10_000;

impl From<TicketError> for ApiError {
    fn from(error: TicketError) -> Self {
        let (status, code) = match &error {
            TicketError::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            TicketError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            TicketError::UnknownUser => (StatusCode::NOT_FOUND, "user_not_found"),
            TicketError::UnknownConversation => (StatusCode::NOT_FOUND, "conversation_not_found"),
            TicketError::UnknownLabel(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_label"),
            TicketError::ConversationHasTicket => (StatusCode::CONFLICT, "ticket_exists"),
            TicketError::Corrupt(_) | TicketError::Backend(_) => {
                tracing::error!(%error, "ticket storage failure");
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "storage is unavailable, try again",
                );
            }
        };
        Self::new(status, code, error.to_string())
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "01964a4e-9a10-7c55-8d6e-3e1f0b7c2a11", "title": "Charged twice for order 1042",
    "description": "My card shows two payments of $49 for the same order.",
    "category": "billing", "priority": "high", "aiConfidence": 0.83, "aiStatus": "done",
    "aiSource": "local", "aiReason": null, "categoryOverridden": false, "priorityOverridden": false,
    "overriddenBy": null, "status": "open", "createdBy": "01964a4e-7c1d-7d2e-9a51-0d0b8ad1c001",
    "conversationId": null, "createdAt": "2026-11-24T09:30:00Z", "updatedAt": "2026-11-24T09:30:00Z"
}))]
pub struct TicketView {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Null while `aiStatus` is `pending`.
    pub category: Option<String>,
    pub priority: Option<String>,
    /// 0 to 1; 0 for a fallback.
    pub ai_confidence: Option<f32>,
    /// `pending`, `done` or `fallback`.
    #[schema(example = "done")]
    pub ai_status: String,
    /// `llm`, `local` or `fallback`.
    pub ai_source: Option<String>,
    /// Why classification fell back (`ai_timeout`, `llm_upstream_error`…).
    pub ai_reason: Option<String>,
    /// An agent set it; classification will not change it.
    pub category_overridden: bool,
    pub priority_overridden: bool,
    /// The account that overrode a label.
    pub overridden_by: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    pub created_by: Option<String>,
    pub conversation_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<&Ticket> for TicketView {
    fn from(t: &Ticket) -> Self {
        Self {
            id: t.id.to_string(),
            title: t.title.clone(),
            description: t.description.clone(),
            category: t.category.clone(),
            priority: t.priority.clone(),
            ai_confidence: t.ai_confidence,
            ai_status: t.ai_status.as_str().to_string(),
            ai_source: t.ai_source.clone(),
            ai_reason: t.ai_reason.clone(),
            category_overridden: t.category_overridden,
            priority_overridden: t.priority_overridden,
            overridden_by: t.overridden_by.map(|a| a.to_string()),
            status: t.status.as_str().to_string(),
            created_by: t.created_by.map(|u| u.to_string()),
            conversation_id: t.conversation_id.map(|c| c.to_string()),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTicketBody {
    #[schema(
        example = "Charged twice for order 1042",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub title: String,
    #[schema(
        example = "My card shows two payments of $49 for the same order.",
        min_length = 1,
        max_length = 10000,
        pattern = r"\S"
    )]
    pub description: String,
    /// A user id.
    #[schema(format = Uuid, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$")]
    pub created_by: Option<String>,
    /// The conversation this ticket continues.
    #[schema(format = Uuid, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$")]
    pub conversation_id: Option<String>,
}

impl Tickets {
    /// Files a ticket and classifies it: in this call (the default), or by
    /// queuing a job (`USE_QUEUE=true`). Neither can fail the call once the
    /// ticket is stored: a queue that refuses the job means classifying here.
    async fn file(&self, new: NewTicket) -> Result<Ticket, ApiError> {
        Ok(spur_core::tools::TicketFiler::file(self, new).await?)
    }
}

/// The same filing for the `create_ticket` tool (the model's tickets are
/// queued and announced like the agents').
#[async_trait::async_trait]
impl spur_core::tools::TicketFiler for Tickets {
    async fn file(&self, new: NewTicket) -> Result<Ticket, spur_core::tickets::TicketError> {
        let ticket = match &self.queue {
            None => self.desk.file_and_classify(new).await?,
            Some(queue) => {
                let ticket = self.desk.file(new).await?;
                match queue.enqueue(ticket.id).await {
                    Ok(()) => ticket,
                    Err(error) => {
                        tracing::error!(%error, ticket = %ticket.id, "could not queue classification; classifying now");
                        self.desk.classify_now(ticket).await?
                    }
                }
            }
        };
        self.relay.publish(&ticket).await;
        Ok(ticket)
    }
}

/// Files a ticket, classified synchronously (default: `aiStatus` is `done` or
/// `fallback` in the response) or queued (`USE_QUEUE=true`: `pending` now,
/// updated by a worker and announced on `/v1/agent/events`).
#[utoipa::path(post, path = "/v1/tickets", tag = "tickets", security(("bearer" = [])),
    request_body = NewTicketBody,
    responses((status = 201, body = TicketView), (status = 400, body = ErrorBody, description = "malformed JSON, bad id"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "conversation_not_found"),
        (status = 409, body = ErrorBody, description = "ticket_exists: the conversation has one"),
        (status = 422, body = ErrorBody, description = "invalid_field, unknown_user")))]
pub async fn create_ticket(
    State(state): State<AppState>,
    _agent: AgentUser,
    json: Result<Json<NewTicketBody>, JsonRejection>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let Json(body) = json?;
    let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let new = NewTicket {
        title: required("title", &body.title, TITLE_MAX)?,
        description: required("description", &body.description, DESCRIPTION_MAX)?,
        created_by: given(body.created_by)
            .map(|u| {
                u.trim()
                    .parse()
                    .map_err(|_| invalid("createdBy is not a user id"))
            })
            .transpose()?,
        conversation_id: given(body.conversation_id)
            .map(|c| {
                c.parse()
                    .map_err(|_| invalid("conversationId is not a conversation id"))
            })
            .transpose()?,
    };
    let ticket = state.tickets.file(new).await?;
    Ok((StatusCode::CREATED, Json(TicketView::from(&ticket))))
}

#[utoipa::path(get, path = "/v1/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TicketView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn ticket(
    State(state): State<AppState>,
    _agent: AgentUser,
    Path(ticket_id): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    let ticket = state
        .tickets
        .desk
        .store()
        .ticket(id::<TicketId>(&ticket_id, "ticket")?)
        .await?
        .ok_or(TicketError::NotFound)?;
    Ok(Json(TicketView::from(&ticket)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct TicketQuery {
    /// `billing`, `technical`, `general` (the taxonomy's names).
    pub category: Option<String>,
    /// `low`, `medium`, `high`.
    pub priority: Option<String>,
    /// `open` or `closed`.
    #[param(pattern = "^(open|closed)?$")]
    pub status: Option<String>,
    /// `pending`, `done` or `fallback`.
    #[param(pattern = "^(pending|done|fallback)?$")]
    pub ai_status: Option<String>,
    /// A user id.
    #[param(format = Uuid, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$")]
    pub created_by: Option<String>,
    /// Text the title or description contains (case-insensitive).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// The ticket filed from this conversation (none or one; other filters ignored).
    #[param(format = Uuid, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$")]
    pub conversation_id: Option<String>,
    /// A `nextCursor` from the page before.
    #[param(
        pattern = "^([0-9]{1,18}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$"
    )]
    pub cursor: Option<String>,
    /// 1 to 100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `true`: include how many tickets match in all.
    pub total: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketPage {
    pub tickets: Vec<TicketView>,
    /// Pass as `cursor` for the next page; absent at the end.
    pub next_cursor: Option<String>,
    /// With `total=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Tickets, newest first, keyset-paginated (a ticket filed meanwhile never
/// shifts the next page), filtered by any of the query's fields.
#[utoipa::path(get, path = "/v1/tickets", tag = "tickets", security(("bearer" = [])), params(TicketQuery),
    responses((status = 200, body = TicketPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn tickets(
    State(state): State<AppState>,
    _agent: AgentUser,
    Query(query): Query<TicketQuery>,
) -> Result<Json<TicketPage>, ApiError> {
    let given = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(conversation) = given(query.conversation_id) {
        let conversation = conversation
            .parse()
            .map_err(|_| ApiError::invalid_query("conversationId is not a conversation id"))?;
        let ticket = state
            .tickets
            .desk
            .store()
            .ticket_for_conversation(conversation)
            .await?;
        return Ok(Json(TicketPage {
            tickets: ticket.iter().map(TicketView::from).collect(),
            next_cursor: None,
            total: query
                .total
                .unwrap_or(false)
                .then_some(u64::from(ticket.is_some())),
        }));
    }
    let taxonomy = state.tickets.desk.taxonomy();
    let category = given(query.category);
    if let Some(c) = &category
        && taxonomy.category(c).is_none()
    {
        return Err(ApiError::invalid_query(
            "category is not a category of the taxonomy",
        ));
    }
    let priority = given(query.priority);
    if let Some(p) = &priority
        && taxonomy.priority(p).is_none()
    {
        return Err(ApiError::invalid_query(
            "priority is not a priority of the taxonomy",
        ));
    }
    let filter = TicketFilter {
        category,
        priority,
        status: given(query.status)
            .map(|s| {
                TicketStatus::parse(&s)
                    .ok_or_else(|| ApiError::invalid_query("status must be open or closed"))
            })
            .transpose()?,
        ai_status: given(query.ai_status)
            .map(|s| {
                AiStatus::parse(&s).ok_or_else(|| {
                    ApiError::invalid_query("aiStatus must be pending, done or fallback")
                })
            })
            .transpose()?,
        created_by: given(query.created_by)
            .map(|u| {
                u.parse()
                    .map_err(|_| ApiError::invalid_query("createdBy is not a user id"))
            })
            .transpose()?,
        text: given(query.q)
            .map(|q| {
                if q.chars().count() > 200 {
                    Err(ApiError::invalid_query("q is limited to 200 characters"))
                } else {
                    Ok(q)
                }
            })
            .transpose()?,
    };
    let page = state
        .tickets
        .desk
        .store()
        .tickets(
            &filter,
            page_cursor(query.cursor.as_deref())?,
            page_limit(query.limit, 25, 100)?,
            query.total.unwrap_or(false),
        )
        .await?;
    Ok(Json(TicketPage {
        tickets: page.items.iter().map(TicketView::from).collect(),
        next_cursor: next_cursor(page.next),
        total: page.total,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketPatchBody {
    /// `open` or `closed`.
    #[schema(example = "closed", pattern = "^(open|closed)$")]
    pub status: Option<String>,
    /// Overrides the classification; kept over any later one.
    #[schema(example = "technical")]
    pub category: Option<String>,
    pub priority: Option<String>,
}

/// Closes or reopens a ticket, or overrides its category or priority (the
/// override is marked, with the agent, and classification never undoes it).
#[utoipa::path(patch, path = "/v1/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = TicketPatchBody,
    responses((status = 200, body = TicketView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "invalid_field, unknown_label")))]
pub async fn update_ticket(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(ticket_id): Path<String>,
    json: Result<Json<TicketPatchBody>, JsonRejection>,
) -> Result<Json<TicketView>, ApiError> {
    let ticket_id = id::<TicketId>(&ticket_id, "ticket")?;
    let Json(body) = json?;
    if body.status.is_none() && body.category.is_none() && body.priority.is_none() {
        // Nothing to change (`{}`, or only nulls): the ticket as it is.
        let ticket = state
            .tickets
            .desk
            .store()
            .ticket(ticket_id)
            .await?
            .ok_or(TicketError::NotFound)?;
        return Ok(Json(TicketView::from(&ticket)));
    }
    let patch = TicketPatch {
        status: body
            .status
            .map(|s| {
                TicketStatus::parse(s.trim())
                    .ok_or_else(|| invalid("status must be open or closed"))
            })
            .transpose()?,
        category: body.category.map(|c| c.trim().to_string()),
        priority: body.priority.map(|p| p.trim().to_string()),
        by: Some(agent.account.id),
    };
    let ticket = state.tickets.desk.update(ticket_id, patch).await?;
    state.tickets.relay.publish(&ticket).await;
    Ok(Json(TicketView::from(&ticket)))
}

/// Files a ticket from a conversation: title and description summarised
/// from it (by the model when one is configured, else the customer's first
/// message and the transcript), classified like any other ticket.
#[utoipa::path(post, path = "/v1/conversations/{id}/ticket", tag = "tickets", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 201, body = TicketView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "conversation_not_found"),
        (status = 409, body = ErrorBody, description = "ticket_exists")))]
pub async fn conversation_ticket(
    State(state): State<AppState>,
    _agent: AgentUser,
    Path(conversation): Path<String>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let conversation = state
        .engine
        .conversation_by_id(id::<ConversationId>(&conversation, "conversation")?)
        .await?;
    if state
        .tickets
        .desk
        .store()
        .ticket_for_conversation(conversation.id)
        .await?
        .is_some()
    {
        return Err(TicketError::ConversationHasTicket.into());
    }
    let page = state
        .engine
        .store()
        .history(conversation.id, None, 200)
        .await?;
    let (title, description) = spur_core::tickets::summarize(
        &page.messages,
        state.tickets.summarizer.as_deref(),
        state.tickets.desk.ai_timeout(),
    )
    .await;
    let ticket = state
        .tickets
        .file(NewTicket {
            title,
            description,
            created_by: None,
            conversation_id: Some(conversation.id),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(TicketView::from(&ticket))))
}
