//! Pure functions: token counting, classification, knowledge loading and
//! search. CPU-only; the GIL is released while they run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use spur_core::KnowledgeBase;
use spur_core::classify::{Label, LocalClassifier, Taxonomy};
use spur_core::knowledge::web::{WebFetcher, WebLimits};
use spur_core::knowledge::{TextEmbedder, local_model};
use spur_core::prompt::{PromptBuilder, PromptConfig, TokenCounter, tokens};

use crate::engine::{EmbeddingChoice, block_on, embedded};
use crate::errors::{config_error, web_error};
use crate::types::{Classification, Passage};

/// The demo shop, parsed and indexed once per process.
pub fn demo_knowledge() -> Arc<KnowledgeBase> {
    static DEMO: OnceLock<Arc<KnowledgeBase>> = OnceLock::new();
    Arc::clone(DEMO.get_or_init(|| Arc::new(KnowledgeBase::demo())))
}

fn default_classifier() -> &'static LocalClassifier {
    static DEFAULT: OnceLock<LocalClassifier> = OnceLock::new();
    DEFAULT.get_or_init(LocalClassifier::default)
}

/// Exact token count as `model` counts (o200k or cl100k).
#[pyfunction]
#[pyo3(signature = (text, model = "gpt-4o-mini"))]
pub fn count_tokens(py: Python<'_>, text: &str, model: &str) -> usize {
    let counter = tokens::for_model(model);
    py.detach(|| counter.count(text))
}

/// Labels from `["billing", "shipping"]` (names only) or
/// `{"shipping": ["parcel", "delivery"], ...}` (names with keywords).
fn labels(categories: &Bound<'_, PyAny>) -> PyResult<Vec<Label>> {
    if let Ok(dict) = categories.cast::<PyDict>() {
        let mut out = Vec::new();
        for (name, keywords) in dict.iter() {
            let name: String = name.extract()?;
            let keywords: Vec<String> = keywords.extract()?;
            let mut label = Label::new(name.clone(), name);
            label.keywords = keywords.into_iter().map(|k| (k, 1.0)).collect();
            out.push(label);
        }
        return Ok(out);
    }
    if let Ok(list) = categories.cast::<PyList>() {
        return list
            .iter()
            .map(|name| {
                let name: String = name.extract()?;
                Ok(Label::new(name.clone(), name))
            })
            .collect();
    }
    Err(PyTypeError::new_err(
        "categories must be a list of names or a dict of name -> keywords",
    ))
}

/// Category, priority and confidence from the offline classifier; with
/// `categories`, over your own labels instead of billing/technical/general.
#[pyfunction]
#[pyo3(signature = (text, categories = None))]
pub fn classify(
    py: Python<'_>,
    text: &str,
    categories: Option<&Bound<'_, PyAny>>,
) -> PyResult<Classification> {
    let Some(categories) = categories else {
        return Ok(py
            .detach(|| default_classifier().classify_text(text))
            .into());
    };
    let taxonomy = Taxonomy::with_categories(labels(categories)?)
        .map_err(|e| config_error(format!("categories: {e}")))?;
    let classifier =
        LocalClassifier::new(taxonomy).map_err(|e| config_error(format!("categories: {e}")))?;
    Ok(py.detach(|| classifier.classify_text(text)).into())
}

/// The built-in taxonomy: categories and priorities with their weighted
/// keyword phrases, the defaults, as plain dicts (to read, or to start your
/// own `classify(categories=...)` from).
#[pyfunction]
pub fn default_taxonomy(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let taxonomy = default_classifier().taxonomy();
    let labels = |labels: &[Label]| -> PyResult<Bound<'_, PyList>> {
        let out = PyList::empty(py);
        for label in labels {
            let d = PyDict::new(py);
            d.set_item("name", &label.name)?;
            d.set_item("description", &label.description)?;
            d.set_item("keywords", label.keywords.clone())?;
            out.append(d)?;
        }
        Ok(out)
    };
    let d = PyDict::new(py);
    d.set_item("categories", labels(&taxonomy.categories)?)?;
    d.set_item("priorities", labels(&taxonomy.priorities)?)?;
    d.set_item("default_category", &taxonomy.default_category)?;
    d.set_item("default_priority", &taxonomy.default_priority)?;
    Ok(d)
}

/// A knowledge base: Markdown articles (`##` sections) and an optional FAQ.
#[pyclass(frozen, module = "spur")]
pub struct Knowledge {
    pub(crate) inner: Arc<KnowledgeBase>,
    /// The rendered, counted system prompt per encoding (`build_prompt`).
    prompts: Mutex<HashMap<&'static str, Arc<PromptBuilder>>>,
}

