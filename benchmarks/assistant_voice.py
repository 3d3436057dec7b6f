"""Voice notes: word error rate of the default speech-to-text engine in Spanish and English.

Publisher-support phrases (``ssmas.assistant.media.voice_samples``) are spoken by espeak-ng in
three voices and speeds per language, encoded as Ogg Opus like WhatsApp voice notes, and
transcribed by the engine the channel uses (``speech_engine`` on the default settings: Whisper
base, offline) with the conversation's language as the hint. WER is corpus-level (all word
edits over all reference words, punctuation and case ignored, accents kept) over every note,
whatever its confidence (a note with no speech at all counts as all words deleted);
``voice_asked_to_write_*`` counts the notes under the confidence floor, which the channel does
not act on, and ``voice_wer_acted_*`` is the WER of the notes it does act on. The figures are
merged into ``results/assistant.json`` and ``results/assistant_nlu.json`` (where BENCHMARKS.md
lists them).

Usage: .venv/bin/python benchmarks/assistant_voice.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from _report import merge_figures, write_result
from ssmas.assistant.media.speech import CannotTranscribe, WhisperSpeech, speech_engine
from ssmas.assistant.media.voice_samples import PHRASES, voice_notes, word_error_rate
from ssmas.settings import Settings

FIGURE_KEYS = ("voice_wer_es", "voice_wer_en")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four phrases per language")
    args = parser.parse_args()
    limit = 4 if args.quick else None
    console = Console()
    engine = speech_engine(Settings().whatsapp)
    if not isinstance(engine, WhisperSpeech):
        raise SystemExit(f"the default engine is {type(engine).__name__}, not Whisper")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    engine.recognise(next(voice_notes("en", 1)).ogg, "en")  # loads the model; not timed
    load_s = time.perf_counter() - started
    figures: dict[str, float | int] = {
        "voice_model_load_s": round(load_s, 2),
        "voice_min_confidence": engine.min_confidence,
    }
    table = Table(title="Voice notes (espeak-ng, Ogg Opus)" + (" (quick)" if args.quick else ""))
    for column in ("lang", "voice", "said", "heard", "confidence"):
        table.add_column(column)
    with Progress(console=console) as progress:
        for language in ("es", "en"):
            count = len(PHRASES[language][:limit])
            task = progress.add_task(f"transcribing {language}", total=count)
            refs: list[str] = []
            hyps: list[str] = []
            acted: list[tuple[str, str]] = []
            seconds: list[float] = []
            for note in voice_notes(language, limit):
                began = time.perf_counter()
                try:
                    heard = engine.recognise(note.ogg, language)
                except CannotTranscribe as exc:
                    text, verdict = "", f"refused: {exc.reason}"
                else:
                    text = heard.text
                    sure = heard.confidence >= engine.min_confidence
                    verdict = f"{heard.confidence:.2f} " + ("acted on" if sure else "ask to write")
                    if sure:
                        acted.append((note.text, text))
                seconds.append(time.perf_counter() - began)
                table.add_row(language, f"{note.voice} {note.speed}", note.text, text, verdict)
                refs.append(note.text)
                hyps.append(text)
                progress.advance(task)
            figures[f"voice_wer_{language}"] = round(word_error_rate(refs, hyps), 4)
            figures[f"voice_notes_{language}"] = count
            figures[f"voice_asked_to_write_{language}"] = count - len(acted)
            if acted:
                said, heard_text = zip(*acted, strict=True)
                wer_acted = word_error_rate(list(said), list(heard_text))
                figures[f"voice_wer_acted_{language}"] = round(wer_acted, 4)
            figures[f"voice_p50_s_{language}"] = round(statistics.median(seconds), 2)
    figures["load_avg_1m_before"] = round(load_before, 2)
    figures["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    console.print(table)
    console.print(figures)
    notes = (
        "WhatsApp voice notes in Spanish and English: espeak-ng speech (voices es, es-419,"
        " es+f3 / en-us, en-gb, en-us+f3 at 150, 130, 175 wpm), Ogg Opus 48 kHz, transcribed"
        " offline by WhisperSpeech (Whisper base, CTranslate2 int8 on CPU, beam 5, a domain"
        " prompt, language"
        " detected and kept to es/en, the conversation's language as hint). Corpus WER, case"
        " and punctuation ignored, accents kept, over every note; voice_wer_acted_*: over the"
        " notes at or above voice_min_confidence (the others get 'please write')."
        " voice_p50_s_*: median seconds per note (decode + language detection + decoding) on"
        " the shared 2-core machine, see load_avg_1m_*."
        + (" QUICK: four phrases per language." if args.quick else "")
    )
    if args.quick:
        console.print(write_result("assistant_voice", figures, notes, quick=True))
        return
    console.print(write_result("assistant_voice", figures, notes))
    for name in ("assistant", "assistant_nlu"):
        merged = merge_figures(name, figures, "benchmarks/assistant_voice.py")
        console.print(f"merged into {merged}" if merged else f"no results/{name}.json to merge")


if __name__ == "__main__":
    main()
