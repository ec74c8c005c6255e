"""Pure functions: tokens, classification, knowledge, trimming, prompts."""

from pathlib import Path
from typing import Dict, List

import pytest

import spur


def test_count_tokens_is_exact() -> None:
    assert spur.count_tokens("hello world") == 2
    assert spur.count_tokens("hello world", model="gpt-3.5-turbo") == 2
    assert spur.count_tokens("") == 0


def test_classify_default_and_custom_categories() -> None:
    c = spur.classify("I was charged twice for my subscription, please refund the duplicate payment")
    assert c.category == "billing"
    assert 0.0 < c.confidence <= 1.0
    assert c.source == "local"
    custom = spur.classify(
        "my parcel never arrived and tracking is stuck",
        categories={"shipping": ["parcel", "tracking", "delivery"], "general": ["hello"]},
    )
    assert custom.category == "shipping"
    unknown = spur.classify("zzz qqq", categories=["shipping", "general"])
    assert unknown.category == "general"


def test_knowledge_search(tmp_path: Path) -> None:
    demo = spur.Knowledge.demo()
    assert len(demo) > 5
    best = demo.search("return policy", k=2)
    assert "14 days" in best[0].text, best
    (tmp_path / "faq.md").write_text("## Warranty\nEvery watch has a two-year warranty.\n")
    kb = spur.load_knowledge(str(tmp_path))
    assert kb.search("warranty on watches")[0].title == "Warranty"
    lyon = demo.search("Do you deliver to Lyon?", k=1)[0]
    assert lyon.title in ("Shipping destinations", "Do you ship internationally?"), lyon
    assert lyon.notes == ["Lyon is in France."]
    assert "Europe" in lyon.excerpt and lyon.score >= lyon.confidence > 0.5


def test_an_embedding_model_fuses_dense_vectors_into_search(tmp_path: Path, tiny_model: str) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "policies.md").write_text(
        "## Change of mind\nWe take returns within 30 days.\n## Shipping\nWe ship parcels to Canada.\n"
    )
    assert spur.load_knowledge(str(shop)).search("I regret buying this") == []
    kb = spur.load_knowledge(str(shop), embedding_model=tiny_model)
    best = kb.search("I regret buying this")[0]
    assert best.title == "Change of mind", best
    assert best.similarity is not None and best.similarity > 0.9
    assert best.confidence == 0.0
    assert spur.load_knowledge(str(shop)).search("shipping")[0].similarity is None
    with pytest.raises(spur.ConfigError, match="embedding_model"):
        spur.load_knowledge(str(shop), embedding_model=str(tmp_path / "missing"))


def test_trim_history_returns_the_same_objects() -> None:
    history: List[Dict[str, object]] = [
        {"sender": "assistant", "text": "Welcome!"},
        {"sender": "customer", "text": "Where is my order?"},
        {"sender": "assistant", "text": "Sorry, trouble", "used_fallback": True},
        {"sender": "system", "text": "Connecting you to a person"},
        {"role": "user", "content": "Hello?"},
    ]
    kept = spur.trim_history(history)
    assert [id(m) for m in kept] == [id(history[1]), id(history[4])]
    assert spur.trim_history(history, max_messages=1) == [history[4]]
    assert spur.trim_history(history, max_tokens=5) == []


def test_build_prompt_is_grounded_and_bounded() -> None:
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]
    prompt = spur.build_prompt("Can I return shoes?", history)
    assert [m["role"] for m in prompt] == ["system", "system", "user", "assistant", "user"]
    assert "USA, India and Europe" in prompt[0]["content"]
    assert "14 days" in prompt[1]["content"]
    assert prompt[-1]["content"] == "Can I return shoes?"
    tiny = spur.build_prompt("Can I return shoes?", history, max_tokens=10)
    assert tiny[-1]["content"] == "Can I return shoes?"
    assert len(tiny) == 3


def test_build_prompt_with_your_own_passages() -> None:
    mine = [{"title": "Gift cards", "text": "Gift cards never expire."}]
    prompt = spur.build_prompt("Do gift cards expire?", passages=mine)
    assert "Gift cards never expire." in prompt[1]["content"]
    assert "14 days" not in prompt[1]["content"]
    found = spur.Knowledge.demo().search("return policy", 1)
    again = spur.build_prompt("Can I return shoes?", passages=found)
    assert found[0].text.strip() in again[1]["content"]
    none = spur.build_prompt("Anything?", passages=[])
    assert "No knowledge article matched" in none[1]["content"]
    with pytest.raises(ValueError):
        spur.build_prompt("x", passages=[{"title": "no text"}])
    with pytest.raises(ValueError):
        spur.build_prompt("x", passages=[42])  # type: ignore[list-item]


def test_default_taxonomy_drives_classify() -> None:
    taxonomy = spur.default_taxonomy()
    names = [c["name"] for c in taxonomy["categories"]]
    assert names == ["billing", "technical", "general"]
    assert taxonomy["default_category"] == "general"
    billing = taxonomy["categories"][0]["keywords"]
    assert ("refund", 3.0) in [tuple(k) for k in billing]
    # Its keywords, given back as a custom taxonomy, classify the same way.
    custom = {c["name"]: [phrase for phrase, _ in c["keywords"]] for c in taxonomy["categories"]}
    assert spur.classify("Please refund my invoice", custom).category == "billing"
