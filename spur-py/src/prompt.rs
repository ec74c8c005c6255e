//! `trim_history` and `build_prompt` over plain dicts, for Python code that
//! calls its LLM itself.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use spur_core::conversation::{ConversationId, Message, MessageId, MessageMeta, Sender};
use spur_core::prompt::{PromptInput, Role, eligible, tokens, trim_history as core_trim};

use spur_core::knowledge::Passage as CorePassage;

use crate::functions::Knowledge;
use crate::types::Passage;

/// `{"sender" | "role": ..., "text" | "content": ..., "used_fallback"?: bool}`
/// as a core message (OpenAI roles are accepted: user = customer).
fn message(index: usize, item: &Bound<'_, PyAny>) -> PyResult<Message> {
    let dict = item
        .cast::<PyDict>()
        .map_err(|_| PyValueError::new_err(format!("history[{index}] must be a dict")))?;
    let field = |a: &str, b: &str| -> PyResult<Option<String>> {
        match dict.get_item(a)?.or(dict.get_item(b)?) {
            Some(v) => Ok(Some(v.extract()?)),
            None => Ok(None),
        }
    };
    let sender = field("sender", "role")?.unwrap_or_default();
    let sender = match sender.as_str() {
        "user" => Sender::Customer,
        other => Sender::parse(other).ok_or_else(|| {
            PyValueError::new_err(format!("history[{index}]: unknown sender {other:?}"))
        })?,
    };
    let text = field("text", "content")?
        .ok_or_else(|| PyValueError::new_err(format!("history[{index}] has no text")))?;
    let used_fallback = match dict.get_item("used_fallback")? {
        Some(v) => v.extract()?,
        None => false,
    };
    Ok(Message {
        id: MessageId(uuid_nil_plus(index)),
        conversation_id: ConversationId(uuid_nil_plus(0)),
        seq: index as i64 + 1,
        sender,
        text,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        idempotency_key: None,
        reply_to: None,
        meta: MessageMeta {
            used_fallback,
            ..MessageMeta::default()
        },
    })
}

fn uuid_nil_plus(n: usize) -> uuid::Uuid {
    uuid::Uuid::from_u128(n as u128)
}

/// Any iterable of dicts, kept as the caller's objects.
fn items<'py>(history: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    history.try_iter()?.collect()
}

/// The newest messages, oldest first, back to the `max_messages`-th
/// eligible one: trimming never looks further, so older dicts are not read.
fn newest(items: &[Bound<'_, PyAny>], max_messages: usize) -> PyResult<Vec<Message>> {
    let mut out = Vec::new();
    let mut eligible_seen = 0;
    for (i, item) in items.iter().enumerate().rev() {
        if eligible_seen >= max_messages {
            break;
        }
        let m = message(i, item)?;
        eligible_seen += usize::from(eligible(&m));
        out.push(m);
    }
    out.reverse();
    Ok(out)
}

/// The newest history that fits `max_messages` and `max_tokens`, oldest
/// first: no fallbacks, no system notices, never starting with an orphan
/// reply. Returns the same dict objects it was given.
#[pyfunction]
#[pyo3(signature = (history, max_messages = 20, max_tokens = 4_000, model = "gpt-4o-mini"))]
pub fn trim_history<'py>(
    py: Python<'py>,
    history: &Bound<'py, PyAny>,
    max_messages: usize,
    max_tokens: usize,
    model: &str,
) -> PyResult<Bound<'py, PyList>> {
    let objects = items(history)?;
    let parsed = newest(&objects, max_messages)?;
    let counter = tokens::for_model(model);
    let kept: Vec<usize> = py.detach(|| {
        core_trim(&parsed, max_messages, max_tokens, counter.as_ref())
            .iter()
            .map(|m| (m.seq - 1) as usize)
            .collect()
    });
    PyList::new(py, kept.into_iter().map(|i| objects[i].clone()))
}

/// A `spur.Passage`, or a dict with `title` and `text` (and `article_id`).
fn passage(index: usize, item: &Bound<'_, PyAny>) -> PyResult<CorePassage> {
    if let Ok(p) = item.cast::<Passage>() {
        let p = p.get();
        return Ok(CorePassage {
            article_id: p.article_id.clone(),
            title: p.title.clone(),
            text: p.text.clone(),
            score: p.score,
            confidence: p.confidence,
            title_coverage: 0.0,
            excerpt: String::new(),
            notes: Vec::new(),
            similarity: None,
            focus: None,
        });
    }
    let dict = item.cast::<PyDict>().map_err(|_| {
        PyValueError::new_err(format!("passages[{index}] must be a Passage or a dict"))
    })?;
    let text = |key: &str| -> PyResult<Option<String>> {
        dict.get_item(key)?.map(|v| v.extract()).transpose()
    };
    Ok(CorePassage {
        article_id: text("article_id")?.unwrap_or_default(),
        title: text("title")?.unwrap_or_default(),
        text: text("text")?
            .ok_or_else(|| PyValueError::new_err(format!("passages[{index}] has no text")))?,
        score: 0.0,
        confidence: 0.0,
        title_coverage: 0.0,
        excerpt: String::new(),
        notes: Vec::new(),
        similarity: None,
        focus: None,
    })
}

/// The prompt for one turn as `[{"role", "content"}]`: persona and store
/// policies, the knowledge retrieved for `message` (or the `passages` you
/// retrieved yourself, best first), the trimmed history and the message,
/// within `max_tokens` (exact counts for `model`).
#[pyfunction]
#[pyo3(signature = (message, history = None, knowledge = None, *, passages = None, max_messages = 20, max_tokens = 4_000, model = "gpt-4o-mini", k = 3))]
#[allow(clippy::too_many_arguments)]
pub fn build_prompt<'py>(
    py: Python<'py>,
    message: &str,
    history: Option<&Bound<'py, PyAny>>,
    knowledge: Option<&Knowledge>,
    passages: Option<&Bound<'py, PyAny>>,
    max_messages: usize,
    max_tokens: usize,
    model: &str,
    k: usize,
) -> PyResult<Bound<'py, PyList>> {
    // Trimming never reads further back than `max_messages` eligible ones.
    let parsed = match history {
        Some(h) => newest(&items(h)?, max_messages)?,
        None => Vec::new(),
    };
    let knowledge = knowledge.unwrap_or_else(|| Knowledge::demo_shared());
    let kb = &knowledge.inner;
    let counter = tokens::for_model(model);
    let builder = knowledge.prompts(counter.as_ref());
    let given = match passages {
        Some(list) => Some(
            items(list)?
                .iter()
                .enumerate()
                .map(|(i, item)| passage(i, item))
                .collect::<PyResult<Vec<_>>>()?,
        ),
        None => None,
    };
    let prompt = py.detach(|| {
        let passages = given.unwrap_or_else(|| kb.search(message, k));
        let input = PromptInput {
            policies: kb.policies(),
            facts: kb.facts(),
            passages: &passages,
            history: &parsed,
            message,
        };
        builder.build_within(counter.as_ref(), input, max_messages, max_tokens)
    });
    let out = PyList::empty(py);
    for m in prompt.messages {
        let d = PyDict::new(py);
        let role = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        d.set_item("role", role)?;
        d.set_item("content", m.content)?;
        out.append(d)?;
    }
    Ok(out)
}
