//! Pure functions: token counting, classification, knowledge loading and
//! search. CPU-only; the GIL is released while they run.

use std::sync::{Arc, OnceLock};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use spur_core::KnowledgeBase;
use spur_core::classify::{Label, LocalClassifier, Taxonomy};
use spur_core::prompt::tokens;

use crate::errors::config_error;
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

/// A knowledge base: Markdown articles (`##` sections) and an optional FAQ.
#[pyclass(frozen, module = "spur")]
pub struct Knowledge {
    pub(crate) inner: Arc<KnowledgeBase>,
}

#[pymethods]
impl Knowledge {
    /// The demo shop's policies and FAQ.
    #[staticmethod]
    fn demo() -> Self {
        Self {
            inner: demo_knowledge(),
        }
    }

    /// The `k` best passages for `query` (BM25), best first.
    #[pyo3(signature = (query, k = 3))]
    fn search(&self, py: Python<'_>, query: &str, k: usize) -> Vec<Passage> {
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

/// Loads a knowledge directory (`*.md`, `faq.yaml` / `faq.json`).
#[pyfunction]
pub fn load_knowledge(py: Python<'_>, path: &str) -> PyResult<Knowledge> {
    let kb = py
        .detach(|| KnowledgeBase::from_dir(path))
        .map_err(|e| config_error(format!("knowledge: {e}")))?;
    Ok(Knowledge {
        inner: Arc::new(kb),
    })
}
