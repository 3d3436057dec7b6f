"""The domain's training data: the shipped domain loads, bad data is refused with file:line
reasons (and the CLI exits 2 with them), entities and slots, the corpus converter."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ssmas.assistant.commands import assistant_app
from ssmas.assistant.nlu import entities
from ssmas.assistant.nlu.convert import corpus_to_domain, intent_name
from ssmas.assistant.nlu.corpora import Corpus
from ssmas.assistant.nlu.domain import (
    DomainError,
    load_domain,
    parse_example,
    read_examples,
    shipped_domain_dir,
)
from ssmas.assistant.nlu.entities import EntityExtractor, slots_for
from ssmas.settings import Settings, use_settings

TEST_SET = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "assistant_domain"


@pytest.fixture(scope="module")
def domain():  # type: ignore[no-untyped-def]
    return load_domain()


@pytest.fixture(scope="module")
def extractor(domain):  # type: ignore[no-untyped-def]
    return EntityExtractor().fit(domain)


def test_shipped_domain_is_complete(domain) -> None:  # type: ignore[no-untyped-def]
    assert set(domain.languages) == {"es", "en"}
    counts = domain.counts()
    for intent in domain.intents:
        for lang in ("es", "en"):
            assert counts[intent][lang] >= 20, (intent, lang)
    assert len(domain.examples_in("es")) >= 300 and len(domain.examples_in("en")) >= 300
    assert domain.form_for("invoice") is not None
    assert domain.action_for("human_agent", None) == "handoff"
    assert domain.action_for("out_of_scope", "utter_ask_rephrase") == "utter_offer_handoff"
    assert domain.action_for("affirm", "utter_offer_handoff") == "handoff"
    assert domain.action_for("deny", "utter_offer_handoff") == "utter_no_handoff"
    assert set(domain.context_intents) == {"affirm", "deny"}
    assert {s.name for s in domain.stories} >= {"the payout threshold, then when it is paid"}
    assert domain.interruption("payment_threshold", "invoice_form") is not None
    assert domain.interruption("greet", "invoice_form") is None
    assert domain.action_for("out_of_scope", None) == "utter_ask_rephrase"
    assert domain.action_for("payment_threshold", None) == "answer"


def test_held_out_set_is_separate_and_large_enough(domain) -> None:  # type: ignore[no-untyped-def]
    trained = {(e.language, " ".join(e.text.lower().split())) for e in domain.examples}
    for lang in ("es", "en"):
        test = read_examples(TEST_SET / f"test_{lang}.yml", domain)
        assert not [e.text for e in test if (lang, " ".join(e.text.lower().split())) in trained]
        for intent in domain.intents:
            assert sum(e.intent == intent for e in test) >= 40, (lang, intent)


def test_annotations_become_spans() -> None:
    text, spans = parse_example("La factura de [marzo](month) para [misitio.com](site)")
    assert text == "La factura de marzo para misitio.com"
    assert [(s.entity, text[s.start : s.end]) for s in spans] == [
        ("month", "marzo"),
        ("site", "misitio.com"),
    ]


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "domain"
    shutil.copytree(shipped_domain_dir(), target)
    return target


def _problems(root: Path) -> list[str]:
    with pytest.raises(DomainError) as caught:
        load_domain(root)
    return [str(p) for p in caught.value.problems]


def test_bad_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = root / "nlu" / "en.yml"
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "- Thanks")
    lines[at] = "    - [Thanks](thanks) a lot"  # unquoted: YAML reads a flow sequence
    path.write_text("\n".join(lines), encoding="utf-8")
    (problem,) = _problems(root)
    assert problem.startswith(f"domain/nlu/en.yml:{at + 1}: not valid YAML")
    assert "quote an example that starts with '['" in problem


def test_every_problem_is_listed_with_file_and_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    extra = {
        "language": "es",
        "intents": {
            "refunds": ["Quiero un reembolso"],  # not declared
            "invoice": ["Factura de [marzo](mes)", "¿Cuál es el pago mínimo?"],  # bad entity, dup
        },
    }
    (root / "nlu" / "extra.yml").write_text(
        yaml.safe_dump(extra, allow_unicode=True, sort_keys=False)
    )
    domain_file = root / "domain.yml"
    text = domain_file.read_text(encoding="utf-8")
    text = text.replace("action: invoice_form", "action: invoice_wizard")
    text = text.replace("required: [site]", "required: [website]")
    domain_file.write_text(text, encoding="utf-8")
    problems = _problems(root)
    joined = "\n".join(problems)
    assert "domain/nlu/extra.yml:3: intent 'refunds' is not declared in domain.yml" in joined
    assert "unknown entity 'mes'" in joined
    assert "'¿Cuál es el pago mínimo?' is also an example of 'payment_threshold'" in joined
    assert "unknown action 'invoice_wizard'" in joined
    assert "form 'revenue_drop_form': unknown slot 'website'" in joined
    assert all(p.split(":")[1].isdigit() for p in problems)  # file:line: reason


def test_missing_translation_and_too_few_examples(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    domain_file = root / "domain.yml"
    data = domain_file.read_text(encoding="utf-8")
    data = data.replace('    en: "Goodbye! I\'m here whenever you need anything else."\n', "")
    domain_file.write_text(data, encoding="utf-8")
    es = yaml.safe_load((root / "nlu" / "es.yml").read_text(encoding="utf-8"))
    es["intents"]["goodbye"] = es["intents"]["goodbye"][:3]
    (root / "nlu" / "es.yml").write_text(yaml.safe_dump(es, allow_unicode=True))
    joined = "\n".join(_problems(root))
    assert "response 'utter_goodbye' has no text for language 'en'" in joined
    assert "intent 'goodbye' has 3 es examples; at least 5 needed" in joined


def test_cli_validate_exits_2_with_the_problems(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "nlu" / "broken.yml").write_text("language: fr\nintents: {}\n")
    result = CliRunner().invoke(assistant_app, ["validate", "--data", str(root)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert (
        lines[0] == "domain/nlu/broken.yml:1: language 'fr' is not one of the domain's ['es', 'en']"
    )
    assert lines[-1] == "error: the training data has 1 problem(s)"
    assert "Traceback" not in result.output
    ok = CliRunner().invoke(assistant_app, ["validate"])
    assert ok.exit_code == 0 and "ok: 17 intents" in ok.stdout and "3 stories" in ok.stdout


def test_cli_train_refuses_bad_data_before_training(tmp_path: Path) -> None:
    result = CliRunner().invoke(assistant_app, ["train", "--data", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "not a directory" in result.stderr and "Traceback" not in result.output


def test_lookup_regex_and_tagger_entities(extractor) -> None:  # type: ignore[no-untyped-def]
    found = extractor.extract("La factura de Marzo y el RPM de www.recetas.com.mx", "es")
    assert [(e.entity, e.text, e.value, e.source) for e in found] == [
        ("month", "Marzo", "03", "lookup"),
        ("metric", "RPM", "rpm", "lookup"),
        ("site", "www.recetas.com.mx", "www.recetas.com.mx", "regex"),
    ]
    # a synonym written with a capital matches only so: "may" the verb is no month
    assert [e.entity for e in extractor.extract("may I ask something", "en")] == []
    assert [e.value for e in extractor.extract("the invoice for May", "en")] == ["05"]


def test_a_remembered_text_evicted_by_its_own_round_is_still_answered(
    domain, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A full memo whose oldest entry is a text of the round: the round's new texts push it
    out while they are stored, and the round must still answer it (it raised KeyError
    ('agosto', 'es') under load and dead-lettered the customer's message)."""
    monkeypatch.setattr(entities, "MEMO_SIZE", 4)
    extractor = EntityExtractor().fit(domain)
    fresh = EntityExtractor().fit(domain)
    extractor.extract_many(["agosto", "hola", "gracias", "mayo"], ["es"] * 4)  # memo full
    texts = ["agosto", "pago de marzo", "mi sitio es ejemplo.com", "quiero hablar", "mayo"]
    got = extractor.extract_many(texts, ["es"] * len(texts))
    assert got == [tuple(fresh.extract(t, "es")) for t in texts]
    assert got[0] and got[0][0].value == "08"
    assert len(extractor._memo()) <= 4


