"""spur (Rust) against the same work in Python with tiktoken.

    cargo run --release -p spur-benches --bin spur-export-vocab -- o200k_base target/o200k_base.tiktoken
    python benches/python/bench_vs_python.py target/o200k_base.tiktoken [tickets.jsonl]

tiktoken downloads its vocabularies at run time, which this machine cannot;
the vocabulary exported from bpe-openai (the one spur embeds) is handed to
tiktoken's own o200k_base definition instead. Outputs are checked equal
before anything is timed (classify also on the `body` of up to 2,000
tickets from a JSONL file, e.g. ../shared/data/support_tickets/tickets_en.jsonl). Prints the speed ratio per function.
"""

import json
import sys
import timeit
from typing import Callable, Dict, List, Sequence, Tuple

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


# ---- classify: the core's lexicon classifier, in plain Python ----

PRIORITY_THRESHOLD = 2.0


def normalize(text: str) -> str:
    """Lowercase; apostrophes vanish; anything not a letter or digit is a space."""
    out = []
    for c in text:
        if c.isascii():
            if c.isalnum():
                out.append(c.lower())
            elif c != "'":
                out.append(" ")
        elif c.isalnum():
            out.append(c.lower())
        elif c != "\u2019":
            out.append(" ")
    return "".join(out)


class Lexicon:
    """Phrases of one to three words -> [(label, weight)]; a prefix entry
    marks that longer phrases continue it."""

    def __init__(self, labels: List[Dict[str, object]]) -> None:
        self.entries: Dict[str, Tuple[List[Tuple[int, float]], bool]] = {}
        self.longest = 1
        for index, label in enumerate(labels):
            for phrase, weight in label["keywords"]:  # type: ignore[attr-defined]
                words = normalize(phrase).split()
                if not words or len(words) > 3:
                    continue
                self.longest = max(self.longest, len(words))
                for n in range(1, len(words)):
                    key = " ".join(words[:n])
                    weights, _ = self.entries.get(key, ([], False))
                    self.entries[key] = (weights, True)
                key = " ".join(words)
                weights, continues = self.entries.get(key, ([], False))
                for i, (l, w) in enumerate(weights):
                    if l == index:
                        weights[i] = (l, w + weight)
                        break
                else:
                    weights.append((index, weight))
                self.entries[key] = (weights, continues)

    def score(self, words: List[str], scores: List[float]) -> None:
        entries = self.entries
        for start, word in enumerate(words):
            entry = entries.get(word)
            if entry is None:
                continue
            for label, weight in entry[0]:
                scores[label] += weight
            key = word
            for following in words[start + 1 : start + self.longest]:
                if not entry[1]:
                    break
                key = key + " " + following
                entry = entries.get(key)
                if entry is None:
                    break
                for label, weight in entry[0]:
                    scores[label] += weight


def argmax(scores: List[float]) -> Tuple[int, float, float]:
    best_i, best, second = 0, scores[0], 0.0
    for i in range(1, len(scores)):
        if scores[i] <= best:
            second = max(second, scores[i])
        else:
            second, best_i, best = best, i, scores[i]
    return best_i, best, second


class PyClassifier:
    def __init__(self, taxonomy: Dict[str, object]) -> None:
        self.categories = [c["name"] for c in taxonomy["categories"]]  # type: ignore[attr-defined]
        self.priorities = [p["name"] for p in taxonomy["priorities"]]  # type: ignore[attr-defined]
        self.category_lexicon = Lexicon(taxonomy["categories"])  # type: ignore[arg-type]
        self.priority_lexicon = Lexicon(taxonomy["priorities"])  # type: ignore[arg-type]
        self.default_category = self.categories.index(taxonomy["default_category"])
        self.default_priority = self.priorities.index(taxonomy["default_priority"])

    def classify(self, text: str) -> Tuple[str, str, float]:
        words = normalize(text).split()
        category_scores = [0.0] * len(self.categories)
        self.category_lexicon.score(words, category_scores)
        priority_scores = [0.0] * len(self.priorities)
        self.priority_lexicon.score(words, priority_scores)
        i, best, second = argmax(category_scores)
        category, confidence = (i, best / (best + second + 1.0)) if best > 0.0 else (self.default_category, 0.1)
        j, best, _ = argmax(priority_scores)
        priority = j if best >= PRIORITY_THRESHOLD else self.default_priority
        return self.categories[category], self.priorities[priority], min(max(confidence, 0.0), 1.0)


# ---- build_prompt: the core's layout and budget, in plain Python ----

KNOWLEDGE_HEADING = "Knowledge that may answer the customer's latest message:"
NO_KNOWLEDGE = "No knowledge article matched the customer's latest message."
REPLY_PRIMING = 3
SYSTEM_COSTS: Dict[str, int] = {}
ROLES = {"customer": "user", "assistant": "assistant", "agent": "assistant", "system": "system"}


