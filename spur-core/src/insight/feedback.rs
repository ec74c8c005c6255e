//! A customer's thumbs up or down on one answer, and their 1-5 score (CSAT)
//! for a whole conversation. One of each per message / conversation, and a
//! second answer replaces the first. Who answered (the assistant or a
//! person) is what the store holds, never what the customer says.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversation::{ConversationId, MessageId};
use crate::validate::ValidationError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

impl Rating {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "up" => Some(Self::Up),
            "down" => Some(Self::Down),
            _ => None,
        }
    }
}

/// Who gave the answer being rated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answerer {
    /// The assistant.
    Bot,
    /// A person (an agent wrote in the conversation).
    Agent,
}

impl Answerer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Agent => "agent",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "bot" => Some(Self::Bot),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }
}

/// A rating of one answer (an assistant's or an agent's message).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplyRating {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub rating: Rating,
    pub comment: Option<String>,
    pub at: OffsetDateTime,
}

/// A conversation's satisfaction score.
#[derive(Clone, Debug, PartialEq)]
pub struct Csat {
    pub conversation_id: ConversationId,
    /// 1 (very unhappy) to 5 (very happy).
    pub score: u8,
    pub comment: Option<String>,
    pub at: OffsetDateTime,
}

/// The longest comment kept, in characters.
pub const COMMENT_CHARS: usize = 1_000;

/// A comment as stored: trimmed, empty is none, at most [`COMMENT_CHARS`],
/// no control characters but line breaks and tabs.
pub fn check_comment(comment: Option<&str>) -> Result<Option<String>, ValidationError> {
    let Some(text) = comment.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let actual = text.chars().count();
    if actual > COMMENT_CHARS {
        return Err(ValidationError::CommentTooLong {
            max: COMMENT_CHARS,
            actual,
        });
    }
    if text.contains('\0') {
        return Err(ValidationError::NulCharacter);
    }
    Ok(Some(
        text.chars()
            .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
            .collect(),
    ))
}

/// A CSAT score: 1 to 5.
pub fn check_score(score: i64) -> Result<u8, ValidationError> {
    u8::try_from(score)
        .ok()
        .filter(|s| (1..=5).contains(s))
        .ok_or(ValidationError::InvalidScore)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_trimmed_bounded_and_cleaned() {
        assert_eq!(check_comment(None), Ok(None));
        assert_eq!(check_comment(Some("  \n ")), Ok(None));
        assert_eq!(
            check_comment(Some(" too slow\u{7}\nbut right ")),
            Ok(Some("too slow\nbut right".into()))
        );
        let long = "é".repeat(COMMENT_CHARS + 1);
        assert_eq!(
            check_comment(Some(&long)),
            Err(ValidationError::CommentTooLong {
                max: COMMENT_CHARS,
                actual: COMMENT_CHARS + 1
            })
        );
        assert!(check_comment(Some(&"é".repeat(COMMENT_CHARS))).is_ok());
        assert_eq!(
            check_comment(Some("a\0b")),
            Err(ValidationError::NulCharacter)
        );
    }

    #[test]
    fn scores_run_from_one_to_five() {
        assert_eq!(check_score(1), Ok(1));
        assert_eq!(check_score(5), Ok(5));
        for bad in [0, 6, -1, 256, i64::MAX] {
            assert_eq!(check_score(bad), Err(ValidationError::InvalidScore));
        }
    }
}
