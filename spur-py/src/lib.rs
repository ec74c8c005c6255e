//! Python bindings over spur-core (pyo3). The start of the `spur` package:
//! token counting and local classification, pure CPU, GIL released.

use pyo3::prelude::*;
use spur_core::classify::LocalClassifier;
use spur_core::prompt::tokens;

/// Exact token count for `model` (default gpt-4o-mini).
#[pyfunction]
#[pyo3(signature = (text, model = "gpt-4o-mini"))]
fn count_tokens(py: Python<'_>, text: &str, model: &str) -> usize {
    let counter = tokens::for_model(model);
    py.detach(|| counter.count(text))
}

/// `(category, priority, confidence)` from the offline classifier.
#[pyfunction]
fn classify(py: Python<'_>, text: &str) -> (String, String, f32) {
    let c = py.detach(|| LocalClassifier::default().classify_text(text));
    (c.category, c.priority, c.confidence)
}

#[pymodule]
fn _spur(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(classify, m)?)?;
    Ok(())
}
