//! The values Python receives: plain, immutable, printable.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::repr;
use spur_core::Turn;
use spur_core::classify::Classification as CoreClassification;
use spur_core::conversation::Message as CoreMessage;
use spur_core::knowledge::Passage as CorePassage;

/// The outcome of one customer message.
#[pyclass(frozen, get_all, module = "spur")]
#[derive(Clone, Debug)]
pub struct Reply {
    /// None while a human agent holds the conversation.
    pub reply: Option<String>,
    pub session_id: String,
    /// "automated", "agent" or "closed".
    pub status: String,
    pub message_id: String,
    /// The reply's id (what `rate_reply` rates); None with no reply.
    pub reply_id: Option<String>,
    pub used_fallback: bool,
    /// The reply asks the customer to confirm a change (a tool registered
    /// with `writes=True`): their next message "yes" runs it.
    pub confirm: bool,
}

impl From<&Turn> for Reply {
    fn from(turn: &Turn) -> Self {
        Self {
            reply: turn.reply_text(),
            session_id: turn.conversation.session_id.to_string(),
            status: turn.conversation.status.as_str().to_string(),
            message_id: turn.message.id.to_string(),
            reply_id: turn.reply.as_ref().map(|r| r.id.to_string()),
            used_fallback: turn.used_fallback(),
            confirm: turn.asks_to_confirm(),
        }
    }
}

#[pymethods]
impl Reply {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Reply(reply={}, session_id={}, status={}, used_fallback={}, confirm={})",
            repr::py(py, &self.reply)?,
            repr::py(py, &self.session_id)?,
            repr::py(py, &self.status)?,
            repr::py(py, &self.used_fallback)?,
            repr::py(py, &self.confirm)?
        ))
    }
}

/// One stored message.
#[pyclass(frozen, module = "spur")]
#[derive(Clone, Debug)]
pub struct Message {
    #[pyo3(get)]
    pub id: String,
    #[pyo3(get)]
    pub seq: i64,
    /// "customer", "assistant", "agent" or "system".
    #[pyo3(get)]
    pub sender: String,
    #[pyo3(get)]
    pub text: String,
    #[pyo3(get)]
    pub used_fallback: bool,
    /// UTC, microseconds.
    created_at: (i32, u8, u8, u8, u8, u8, u32),
}

impl From<&CoreMessage> for Message {
    fn from(m: &CoreMessage) -> Self {
        let t = m.created_at.to_offset(time::UtcOffset::UTC);
        Self {
            id: m.id.to_string(),
            seq: m.seq,
            sender: m.sender.as_str().to_string(),
            text: m.text.clone(),
            used_fallback: m.meta.used_fallback,
            created_at: (
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond(),
            ),
        }
    }
}

#[pymethods]
impl Message {
    /// A timezone-aware `datetime` in UTC.
    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Through the datetime module: the abi3 build has no datetime C API.
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        let (y, mo, d, h, mi, s, us) = self.created_at;
        let args = PyTuple::new(
            py,
            [
                y as i64, mo as i64, d as i64, h as i64, mi as i64, s as i64, us as i64,
            ],
        )?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("tzinfo", utc)?;
        datetime.getattr("datetime")?.call(args, Some(&kwargs))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Message(seq={}, sender={}, text={})",
            self.seq,
            repr::py(py, &self.sender)?,
            repr::py(py, &self.text)?
        ))
    }
}

/// How a text reads: category, priority, confidence (0..1), and who said so.
#[pyclass(frozen, get_all, module = "spur")]
#[derive(Clone, Debug)]
pub struct Classification {
    pub category: String,
    pub priority: String,
    pub confidence: f32,
    /// "local", "llm" or "fallback".
    pub source: String,
}

impl From<CoreClassification> for Classification {
    fn from(c: CoreClassification) -> Self {
        Self {
            category: c.category,
            priority: c.priority,
            confidence: c.confidence,
            source: c.source.as_str().to_string(),
        }
    }
}

#[pymethods]
impl Classification {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Classification(category={}, priority={}, confidence={:.2}, source={})",
            repr::py(py, &self.category)?,
            repr::py(py, &self.priority)?,
            self.confidence,
            repr::py(py, &self.source)?
        ))
    }
}

/// A knowledge article retrieved for a query.
#[pyclass(frozen, get_all, module = "spur")]
#[derive(Clone, Debug)]
pub struct Passage {
    pub article_id: String,
    pub title: String,
    pub text: String,
    pub score: f32,
    /// How much of the query the article covers (0..1).
    pub confidence: f32,
    /// The sentences that answer the query.
    pub excerpt: String,
    /// Facts about places in the query ("Lyon is in France.").
    pub notes: Vec<String>,
    /// Cosine similarity to the query, with an embedding model.
    pub similarity: Option<f32>,
    /// Cosine similarity of its closest sentence to the query.
    pub focus: Option<f32>,
}

impl From<CorePassage> for Passage {
    fn from(p: CorePassage) -> Self {
        Self {
            article_id: p.article_id,
            title: p.title,
            text: p.text,
            score: p.score,
            confidence: p.confidence,
            excerpt: p.excerpt,
            notes: p.notes,
            similarity: p.similarity,
            focus: p.focus,
        }
    }
}

#[pymethods]
impl Passage {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Passage(title={}, confidence={:.2})",
            repr::py(py, &self.title)?,
            self.confidence
        ))
    }
}
