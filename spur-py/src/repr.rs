//! Reprs in Python's words: `None`, `False`, `'text'`, as Python prints
//! its own values (Rust's `Debug` would say `Some("text")` and `false`).

use pyo3::BoundObject;
use pyo3::prelude::*;

/// `value` as Python's `repr()` shows it.
pub fn py<'py, T>(py: Python<'py>, value: &T) -> PyResult<String>
where
    T: IntoPyObject<'py> + Clone,
{
    let object = value
        .clone()
        .into_pyobject(py)
        .map_err(Into::into)?
        .into_bound()
        .into_any();
    Ok(object.repr()?.to_string())
}
