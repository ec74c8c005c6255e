"""Feedback from Python: thumbs on answers, a conversation's score, and the analytics over them."""

import pytest

import spur


def test_ratings_and_scores_reach_the_analytics() -> None:
    engine = spur.Engine()
    pleased = engine.send_message("Do you ship to India?")
    displeased = engine.send_message("Do you ship to India?")
    assert pleased.reply_id is not None and displeased.reply_id is not None

    engine.rate_reply(pleased.session_id, pleased.reply_id, "up")
    engine.rate_reply(displeased.session_id, displeased.reply_id, "up")
    engine.rate_reply(displeased.session_id, displeased.reply_id, "down", "Too vague")  # replaces the up
    engine.rate_conversation(pleased.session_id, 4)
    engine.rate_conversation(pleased.session_id, 5, "Quick")  # replaces the 4

    report = engine.analytics()
    totals = report["totals"]
    assert totals["conversations"] == 2
    assert totals["feedback"]["bot"] == {"up": 1, "down": 1}
    assert totals["csat"]["count"] == 1 and totals["csat"]["average"] == 5.0
    assert len(report["days"]) == 30
    assert report["timeZone"] == "Asia/Kolkata"


def test_only_the_sessions_own_answers_can_be_rated() -> None:
    engine = spur.Engine()
    mine = engine.send_message("Do you ship to India?")
    theirs = engine.send_message("Do you ship to India?")
    assert theirs.reply_id is not None
    with pytest.raises(spur.NotFoundError):
        engine.rate_reply(mine.session_id, theirs.reply_id, "up")
    with pytest.raises(spur.NotFoundError):
        engine.rate_reply(mine.session_id, mine.message_id, "up")  # the customer's own words
    with pytest.raises(spur.ValidationError):
        engine.rate_reply(mine.session_id, theirs.reply_id, "meh")  # type: ignore[arg-type]
    with pytest.raises(spur.ValidationError):
        engine.rate_conversation(mine.session_id, 6)
    with pytest.raises(spur.ValidationError):
        engine.analytics("2026-02-30")
    swapped = engine.analytics("2026-03-01", "2026-02-01")  # backwards: swapped
    assert (swapped["from"], swapped["to"]) == ("2026-02-01", "2026-03-01")


async def test_the_async_engine_rates_too() -> None:
    engine = spur.AsyncEngine()
    turn = await engine.send_message("Do you ship to India?")
    assert turn.reply_id is not None
    await engine.rate_reply(turn.session_id, turn.reply_id, "down")
    await engine.rate_conversation(turn.session_id, 2)
    report = await engine.analytics(channel="web")
    assert report["totals"]["feedback"]["down"] == 1
    assert report["totals"]["csat"]["average"] == 2.0
