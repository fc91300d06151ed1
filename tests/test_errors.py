"""The error tree drawn in ``clara/errors.py`` is the tree the classes form."""

import inspect
import re

import clara.errors as errors

LINE = re.compile(r"^(?P<indent>[ │]*)(?:[├└]── )?(?P<name>[A-Z]\w+)\s")


def drawn_parents() -> dict[str, str | None]:
    """Each drawn error and the error drawn above it one level up."""
    doc = inspect.getdoc(errors) or ""
    start = doc.index("ClaraError")
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in doc[start:].splitlines():
        match = LINE.match(line + " ")
        if match is None:
            if not line.strip():
                break
            continue  # a continued description
        depth = len(match.group("indent")) // 4
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group("name")] = stack[-1][1] if stack else None
        stack.append((depth, match.group("name")))
    return parents


def defined_parents() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name, value in vars(errors).items():
        if inspect.isclass(value) and issubclass(value, errors.ClaraError):
            bases = [base for base in value.__bases__ if issubclass(base, errors.ClaraError)]
            found[name] = bases[0].__name__ if bases else None
    return found


def test_the_drawing_names_every_error_under_its_real_parent() -> None:
    assert drawn_parents() == defined_parents()


def test_every_error_is_exported() -> None:
    exported = {name for name in errors.__all__ if isinstance(getattr(errors, name), type)}
    assert set(defined_parents()) == exported
    assert set(errors.__all__) - exported == {"describe_error"}


def test_the_mcp_errors_are_the_ones_their_modules_raise() -> None:
    from clara.actors.mcp import McpOperationError, ToolTimeout, ToolUnavailable  # noqa: PLC0415
    from clara.adapters.mcp import OAuthError, ServerGone, SourceError  # noqa: PLC0415

    assert ServerGone is errors.ServerGone and SourceError is errors.SourceError
    assert OAuthError is errors.OAuthError and ToolTimeout is errors.ToolTimeout
    assert ToolUnavailable is errors.ToolUnavailable
    assert McpOperationError is errors.McpOperationError
