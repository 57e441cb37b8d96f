"""LLM plumbing: any OpenAI-compatible server (vLLM, llama.cpp server) reached by one client, the
output guard that discards anything unsafe, and the local server the tests and evals start.

The plug-in a flow uses is the flow's own (the triage flow's is ``dialogue.triage.llm.LLMPlugin``):
this package knows no flow.
"""

from dialogue.llm.client import LLMError, LLMSettings, OpenAICompatibleClient
from dialogue.llm.guard import OutputGuard

__all__ = ["LLMError", "LLMSettings", "OpenAICompatibleClient", "OutputGuard"]
