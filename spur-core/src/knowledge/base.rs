use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::dense::{self, DenseIndex, EmbeddingError, TextEmbedder};
use super::load::{self, KnowledgeError};
use super::search::Index;
use super::{excerpt, fusion};
use crate::facts::ShopFacts;

/// One retrievable piece of knowledge: a `##` section or a FAQ pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// Stable id: `<file stem>/<slug of the title>`.
    pub id: String,
    pub title: String,
    pub body: String,
}

impl Article {
    /// NUL characters are dropped (PostgreSQL cannot store them, and a
    /// PDF or page may carry them into a quoted reply).
    pub fn new(source: &str, title: &str, body: String) -> Self {
        let body = if body.contains('\0') {
            body.replace('\0', "")
        } else {
            body
        };
        let title = title.replace('\0', "");
        let title = title.as_str();
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
    /// Ranking score (coverage, then BM25); only comparable within one query.
    pub score: f32,
    /// 0.0 to 1.0: the weighted share of the question's ideas the article covers.
    pub confidence: f32,
    /// 0.0 to 1.0: the share its title covers (what the section is about).
    #[serde(default)]
    pub title_coverage: f32,
    /// The sentences that answer the question (what the offline responder quotes).
    #[serde(default)]
    pub excerpt: String,
    /// Facts about places in the question ("Lyon is in France.").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// -1.0 to 1.0: cosine similarity of the question and the passage, when
    /// an embedding model is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// -1.0 to 1.0: cosine similarity of the question and the passage's
    /// closest sentence (read under its heading), when an embedding model
    /// is configured: a whole section's vector blurs what each sentence
    /// says, so this is the measure of "this passage says what was asked".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<f32>,
}

/// Articles, store policies, the operator's facts and the index over them.
pub struct KnowledgeBase {
    articles: Vec<Article>,
    policies: Vec<Article>,
    facts: ShopFacts,
    index: Index,
    /// Vectors of the articles, when an embedding model is configured.
    dense: Option<DenseIndex>,
    /// Files that could not be read (the others were).
    problems: Vec<KnowledgeError>,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("articles", &self.articles.len())
            .field("policies", &self.policies.len())
            .field("problems", &self.problems.len())
            .field("dense", &self.dense)
            .finish()
    }
}

