"""Building and sending a /status document without stalling the event loop.

The document of the whole tree of 10,000 actors is megabytes: building it in one piece
would hold the event loop for milliseconds (copying alone). So it is walked and encoded in
chunks, each sent as it is ready, with a checkpoint between them; nodes whose snapshot has
not changed since the last look reuse their encoding. The pieces joined are one JSON
object matching ``StatusDocument``.

Text that can come from outside Clara's code (failures, details, readiness reasons, dead
letters' errors) is masked as a node is encoded (``Masker``); a reused encoding was masked
when it was made.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

import msgspec
import trio

from ...actors import ActorStatistics, DeadLetters
from ...supervisors import SupervisorStatistics
from ._document import (
    OVERVIEW,
    DeadLetterSummary,
    DeadLetterView,
    QueryView,
    StatusHead,
    StatusQuery,
    Summary,
    iso,
)
from ._masking import Masker
from ._overview import actors_need_attention, overview_nodes
from ._readiness import readiness_view

if TYPE_CHECKING:
    from ._context import StatusContext

__all__ = ["CHUNK", "EncodingCache", "build_status", "stream_status"]

#: At most this many nodes are snapshotted and encoded between two yields to the scheduler:
#: building the document of 10,000 actors in one go would stall every actor for milliseconds.
CHUNK = 128

#: ... and at most this long (seconds) of work: nodes that must be encoded afresh cost far
#: more than the reused ones, so the count alone does not bound a slice.
SLICE = 0.00005

#: Encoded nodes are sent in pieces of about this many bytes: each piece costs the HTTP
#: stack a fixed amount of work, so fewer, larger pieces cost the event loop less.
PIECE = 128 * 1024

#: The dead letters shown in a status document (the newest; their types, never content).
RECENT_DEAD_LETTERS = 20

_encoder = msgspec.json.Encoder()


class EncodingCache:
    """The last encoding of each node, reused while its snapshot is the same object, or
    while it encodes to the same bytes as before.

    Actors hand back the same frozen snapshot while nothing in it changed, so an idle actor
    costs a dictionary lookup instead of an encoding. An actor with details (a channel)
    hands back a new snapshot on every look; while it encodes as before, its masked
    encoding is reused instead of masking its details again (which costs twice the
    encoding). Entries of nodes not in the last document that refreshed the cache are
    dropped with it.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, object] = {}
        self.raw: dict[str, bytes] = {}
        """Each node's encoding before masking (the same object as ``encoded`` when
        masking changed nothing, so most nodes cost no second copy)."""
        self.encoded: dict[str, bytes] = {}


def _dead_letter_summary(dead_letters: DeadLetters, masker: Masker) -> DeadLetterSummary:
    stats = dead_letters.statistics()
    recent = [
        DeadLetterView(
            recipient=letter.recipient,
            message_type=letter.message_type,
            reason=letter.reason.value,
            at=iso(letter.wall_time),
            error=None if letter.error is None else masker.text(letter.error),
        )
        for letter in dead_letters.letters()[-RECENT_DEAD_LETTERS:]
    ]
    return DeadLetterSummary(total=stats.total, by_reason=stats.by_reason, recent=recent)


async def stream_status(context: StatusContext, query: StatusQuery) -> AsyncIterator[bytes]:
    """The status document for ``query``, as pieces of JSON to send one after another."""
    root = context.root()
    masker = context.masker
    census = await context.watch.census(root)
    now = time.time()
    head = StatusHead(
        version=context.version,
        started_at=iso(context.started_at),
        uptime_seconds=round(now - context.started_at, 3),
        generated_at=iso(now),
        root=root.path,
        query=QueryView(
            view=query.view,
            path=masker.text(query.path) if query.path else None,
            state=None if query.states is None else sorted(s.value for s in query.states),
            limit=query.limit,
            offset=query.offset or None,
        ),
        readiness=readiness_view(root, context.readiness, masker),
        summary=Summary(
            actors=census.actor_count,
            supervisors=census.supervisor_count,
            actors_by_state=census.actors,
            supervisors_by_state=census.supervisors,
            restarts=census.restarts,
        ),
        dead_letters=_dead_letter_summary(context.system.dead_letters, masker),
    )
    yield _encoder.encode(head)[:-1] + b',"nodes":['
    nodes: Iterable[ActorStatistics | SupervisorStatistics]
    if query.view == OVERVIEW:
        nodes = await overview_nodes(
            root, search=actors_need_attention(census), watch=context.watch
        )
        cache, whole = context.overview_encodings, True
    else:
        nodes = root.walk(query.path, query.states)
        cache = context.encodings
        whole = not query.path and query.states is None and not query.offset
    truncated = False
    async for piece in _encode(nodes, cache, masker, query, whole):
        if piece is None:
            truncated = True
        else:
            yield piece
    tail = b'],"truncated":' + (b"true" if truncated else b"false") + b',"next_offset":'
    if truncated and query.limit is not None:
        tail += str(query.offset + query.limit).encode()
    else:
        tail += b"null"
    yield tail + b"}"


async def _encode(
    nodes: Iterable[ActorStatistics | SupervisorStatistics],
    cache: EncodingCache,
    masker: Masker,
    query: StatusQuery,
    whole: bool,
) -> AsyncIterator[bytes | None]:
    """The encoded nodes joined by commas, in pieces of about ``PIECE`` bytes; then None if
    ``limit`` cut the list. ``whole``: these are all the nodes of their kind of document,
    so the cache keeps exactly them."""
    encode = _encoder.encode
    previous_nodes = cache.nodes
    previous_raw = cache.raw
    previous_encoded = cache.encoded
    # Flat dicts rather than (node, bytes) tuples: no container per node for the garbage
    # collector to track.
    seen: dict[str, object] = {}
    raws: dict[str, bytes] = {}
    encoded: dict[str, bytes] = {}
    parts: list[bytes] = []
    truncated = False
    skip = query.offset
    limit = query.limit
    clock = time.perf_counter
    slice_ends = clock() + SLICE
    sent = 0
    buffered = 0
    shown = 0
    for index, node in enumerate(nodes, start=1):
        if index <= skip:
            if index % CHUNK == 0:
                await trio.lowlevel.checkpoint()
            continue
        if limit is not None and shown >= limit:
            truncated = True
            break
        shown += 1
        path = node.path
        if previous_nodes.get(path) is node:
            raw = previous_raw[path]
            data = previous_encoded[path]
        else:
            raw = encode(node)
            if previous_raw.get(path) == raw:
                data = previous_encoded[path]
            else:
                masked = masker.node(node)
                data = raw if masked is node else encode(masked)
        seen[path] = node
        raws[path] = raw
        encoded[path] = data
        parts.append(data)
        buffered += len(data)
        if buffered >= PIECE:
            yield (b"," if sent else b"") + b",".join(parts)
            sent += len(parts)
            parts = []
            buffered = 0
            slice_ends = clock() + SLICE
        elif index % CHUNK == 0 or clock() >= slice_ends:
            await trio.lowlevel.checkpoint()
            slice_ends = clock() + SLICE
    if parts:
        yield (b"," if sent else b"") + b",".join(parts)
    if whole and not truncated:
        cache.nodes = seen
        cache.raw = raws
        cache.encoded = encoded
    if truncated:
        yield None


async def build_status(context: StatusContext, query: StatusQuery) -> bytes:
    """The whole status document in one piece (for tests and tools; the endpoint streams)."""
    return b"".join([piece async for piece in stream_status(context, query)])
