//! OpenAI tokenizers rebuilt at first use from the token lists `build.rs`
//! writes: the same tables bpe-openai prebuilds, without its 47 MB in the
//! binary (about 0.3 s for cl100k and 0.8 s for o200k, once per process, in
//! a release build). The patterns and the hash factor are bpe-openai 0.3's;
//! a test checks the counts against its prebuilt tokenizers.

use std::sync::LazyLock;

use bpe_openai::Tokenizer;
use bpe_openai::byte_pair_encoding::BytePairEncoding;

/// The factor bpe-openai's build hashes every encoding's tokens with
/// (collision-free for these dictionaries).
const HASH_FACTOR: u64 = 17_846_336_922_010_275_747;

static CL100K_LIST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.tokens"));
static O200K_LIST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.tokens"));

static CL100K: LazyLock<Tokenizer> = LazyLock::new(|| {
    let pat1 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+$";
    build(CL100K_LIST, pat1)
});

static O200K: LazyLock<Tokenizer> = LazyLock::new(|| {
    let pat1 = [
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        "\\p{N}{1,3}",
        " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*",
        "\\s*[\\r\\n]+",
        "\\s+$",
    ]
    .join("|");
    build(O200K_LIST, &pat1)
});

/// cl100k, built on the first call.
pub(crate) fn cl100k_base() -> &'static Tokenizer {
    &CL100K
}

/// o200k, built on the first call.
pub(crate) fn o200k_base() -> &'static Tokenizer {
    &O200K
}

fn build(list: &'static [u8], pat1: &str) -> Tokenizer {
    let bpe = BytePairEncoding::from_dictionary(tokens(list), Some(HASH_FACTOR));
    // tiktoken's `\s+(?!\S)` as bpe-openai writes it: a look-ahead pattern
    // whose last character is dropped from the match.
    let patterns = [(pat1, false), ("\\s+\\s", true), ("\\s+", false)];
    // The patterns are constants that bpe-openai compiles the same way.
    #[allow(clippy::expect_used)]
    Tokenizer::new_lookahead(bpe, &patterns, false).expect("bpe-openai's patterns compile")
}

/// The list's tokens in id order: each a `u16` little-endian length, then its bytes.
fn tokens(mut list: &'static [u8]) -> impl Iterator<Item = Vec<u8>> {
    std::iter::from_fn(move || {
        let (len, rest) = list.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_le_bytes(*len));
        let (token, rest) = rest.split_at_checked(len)?;
        list = rest;
        Some(token.to_vec())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts that exercise every pattern: contractions, numbers, punctuation
    /// runs, newlines, trailing and repeated whitespace, other scripts, emoji.
    const SAMPLES: &[&str] = &[
        "Where's my order #40213? I've waited 12345 days!!!\n\nThanks,\n  Priya  ",
        "Rückgabe innerhalb von 14 Tagen — Versand nach Österreich: 4,90 €.",
        "配送には5〜7営業日かかります。返品は14日以内です。",
        "¿Dónde está mi pedido? Envío a España peninsular 🇪🇸 🚚\t\t\r\n",
        "CamelCaseWords and ALLCAPS and x=y+z/2 \"quoted\" 'single' I'M HERE",
        "   leading spaces\n\n\n   and trailing   \n",
        "मेरा ऑर्डर कहाँ है? refund kab milega bhai",
    ];

    #[test]
    fn rebuilt_tables_count_like_the_prebuilt_ones() {
        let shop = [
            include_str!("../../knowledge/demo/policies.md"),
            include_str!("../../knowledge/demo/orders.md"),
            include_str!("../../knowledge/demo/faq.yaml"),
        ];
        for (rebuilt, prebuilt) in [
            (cl100k_base(), bpe_openai::cl100k_base()),
            (o200k_base(), bpe_openai::o200k_base()),
        ] {
            assert_eq!(rebuilt.bpe.num_tokens(), prebuilt.bpe.num_tokens());
            for text in SAMPLES.iter().chain(&shop) {
                assert_eq!(
                    rebuilt.encode(text),
                    prebuilt.encode(text),
                    "{} tokens, on {text:?}",
                    prebuilt.bpe.num_tokens()
                );
            }
        }
    }
}
