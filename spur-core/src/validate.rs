//! Input rules shared by every host (the widget checks them before sending).

use serde::{Deserialize, Serialize};

use crate::conversation::SessionId;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("the message is empty")]
    EmptyMessage,
    #[error("the message is {actual} characters long; the limit is {max}")]
    MessageTooLong { max: usize, actual: usize },
    #[error("the session id is not a valid id")]
    MalformedSessionId,
    #[error("the idempotency key must be 1 to 200 visible ASCII characters")]
    MalformedIdempotencyKey,
}

impl ValidationError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyMessage => "empty_message",
            Self::MessageTooLong { .. } => "message_too_long",
            Self::MalformedSessionId => "invalid_session_id",
            Self::MalformedIdempotencyKey => "invalid_idempotency_key",
        }
    }
}

/// Message length rules, counted in characters after trimming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageLimits {
    pub min_chars: usize,
    pub max_chars: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        Self {
            min_chars: 1,
            max_chars: 5_000,
        }
    }
}

impl MessageLimits {
    /// The trimmed message, or why it is refused.
    pub fn check<'a>(&self, text: &'a str) -> Result<&'a str, ValidationError> {
        let trimmed = text.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars < self.min_chars {
            return Err(ValidationError::EmptyMessage);
        }
        if chars > self.max_chars {
            return Err(ValidationError::MessageTooLong {
                max: self.max_chars,
                actual: chars,
            });
        }
        Ok(trimmed)
    }
}

pub fn parse_session_id(text: &str) -> Result<SessionId, ValidationError> {
    text.parse()
        .map_err(|_| ValidationError::MalformedSessionId)
}

pub fn check_idempotency_key(key: &str) -> Result<&str, ValidationError> {
    let ok = (1..=200).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(key)
    } else {
        Err(ValidationError::MalformedIdempotencyKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_characters_after_trimming() {
        let limits = MessageLimits::default();
        assert_eq!(limits.check("  hi  "), Ok("hi"));
        assert_eq!(limits.check(" \n\t "), Err(ValidationError::EmptyMessage));
        let long = "é".repeat(5_000);
        assert_eq!(limits.check(&long), Ok(long.as_str()));
        assert_eq!(
            limits.check(&format!("{long}x")),
            Err(ValidationError::MessageTooLong {
                max: 5_000,
                actual: 5_001
            })
        );
        assert!(parse_session_id("not-a-uuid").is_err());
        assert!(check_idempotency_key("abc-123").is_ok());
        assert!(check_idempotency_key("has space").is_err());
    }
}
