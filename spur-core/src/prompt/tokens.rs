//! Token counting: exact OpenAI counts with the `tokenizer` feature
//! (bpe-openai), a byte-based estimate without it (the wasm widget).

use std::sync::Arc;

use crate::conversation::{Message, TextTokens};

/// Counts tokens the way the target model does.
pub trait TokenCounter: Send + Sync {
    fn count(&self, text: &str) -> usize;

    /// The exact encoding's name ("o200k_base"), or `None` for estimates,
    /// whose counts are never stored.
    fn encoding_name(&self) -> Option<&'static str> {
        None
    }

    /// The count to store with a new message's text.
    fn text_tokens(&self, text: &str) -> Option<TextTokens> {
        let encoding = self.encoding_name()?;
        Some(TextTokens {
            encoding: encoding.to_string(),
            tokens: u32::try_from(self.count(text)).unwrap_or(u32::MAX),
        })
    }

    /// A message's text tokens: the stored count when it was made with this
    /// encoding, else counted now.
    fn message_tokens(&self, message: &Message) -> usize {
        match (&message.meta.text_tokens, self.encoding_name()) {
            (Some(stored), Some(mine)) if stored.encoding == mine => stored.tokens as usize,
            _ => self.count(&message.text),
        }
    }

    /// The count if it is at most `limit`, else `None`. Implementations may
    /// stop early on long texts.
    fn count_within(&self, text: &str, limit: usize) -> Option<usize> {
        let n = self.count(text);
        (n <= limit).then_some(n)
    }
}

/// About four bytes per token: a safe-side estimate when no tokenizer is built in.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApproxTokenCounter;

impl TokenCounter for ApproxTokenCounter {
    fn count(&self, text: &str) -> usize {
        text.len().div_ceil(4)
    }
}

/// The OpenAI encodings bpe-openai knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Cl100k,
    O200k,
}

impl Encoding {
    /// The encoding a model uses. Unknown models (local servers, other
    /// vendors) get o200k, the current OpenAI encoding, as the closest estimate.
    pub fn for_model(model: &str) -> Self {
        let m = model.to_ascii_lowercase();
        let m = m.rsplit('/').next().unwrap_or(&m);
        let cl100k = (m.starts_with("gpt-4")
            && !m.starts_with("gpt-4o")
            && !m.starts_with("gpt-4.")
            && !m.starts_with("gpt-4-o"))
            || m.starts_with("gpt-3.5")
            || m.starts_with("text-embedding")
            || m.starts_with("gpt-35");
        if cl100k { Self::Cl100k } else { Self::O200k }
    }
}

#[cfg(feature = "tokenizer")]
mod exact {
    use super::{Encoding, TokenCounter};

    /// Exact counts with bpe-openai.
    #[derive(Clone, Copy)]
    pub struct BpeTokenCounter {
        /// Lazy: with `tokenizer-compact` the first call builds the tables.
        tokenizer: fn() -> &'static bpe_openai::Tokenizer,
        encoding: Encoding,
    }

    impl std::fmt::Debug for BpeTokenCounter {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("BpeTokenCounter")
                .field("encoding", &self.encoding)
                .finish()
        }
    }

    impl BpeTokenCounter {
        /// The counter of `encoding`. With `tokenizer-compact` its tables are
        /// built on the first call (under a second; see `token_tables`).
        pub fn new(encoding: Encoding) -> Self {
            #[cfg(feature = "tokenizer-compact")]
            use crate::prompt::token_tables::{cl100k_base, o200k_base};
            #[cfg(not(feature = "tokenizer-compact"))]
            use bpe_openai::{cl100k_base, o200k_base};
            let tokenizer = match encoding {
                Encoding::Cl100k => cl100k_base,
                Encoding::O200k => o200k_base,
            };
            Self {
                tokenizer,
                encoding,
            }
        }

        pub fn encoding(&self) -> Encoding {
            self.encoding
        }
    }

    impl TokenCounter for BpeTokenCounter {
        fn count(&self, text: &str) -> usize {
            (self.tokenizer)().count(text)
        }

        fn encoding_name(&self) -> Option<&'static str> {
            Some(match self.encoding {
                Encoding::Cl100k => "cl100k_base",
                Encoding::O200k => "o200k_base",
            })
        }

        fn count_within(&self, text: &str, limit: usize) -> Option<usize> {
            let tokenizer = (self.tokenizer)();
            tokenizer.count_till_limit(&tokenizer.normalize(text), limit)
        }
    }
}

#[cfg(feature = "tokenizer")]
pub use exact::BpeTokenCounter;

/// The best counter this build has for `model` (one shared instance per encoding).
pub fn for_model(model: &str) -> Arc<dyn TokenCounter> {
    #[cfg(feature = "tokenizer")]
    {
        use std::sync::OnceLock;
        static O200K: OnceLock<Arc<dyn TokenCounter>> = OnceLock::new();
        static CL100K: OnceLock<Arc<dyn TokenCounter>> = OnceLock::new();
        let encoding = Encoding::for_model(model);
        let slot = match encoding {
            Encoding::O200k => &O200K,
            Encoding::Cl100k => &CL100K,
        };
        Arc::clone(slot.get_or_init(|| {
            // Built tables take under a second: build them beside the caller
            // (usually an engine being set up) so the first turn finds them
            // ready. The thread only fills a static; nothing waits for it.
            #[cfg(feature = "tokenizer-compact")]
            let _ = std::thread::Builder::new()
                .name("spur-token-tables".into())
                .spawn(move || BpeTokenCounter::new(encoding).count(""));
            Arc::new(BpeTokenCounter::new(encoding))
        }))
    }
    #[cfg(not(feature = "tokenizer"))]
    {
        let _ = model;
        Arc::new(ApproxTokenCounter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_encoding_by_model() {
        assert_eq!(Encoding::for_model("gpt-4o-mini"), Encoding::O200k);
        assert_eq!(Encoding::for_model("openai/gpt-4.1"), Encoding::O200k);
        assert_eq!(Encoding::for_model("gpt-4-turbo"), Encoding::Cl100k);
        assert_eq!(Encoding::for_model("gpt-3.5-turbo"), Encoding::Cl100k);
        assert_eq!(Encoding::for_model("llama3.1:8b"), Encoding::O200k);
    }

    #[test]
    fn exact_counts_match_known_values() {
        // "hello world" is two tokens in both encodings.
        assert_eq!(for_model("gpt-4o-mini").count("hello world"), 2);
        assert_eq!(for_model("gpt-3.5-turbo").count("hello world"), 2);
        let counter = for_model("gpt-4o");
        let long = "word ".repeat(1000);
        assert_eq!(counter.count_within(&long, 10), None);
        assert_eq!(counter.count_within("hello world", 10), Some(2));
        assert_eq!(ApproxTokenCounter.count("12345678"), 2);
    }
}
