"""The supervised baseline Spur's ticket classifier is compared with.

TF-IDF (word 1-2 grams) + logistic regression, trained on the labels of
support_tickets itself. Two figures:
  - trained on the dev half, scored on the held-out half: the same split
    `spur-eval` reports (the half by ticket id the lexicon was never
    checked against), so the two held-out figures compare directly;
  - 5-fold cross-validation on the whole set (the figure quoted before).

    python -m venv target/baseline-venv && target/baseline-venv/bin/pip install scikit-learn
    target/baseline-venv/bin/python benches/baseline/supervised.py ../shared/data

Spur's classifier trains on nothing; this baseline trains on the very
labels it is scored against, which is what makes it a high bar.
"""

import json
import sys
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline


def dev_half(ticket: dict) -> bool:
    """The split `spur-eval` uses (benches/src/bin/eval.rs, `dev_half`)."""
    try:
        return int(ticket["id"][:8], 16) % 2 == 0
    except ValueError:
        return True


def text(ticket: dict) -> str:
    return f"{ticket.get('subject') or ''}\n{ticket['body']}"


def model():
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(max_iter=2000, C=4.0),
    )


def report(name: str, gold, predicted) -> None:
    print(
        f"  {name}: n={len(gold)} accuracy={100 * accuracy_score(gold, predicted):.1f}% "
        f"macro-F1={f1_score(gold, predicted, average='macro'):.3f}"
    )


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    lines = (data / "support_tickets" / "tickets_en.jsonl").read_text().splitlines()
    tickets = [json.loads(line) for line in lines if line.strip()]
    for label in ("spur_category", "priority"):
        print(f"{label} (TF-IDF + logistic regression)")
        dev = [t for t in tickets if dev_half(t)]
        held_out = [t for t in tickets if not dev_half(t)]
        fitted = model().fit([text(t) for t in dev], [t[label] for t in dev])
        report(
            "trained on the dev half, held-out half",
            [t[label] for t in held_out],
            fitted.predict([text(t) for t in held_out]),
        )
        gold = [t[label] for t in tickets]
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
        predicted = cross_val_predict(model(), [text(t) for t in tickets], gold, cv=folds)
        report("5-fold cross-validation, whole set", gold, predicted)


if __name__ == "__main__":
    main()
