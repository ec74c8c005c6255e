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
    /// A key that would replay a new conversation's first turn (and hand
    /// out its sessionId) must not be guessable.
    #[error(
        "without a sessionId the idempotency key must be unguessable: at least 128 bits, such as a UUID v4 or 22 random base64url characters"
    )]
    GuessableIdempotencyKey,
    #[error("text may not contain NUL characters")]
    NulCharacter,
}

impl ValidationError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyMessage => "empty_message",
            Self::MessageTooLong { .. } => "message_too_long",
            Self::MalformedSessionId => "invalid_session_id",
            Self::MalformedIdempotencyKey => "invalid_idempotency_key",
            Self::GuessableIdempotencyKey => "weak_idempotency_key",
            Self::NulCharacter => "invalid_text",
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

pub fn check_idempotency_key(key: &str) -> Result<&str, ValidationError> {
    let ok = (1..=200).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(key)
    } else {
        Err(ValidationError::MalformedIdempotencyKey)
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

/// Bits needed in a key sent without a session (see [`check_unguessable_key`]).
pub const MIN_UNSCOPED_KEY_BITS: f64 = 128.0;

/// An estimate of how many bits a key can carry, from its length and the
/// smallest usual alphabet it fits: hex (dashes ignored, as in a UUID),
/// base64url, or printable ASCII. Keys with few distinct characters
/// (`aaaa...`) carry almost nothing whatever their length.
pub fn key_bits(key: &str) -> f64 {
    let distinct = key.bytes().collect::<std::collections::BTreeSet<_>>().len();
    if distinct < 8 {
        return 0.0;
    }
    let hex = key.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if hex {
        return 4.0 * key.bytes().filter(u8::is_ascii_hexdigit).count() as f64;
    }
    let base64url = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let per_char = if base64url { 6.0 } else { 94f64.log2() };
    per_char * key.len() as f64
}

/// A key that can open someone's conversation when replayed without a
/// session must be too long and varied to guess.
pub fn check_unguessable_key(key: &str) -> Result<&str, ValidationError> {
    if key_bits(key) >= MIN_UNSCOPED_KEY_BITS {
        Ok(key)
    } else {
        Err(ValidationError::GuessableIdempotencyKey)
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

    #[test]
    fn nul_is_refused_anywhere_in_a_message() {
        let limits = MessageLimits::default();
        assert_eq!(limits.check("a\0b"), Err(ValidationError::NulCharacter));
        assert_eq!(limits.check("\0"), Err(ValidationError::NulCharacter));
        assert_eq!(check_no_nul("fine"), Ok("fine"));
    }

    #[test]
    fn keys_without_a_session_must_carry_128_bits() {
        for strong in [
            "6f1c2d4e-8a9b-4c3d-9e8f-7a6b5c4d3e2f",
            "b7X_q2-LmN9pRsT4uVw8yZ",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(check_unguessable_key(strong).is_ok(), "{strong}");
        }
        for weak in [
            "k-1",
            "retry-1",
            "1",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "0123456789abcdef",
            "abababababababababababababababababab",
        ] {
            assert_eq!(
                check_unguessable_key(weak),
                Err(ValidationError::GuessableIdempotencyKey),
                "{weak}"
            );
        }
    }
}
