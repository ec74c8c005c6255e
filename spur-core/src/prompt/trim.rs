use super::TokenCounter;
use crate::conversation::{Message, Sender};

/// Tokens a chat API adds around each message (role and separators).
pub const MESSAGE_OVERHEAD_TOKENS: usize = 4;

/// May this stored message be shown to a model? (Not system notices, not
/// fallback replies, not blank text.)
pub fn eligible(message: &Message) -> bool {
    let shown = match message.sender {
        // Engine notices are for the customer's screen, not for the model.
        Sender::System => false,
        // A fallback is not an answer: feeding it back teaches the model to apologise.
        Sender::Assistant => !message.meta.used_fallback,
        Sender::Customer | Sender::Agent => true,
    };
    shown && !message.text.trim().is_empty()
}

/// Picks the history to send with the next prompt, newest first, within
/// `max_messages` and `max_tokens` (message overhead included). Returns the
/// picked messages oldest-first.
///
/// Invariants (property-tested): the result is a subsequence of `history`
/// in order; it holds no system notices and no fallback replies; it never
/// starts with an assistant or agent reply whose question was dropped; it is
/// the newest eligible messages that fit (nothing newer is ever dropped for
/// something older).
pub fn trim_history<'a>(
    history: &'a [Message],
    max_messages: usize,
    max_tokens: usize,
    counter: &dyn TokenCounter,
) -> Vec<&'a Message> {
    trim_counted(history, max_messages, max_tokens, counter)
        .into_iter()
        .map(|(message, _)| message)
        .collect()
}

/// [`trim_history`] with each picked message's text tokens (overhead excluded).
pub(crate) fn trim_counted<'a>(
    history: &'a [Message],
    max_messages: usize,
    max_tokens: usize,
    counter: &dyn TokenCounter,
) -> Vec<(&'a Message, usize)> {
    let mut picked: Vec<(&Message, usize)> = Vec::with_capacity(max_messages.min(history.len()));
    let mut used = 0usize;
    for message in history.iter().rev() {
        if picked.len() >= max_messages {
            break;
        }
        if !eligible(message) {
            continue;
        }
        let room = max_tokens.saturating_sub(used + MESSAGE_OVERHEAD_TOKENS);
        let tokens = if message.meta.text_tokens.is_some() {
            Some(counter.message_tokens(message)).filter(|n| *n <= room)
        } else {
            counter.count_within(&message.text, room)
        };
        match tokens {
            Some(tokens) => {
                used += tokens + MESSAGE_OVERHEAD_TOKENS;
                picked.push((message, tokens));
            }
            // Skipping it to fit an older one would leave a hole in the dialogue.
            None => break,
        }
    }
    picked.reverse();
    let first_question = picked
        .iter()
        .position(|(m, _)| m.sender == Sender::Customer)
        .unwrap_or(picked.len());
    picked.drain(..first_question);
    picked
}

#[cfg(test)]
mod tests;
