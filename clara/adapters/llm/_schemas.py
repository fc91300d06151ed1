"""Tool parameter schemas as each provider accepts them.

Tools describe their parameters in JSON Schema, and MCP servers write whatever their
schema library emits: ``"$schema": "http://json-schema.org/draft-07/schema#"`` (zod, pydantic),
``$id``, ``$comment``, a top level that is not ``type: object``. Some providers refuse a
keyword they do not know, or a top level they do not expect, and then the whole request
fails, not just the one tool. So every schema is put into the provider's dialect at the
boundary, in the adapter that speaks to it:

- everywhere (both dialects): the keywords that only name or annotate a schema document
  (``$schema``, ``$id``, ``$comment``, ``$anchor``, ``$dynamicAnchor``, ``$vocabulary``) are
  dropped, at every depth, in the places that hold schemas (``properties``, ``items``,
  ``anyOf``, ``$defs``…): a *property* named ``$schema`` and a ``default`` that holds one are
  data, and kept;
- the top level is an object schema: ``type: object`` with ``properties`` (a tool is called
  with named arguments; both providers refuse anything else, and some OpenAI-compatible
  servers index ``properties`` without checking it is there). A top level of another type
  (or no schema at all) becomes an object with no parameters;
- Anthropic also refuses ``anyOf`` / ``oneOf`` / ``allOf`` at the top level: their
  alternatives are folded into one object (every parameter offered; required only what every
  alternative requires, or, for ``allOf``, what any part requires). The tool itself still
  checks its arguments, and says so to the model when they are wrong.

The caller's schema is never changed: the result is built anew.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

__all__ = ["ANTHROPIC", "OPENAI", "SchemaDialect", "tool_parameters"]

#: Keywords that name or annotate a schema document and say nothing about the arguments.
META_KEYWORDS = frozenset(
    {"$schema", "$id", "$comment", "$anchor", "$dynamicAnchor", "$vocabulary"}
)
#: Keywords whose value is a schema, or a list of schemas (``items`` in draft 4's tuple form).
_SCHEMA_VALUED = frozenset(
    {
        "items",
        "additionalItems",
        "additionalProperties",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
        "allOf",
        "anyOf",
        "oneOf",
        "prefixItems",
    }
)
#: Keywords whose value maps names to schemas (``dependencies`` maps to a schema or a list
#: of property names; only its schemas are walked).
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)
_COMBINATORS = ("allOf", "anyOf", "oneOf")


@dataclass(frozen=True)
class SchemaDialect:
    """What one provider accepts of JSON Schema in a tool's parameters.

    Args:
        name: the provider family, for messages (``openai``, ``anthropic``).
        dropped: keywords removed wherever a schema is.
        fold_top_level: whether ``anyOf`` / ``oneOf`` / ``allOf`` at the top level are folded
            into one object schema (the provider refuses them there).
    """

    name: str
    dropped: frozenset[str] = META_KEYWORDS
    fold_top_level: bool = False


#: OpenAI's chat completions (and the servers that speak it): the top level must be an
#: object; alternatives beside it are accepted (outside strict mode, which Clara does not use).
OPENAI = SchemaDialect("openai")
#: Anthropic's Messages API: ``input_schema`` must be an object, with no alternatives at the
#: top level ("input_schema does not support oneOf, allOf, or anyOf at the top level").
ANTHROPIC = SchemaDialect("anthropic", fold_top_level=True)


def tool_parameters(schema: Any, dialect: SchemaDialect) -> dict[str, Any]:
    """``schema`` (a tool's parameters) as ``dialect`` accepts it; a new dict, always an
    object schema. ``schema`` itself is left as it was."""
    copied = _walk(schema, dialect.dropped)
    if not isinstance(copied, dict):
        return {"type": "object", "properties": {}}
    walked: dict[str, Any] = copied
    kind = walked.get("type", "object")
    if kind != "object" and not (isinstance(kind, list) and "object" in kind):
        # Not a schema of named arguments: offer the tool without parameters (its
        # description still says what it does; the tool refuses what it cannot take).
        kept = {"description": walked["description"]} if "description" in walked else {}
        return {"type": "object", "properties": {}, **kept}
    walked["type"] = "object"
    if dialect.fold_top_level:
        walked = _fold(walked)
    if not isinstance(walked.get("properties"), dict):
        walked["properties"] = {}
    return walked


def _walk(schema: Any, dropped: frozenset[str]) -> Any:
    """A copy of ``schema`` without ``dropped`` keywords, in it and in every schema within."""
    if not isinstance(schema, dict):
        return copy.deepcopy(schema)  # a boolean schema, or something malformed: as it is
    result: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in dropped:
            continue
        if keyword in _SCHEMA_VALUED:
            if isinstance(value, list):
                result[keyword] = [_walk(item, dropped) for item in value]
            else:
                result[keyword] = _walk(value, dropped)
        elif keyword in _SCHEMA_MAPS and isinstance(value, dict):
            result[keyword] = {
                name: _walk(item, dropped) if isinstance(item, dict) else copy.deepcopy(item)
                for name, item in value.items()
            }
        else:  # data (default, enum, const, examples, required…): kept as it is
            result[keyword] = copy.deepcopy(value)
    return result


def _fold(schema: dict[str, Any]) -> dict[str, Any]:
    """One object schema from the alternatives at ``schema``'s top level (a new dict)."""
    if not any(keyword in schema for keyword in _COMBINATORS):
        return schema
    folded = {key: value for key, value in schema.items() if key not in _COMBINATORS}
    properties: dict[str, Any] = dict(folded.get("properties") or {})
    required: list[str] = list(folded.get("required") or [])
    for keyword in _COMBINATORS:
        branches = [b for b in schema.get(keyword) or [] if isinstance(b, dict)]
        for branch in branches:
            for name, property_schema in (branch.get("properties") or {}).items():
                properties.setdefault(name, property_schema)
        if keyword == "allOf":
            required += [name for branch in branches for name in branch.get("required") or []]
        elif branches:
            # Any one alternative may be the one given: only what all of them require is.
            first, *others = (list(branch.get("required") or []) for branch in branches)
            required += [name for name in first if all(name in other for other in others)]
    folded["properties"] = properties
    if required:
        folded["required"] = list(dict.fromkeys(required))
    return folded
