use std::collections::{HashMap, HashSet};
use std::path::Path;

use bm25::{DefaultTokenizer, Language, SearchEngine, SearchEngineBuilder, Tokenizer};
use serde::{Deserialize, Serialize};

use super::load::{self, KnowledgeError};

/// One retrievable piece of knowledge: a `##` section or a FAQ pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// Stable id: `<file stem>/<slug of the title>`.
    pub id: String,
    pub title: String,
    pub body: String,
}

impl Article {
    pub fn new(source: &str, title: &str, body: String) -> Self {
        let slug: String = title
            .chars()
            .map(|c| {
                if c.is_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        Self {
            id: format!("{source}/{slug}"),
            title: title.to_string(),
            body,
        }
    }
}

/// A retrieved article with its scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    pub article_id: String,
    pub title: String,
    pub text: String,
    /// Raw BM25 score (only comparable within one query).
    pub score: f32,
    /// 0.0 to 1.0: how much of the query (weighted by rarity) the article covers.
    pub confidence: f32,
}

/// Articles, store policies and a BM25 index over them.
pub struct KnowledgeBase {
    articles: Vec<Article>,
    policies: Vec<Article>,
    engine: SearchEngine<u32>,
    tokenizer: DefaultTokenizer,
    /// Per article, its distinct terms (for the confidence measure).
    terms: Vec<HashSet<String>>,
    /// In how many articles each term appears.
    document_frequency: HashMap<String, usize>,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("articles", &self.articles.len())
            .field("policies", &self.policies.len())
            .finish()
    }
}

/// Weight of a query word that no article contains: it cannot be matched,
/// so it lowers the confidence, but less than a rare matched word raises it.
const UNKNOWN_TERM_WEIGHT: f32 = 1.0;

impl KnowledgeBase {
    /// Builds a knowledge base from articles; `policies` are quoted in every
    /// system prompt as the shop's store policies.
    pub fn new(articles: Vec<Article>, policies: Vec<Article>) -> Self {
        let mut articles = articles;
        // Ids must be unique for logs and citations.
        let mut seen: HashMap<String, usize> = HashMap::new();
        for article in &mut articles {
            let n = seen.entry(article.id.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                article.id = format!("{}-{}", article.id, n);
            }
        }
        let tokenizer = DefaultTokenizer::new(Language::English);
        let indexed: Vec<String> = articles
            .iter()
            // The title counts twice: it says what the article is about.
            .map(|a| format!("{}\n{}\n{}", a.title, a.title, a.body))
            .collect();
        let terms: Vec<HashSet<String>> = indexed
            .iter()
            .map(|text| tokenizer.tokenize(text).into_iter().collect())
            .collect();
        let mut document_frequency: HashMap<String, usize> = HashMap::new();
        for set in &terms {
            for term in set {
                *document_frequency.entry(term.clone()).or_insert(0) += 1;
            }
        }
        let engine = SearchEngineBuilder::<u32>::with_tokenizer_and_documents(
            DefaultTokenizer::new(Language::English),
            indexed
                .into_iter()
                .enumerate()
                .map(|(i, text)| bm25::Document::new(i as u32, text)),
        )
        .build();
        Self {
            articles,
            policies,
            engine,
            tokenizer,
            terms,
            document_frequency,
        }
    }