/// The id of the article written from the operator's facts.
pub const FACTS_ARTICLE_ID: &str = "shop/support-hours-and-contact";

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
        let index = Index::new(
            articles
                .iter()
                // The title counts twice: it says what the article is about.
                .map(|a| {
                    (
                        a.title.clone(),
                        format!("{}\n{}\n{}", a.title, a.title, a.body),
                    )
                })
                .collect(),
        );
        Self {
            articles,
            policies,
            facts: ShopFacts::default(),
            index,
            dense: None,
            problems: Vec::new(),
        }
    }

    /// Adds dense retrieval: every article is embedded now (title and
    /// body), each question when searched, and the lexical and dense
    /// rankings are fused (reciprocal rank fusion).
    pub fn with_embedder(mut self, embedder: Arc<dyn TextEmbedder>) -> Self {
        let texts = self.section_texts();
        self.dense = Some(DenseIndex::build(
            embedder,
            texts.iter().map(String::as_str),
        ));
        self
    }

    /// [`Self::with_embedder`] for a model reached over the network: the
    /// sections and their sentences are embedded first (in batches; texts
    /// the model has seen are not sent again).
    pub async fn with_remote_embedder(
        self,
        embedder: Arc<dyn TextEmbedder>,
    ) -> Result<Self, EmbeddingError> {
        if let Some(remote) = embedder.remote() {
            remote.prepare(&self.embedding_texts()).await?;
        }
        Ok(self.with_embedder(embedder))
    }

    /// Embeds `question` ahead of [`Self::search`] when the model is remote.
    /// A failure is logged and the search ranks lexically.
    pub async fn prepare_query(&self, question: &str) {
        let Some(remote) = self.embedder().and_then(|e| e.remote()) else {
            return;
        };
        if let Err(error) = remote.prepare_query(question).await {
            tracing::warn!(%error, "the question was not embedded; ranking lexically");
        }
    }

    /// What an article is embedded as: its title and body.
    fn section_texts(&self) -> Vec<String> {
        self.articles
            .iter()
            .map(|a| format!("{}. {}", a.title, a.body))
            .collect()
    }

    /// Every text search embeds: the sections, the sentences excerpts are
    /// chosen from, and the headings with each sentence under them (a
    /// passage's focus).
    pub fn embedding_texts(&self) -> Vec<String> {
        let mut texts = self.section_texts();
        for article in &self.articles {
            texts.push(article.title.clone());
            let sentences = excerpt::sentences(&article.body);
            texts.extend(sentences.iter().map(|s| s.to_string()));
            texts.extend(
                sentences
                    .iter()
                    .map(|s| dense::focus_text(&article.title, s)),
            );
        }
        texts
    }

    /// The embedding model in use, if any.
    pub fn embedder(&self) -> Option<&Arc<dyn TextEmbedder>> {
        self.dense.as_ref().map(DenseIndex::embedder)
    }

    /// Bytes held by the article vectors (0 without a model).
    pub fn vector_bytes(&self) -> usize {
        self.dense.as_ref().map_or(0, DenseIndex::vector_bytes)
    }

    /// The operator's facts (name, hours, contact). Hours and contact also
    /// become an article and a policy, so retrieval and prompts state them.
    pub fn with_facts(self, facts: ShopFacts) -> Self {
        let mut articles: Vec<Article> = self
            .articles
            .into_iter()
            .filter(|a| a.id != FACTS_ARTICLE_ID)
            .collect();
        let mut policies: Vec<Article> = self
            .policies
            .into_iter()
            .filter(|a| a.id != FACTS_ARTICLE_ID)
            .collect();
        let mut body = String::new();
        if let Some(label) = facts.hours_label() {
            body.push_str(&format!(
                "Our support team is available {label}. Outside those hours the assistant \
                 answers and a person follows up when the team is back."
            ));
        }
        if !facts.holidays.is_empty() {
            body.push_str(&format!(
                " The team is off on {}.",
                facts.holidays.join(", ")
            ));
        }
        if let Some(contact) = &facts.contact {
            body.push_str(&format!(" You can contact us at {contact}."));
        }
        if !body.trim().is_empty() {
            let mut article = Article::new("shop", "Support hours and contact", body.trim().into());
            article.id = FACTS_ARTICLE_ID.into();
            policies.push(article.clone());
            articles.push(article);
        }
        let problems = self.problems;
        let embedder = self.dense.map(|d| Arc::clone(d.embedder()));
        let mut kb = Self::new(articles, policies);
        #[cfg(feature = "places")]
        kb.index.set_home(facts.time_zone.as_deref());
        kb.facts = facts;
        kb.problems = problems;
        match embedder {
            Some(embedder) => kb.with_embedder(embedder),
            None => kb,
        }
    }

    /// Loads a directory: every `*.md` file (each `##` section an article)
    /// and an optional `faq.yaml` / `faq.yml` / `faq.json` of
    /// `{question, answer}` pairs. Sections of `policies.md` are also the
    /// store policies.
    ///
    /// An optional `shop.yaml` / `shop.json` holds the operator's facts
    /// ([`ShopFacts`]). A file that cannot be read or parsed is skipped and
    /// reported in [`Self::problems`]; only a directory with no article at
    /// all is an error.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, KnowledgeError> {
        let loaded = load::read_dir(dir.as_ref())?;
        let mut kb = Self::new(loaded.articles, loaded.policies);
        kb.problems = loaded.problems;
        Ok(match loaded.facts {
            Some(facts) => kb.with_facts(facts),
            None => kb,
        })
    }

    /// Files skipped while loading, each naming its file.
    pub fn problems(&self) -> &[KnowledgeError] {
        &self.problems
    }

    pub fn facts(&self) -> &ShopFacts {
        &self.facts
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
        let mut kb = Self::new(articles, policies);
        // The demo's hours are already a section of its policies.
        kb.facts = ShopFacts::demo();
        kb
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

    /// The `k` best passages for `query`, best first. Without an embedding
    /// model, articles covering none of the question's ideas are never
    /// returned; with one, the lexical and dense rankings are fused and an
    /// article may come from either.
    pub fn search(&self, query: &str, k: usize) -> Vec<Passage> {
        if k == 0 || self.articles.is_empty() {
            return Vec::new();
        }
        let analysed = self.index.analyse(query);
        let Some(dense) = &self.dense else {
            return self
                .index
                .rank(&analysed, k)
                .into_iter()
                .filter_map(|(i, confidence, score)| {
                    self.passage(&analysed, i, score, confidence, None)
                })
                .collect();
        };
        let lexical = self.index.rank(&analysed, fusion::CANDIDATES.max(k));
        let question = dense.embed(query);
        let similarities = dense.similarities(&question);
        fusion::fuse(&lexical, &similarities, k)
            .into_iter()
            .filter_map(|hit| {
                let mut passage = self.passage(
                    &analysed,
                    hit.index,
                    hit.score,
                    hit.coverage,
                    Some((dense, &question)),
                )?;
                passage.similarity = Some(hit.similarity);
                Some(passage)
            })
            .collect()
    }

    /// The passage of article `i`; with a model (and the question's
    /// vector), its excerpt weighs closeness and its focus is measured.
    fn passage(
        &self,
        analysed: &super::search::Query,
        i: usize,
        score: f32,
        confidence: f32,
        dense: Option<(&DenseIndex, &[f32])>,
    ) -> Option<Passage> {
        let article = self.articles.get(i)?;
        let title_coverage = self.index.title_coverage(analysed, &article.title);
        let sentences = excerpt::Sentences::read(&self.index, &article.body);
        // A section whose heading names none of the question's ideas
        // addresses it only if one sentence does: "14 days from delivery"
        // and "made-to-order pieces" in two sentences of a returns policy
        // do not answer "how long till my order arrives?".
        let confidence = if title_coverage > 0.0 {
            confidence
        } else {
            sentences.best_coverage(analysed).min(confidence)
        };
        let closeness = dense
            .map(|(dense, question)| move |sentence: &str| dense.similarity(question, sentence));
        let closeness = closeness.as_ref().map(|c| c as &dyn Fn(&str) -> f32);
        let focus =
            dense.map(|(dense, question)| dense.focus(question, &article.title, sentences.all()));
        Some(Passage {
            article_id: article.id.clone(),
            title: article.title.clone(),
            text: article.body.clone(),
            score,
            confidence,
            title_coverage,
            excerpt: excerpt::excerpt_of(analysed, &article.body, &sentences, closeness),
            notes: analysed.notes.clone(),
            similarity: None,
            focus,
        })
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

    /// Questions worded unlike the knowledge find the section that answers,
    /// and words shared by accident find nothing.
    #[test]
    fn customers_wording_meets_the_knowledge() {
        let kb = KnowledgeBase::from_markdown(
            "policies",
            "## Where we post to\nWe post books to Ireland and the European Union. \
             We cannot post to the United States.\n\n\
             ## How long delivery takes\nParcels take 4 to 8 working days; Canada Post \
             takes longer.\n\n\
             ## Returning a book\nBooks can be sent back within 30 days.\n\n\
             ## Pre-orders\nBooks can be pre-ordered up to six months ahead.\n\n\
             ## Gift vouchers\nGift vouchers from EUR 10, valid for five years.\n",
        );
        let best = |q: &str| {
            kb.search(q, 1)
                .first()
                .map(|p| (p.title.clone(), p.confidence, p.title_coverage))
        };
        // "post" is how this shop says shipping; New York is a US state,
        // not York in England.
        let (title, confidence, _) = best("shipping to New York?").unwrap();
        assert_eq!(title, "Where we post to");
        assert!(confidence >= 0.99, "{confidence}");
        // The words of a phrase, stemmed ("sending it back" says "send it
        // back"): the heading "Returning" then names the idea.
        let (title, _, heading) = best("who pays for sending it back").unwrap();
        assert_eq!(title, "Returning a book");
        assert!(heading > 0.0, "{heading}");
        // Closed and hyphenated compounds are one word, in headings too.
        let (title, confidence, heading) = best("can I preorder a book").unwrap();
        assert_eq!(title, "Pre-orders");
        assert!(confidence > 0.5 && heading > 0.0, "{confidence} {heading}");
        // A phrase of the customers' wording matches as a phrase.
        assert_eq!(best("do you do gift cards").unwrap().0, "Gift vouchers");
        // A gift voucher is not money off.
        let discount = best("do you have a student discount");
        assert!(discount.as_ref().is_none_or(|d| d.1 < 0.5), "{discount:?}");

        // "outside Europe" speaks of Japan, not of France; "outside business
        // hours" of no place.
        let kb = KnowledgeBase::from_markdown(
            "policies",
            "## Countries\nWe ship to every EU country. We do not ship outside Europe.\n\n\
             ## Dispatch\nOrders placed outside business hours ship the next working day.\n",
        );
        let japan = kb.search("do you ship to Japan?", 1);
        assert_eq!(japan[0].title, "Countries");
        assert!(japan[0].confidence >= 0.99, "{japan:?}");
        assert!(japan[0].excerpt.contains("outside Europe"), "{japan:?}");
        let kb = KnowledgeBase::from_markdown(
            "policies",
            "## Dispatch\nOrders placed outside business hours ship the next working day.\n",
        );
        assert!(
            kb.search("do you ship to Japan?", 1)
                .iter()
                .all(|p| p.confidence < 0.99)
        );

        // "United States" does not name the United Kingdom, in a body or a
        // heading, even when another section says "kingdom".
        let kb = KnowledgeBase::from_markdown(
            "policies",
            "## United States shipping\nWe ship to the United States.\n\n\
             ## Our story\nA small kingdom of yarn.\n",
        );
        for p in kb.search("do you ship to the United Kingdom?", 3) {
            assert!(p.confidence < 0.99, "{p:?}");
            assert!(p.title_coverage < 0.99, "{p:?}");
        }
    }

    /// What a passage says without the question's words: an amount is a
    /// price, "any other country" covers places the knowledge never names,
    /// a heading all about the question beats one that mentions it.
    #[test]
    fn passages_answer_by_what_they_say() {
        let kb = KnowledgeBase::from_markdown(
            "policies",
            "## Where we send\nWe ship to New Zealand and Australia. We cannot send \
             anything to any other country.\n\n\
             ## Tea club\nA box of three teas every month for NZD 39. Skip a month \
             any time.\n\n\
             ## Can I change my delivery address after ordering?\nEmail us the day you \
             order and we change where your order will arrive.\n\n\
             ## Delivery times\nOrders leave the same day and arrive in 1 to 3 \
             working days.\n\n\
             ## Tasting room\nFree tastings on Saturdays. Bookings are needed for \
             groups of more than six.\n",
        );
        let best = |q: &str| kb.search(q, 1).into_iter().next();
        for (question, title) in [
            ("do u deliver to singapore", "Where we send"),
            ("I live in London, do you ship there?", "Where we send"),
            ("how much is the monthly box", "Tea club"),
            ("when will my order arrive", "Delivery times"),
            ("do I need to book for a group of 10", "Tasting room"),
            // Other languages' function words are no ideas either.
            ("wie lange dauert der Versand?", "Delivery times"),
            ("cuánto tarda el envío de un pedido", "Delivery times"),
        ] {
            let top = best(question).unwrap_or_else(|| panic!("{question}: nothing"));
            assert_eq!(top.title, title, "{question}: {top:?}");
            assert!(top.confidence >= 0.7, "{question}: {top:?}");
        }
        // A place the knowledge names is not "elsewhere".
        let top = best("do you ship to Sydney").unwrap();
        assert!(top.excerpt.contains("Australia"), "{top:?}");
    }

    /// Headings and bodies worded unlike the question, and places a
    /// country alone does not settle.
    #[test]
    fn sections_are_read_for_what_they_mean() {
        let kb = KnowledgeBase::from_markdown(
            "policies",
            "## Where our ceramics travel\nWe send our pieces to mainland Spain, Portugal \
             and France. We do not send to the Canary Islands or outside the European \
             Union.\n\n\
             ## When your parcel gets there\nEvery piece leaves our workshop within 2 \
             working days. Mainland Spain takes 2 to 4 working days, the rest of Europe \
             5 to 7.\n\n\
             ## Sending a piece back\nYou have 14 days from delivery to change your mind. \
             Made-to-order pieces cannot be returned.\n\n\
             ## Made-to-order pieces\nCustom dinner sets take 6 to 8 weeks.\n",
        );
        let best = |q: &str| kb.search(q, 1).into_iter().next();
        // A heading's phrase is its idea; "sending ... back" is a return,
        // not a shipment.
        let top = best("how long till my order arrives").unwrap();
        assert_eq!(top.title, "When your parcel gets there", "{top:?}");
        assert!(top.title_coverage > 0.0, "{top:?}");
        let returns = kb.search("how long till my order arrives", 4);
        let returns = returns.iter().find(|p| p.title == "Sending a piece back");
        assert!(
            returns.is_none_or(|p| p.title_coverage == 0.0),
            "{returns:?}"
        );
        let top = best("can I send a mug back?").unwrap();
        assert_eq!(top.title, "Sending a piece back", "{top:?}");
        // "outside the European Union" says more of Switzerland than "the
        // rest of Europe" does.
        let top = best("shipping to Switzerland?").unwrap();
        assert_eq!(top.title, "Where our ceramics travel", "{top:?}");
        // Tenerife is in Spain, but the knowledge splits Spain: "mainland
        // Spain" is no answer for it.
        let tenerife = best("can I order from Tenerife");
        assert!(
            tenerife.as_ref().is_none_or(|p| p.confidence < 0.5),
            "{tenerife:?}"
        );
        // A body that names the question's ideas in separate sentences,
        // under a heading that names none, does not answer it.
        let kb = KnowledgeBase::from_markdown(
            "policies",
            "## Changing your mind\nYou have 14 days from delivery to change your mind. \
             Made-to-order pieces cannot be sent back.\n",
        );
        let top = kb.search("how long till my order arrives", 1);
        let untitled = crate::llm::OfflineConfig::default().min_untitled_confidence;
        assert!(top.iter().all(|p| p.confidence < untitled), "{top:?}");
    }

    /// The shop's country comes from its time zone: any other is "abroad".
    /// And how British customers type: no apostrophes, "P&P", "spend".
    #[test]
    fn another_country_than_the_shops_is_abroad() {
        let text = "## Delivery areas\nWe deliver in England, Scotland and Wales. We do not \
                    deliver abroad.\n\n\
                    ## Delivery charges\nStandard delivery is GBP 3.99 per order, free on orders over GBP 35.\n\n\
                    ## Damaged deliveries\nSend us a photo and we send a replacement free of \
                    charge.\n";
        let london = ShopFacts {
            time_zone: Some("Europe/London".into()),
            ..ShopFacts::default()
        };
        let kb = KnowledgeBase::from_markdown("policies", text).with_facts(london);
        let answers = crate::llm::OfflineConfig::default().min_confidence;
        let top = &kb.search("can you deliver to my sister in Dublin", 1)[0];
        assert_eq!(top.title, "Delivery areas", "{top:?}");
        assert!(top.confidence >= answers, "{top:?}");
        // Without the shop's country, nothing says Dublin is abroad.
        let plain = KnowledgeBase::from_markdown("policies", text);
        let top = plain.search("can you deliver to my sister in Dublin", 1);
        assert!(top.iter().all(|p| p.confidence < answers), "{top:?}");

        for (question, title, least) in [
            ("whats the P&P on an order", "Delivery charges", 0.99),
            // "spend" is not a typo of "send" (the damaged-goods section).
            (
                "how much do I need to spend for free delivery",
                "Delivery charges",
                answers,
            ),
        ] {
            let top = &kb.search(question, 1)[0];
            assert_eq!(top.title, title, "{question}: {top:?}");
            assert!(top.confidence >= least, "{question}: {top:?}");
        }
        // A lone letter is no idea of the question.
        let top = &kb.search("delivery charges for order x", 1)[0];
        assert!(top.confidence >= 0.99, "{top:?}");
    }

    /// "Does it come with ...?" asks what is in the box, not when it comes.
    #[test]
    fn what_comes_in_the_box_is_not_a_delivery_question() {
        let kb = KnowledgeBase::from_markdown(
            "policies",
            "## Shipping cost and speed\nGround shipping is free and takes 3 to 5 business \
             days. Overnight shipping is USD 24.99.\n\n\
             ## Does the phone come with a charger?\nEach phone ships with a USB-C cable; \
             wall chargers are sold separately.\n",
        );
        let top = &kb.search("does it come with a charging brick", 1)[0];
        assert_eq!(top.title, "Does the phone come with a charger?", "{top:?}");
        let asked = kb.index.analyse("does it come with a cable?");
        let shipping = asked
            .concepts
            .iter()
            .any(|c| c.alternatives.iter().any(|a| a == "ship"));
        assert!(!shipping, "{asked:?}");
    }

    /// Words mapped to topics: a stand-in for a model that knows "regret
    /// buying" means a return, which no lexical rule here does.
    struct Topics;

    impl TextEmbedder for Topics {
        fn name(&self) -> &str {
            "topics"
        }
        fn dims(&self) -> usize {
            3
        }
        fn embed(&self, text: &str) -> Vec<f32> {
            let text = text.to_lowercase();
            let has = |words: &[&str]| words.iter().filter(|w| text.contains(*w)).count() as f32;
            vec![
                has(&["return", "regret"]),
                has(&["ship", "deliver", "parcel"]),
                has(&["pay", "card"]),
            ]
        }
    }

    #[test]
    fn an_embedding_model_finds_what_shares_no_word_and_survives_new_facts() {
        let markdown = "## Change of mind
Items can be returned within 30 days.
                        ## Shipping
We ship parcels to Canada.
                        ## Payment
We take cards.
";
        let lexical = KnowledgeBase::from_markdown("policies", markdown);
        assert!(lexical.search("I regret buying this", 3).is_empty());

        let kb = KnowledgeBase::from_markdown("policies", markdown).with_embedder(Arc::new(Topics));
        let found = kb.search("I regret buying this", 3);
        assert_eq!(found[0].title, "Change of mind", "{found:?}");
        assert!(found[0].similarity.unwrap() > 0.9, "{found:?}");
        assert_eq!(found[0].confidence, 0.0, "no word in common");
        assert_eq!(found.len(), 1, "unrelated sections stay out: {found:?}");
        assert_eq!(kb.vector_bytes(), 3 * 3 * 4);

        // Both rankings agree on payment; the lexical confidence is kept.
        let pay = &kb.search("can I pay by card?", 3)[0];
        assert_eq!(pay.title, "Payment");
        assert!(pay.confidence > 0.5, "{pay:?}");

        // Facts rebuild the articles; the model stays.
        let kb = kb.with_facts(ShopFacts {
            contact: Some("help@example.com".into()),
            ..ShopFacts::default()
        });
        assert_eq!(kb.embedder().map(|e| e.name()), Some("topics"));
        assert_eq!(kb.vector_bytes(), 4 * 3 * 4);
    }

    /// [`Topics`], remembering every text it was asked to embed.
    #[derive(Default)]
    struct Recording(std::sync::Mutex<Vec<String>>);

    impl TextEmbedder for Recording {
        fn name(&self) -> &str {
            "recording"
        }
        fn dims(&self) -> usize {
            3
        }
        fn embed(&self, text: &str) -> Vec<f32> {
            self.0.lock().unwrap().push(text.to_string());
            Topics.embed(text)
        }
    }

    #[test]
    fn a_search_embeds_only_the_question_and_texts_embedded_at_load() {
        // A slow or remote model embeds `embedding_texts` ahead; anything
        // else a search asks for would be a forward pass (or a zero vector)
        // in the middle of a turn.
        let markdown = "## Returns
Items can be returned within 30 days. Refunds take 5 days. Sale items are final.
## Shipping
We ship parcels to Canada. Delivery takes a week.
";
        let model = Arc::new(Recording::default());
        let kb = KnowledgeBase::from_markdown("policies", markdown).with_embedder(model.clone());
        let ahead: std::collections::HashSet<String> = kb.embedding_texts().into_iter().collect();
        model.0.lock().unwrap().clear();
        let question = "how long do refunds for a return take";
        let found = kb.search(question, 2);
        assert!(found[0].focus.is_some(), "{found:?}");
        let asked = model.0.lock().unwrap().clone();
        assert!(
            asked.iter().any(|t| t.starts_with("Returns: ")),
            "{asked:?}"
        );
        let unprepared: Vec<&String> = asked
            .iter()
            .filter(|t| *t != question && !ahead.contains(*t))
            .collect();
        assert!(unprepared.is_empty(), "{unprepared:?}");
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
        std::fs::write(dir.join("notes.txt"), "Gift wrapping paper is recycled.").unwrap();
        std::fs::write(dir.join("image.png"), "not text").unwrap();
        std::fs::write(
            dir.join("care.html"),
            "<html><head><script>var tracking = 1;</script></head><body><nav>Menu</nav>\
             <h2>Washing</h2><p>Wash jackets at <b>30 degrees</b>, see <a href=\"/x\">care</a>.</p>\
             </body></html>",
        )
        .unwrap();
        std::fs::write(
            dir.join("shop.yaml"),
            "name: Marsmart\ntime_zone: Europe/Berlin\nhours: Mon-Fri 08:00-16:00\ncontact: help@mars.example\n",
        )
        .unwrap();
        let kb = KnowledgeBase::from_dir(&dir).unwrap();
        // policies, the FAQ pair, notes.txt, care.html and the facts article.
        assert_eq!(kb.len(), 5);
        let washing = &kb.search("how should I wash my jacket", 1)[0];
        assert_eq!(washing.title, "Washing");
        assert_eq!(washing.text, "Wash jackets at 30 degrees, see care.");
        assert_eq!(kb.policies().len(), 2, "the shipping policy and the facts");
        assert_eq!(kb.facts().display_name(), "Marsmart");
        assert_eq!(kb.search("gift wrap", 1)[0].text, "Yes, for free.");
        let hours = &kb.search("when can I reach a person?", 1)[0];
        assert_eq!(hours.article_id, FACTS_ARTICLE_ID);
        assert!(
            hours.text.contains("08:00-16:00 (Berlin time)"),
            "{}",
            hours.text
        );
        assert!(kb.problems().is_empty());

        // One bad file is reported by name; the others still load.
        std::fs::write(dir.join("faq.json"), r#"{"oops": 1}"#).unwrap();
        std::fs::write(dir.join("shop.yaml"), "time_zone: Mars/Olympus\n").unwrap();
        let kb = KnowledgeBase::from_dir(&dir).unwrap();
        assert_eq!(kb.len(), 3);
        let problems: Vec<String> = kb.problems().iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("faq.json"), "{problems:?}");
        assert!(problems[1].contains("shop.yaml") && problems[1].contains("Mars/Olympus"));
        assert!(kb.facts().is_empty());
        // Nothing loadable at all is an error naming the bad file.
        for name in [
            "policies.md",
            "notes.txt",
            "care.html",
            "image.png",
            "shop.yaml",
        ] {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
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

    #[test]
    fn knowledge_text_carries_no_nul() {
        let article = Article::new("guide", "Care\0", "Wash\0 gently.".into());
        assert_eq!(
            (article.title.as_str(), article.body.as_str()),
            ("Care", "Wash gently.")
        );
    }
}
