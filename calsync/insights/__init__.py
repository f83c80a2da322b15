"""Qualitative insights: the memory store, insight rules, interpreters and the LLM sync."""