    /// Loads a directory: every `*.md` file (each `##` section an article)
    /// and an optional `faq.yaml` / `faq.yml` / `faq.json` of
    /// `{question, answer}` pairs. Sections of `policies.md` are also the
    /// store policies.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, KnowledgeError> {
        let (articles, policies) = load::read_dir(dir.as_ref())?;
        Ok(Self::new(articles, policies))
    }

    /// Builds from Markdown text held in memory.
    pub fn from_markdown(source: &str, markdown: &str) -> Self {
        let articles = load::markdown_articles(source, markdown);
        Self::new(articles, Vec::new())
    }

    /// The demo shop: the seed apps' policies (ships to USA, India and Europe;
    /// delivery 5-7 business days; returns within 14 days; support
    /// Monday-Friday 9am-6pm IST) and a few order and account articles.
    pub fn demo() -> Self {
        let policies = load::markdown_articles(
            load::POLICIES_FILE,
            include_str!("../../knowledge/demo/policies.md"),
        );
        let mut articles = policies.clone();
        articles.extend(load::markdown_articles(
            "orders",
            include_str!("../../knowledge/demo/orders.md"),
        ));
        // The demo FAQ is ours and known to parse; a failure would only drop it.
        if let Ok(faq) = load::faq_articles(
            "faq",
            Path::new("faq.yaml"),
            include_str!("../../knowledge/demo/faq.yaml"),
        ) {
            articles.extend(faq);
        }
        Self::new(articles, policies)
    }

    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    pub fn policies(&self) -> &[Article] {
        &self.policies
    }

    pub fn len(&self) -> usize {
        self.articles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.articles.is_empty()
    }

    /// The `k` best passages for `query`, best first. Articles sharing no
    /// term with the query are never returned.
    pub fn search(&self, query: &str, k: usize) -> Vec<Passage> {
        if k == 0 || self.articles.is_empty() {
            return Vec::new();
        }
        let query_terms: HashSet<String> = self.tokenizer.tokenize(query).into_iter().collect();
        if query_terms.is_empty() {
            return Vec::new();
        }
        let n = self.articles.len() as f32;
        let weight = |term: &String| match self.document_frequency.get(term) {
            Some(&df) => (1.0 + n / df as f32).ln(),
            None => UNKNOWN_TERM_WEIGHT,
        };
        let total: f32 = query_terms.iter().map(weight).sum();
        self.engine
            .search(query, k)
            .into_iter()
            .filter_map(|result| {
                let index = result.document.id as usize;
                let article = self.articles.get(index)?;
                let covered: f32 = query_terms
                    .iter()
                    .filter(|t| self.terms[index].contains(*t))
                    .map(weight)
                    .sum();
                Some(Passage {
                    article_id: article.id.clone(),
                    title: article.title.clone(),
                    text: article.body.clone(),
                    score: result.score,
                    confidence: if total > 0.0 { covered / total } else { 0.0 },
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_answers_the_seed_policies() {
        let kb = KnowledgeBase::demo();
        for (query, expect) in [
            ("Do you ship to India?", "India"),
            ("how long does delivery take", "5-7 business days"),
            ("what's your return policy", "14 days"),
            ("when is support open?", "9am"),
        ] {
            let top = &kb.search(query, 3)[0];
            assert!(top.text.contains(expect), "{query:?} -> {top:?}");
            assert!(top.confidence > 0.5, "{query:?} -> {top:?}");
        }
        assert!(kb.policies().len() >= 4);
    }

    #[test]
    fn unrelated_questions_find_little() {
        let kb = KnowledgeBase::demo();
        let best = kb
            .search("can I bring my llama to the quantum physics lecture", 1)
            .first()
            .map_or(0.0, |p| p.confidence);
        assert!(best < 0.3, "{best}");
        assert!(kb.search("", 3).is_empty());
        assert!(
            kb.search("the and of", 3).is_empty(),
            "stop words alone match nothing"
        );
    }

    #[test]
    fn markdown_sections_are_articles_and_fences_are_not_headings() {
        let kb = KnowledgeBase::from_markdown(
            "guide",
            "# Title\nintro\n## First\none\n```\n## not a heading\n```\n## Second\ntwo\n## Empty\n",
        );
        let titles: Vec<&str> = kb.articles().iter().map(|a| a.title.as_str()).collect();
        assert_eq!(titles, vec!["First", "Second"]);
        assert!(kb.articles()[0].body.contains("## not a heading"));
        assert_eq!(kb.articles()[1].id, "guide/second");
    }

    #[test]
    fn loads_a_directory_with_faq_files() {
        let dir = std::env::temp_dir().join(format!("spur-kb-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("policies.md"), "## Shipping\nWe ship to Mars.\n").unwrap();
        std::fs::write(
            dir.join("faq.json"),
            r#"[{"question":"Do you gift wrap?","answer":"Yes, for free."}]"#,
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let kb = KnowledgeBase::from_dir(&dir).unwrap();
        assert_eq!(kb.len(), 2);
        assert_eq!(kb.policies().len(), 1);
        assert_eq!(kb.search("gift wrap", 1)[0].text, "Yes, for free.");

        std::fs::write(dir.join("faq.json"), r#"{"oops": 1}"#).unwrap();
        assert!(matches!(
            KnowledgeBase::from_dir(&dir),
            Err(KnowledgeError::Faq { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            KnowledgeBase::from_dir(&dir),
            Err(KnowledgeError::Io { .. })
        ));
    }
}
