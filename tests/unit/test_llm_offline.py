"""OfflineLLM: deterministic tool choice, argument extraction and templated replies."""

from __future__ import annotations

from ssmas.core.llm import LLM, ChatMessage, OfflineLLM, ToolSpec
from ssmas.core.llm.offline import extract_arguments, stem, topic_of

PAUSE = ToolSpec(
    name="pause_campaign",
    description="Pause a running campaign by its id.",
    parameters={
        "type": "object",
        "properties": {"campaign_id": {"type": "integer"}, "reason": {"type": "string"}},
        "required": ["campaign_id"],
    },
)
FLOOR = ToolSpec(
    name="get_floor_price",
    description="Current floor price for a country and ad format.",
    parameters={
        "type": "object",
        "properties": {
            "country": {"type": "string"},
            "format": {"type": "string", "enum": ["banner", "video", "native"]},
        },
    },
)
CONTACT = ToolSpec(
    name="schedule_callback",
    description="Schedule a sales callback for a lead.",
    parameters={
        "type": "object",
        "properties": {
            "email": {"type": "string"},
            "date": {"type": "string", "format": "date"},
            "budget_eur": {"type": "number"},
        },
    },
)


def user(text: str) -> list[ChatMessage]:
    return [
        ChatMessage(role="system", content="You run ad ops."),
        ChatMessage(role="user", content=text),
    ]


def test_is_an_llm() -> None:
    assert isinstance(OfflineLLM(), LLM)


def test_picks_the_tool_whose_words_match_and_extracts_arguments() -> None:
    out = OfflineLLM().complete(
        user("Please pause campaign 42, reason: 'budget spent'"), tools=[FLOOR, PAUSE]
    )
    assert out.text == ""
    assert out.finish_reason == "tool_calls"
    assert [c.name for c in out.tool_calls] == ["pause_campaign"]
    assert out.tool_calls[0].arguments == {"campaign_id": 42, "reason": "budget spent"}
    assert out.tool_calls[0].id.startswith("call_")


def test_enum_and_keyed_string_arguments() -> None:
    out = OfflineLLM().complete(
        user("What is the floor price for country DE on video?"), tools=[PAUSE, FLOOR]
    )
    assert out.tool_calls[0].name == "get_floor_price"
    assert out.tool_calls[0].arguments == {"country": "DE", "format": "video"}


def test_special_formats_are_found_by_pattern() -> None:
    text = "schedule a callback for ana@example.com on 2025-03-14, budget_eur 1500.5"
    args = extract_arguments(CONTACT, text)
    assert args == {"email": "ana@example.com", "date": "2025-03-14", "budget_eur": 1500.5}


def test_free_number_goes_to_the_missing_numeric_property() -> None:
    assert extract_arguments(PAUSE, "stop 17 now") == {"campaign_id": 17}


def test_no_overlap_gives_a_templated_reply_with_the_topic() -> None:
    out = OfflineLLM().complete(
        user("How are revenues trending this week? Revenue looks low."), tools=[PAUSE]
    )
    assert out.tool_calls == []
    assert out.finish_reason == "stop"
    assert "revenues" in out.text and "trending" in out.text
    assert out.provider == "offline"


def test_same_input_same_output() -> None:
    llm = OfflineLLM()
    first = llm.complete(user("pause campaign 7"), tools=[PAUSE, FLOOR])
    again = OfflineLLM().complete(user("pause campaign 7"), tools=[PAUSE, FLOOR])
    assert first == again


def test_after_a_tool_result_it_answers_in_text_instead_of_calling_again() -> None:
    history = [
        *user("pause campaign 7"),
        ChatMessage(role="tool", name="pause_campaign", tool_call_id="c1", content="paused"),
    ]
    out = OfflineLLM().complete(history, tools=[PAUSE])
    assert out.tool_calls == []
    assert "pause_campaign" in out.text and "paused" in out.text


def test_max_tokens_truncates_and_usage_is_counted() -> None:
    out = OfflineLLM().complete(user("forecast revenue for next quarter"), max_tokens=3)
    assert len(out.text.split()) == 3
    assert out.usage.completion_tokens == 3
    assert out.usage.total_tokens == out.usage.prompt_tokens + 3


def test_model_override_and_empty_input() -> None:
    out = OfflineLLM().complete([], model="local-x")
    assert out.model == "local-x"
    assert "no recognisable topic" in out.text


def test_stems_and_topic() -> None:
    assert stem("pausing") == stem("paused") == stem("pause")
    assert topic_of("Revenue, revenues and REVENUE; forecast") == ["revenue", "forecast"]
