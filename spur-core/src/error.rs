//! The crate error: every module's error, gathered.

/// Any error spur-core returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Validation(#[from] crate::validate::ValidationError),
    #[error(transparent)]
    Transition(#[from] crate::conversation::TransitionError),
    #[error(transparent)]
    Knowledge(#[from] crate::knowledge::KnowledgeError),
    #[error(transparent)]
    Taxonomy(#[from] crate::classify::TaxonomyError),
    #[error(transparent)]
    Provider(#[from] crate::llm::ProviderError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[cfg(feature = "runtime")]
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