impl Knowledge {
    pub(crate) fn new(inner: Arc<KnowledgeBase>) -> Self {
        Self {
            inner,
            prompts: Mutex::new(HashMap::new()),
        }
    }

    /// The demo shop as a `Knowledge`, shared by every call that names none.
    pub(crate) fn demo_shared() -> &'static Knowledge {
        static DEMO: OnceLock<Knowledge> = OnceLock::new();
        DEMO.get_or_init(|| Knowledge::new(demo_knowledge()))
    }

    /// A prompt builder for this knowledge and `counter`'s encoding, built once.
    pub(crate) fn prompts(&self, counter: &dyn TokenCounter) -> Arc<PromptBuilder> {
        let build = || {
            Arc::new(PromptBuilder::new(
                PromptConfig::default(),
                counter,
                self.inner.policies(),
                self.inner.facts(),
            ))
        };
        // Estimates (no encoding name) are not worth caching.
        let Some(encoding) = counter.encoding_name() else {
            return build();
        };
        let mut cache = self.prompts.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(cache.entry(encoding).or_insert_with(build))
    }
}

#[pymethods]
impl Knowledge {
    /// The demo shop's policies and FAQ.
    #[staticmethod]
    fn demo() -> Self {
        Self::new(demo_knowledge())
    }

    /// The `k` best passages for `query` (BM25), best first.
    #[pyo3(signature = (query, k = 3))]
    fn search(&self, py: Python<'_>, query: &str, k: usize) -> Vec<Passage> {
        if self.inner.embedder().is_some_and(|e| e.remote().is_some()) {
            block_on(py, self.inner.prepare_query(query));
        }
        let found = py.detach(|| self.inner.search(query, k));
        found.into_iter().map(Passage::from).collect()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!("Knowledge({} articles)", self.inner.len())
    }
}

/// Loads a knowledge directory (`*.md`, `faq.yaml` / `faq.json`, `shop.yaml`);
/// with `embedding_model` (a model2vec directory) search fuses dense vectors.
#[pyfunction]
#[pyo3(signature = (path, embedding_model = None))]
pub fn load_knowledge(
    py: Python<'_>,
    path: &str,
    embedding_model: Option<&Bound<'_, PyAny>>,
) -> PyResult<Knowledge> {
    let embedder = EmbeddingChoice::from_py(embedding_model)?
        .as_ref()
        .map(EmbeddingChoice::embedder)
        .transpose()?;
    let kb = py
        .detach(|| KnowledgeBase::from_dir(path))
        .map_err(|e| config_error(format!("knowledge: {e}")))?;
    let kb = match embedder {
        Some(embedder) => block_on(py, embedded(kb, embedder))?,
        None => kb,
    };
    Ok(Knowledge::new(Arc::new(kb)))
}

/// A local embedding model directory, loaded (a `ConfigError` naming it
/// when it cannot be). The wheel reads static (model2vec) models; a
/// transformer model needs spur-core's `transformer` feature, not built in.
pub fn embedding_model(dir: &str) -> PyResult<Arc<dyn TextEmbedder>> {
    local_model(dir).map_err(|e| config_error(format!("embedding_model: {e}")))
}

/// Imports a web page, or a sitemap's pages, into the knowledge directory
/// `directory` as files (`web-<address>.html`...; importing again replaces
/// them). robots.txt is respected; only public addresses unless
/// `allow_private`. Returns `{"files": [{name, url, sections}], "skipped":
/// [{url, reason}]}`; load the directory with `load_knowledge` or an engine.
#[pyfunction]
#[pyo3(signature = (url, directory, *, max_pages = 50, allow_private = false))]
pub fn import_url<'py>(
    py: Python<'py>,
    url: &str,
    directory: std::path::PathBuf,
    max_pages: usize,
    allow_private: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let fetcher = WebFetcher::new(WebLimits {
        max_pages,
        allow_private,
        ..WebLimits::default()
    })
    .map_err(web_error)?;
    let import = block_on(py, fetcher.import(url)).map_err(web_error)?;
    py.detach(|| import.save(&directory))
        .map_err(|e| config_error(format!("{}: {e}", directory.display())))?;
    let files = PyList::empty(py);
    for page in &import.pages {
        let file = PyDict::new(py);
        file.set_item("name", &page.file_name)?;
        file.set_item("url", &page.url)?;
        file.set_item("sections", page.sections)?;
        files.append(file)?;
    }
    let skipped = PyList::empty(py);
    for skip in &import.skipped {
        let entry = PyDict::new(py);
        entry.set_item("url", &skip.url)?;
        entry.set_item("reason", &skip.reason)?;
        skipped.append(entry)?;
    }
    let result = PyDict::new(py);
    result.set_item("files", files)?;
    result.set_item("skipped", skipped)?;
    Ok(result)
}
