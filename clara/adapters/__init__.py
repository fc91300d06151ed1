"""The outside world, each part behind a small Protocol with a real implementation here and an
in-memory fake in ``clara.testing``:

==========  ===========================================  ===================================
adapter     Protocol                                     fake
==========  ===========================================  ===================================
chat        ``ChatTransport`` (what replies go through)  ``FakeTransport``
discord     ``Bridge`` (the gateway connection)          ``FakeBridge``
console     ``ChatTransport``                            ``FakeTransport``
llm         ``Provider`` (one model API)                 ``FakeProvider``
memory      ``MemoryStore`` (mem0 over Qdrant)           ``FakeMemory``
mcp         ``Connection`` (one MCP server)              ``FakeMcpConnection``
http        the status endpoint's server                 (run for real on loopback)
==========  ===========================================  ===================================

The store's fake is ``clara.testing.throwaway_database`` (a migrated SQLite file). IMAP and
the sandbox arrive with their issues, with their fakes. The runtime core
(``clara.actors._core``, ``clara.supervisors``) never imports this package.
"""
