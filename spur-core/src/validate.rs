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
    /// A key replays its turn (and, sent without a session, hands out the
    /// conversation's sessionId): it must be unguessable.
    #[error(
        "the idempotency key must be unguessable: 32 to 200 of A-Z a-z 0-9 _ - (a UUID, or 128+ random bits)"
    )]
    MalformedIdempotencyKey,
    #[error("text may not contain NUL characters")]
    NulCharacter,
    #[error("the email address is not valid")]
    InvalidEmail,
    #[error("a shortcut is 1 to 32 of a-z, 0-9 and -")]
    InvalidShortcut,
    #[error("the comment is {actual} characters long; the limit is {max}")]
    CommentTooLong { max: usize, actual: usize },
    #[error("a score is a whole number from 1 to 5")]
    InvalidScore,
}

impl ValidationError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyMessage => "empty_message",
            Self::MessageTooLong { .. } => "message_too_long",
            Self::MalformedSessionId => "invalid_session_id",
            Self::MalformedIdempotencyKey => "invalid_idempotency_key",
            Self::NulCharacter => "invalid_text",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidShortcut => "invalid_shortcut",
            Self::CommentTooLong { .. } => "comment_too_long",
            Self::InvalidScore => "invalid_score",
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
        check_no_nul(trimmed)?;
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

/// At least 32 characters of a 64-letter alphabet (or 32 hex digits, a
/// UUID's): at least 128 bits of room. One rule for every key, with or
/// without a session; `^[A-Za-z0-9_-]{32,200}$` in the API document.
pub fn check_idempotency_key(key: &str) -> Result<&str, ValidationError> {
    let ok = (32..=200).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(key)
    } else {
        Err(ValidationError::MalformedIdempotencyKey)
    }
}

/// One `@` with something before it, a dot inside the domain, no spaces
/// or control characters, at most 254 characters (agent accounts, ticket
/// users and customers leaving an address alike): exactly what the API
/// document's pattern says, `^[^@\x00-\x20]+@[^@\x00-\x20]+\.[^@\x00-\x20]+$`.
pub fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    let (Some(user), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let dot_inside = domain
        .char_indices()
        .any(|(i, c)| c == '.' && i > 0 && i + 1 < domain.len());
    !user.is_empty()
        && dot_inside
        && !email.chars().any(|c| c <= ' ')
        && email.chars().count() <= 254
}

/// An address as stored (trimmed, lower case), or why it is refused.
pub fn check_email(email: &str) -> Result<String, ValidationError> {
    let email = email.trim().to_lowercase();
    if valid_email(&email) {
        Ok(email)
    } else {
        Err(ValidationError::InvalidEmail)
    }
}

/// NUL is refused everywhere (PostgreSQL cannot store it in text), so every
/// backend answers the same.
pub fn check_no_nul(text: &str) -> Result<&str, ValidationError> {
    if text.contains('\0') {
        Err(ValidationError::NulCharacter)
    } else {
        Ok(text)
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
        assert!(check_idempotency_key("has space").is_err());
    }

    #[test]
    fn emails_need_a_user_a_dotted_domain_and_no_spaces() {
        assert_eq!(
            check_email(" Ana@Shop.Example "),
            Ok("ana@shop.example".into())
        );
        for bad in [
            "",
            "ana",
            "@shop.example",
            "ana@shop",
            "ana@.example",
            "ana@shop.",
            "a b@shop.example",
            "ana@shop.example@x.io",
            "ana\0@shop.example",
        ] {
            assert_eq!(
                check_email(bad),
                Err(ValidationError::InvalidEmail),
                "{bad:?}"
            );
        }
        let long = format!("{}@shop.example", "a".repeat(250));
        assert_eq!(check_email(&long), Err(ValidationError::InvalidEmail));
    }

    #[test]
    fn nul_is_refused_anywhere_in_a_message() {
        let limits = MessageLimits::default();
        assert_eq!(limits.check("a\0b"), Err(ValidationError::NulCharacter));
        assert_eq!(limits.check("\0"), Err(ValidationError::NulCharacter));
        assert_eq!(check_no_nul("fine"), Ok("fine"));
    }

    #[test]
    fn keys_must_be_unguessable() {
        for strong in [
            "6f1c2d4e-8a9b-4c3d-9e8f-7a6b5c4d3e2f",
            "b7X_q2-LmN9pRsT4uVw8yZb7X_q2-LmN",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(check_idempotency_key(strong).is_ok(), "{strong}");
        }
        for weak in [
            "k-1",
            "retry-1",
            "",
            "0123456789abcdef",
            "6f1c2d4e-8a9b-4c3d-9e8f-7a6b5c4d3e2f!",
            "6f1c2d4e 8a9b 4c3d 9e8f 7a6b5c4d3e2f",
        ] {
            assert_eq!(
                check_idempotency_key(weak),
                Err(ValidationError::MalformedIdempotencyKey),
                "{weak}"
            );
        }
    }
}
