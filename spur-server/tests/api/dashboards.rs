//! The Grafana dashboard and Prometheus alert rules in `deploy/` parse, and
//! every metric they query is one Spur exports (a renamed metric would leave
//! a panel empty and an alert silent).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `spur_…` names in a text, without the suffixes Prometheus adds.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("spur_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let name = ["_sum", "_count", "_bucket"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.insert(name.to_string());
        rest = &tail[end..];
    }
    names
}

/// The metric names the server and the core write, as string literals.
fn exported() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![repo().join("spur-server/src"), repo().join("spur-core/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for quoted in text.split('"').skip(1).step_by(2) {
                    if quoted.starts_with("spur_")
                        && quoted.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    {
                        names.insert(quoted.to_string());
                    }
                }
            }
        }
    }
    names
}

#[test]
fn the_dashboard_and_alerts_query_metrics_spur_exports() {
    let exported = exported();
    assert!(
        exported.contains("spur_http_requests_total"),
        "{exported:?}"
    );

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/spur.json")).unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    let mut queried = BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            queried.extend(metric_names(target["expr"].as_str().unwrap()));
        }
    }

    let rules: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yml")).unwrap(),
    )
    .unwrap();
    let rules = rules["groups"][0]["rules"].as_sequence().unwrap();
    assert!(rules.len() >= 8);
    for rule in rules {
        assert!(
            rule["alert"]
                .as_str()
                .is_some_and(|a| a.starts_with("Spur"))
        );
        assert!(rule["annotations"]["summary"].as_str().is_some());
        queried.extend(metric_names(rule["expr"].as_str().unwrap()));
    }
    let unknown: Vec<&String> = queried.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "queried but never exported: {unknown:?}"
    );
    for wanted in [
        "spur_llm_budget_spent_usd",
        "spur_feedback_total",
        "spur_event_bus_lag_seconds",
        "spur_llm_latency_seconds",
    ] {
        assert!(queried.contains(wanted), "{wanted} is watched");
    }
}
