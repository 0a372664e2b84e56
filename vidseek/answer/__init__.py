"""Answers to questions about a library: evidence from search, written up by an optional LLM."""
