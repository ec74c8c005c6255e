//! The knowledge-gaps report: the questions the assistant could not answer,
//! grouped by the words they share, most asked first. What to write next.

use std::collections::HashSet;

use bm25::Tokenizer;
use serde::Serialize;

use super::search::tokenizer;
use crate::classify::lexicon::normalize;
use crate::conversation::ConversationId;

/// One unanswered question.
#[derive(Clone, Debug)]
pub struct GapEntry {
    pub question: String,
    /// `no_answer`, `ungrounded` or `fallback`.
    pub kind: String,
    pub conversation: ConversationId,
}

/// Questions that read alike.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GapGroup {
    /// The first (newest) question of the group.
    pub question: String,
    pub count: usize,
    pub kinds: Vec<String>,
    /// Other wordings (up to 3).
    pub examples: Vec<String>,
    /// Conversations to read (up to 5).
    pub conversations: Vec<ConversationId>,
}

/// Questions sharing at least this share of their content words (Jaccard) group.
const SIMILAR: f32 = 0.5;

/// Lower case, no punctuation: "Gift cards?" and "gift cards" are one wording.
fn plain(text: &str) -> String {
    normalize(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Groups `entries` (newest first) by similarity, most asked first.
pub fn group(entries: impl IntoIterator<Item = GapEntry>) -> Vec<GapGroup> {
    let tokenizer = tokenizer();
    let mut groups: Vec<(HashSet<String>, GapGroup)> = Vec::new();
    for entry in entries {
        let words: HashSet<String> = tokenizer.tokenize(&entry.question).into_iter().collect();
        let similar = groups.iter_mut().find(|(seed, _)| {
            let shared = seed.intersection(&words).count() as f32;
            let all = seed.union(&words).count() as f32;
            all > 0.0 && shared / all >= SIMILAR
                || (all == 0.0 && words.is_empty() && seed.is_empty())
        });
        match similar {
            Some((_, group)) => {
                group.count += 1;
                if !group.kinds.contains(&entry.kind) {
                    group.kinds.push(entry.kind);
                }
                let normalized = plain(&entry.question);
                if group.examples.len() < 3
                    && normalized != plain(&group.question)
                    && !group.examples.iter().any(|e| plain(e) == normalized)
                {
                    group.examples.push(entry.question);
                }
                if group.conversations.len() < 5
                    && !group.conversations.contains(&entry.conversation)
                {
                    group.conversations.push(entry.conversation);
                }
            }
            None => groups.push((
                words,
                GapGroup {
                    question: entry.question,
                    count: 1,
                    kinds: vec![entry.kind],
                    examples: Vec::new(),
                    conversations: vec![entry.conversation],
                },
            )),
        }
    }
    let mut out: Vec<GapGroup> = groups.into_iter().map(|(_, g)| g).collect();
    // Stable: equal counts keep newest first.
    out.sort_by_key(|g| std::cmp::Reverse(g.count));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(question: &str, n: u128) -> GapEntry {
        GapEntry {
            question: question.into(),
            kind: "no_answer".into(),
            conversation: ConversationId(uuid::Uuid::from_u128(n)),
        }
    }

    #[test]
    fn alike_questions_group_and_the_most_asked_come_first() {
        let groups = group([
            entry("Do you sell gift cards?", 1),
            entry("what payment methods do you accept", 2),
            entry("do you sell gift cards", 3),
            entry("Gift cards for sale?", 4),
            entry("which payment methods do you accept?", 5),
            entry("do you sell gift cards?", 6),
            entry("can I bring my dog", 7),
        ]);
        assert_eq!(groups.len(), 3, "{groups:#?}");
        assert_eq!(groups[0].question, "Do you sell gift cards?");
        assert_eq!(groups[0].count, 4);
        assert_eq!(groups[0].examples, vec!["Gift cards for sale?"]);
        assert_eq!(groups[0].conversations.len(), 4);
        assert_eq!(groups[1].count, 2);
        assert_eq!(groups[2].question, "can I bring my dog");
    }
}
