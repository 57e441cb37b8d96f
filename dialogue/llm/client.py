"""A small streaming client for OpenAI-compatible ``/v1/chat/completions`` endpoints (httpx, SSE).

Failures become :class:`LLMError` at this edge (with ``retryable``), so the flows only ever see one
exception type and fall back to the rules' wording.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import httpx


class LLMError(Exception):
    """The LLM endpoint failed (connection, HTTP status, malformed stream).

    Parameters:
        message: What happened, with the URL.
        retryable: True for connection errors, timeouts, 408/429/5xx.
    """

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class LLMSettings:
    """How to reach the LLM.

    Parameters:
        base_url: Endpoint root, e.g. ``http://127.0.0.1:8080/v1`` (``/v1`` is added when missing).
        model: Model name sent in requests.
        timeout_s: Whole-answer budget; after it the rules' wording is used.
        max_tokens: Cap on generated tokens per request.
        api_key: Bearer token if the server wants one.
    """

    base_url: str
    model: str = "default"
    timeout_s: float = 3.0
    max_tokens: int = 64
    api_key: str | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"LLM base_url {self.base_url!r} must start with http:// or https://")
        if self.timeout_s <= 0 or self.max_tokens <= 0:
            raise ValueError(
                f"LLM timeout_s ({self.timeout_s}) and max_tokens ({self.max_tokens}) must be positive"
            )

    @property
    def chat_url(self) -> str:
        root = self.base_url.rstrip("/")
        return f"{root if root.endswith('/v1') else root + '/v1'}/chat/completions"


class OpenAICompatibleClient:
    """Streams chat completions. Owns one ``httpx.AsyncClient``; call :meth:`aclose` when done."""

    def __init__(self, settings: LLMSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout_s), headers=headers,
                                       transport=transport)

    async def stream_chat(
        self, messages: list[dict[str, str]], *, temperature: float = 0.3, max_tokens: int | None = None
    ) -> AsyncGenerator[str, None]:
        """Yield the text deltas of one chat completion as they arrive.

        Raises:
            LLMError: connection failure, non-2xx status, or a malformed event.
        """
        body = {
            "model": self.settings.model,
            "messages": messages,
            "stream": True,
            "temperature": temperature,
            "max_tokens": max_tokens or self.settings.max_tokens,
        }
        url = self.settings.chat_url
        try:
            async with self._http.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    status = response.status_code
                    raise LLMError(f"LLM at {url} answered HTTP {status}",
                                   retryable=status in (408, 429) or status >= 500)
                async for line in response.aiter_lines():
                    delta = _delta(line, url)
                    if delta is None:
                        break
                    if delta:
                        yield delta
        except httpx.TimeoutException as error:
            raise LLMError(f"LLM at {url} timed out after {self.settings.timeout_s}s", retryable=True) from error
        except httpx.HTTPError as error:
            raise LLMError(f"LLM at {url} unreachable: {type(error).__name__}", retryable=True) from error

    async def complete(self, messages: list[dict[str, str]], **options: float | int) -> str:
        """The whole answer as one string (still streamed underneath)."""
        return "".join([delta async for delta in self.stream_chat(messages, **options)])  # type: ignore[arg-type]

    async def aclose(self) -> None:
        await self._http.aclose()


def _delta(line: str, url: str) -> str | None:
    """The text in one SSE line: '' for keep-alives and role chunks, None at [DONE]."""
    if not line.startswith("data:"):
        return ""
    payload = line[5:].strip()
    if payload == "[DONE]":
        return None
    try:
        choice = json.loads(payload)["choices"][0]
    except (ValueError, KeyError, IndexError) as error:
        raise LLMError(f"LLM at {url} sent a malformed stream event", retryable=False) from error
    return (choice.get("delta") or {}).get("content") or ""
