//! `create_ticket(title, description)`: the model files a ticket for work
//! that outlives the chat, tied to this conversation (one per
//! conversation). The host says how a ticket is filed: the core's
//! [`TicketDesk`] files and classifies at once; a server may queue the
//! classification and announce the ticket.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError, ToolSpec};
use crate::tickets::{NewTicket, Ticket, TicketDesk, TicketError};

pub const CREATE_TICKET: &str = "create_ticket";

/// Where the tool files tickets.
#[async_trait::async_trait]
pub trait TicketFiler: Send + Sync {
    async fn file(&self, new: NewTicket) -> Result<Ticket, TicketError>;
}

#[async_trait::async_trait]
impl TicketFiler for TicketDesk {
    async fn file(&self, new: NewTicket) -> Result<Ticket, TicketError> {
        self.file_and_classify(new).await
    }
}

pub struct CreateTicket {
    spec: ToolSpec,
    filer: Arc<dyn TicketFiler>,
}

impl CreateTicket {
    pub fn new(filer: Arc<dyn TicketFiler>) -> Self {
        Self {
            spec: ToolSpec::new(
                CREATE_TICKET,
                "Files a ticket for the support team about this conversation, for work that cannot be done in the chat (a refund to check, a damaged item). Tell the customer the team will follow up.",
                json!({
                    "type": "object",
                    "properties": {
                        "title": {"type": "string", "minLength": 1, "maxLength": 200,
                            "pattern": "\\S", "description": "One line: what needs doing."},
                        "description": {"type": "string", "minLength": 1, "maxLength": 4000,
                            "pattern": "\\S", "description": "What the customer said and needs, with order numbers."},
                    },
                    "required": ["title", "description"],
                    "additionalProperties": false,
                }),
            ),
            filer,
        }
    }
}

#[async_trait::async_trait]
impl Tool for CreateTicket {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<Value, ToolError> {
        let text = |key: &str| arguments[key].as_str().unwrap_or_default().to_string();
        let new = NewTicket {
            title: text("title"),
            description: text("description"),
            created_by: None,
            conversation_id: Some(context.conversation),
        };
        match self.filer.file(new).await {
            Ok(ticket) => Ok(json!({
                "ticket": ticket.id.to_string(),
                "status": "open",
                "next": "Tell the customer the support team will follow up on this.",
            })),
            Err(TicketError::ConversationHasTicket) => Err(ToolError::Failed(
                "this conversation has a ticket already; the team is on it".into(),
            )),
            Err(error) => {
                tracing::warn!(%error, "create_ticket could not file a ticket");
                Err(ToolError::Failed("the ticket could not be filed".into()))
            }
        }
    }
}