def test_slots_follow_the_intent(domain, extractor) -> None:  # type: ignore[no-untyped-def]
    found = extractor.extract("¿Cuándo llega la transferencia de marzo?", "es")
    assert {e.entity for e in found} == {"payment_method", "month"}
    slots = slots_for(found, "payment_status", domain)
    assert set(slots) == {"month"}  # payment_method is a payment_details slot
    asked = slots_for(found, "out_of_scope", domain, only=["payment_method"])
    assert set(asked) == {"payment_method"}  # a form asking for it takes it


def test_corpus_converter_writes_checked_domain_data(tmp_path: Path) -> None:
    corpus = Corpus(
        ["set an alarm for 7", "wake me at six [now]", "is it raining", "rain today?"] * 3
        + ["set an alarm for 7", "what's up", "hey", "hi there", "yo", "hello"],
        ["alarm/set_alarm", "alarm/set_alarm", "weather/find", "weather/find"] * 3
        + ["weather/find", "oos", "oos", "oos", "oos", "oos"],
    )
    extra = Corpus(
        [f"alarm number {i}" for i in range(5)] + [f"weather number {i}" for i in range(5)],
        ["alarm/set_alarm"] * 5 + ["weather/find"] * 5,
    )
    converted = corpus_to_domain(corpus + extra, "en", tmp_path / "tod", name="toy")
    assert set(converted.domain.intents) == {"alarm_set_alarm", "weather_find", "out_of_scope"}
    assert converted.dropped_conflicts == 4  # "set an alarm for 7" had two labels
    assert converted.dropped_duplicates == 6
    texts = [e.text for e in converted.domain.examples]
    assert "wake me at six (now)" in texts and "set an alarm for 7" not in texts
    assert intent_name("oos") == "out_of_scope" and intent_name("9lives") == "i_9lives"


