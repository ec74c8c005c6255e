//! JSON helpers for tool records and evidence.

use serde_json::Value;

/// `value` with every field named in `secret` (at any depth) replaced.
pub(super) fn redacted(value: &Value, secret: &[String]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let v = if secret.iter().any(|s| s == key) {
                        Value::String("[redacted]".into())
                    } else {
                        redacted(v, secret)
                    };
                    (key.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redacted(v, secret)).collect()),
        other => other.clone(),
    }
}

/// A result as lines of "field: value" (nested fields joined by spaces),
/// the form the grounding guard reads evidence in: what a tool returned
/// may be stated, as a passage's sentences may.
pub(super) fn as_lines(value: &Value) -> String {
    let mut lines = Vec::new();
    walk(value, &mut Vec::new(), &mut lines);
    lines.join("\n")
}

fn walk(value: &Value, path: &mut Vec<String>, lines: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                path.push(key.replace('_', " "));
                walk(v, path, lines);
                path.pop();
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, path, lines)),
        Value::Null => {}
        scalar => {
            let text = match scalar {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if path.is_empty() {
                lines.push(text);
            } else {
                lines.push(format!("{}: {text}", path.join(" ")));
            }
        }
    }
}

/// The first `max` characters of `text`, on a character boundary.
pub(super) fn summary(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_fields_are_redacted_at_any_depth() {
        let args = json!({"order": "1042", "auth": {"token": "s3cret"}, "items": [{"token": "x"}]});
        let shown = redacted(&args, &["token".into()]);
        assert_eq!(
            shown,
            json!({"order": "1042", "auth": {"token": "[redacted]"}, "items": [{"token": "[redacted]"}]})
        );
    }

    #[test]
    fn results_read_as_field_lines() {
        let result = json!({"status": "shipped", "eta_date": "December 9", "items": [{"name": "Desk lamp", "qty": 2}], "note": null});
        let lines = as_lines(&result);
        assert!(lines.contains("status: shipped"), "{lines}");
        assert!(lines.contains("eta date: December 9"), "{lines}");
        assert!(lines.contains("items name: Desk lamp"), "{lines}");
        assert!(lines.contains("items qty: 2"), "{lines}");
        assert!(!lines.contains("null"), "{lines}");
    }

    #[test]
    fn summaries_cut_on_characters() {
        assert_eq!(summary("héllo wörld", 4), "héll…");
        assert_eq!(summary("short", 10), "short");
    }
}
