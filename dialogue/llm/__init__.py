"""The optional LLM plug-in: any OpenAI-compatible server (vLLM, llama.cpp server) re-words questions
and extracts slots; guards discard anything unsafe or invalid, and the rules' wording stands in.
"""

from dialogue.llm.client import LLMError, LLMSettings, OpenAICompatibleClient
from dialogue.llm.guard import OutputGuard
from dialogue.llm.plugin import LLMPlugin, SlotProposal

__all__ = ["LLMError", "LLMPlugin", "LLMSettings", "OpenAICompatibleClient", "OutputGuard", "SlotProposal"]
