//! `/v1/admin/knowledge*`: what the assistant knows, what it would answer,
//! and what customers asked that it could not answer (admins only).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use spur_core::knowledge::gaps::{self, GapEntry, GapGroup};
use spur_core::store::{ReplyCursor, ReplyFilter};

use crate::auth::AdminUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// One section of the knowledge.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionView {
    pub id: String,
    pub title: String,
    /// The file it came from (its name without extension), or `shop` for
    /// the facts.
    pub source: String,
    pub chars: usize,
    /// Quoted in every system prompt as a store policy.
    pub policy: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgeView {
    pub sections: Vec<SectionView>,
    /// The operator's facts as the assistant states them.
    pub facts: String,
    /// Files that could not be loaded, each naming its file.
    pub problems: Vec<String>,
}

/// The loaded knowledge: sections with their source, the shop's facts and
/// files that were skipped.
#[utoipa::path(get, path = "/v1/admin/knowledge", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = KnowledgeView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn overview(State(state): State<AppState>, _admin: AdminUser) -> Json<KnowledgeView> {
    let kb = state.engine.knowledge();
    let policies: Vec<&str> = kb.policies().iter().map(|p| p.id.as_str()).collect();
    Json(KnowledgeView {
        sections: kb
            .articles()
            .iter()
            .map(|a| SectionView {
                id: a.id.clone(),
                title: a.title.clone(),
                source: a.id.split('/').next().unwrap_or_default().to_string(),
                chars: a.body.chars().count(),
                policy: policies.contains(&a.id.as_str()),
            })
            .collect(),
        facts: kb.facts().describe(),
        problems: kb.problems().iter().map(|p| p.to_string()).collect(),
    })
}

/// Loads the knowledge again (the directory and the shop's facts) and
/// answers from it from the next message on. A directory with nothing
/// loadable is refused and the current knowledge kept.
#[utoipa::path(post, path = "/v1/admin/knowledge/reload", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = KnowledgeView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "nothing loadable; the current knowledge is kept")))]
pub async fn reload(
    State(state): State<AppState>,
    admin: AdminUser,
) -> Result<Json<KnowledgeView>, ApiError> {
    reload_now(&state).await?;
    Ok(overview(State(state), admin).await)
}

/// Reloads the knowledge; nothing loadable is a 422 and the knowledge in
/// use is kept.
pub(crate) async fn reload_now(state: &AppState) -> Result<(), ApiError> {
    state.knowledge.reload(&state.engine).await.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "knowledge_invalid",
            e.message,
        )
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryBody {
    /// A customer's question.
    #[schema(min_length = 1, max_length = 2000, example = "Do you ship to Lyon?")]
    pub question: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RankedPassage {
    pub id: String,
    pub title: String,
    /// Share of the question's ideas the section covers (0..1).
    pub confidence: f32,
    pub score: f32,
    /// Cosine similarity to the question (-1..1), with an embedding model.
    pub similarity: Option<f32>,
    /// Cosine similarity of its closest sentence to the question (-1..1).
    pub focus: Option<f32>,
    /// The sentences that answer.
    pub excerpt: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TryView {
    pub passages: Vec<RankedPassage>,
    /// What the assistant would say.
    pub reply: String,
    /// It would hand the conversation to a person.
    pub handoff: bool,
    /// `supported`, `repaired` or `blocked` (absent for small talk and handoffs).
    pub grounding: Option<String>,
    /// Claims the guard found no source for.
    pub unsupported: Vec<String>,
    /// Titles of the sections the reply draws on.
    pub sources: Vec<String>,
}

/// "Try a question": the ranked passages, the answer and the grounding
/// verdict, without storing anything or starting a conversation.
#[utoipa::path(post, path = "/v1/admin/knowledge/try", tag = "admin", security(("bearer" = [])),
    request_body = TryBody,
    responses((status = 200, body = TryView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "empty or over 2,000 characters")))]
pub async fn try_question(
    State(state): State<AppState>,
    _admin: AdminUser,
    json: Result<Json<TryBody>, JsonRejection>,
) -> Result<Json<TryView>, ApiError> {
    let Json(body) = json?;
    let question = super::fields::required("question", &body.question, 2000)?;
    let preview = state.engine.preview(&question).await?;
    let (grounding, unsupported) = match preview.grounding {
        Some(g) => (
            Some(
                serde_json::to_value(g.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            ),
            g.unsupported,
        ),
        None => (None, Vec::new()),
    };
    Ok(Json(TryView {
        passages: preview
            .passages
            .into_iter()
            .map(|p| RankedPassage {
                id: p.article_id,
                title: p.title,
                confidence: p.confidence,
                score: p.score,
                similarity: p.similarity,
                focus: p.focus,
                excerpt: p.excerpt,
            })
            .collect(),
        reply: preview.reply,
        handoff: preview.handoff,
        grounding,
        unsupported,
        sources: preview.sources.into_iter().map(|s| s.title).collect(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GapsQuery {
    /// Look back this many days (default 30).
    #[param(minimum = 1, maximum = 365)]
    pub days: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GapsView {
    /// Alike questions grouped, most asked first.
    #[schema(value_type = Vec<Object>)]
    pub groups: Vec<GapGroup>,
    /// Replies read.
    pub scanned: usize,
}

/// The most replies a gaps report reads.
const GAPS_SCAN: usize = 5_000;

/// Knowledge gaps: customer questions that ended in "not sure", a handoff
/// for lack of knowledge, the guard stopping a reply, or a fallback,
/// grouped by similarity with counts and conversations to read.
#[utoipa::path(get, path = "/v1/admin/knowledge/gaps", tag = "admin", security(("bearer" = [])),
    params(GapsQuery),
    responses((status = 200, body = GapsView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn gaps(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(query): Query<GapsQuery>,
) -> Result<Json<GapsView>, ApiError> {
    let days = query.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::invalid_query("days must be 1 to 365"));
    }
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
    let filter = ReplyFilter {
        since: Some(since),
        ..ReplyFilter::default()
    };
    let store = state.engine.store();
    let mut cursor: Option<ReplyCursor> = None;
    let (mut entries, mut scanned) = (Vec::new(), 0);
    while scanned < GAPS_SCAN {
        let page = store.replies(&filter, cursor.as_ref(), 200).await?;
        scanned += page.replies.len();
        entries.extend(page.replies.into_iter().filter_map(|m| {
            let gap = m.meta.gap?;
            Some(GapEntry {
                question: gap.question,
                kind: gap.kind,
                conversation: m.conversation_id,
            })
        }));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(Json(GapsView {
        groups: gaps::group(entries),
        scanned,
    }))
}
