//! `GET /v1/admin/analytics`: resolution, handoffs, fallbacks, feedback,
//! response times, tokens and cost over a period, per day in the shop's
//! time zone (definitions in `spur_core::insight::analytics` and the
//! README), as JSON or the per-day series as CSV.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use spur_core::insight::Analytics;
use spur_core::insight::analytics::{AnalyticsOptions, Date, zone_of};

use crate::auth::AdminUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// First day, `YYYY-MM-DD` in the shop's time zone (default: 29 days
    /// before `to`).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day, included (default: today). Dates given backwards are
    /// swapped; a period over 366 days keeps its last 366 (the answer's
    /// `from` and `to` say which days were counted).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// Only conversations on this channel (`web`, `whatsapp`, `messenger`,
    /// `instagram`, `email`).
    #[param(max_length = 32)]
    pub channel: Option<String>,
    /// `csv`: the per-day series as CSV instead of JSON.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

fn day(text: Option<&str>, name: &str) -> Result<Option<Date>, ApiError> {
    // An empty date is no date (the schema says so), not "absent".
    text.map(|t| {
        t.parse::<Date>()
            .map_err(|_| ApiError::invalid_query(&format!("{name} must be a date, YYYY-MM-DD")))
    })
    .transpose()
}

/// The figures an operator reads to see whether the assistant helps.
#[utoipa::path(get, path = "/v1/admin/analytics", tag = "admin", security(("bearer" = [])),
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "the figures (JSON), or with format=csv the per-day series",
            content((Analytics = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody, description = "a malformed date or format"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn analytics(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(query): Query<AnalyticsQuery>,
) -> Result<Response, ApiError> {
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid_query("format must be json or csv")),
    };
    let channel = query.channel.filter(|c| !c.is_empty());
    if channel.as_ref().is_some_and(|c| c.chars().count() > 32) {
        return Err(ApiError::invalid_query("channel is at most 32 characters"));
    }
    let mut options = AnalyticsOptions::new(
        zone_of(&state.engine.facts()),
        day(query.from.as_deref(), "from")?,
        day(query.to.as_deref(), "to")?,
        state.engine.now(),
    );
    options.quiet = state.resolution_quiet;
    options.prices = state.prices;
    let report = state.engine.analytics(&options, channel).await?;
    if csv {
        let name = format!(
            "attachment; filename=\"spur-analytics-{}-{}.csv\"",
            report.from, report.to
        );
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, name),
            ],
            report.days_csv(),
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}
