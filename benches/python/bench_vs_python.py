"""spur (Rust) against the same work in Python with tiktoken.

    cargo run --release -p spur-benches --bin spur-export-vocab -- o200k_base target/o200k_base.tiktoken
    python benches/python/bench_vs_python.py target/o200k_base.tiktoken

tiktoken downloads its vocabularies at run time, which this machine cannot;
the vocabulary exported from bpe-openai (the one spur embeds) is handed to
tiktoken's own o200k_base definition instead. Outputs are checked equal
before anything is timed. Prints the speed ratio per function.
"""

import sys
import timeit
from typing import Callable, Dict, List, Sequence

import tiktoken
import tiktoken_ext.openai_public as public
from tiktoken.load import load_tiktoken_bpe

import spur

CUSTOMER = [
    "Hi, I ordered a pair of running shoes last week and the tracking page hasn't changed since Monday.",
    "Can I return them if they don't fit? They're still in the original box.",
    "Do you ship to Germany, and how long would delivery take?",
    "I was charged twice for order 48213, can you check?",
    "Thanks! And what are your support hours?",
]
ASSISTANT = [
    "I'm sorry about the delay. Delivery takes 5-7 business days from shipping; if the tracking page hasn't moved in 3 days, I can ask the warehouse to check.",
    "Yes: returns are accepted within 14 days of delivery, unused and in the original packaging. Start it from your order page.",
    "We ship to the USA, India and Europe, Germany included. Delivery takes 5-7 business days.",
    "I'll flag that for our billing team; a duplicate charge is refunded to the original payment method.",
    "Our team is available Monday to Friday, 9am to 6pm IST.",
]
OVERHEAD = 4  # tokens a chat API adds per message (spur's MESSAGE_OVERHEAD_TOKENS)


def encoding(vocab: str) -> tiktoken.Encoding:
    public.load_tiktoken_bpe = lambda *_a, **_k: load_tiktoken_bpe(vocab)  # type: ignore[assignment]
    return tiktoken.Encoding(**public.o200k_base())


def transcript(n: int) -> List[Dict[str, object]]:
    out: List[Dict[str, object]] = []
    for i in range(n):
        if i % 2 == 0:
            out.append({"sender": "customer", "text": CUSTOMER[(i // 2) % len(CUSTOMER)]})
        else:
            out.append({"sender": "assistant", "text": ASSISTANT[(i // 2) % len(ASSISTANT)]})
    return out


def py_trim(enc: tiktoken.Encoding, history: Sequence[Dict[str, object]], max_messages: int, max_tokens: int) -> List[Dict[str, object]]:
    """spur's trimming rules in plain Python (newest first, no fallbacks or
    notices, never starting with an orphan reply)."""
    picked: List[Dict[str, object]] = []
    used = 0
    for m in reversed(history):
        if len(picked) >= max_messages:
            break
        text = str(m["text"])
        if m["sender"] == "system" or m.get("used_fallback") or not text.strip():
            continue
        cost = len(enc.encode(text)) + OVERHEAD
        if used + cost > max_tokens:
            break
        used += cost
        picked.append(m)
    picked.reverse()
    while picked and picked[0]["sender"] != "customer":
        picked.pop(0)
    return picked


def ratio(name: str, rust: Callable[[], object], python: Callable[[], object], number: int) -> None:
    t_rust = min(timeit.repeat(rust, number=number, repeat=5)) / number
    t_py = min(timeit.repeat(python, number=number, repeat=5)) / number
    print(f"{name:<38} spur {t_rust * 1e6:9.1f} µs   python {t_py * 1e6:9.1f} µs   {t_py / t_rust:5.1f}x")


def main() -> None:
    enc = encoding(sys.argv[1] if len(sys.argv) > 1 else "target/o200k_base.tiktoken")
    corpus = [m["text"] for m in transcript(200)]
    text = "\n".join(str(t) for t in corpus)
    # Same outputs first.
    for t in corpus + [text, "", "héllo wörld 🤖 12345678"]:
        assert spur.count_tokens(str(t)) == len(enc.encode(str(t))), t
    print(f"count_tokens agrees with tiktoken on {len(corpus) + 3} texts")
    for n in (10, 100, 1_000):
        h = transcript(n)
        for budget in (200, 1_000, 4_000):
            assert [id(m) for m in spur.trim_history(h, 20, budget)] == [id(m) for m in py_trim(enc, h, 20, budget)], (n, budget)
    print("trim_history agrees with the Python version\n")

    short = str(corpus[0])
    ratio("count_tokens, one message", lambda: spur.count_tokens(short), lambda: len(enc.encode(short)), 20_000)
    ratio(f"count_tokens, {len(text) // 1024} KiB transcript", lambda: spur.count_tokens(text), lambda: len(enc.encode(text)), 200)
    for n in (100, 1_000):
        h = transcript(n)
        ratio(f"trim_history, {n} messages, 20 kept", lambda: spur.trim_history(h, 20, 4_000), lambda: py_trim(enc, h, 20, 4_000), 2_000)


if __name__ == "__main__":
    main()
