"""Media: download attachments into the object store and read them (OCR, PDF/DOCX, speech)."""

from __future__ import annotations

from ssmas.assistant.media.documents import DocumentUnreadable, docx_text, pdf_text
from ssmas.assistant.media.objects import ObjectStore
from ssmas.assistant.media.ocr import OcrEngine, OcrUnavailable, TesseractOcr
from ssmas.assistant.media.reader import MediaReader, MediaText
from ssmas.assistant.media.speech import (
    CannotTranscribe,
    NoSpeechToText,
    PocketSphinxEnglish,
    SpeechToText,
    Transcript,
    WhisperSpeech,
    speech_engine,
)

__all__ = [
    "CannotTranscribe",
    "DocumentUnreadable",
    "MediaReader",
    "MediaText",
    "NoSpeechToText",
    "ObjectStore",
    "OcrEngine",
    "OcrUnavailable",
    "PocketSphinxEnglish",
    "SpeechToText",
    "TesseractOcr",
    "Transcript",
    "WhisperSpeech",
    "docx_text",
    "pdf_text",
    "speech_engine",
]
