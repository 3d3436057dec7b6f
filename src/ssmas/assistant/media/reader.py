"""Turn a WhatsApp attachment into text: resolve the media id, download, store, extract.

Images go through OCR, PDF and DOCX through their text layers, audio through speech to text.
Failures the customer should hear about (a media id that 404s, a voice note in another language
or heard too unsurely to act on, an unreadable file) come back as ``MediaInfo.error`` instead of
an exception; only failures worth retrying (Graph 5xx, timeouts) raise.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from ssmas.assistant.events import MediaInfo, MediaMessageEvent
from ssmas.assistant.media.documents import DocumentUnreadable, docx_text, pdf_text, plain_text
from ssmas.assistant.media.objects import ObjectStore
from ssmas.assistant.media.ocr import OcrEngine, OcrUnavailable
from ssmas.assistant.media.speech import CannotTranscribe, SpeechToText
from ssmas.assistant.whatsapp.client import GraphClient, GraphError

log = structlog.get_logger(__name__)

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MAX_TEXT_CHARS = 4000


@dataclass(frozen=True)
class MediaText:
    """The text read from an attachment (possibly empty) and what happened on the way."""

    text: str
    info: MediaInfo


class UnsupportedMedia(ValueError):
    """A file type the assistant does not read."""


@dataclass
class MediaReader:
    """Downloads attachments into the object store and reads them."""

    client: GraphClient
    store: ObjectStore
    ocr: OcrEngine
    speech: SpeechToText
    max_bytes: int = 50 * 1024 * 1024

    def read(self, event: MediaMessageEvent, language: str) -> MediaText:
        info = MediaInfo(
            media_id=event.media_id, mime_type=event.mime_type, filename=event.filename
        )
        try:
            location = self.client.media_location(event.media_id)
            data = self.client.download(location.url, max_bytes=self.max_bytes)
        except GraphError as exc:
            if exc.retryable:
                raise
            log.warning("media_download_failed", media_id=event.media_id, status=exc.status)
            code = "media_not_found" if exc.status == 404 else "media_download_failed"
            return MediaText("", info.model_copy(update={"error": code}))
        mime = location.mime_type or event.mime_type
        path = self.store.put(data, mime)
        info = info.model_copy(update={"mime_type": mime, "stored_path": str(path)})
        try:
            text = self.extract(data, mime, language)
        except CannotTranscribe as exc:
            log.info("audio_not_transcribed", media_id=event.media_id, reason=exc.reason)
            return MediaText(
                "", info.model_copy(update={"error": exc.reason, "transcribed": False})
            )
        except (DocumentUnreadable, UnsupportedMedia, OcrUnavailable) as exc:
            log.warning("media_unreadable", media_id=event.media_id, error=type(exc).__name__)
            return MediaText("", info.model_copy(update={"error": "media_unreadable"}))
        text = text[:MAX_TEXT_CHARS]
        update: dict[str, object] = {"extracted_chars": len(text)}
        if mime.startswith("audio/"):
            update["transcribed"] = True
        return MediaText(text, info.model_copy(update=update))

    def extract(self, data: bytes, mime_type: str, language: str) -> str:
        """The text of ``data`` by its MIME type."""
        base = mime_type.split(";", 1)[0].strip().lower()
        if base.startswith("image/"):
            return self.ocr.read(data)
        if base == "application/pdf":
            return pdf_text(data)
        if base == DOCX_MIME:
            return docx_text(data)
        if base.startswith("text/"):
            return plain_text(data)
        if base.startswith("audio/"):
            return self.speech.transcribe(data, language)
        raise UnsupportedMedia(base)