def _edit_domain(root: Path, edit: Any) -> None:
    path = root / "domain.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_bad_stories_and_rules_are_named_with_their_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)

    def edit(data: dict[str, Any]) -> None:
        data["stories"] += [
            {"story": "typo", "steps": [{"intent": "invoice"}, {"intent": "payment_stauts"}]},
            {"story": "one step", "steps": [{"intent": "invoice"}]},
            {
                "story": "starts with an action",
                "steps": [{"action": "utter_greet"}, {"intent": "thank"}],
            },
            {
                "story": "half examples",
                "steps": [
                    {"intent": "invoice"},
                    {"intent": "payment_status", "examples": {"es": ["¿Y cuándo?"]}},
                    {"action": "utter_nowhere"},
                ],
            },
            {
                "story": "odd step",
                "steps": [{"intent": "invoice"}, {"intent": "thank", "action": "utter_thank"}],
            },
        ]
        data["rules"] += [
            {"rule": "bad during", "intent": "thank", "action": "answer", "during": "no_form"},
            {
                "rule": "form in a form",
                "intent": "invoice",
                "action": "invoice_form",
                "during": "any",
            },
            {
                "rule": "list typo",
                "intent": ["ads_txt", "adstxt"],
                "action": "answer",
                "during": "any",
            },
        ]
        data["intents"]["maybe"] = {"context": True}

    _edit_domain(root, edit)
    problems = _problems(root)
    text = "\n".join(problems)
    assert all(p.startswith("domain/domain.yml:") for p in problems), problems
    for expected in (
        "story 'typo' step 2: unknown intent 'payment_stauts'",
        "story 'one step': 'steps' must list at least two steps",
        "story 'starts with an action': the first step must be an intent",
        "story 'half examples' step 2: examples need a list of texts for language 'en'",
        "story 'half examples' step 3: unknown action 'utter_nowhere'",
        "story 'odd step' step 2: give either 'intent' or 'action'",
        "rule 'bad during': 'during' must be a form or 'any', not 'no_form'",
        "rule 'form in a form': a form cannot interrupt a form",
        "rule 'list typo': unknown intent 'adstxt'",
        "context intent 'maybe' is never expected",
    ):
        assert expected in text, (expected, problems)
    line = next(p for p in problems if "payment_stauts" in p)
    number = int(line.split(":")[1])
    assert "payment_stauts" in (root / "domain.yml").read_text().splitlines()[number - 1]


def test_cli_train_and_validate_refuse_a_bad_story_with_exit_2(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit_domain(
        root,
        lambda data: data["stories"].append(
            {"story": "broken", "steps": [{"intent": "invoice"}, {"action": "utter_missing"}]}
        ),
    )
    for command in ("validate", "train"):
        with use_settings(Settings(profile="test", data_dir=tmp_path / "data")):
            result = CliRunner().invoke(assistant_app, [command, "--data", str(root)])
        assert result.exit_code == 2, (command, result.output)
        assert "story 'broken' step 2: unknown action 'utter_missing'" in result.stderr
        assert result.stderr.strip().splitlines()[-1] == "error: the training data has 1 problem(s)"
        assert "Traceback" not in result.output