def knowledge_text(passages: Sequence[Dict[str, str]]) -> str:
    if not passages:
        return NO_KNOWLEDGE
    parts = [KNOWLEDGE_HEADING]
    for i, p in enumerate(passages):
        parts.append(f"\n\n[{i + 1}] {p['title']}\n{p['text'].strip()}")
    return "".join(parts)


def py_build(
    enc: tiktoken.Encoding,
    system: str,
    passages: Sequence[Dict[str, str]],
    history: Sequence[Dict[str, object]],
    message: str,
    max_messages: int,
    max_tokens: int,
) -> List[Dict[str, str]]:
    def cost(text: str) -> int:
        return len(enc.encode(text)) + OVERHEAD

    # The system prompt is the same every turn: counted once, as spur does.
    if system not in SYSTEM_COSTS:
        SYSTEM_COSTS[system] = cost(system)
    fixed = SYSTEM_COSTS[system] + cost(message) + REPLY_PRIMING
    kept = len(passages)
    knowledge = knowledge_text(passages)
    while kept > 0 and fixed + cost(knowledge) > max_tokens:
        kept -= 1
        knowledge = knowledge_text(passages[:kept])
    used = fixed + cost(knowledge)
    budget = max(max_tokens - used, 0)
    out = [{"role": "system", "content": system}, {"role": "system", "content": knowledge}]
    for m in py_trim(enc, history, max_messages, budget):
        out.append({"role": ROLES[str(m["sender"])], "content": str(m["text"])})
    out.append({"role": "user", "content": message})
    return out


TICKETS = [
    "I was charged twice for my subscription this month, please refund the duplicate payment.",
    "The app crashes every time I try to log in after the latest update. Error code 500.",
    "Where is my order? It was supposed to arrive last week and tracking has not moved.",
    "URGENT: our whole team is locked out, production is down and customers cannot pay!",
    "Can you tell me more about your enterprise pricing and whether you offer discounts?",
    "I can't reset my password, the email with the link never arrives.",
    "My invoice shows the wrong VAT number, could you issue a corrected one?",
    "Thanks for the quick help yesterday, everything works now.",
]


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
    print("trim_history agrees with the Python version")
    # The system message (persona + store policies) is input data: taken once from spur.
    system = spur.build_prompt("x", passages=[])[0]["content"]
    question = "Can I return shoes I bought last week?"
    found = [{"title": p.title, "text": p.text} for p in spur.Knowledge.demo().search(question, 3)]
    for n in (0, 10, 100, 1_000):
        h = transcript(n)
        for budget in (300, 1_000, 4_000):
            for passages in (found, found[:1], []):
                ours = spur.build_prompt(question, h, passages=passages, max_tokens=budget)
                theirs = py_build(enc, system, passages, h, question, 20, budget)
                assert ours == theirs, (n, budget, len(passages))
    print("build_prompt agrees with the Python version")
    py_classifier = PyClassifier(spur.default_taxonomy())
    texts = TICKETS + [str(m["text"]) for m in transcript(10)] + ["", "¿Dónde está mi pedido? Ünïcode’s fine", "cant log in!!"]
    if len(sys.argv) > 2:
        with open(sys.argv[2], encoding="utf-8") as f:
            texts += [json.loads(line).get("body") or "" for line in f][:2_000]
    for t in texts:
        c = spur.classify(t)
        category, priority, confidence = py_classifier.classify(t)
        assert (c.category, c.priority) == (category, priority), t
        assert abs(c.confidence - confidence) < 1e-4, (t, c.confidence, confidence)
    print(f"classify agrees with the Python version on {len(texts)} texts\n")

    short = str(corpus[0])
    ratio("count_tokens, one message", lambda: spur.count_tokens(short), lambda: len(enc.encode(short)), 20_000)
    ratio(f"count_tokens, {len(text) // 1024} KiB transcript", lambda: spur.count_tokens(text), lambda: len(enc.encode(text)), 200)
    for n in (100, 1_000):
        h = transcript(n)
        ratio(f"trim_history, {n} messages, 20 kept", lambda: spur.trim_history(h, 20, 4_000), lambda: py_trim(enc, h, 20, 4_000), 2_000)

    # build_prompt with the same passages (retrieved once, up front) on both sides.
    question = "Can I return shoes I bought last week?"
    passages = [{"title": p.title, "text": p.text} for p in spur.Knowledge.demo().search(question, 3)]
    for n in (10, 100, 1_000):
        h = transcript(n)
        ratio(
            f"build_prompt, {n} messages",
            lambda: spur.build_prompt(question, h, passages=passages),
            lambda: py_build(enc, system, passages, h, question, 20, 4_000),
            1_000,
        )

    py_classifier = PyClassifier(spur.default_taxonomy())
    ratio("classify, one ticket", lambda: spur.classify(TICKETS[0]), lambda: py_classifier.classify(TICKETS[0]), 20_000)
    batch = TICKETS * 100
    ratio(
        f"classify, {len(batch)} tickets",
        lambda: [spur.classify(t) for t in batch],
        lambda: [py_classifier.classify(t) for t in batch],
        10,
    )


if __name__ == "__main__":
    main()
