"""Builds the configured ``LLM``: HTTP when ``llm_base_url`` is set, otherwise offline."""

from __future__ import annotations

from ssmas.core.llm.offline import OfflineLLM
from ssmas.core.llm.openai_http import OpenAICompatibleLLM
from ssmas.core.llm.protocol import LLM
from ssmas.settings import Settings


def llm_from_settings(settings: Settings, *, max_retries: int = 2) -> LLM:
    if settings.llm_base_url:
        return OpenAICompatibleLLM(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            timeout_s=settings.llm_timeout_s,
            max_retries=max_retries,
        )
    return OfflineLLM()
