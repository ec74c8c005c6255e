//! `spur._spur`: Python bindings over spur-core. Type conversion lives in
//! `types.rs`, errors in `errors.rs`, the engines in `engine.rs`, pure
//! functions in `functions.rs` and `prompt.rs`.

mod engine;
mod errors;
mod functions;
mod prompt;
mod repr;
mod tools;
mod types;

use pyo3::prelude::*;

#[pymodule]
fn _spur(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<engine::Engine>()?;
    m.add_class::<engine::AsyncEngine>()?;
    m.add_class::<engine::OpenAI>()?;
    m.add_class::<engine::OpenAIEmbeddings>()?;
    m.add_class::<engine::ReplyStream>()?;
    m.add_class::<types::Reply>()?;
    m.add_class::<types::Message>()?;
    m.add_class::<types::Classification>()?;
    m.add_class::<types::Passage>()?;
    m.add_class::<functions::Knowledge>()?;
    m.add_function(wrap_pyfunction!(functions::count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(functions::classify, m)?)?;
    m.add_function(wrap_pyfunction!(functions::default_taxonomy, m)?)?;
    m.add_function(wrap_pyfunction!(functions::load_knowledge, m)?)?;
    m.add_function(wrap_pyfunction!(functions::import_url, m)?)?;
    m.add_function(wrap_pyfunction!(prompt::trim_history, m)?)?;
    m.add_function(wrap_pyfunction!(prompt::build_prompt, m)?)?;
    m.add_function(wrap_pyfunction!(tools::_register_tool, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
