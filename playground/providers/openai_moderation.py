"""OpenAI's moderation endpoint (on OpenAI, Azure or a compatible server) as a provider."""

from __future__ import annotations

import openai
from openai import AsyncOpenAI

from playground.errors import ErrorCategory, ProviderError
from playground.providers.base import ModerationResult
from playground.providers.openai_llm import translate_openai_error

__all__ = ["OpenAIModeration"]


class OpenAIModeration:
    """Asks ``/moderations``; SDK errors are translated into ``ProviderError`` here."""

    def __init__(
        self, client: AsyncOpenAI, *, model: str | None = None, provider: str = "openai"
    ) -> None:
        self._client = client
        self._model = model
        self._provider = provider

    async def moderate(self, text: str) -> ModerationResult:
        try:
            response = await self._client.moderations.create(
                input=text, model=self._model if self._model else openai.omit
            )
        except openai.OpenAIError as exc:
            raise translate_openai_error(exc, self._provider) from exc
        if not response.results:
            raise ProviderError(
                f"{self._provider}: the moderation endpoint returned no result — retry.",
                category=ErrorCategory.SERVER,
                provider=self._provider,
            )
        result = response.results[0]
        if not result.flagged:
            return ModerationResult(flagged=False)
        flags = result.categories.model_dump(by_alias=True)
        scores = result.category_scores.model_dump(by_alias=True)
        # Flagged with no category set should not happen; fall back to the top score if it does.
        fired = [name for name, on in flags.items() if on] or list(scores)
        top = max(fired, key=lambda name: scores.get(name) or 0.0)
        return ModerationResult(flagged=True, category=top)
