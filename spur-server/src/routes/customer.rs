//! The customer panel beside a conversation in the console: who is writing
//! and what they asked before. A customer is known across conversations by
//! the address they left or the host gave (`metadata.contact.email`).

use serde::Serialize;
use spur_core::conversation::Conversation;
use spur_core::store::ConversationFilter;
use time::OffsetDateTime;

use super::agent::ConversationSummary;
use crate::error::ApiError;
use crate::state::AppState;

/// How many of a customer's other conversations the panel lists.
const PREVIOUS: usize = 20;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView {
    /// The address that ties their conversations together.
    pub email: Option<String>,
    pub channel: String,
    /// Their oldest conversation's start (of those listed; this one's
    /// without an address).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: OffsetDateTime,
    /// Their other conversations, newest first (at most 20).
    pub previous: Vec<ConversationSummary>,
    /// More than `previous` shows.
    pub more: bool,
}

/// The panel for `conversation`'s customer.
pub(super) async fn customer(
    state: &AppState,
    conversation: &Conversation,
) -> Result<CustomerView, ApiError> {
    let email = conversation.contact_email().map(str::to_string);
    let mut view = CustomerView {
        email: email.clone(),
        channel: conversation.channel.clone(),
        first_seen: conversation.created_at,
        previous: Vec::new(),
        more: false,
    };
    let Some(email) = email else {
        return Ok(view);
    };
    let filter = ConversationFilter {
        contact_email: Some(email),
        ..ConversationFilter::default()
    };
    // One more than shown besides this one: whether there are more.
    let page = state
        .engine
        .store()
        .list_conversations(&filter, None, PREVIOUS + 1)
        .await?;
    let others = page
        .conversations
        .iter()
        .filter(|l| l.conversation.id != conversation.id);
    for listed in others {
        view.first_seen = view.first_seen.min(listed.conversation.created_at);
        if view.previous.len() == PREVIOUS {
            view.more = true;
            break;
        }
        view.previous.push(ConversationSummary::from(listed));
    }
    view.more |= page.next.is_some();
    Ok(view)
}
