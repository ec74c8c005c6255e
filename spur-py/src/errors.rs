//! The exception hierarchy rooted at `spur.SpurError`, and the mapping from
//! the core's errors. Messages are the core's, which never hold secrets.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use spur_core::EngineError;
use spur_core::knowledge::web::WebError;
use spur_core::store::StoreError;

create_exception!(spur, SpurError, PyException, "Base of every Spur error.");
create_exception!(
    spur,
    ValidationError,
    SpurError,
    "Input refused (empty or too long message, malformed id)."
);
create_exception!(
    spur,
    NotFoundError,
    SpurError,
    "No conversation has this session id."
);
create_exception!(
    spur,
    StoreError_,
    SpurError,
    "The database failed or is unreachable."
);
create_exception!(
    spur,
    ProviderError,
    SpurError,
    "The LLM provider failed (engine calls fall back instead of raising)."
);
create_exception!(
    spur,
    ConfigError,
    SpurError,
    "A setting is invalid (database URL, knowledge directory, LLM)."
);
create_exception!(
    spur,
    ConflictError,
    SpurError,
    "The conversation's state does not allow this now."
);

pub fn engine_error(error: EngineError) -> PyErr {
    let message = error.to_string();
    match error {
        EngineError::Validation(_) | EngineError::Analytics(_) => ValidationError::new_err(message),
        EngineError::UnknownSession
        | EngineError::UnknownConversation
        | EngineError::UnknownCannedReply
        | EngineError::UnknownMessage => NotFoundError::new_err(message),
        EngineError::IdempotencyMismatch
        | EngineError::Transition(_)
        | EngineError::Busy
        | EngineError::NothingToRate => ConflictError::new_err(message),
        EngineError::NotYourCannedReply | EngineError::OtherCustomer => {
            pyo3::exceptions::PyPermissionError::new_err(message)
        }
        EngineError::Store(_) => StoreError_::new_err(message),
    }
}

create_exception!(
    spur,
    FetchError,
    SpurError,
    "A web page could not be imported (unreachable, refused by robots.txt, unreadable)."
);

/// Bad addresses are the caller's input; the rest is the site's doing.
pub fn web_error(error: WebError) -> PyErr {
    let message = error.to_string();
    match error {
        WebError::InvalidUrl(_) | WebError::NotPublic(_) => ValidationError::new_err(message),
        _ => FetchError::new_err(message),
    }
}

pub fn store_error(error: StoreError) -> PyErr {
    StoreError_::new_err(error.to_string())
}

/// The caller's input is not acceptable.
pub fn validation_error(message: &str) -> PyErr {
    ValidationError::new_err(message.to_string())
}

pub fn config_error(message: impl Into<String>) -> PyErr {
    ConfigError::new_err(message.into())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SpurError", py.get_type::<SpurError>())?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("StoreError", py.get_type::<StoreError_>())?;
    m.add("ProviderError", py.get_type::<ProviderError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add("FetchError", py.get_type::<FetchError>())?;
    Ok(())
}
