"""The outside world (Discord, console, LLM, memory, MCP, IMAP, sandbox, HTTP), each behind a
small Protocol with a real implementation here and an in-memory fake in ``clara.testing``.

The runtime core (``clara.actors._core``, ``clara.supervisors``) never imports this package.
"""
