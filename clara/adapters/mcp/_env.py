"""Environment variables an MCP server is installed with, and the families of names refused.

``/mcp install … env:NAME=VALUE`` exists for API keys a server needs. But an environment
also steers the programs that read it: the dynamic linker loads libraries from it, runtimes
take code and options from it, HTTP clients take a proxy and TLS trust from it, and for image
sources the container engine itself runs with these variables. A name is therefore refused
when it belongs to one of the **families** below — whole prefixes, suffixes and words that a
program owns — never to a list of examples that misses the next one. Each family carries the
reason it is refused, and the error says it (never the value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import SourceError

__all__ = ["MAX_ENV", "MAX_ENV_VALUE", "parse_env", "refusal_of"]

MAX_ENV = 20
MAX_ENV_VALUE = 4096
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")


@dataclass(frozen=True)
class _Family:
    """Names one kind of program reads, and why setting them from chat is refused."""

    reason: str
    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    words: frozenset[str] = frozenset()
    """Any ``_``-separated word of the name (``TLS`` in ``NODE_TLS_REJECT_UNAUTHORIZED``)."""
    pattern: re.Pattern[str] | None = None

    def holds(self, name: str) -> bool:
        return (
            name in self.names
            or name.startswith(self.prefixes)
            or name.endswith(self.suffixes)
            or not self.words.isdisjoint(name.split("_"))
            or (self.pattern is not None and self.pattern.match(name) is not None)
        )


_FAMILIES = (
    _Family(
        "the dynamic linker and the C library load code or data from it",
        names=frozenset(
            {"GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "LOCALDOMAIN", "TZDIR"}
            | {"GETCONF_DIR", "RESOLV_HOST_CONF"}
        ),
        prefixes=("LD_", "DYLD_", "MALLOC_", "GLIBC_", "RES_"),
    ),
    _Family(
        "it routes the server's network traffic through a proxy",
        words=frozenset({"PROXY", "SOCKS", "SOCKS4", "SOCKS5"}),
        prefixes=("GLOBAL_AGENT_",),
    ),
    _Family(
        "it changes which TLS certificates are trusted or how TLS is checked",
        prefixes=("SSL", "OPENSSL", "GNUTLS_", "NSS_", "CURL", "WGET"),
        words=frozenset(
            {"TLS", "SSL", "CA", "CACERT", "CACERTS", "CAFILE", "CAPATH", "CAINFO", "CABUNDLE"}
            | {"INSECURE"}
        ),
    ),
    _Family(
        "it sets how a language runtime starts or where it loads code from",
        names=frozenset({"CLASSPATH", "NODE", "VIRTUAL_ENV", "RUSTFLAGS", "RUSTDOCFLAGS"}),
        prefixes=(
            "NODE_",
            "NPM_",
            "YARN_",
            "PNPM_",
            "COREPACK_",
            "BUN_",
            "DENO_",
            "PYTHON",
            "PIP_",
            "PIPX_",
            "UV_",
            "CONDA_",
            "PERL",
            "RUBY",
            "GEM_",
            "BUNDLE_",
            "JAVA_",
            "JDK_",
            "JRE_",
            "JVM_",
            "MAVEN_",
            "M2_",
            "GRADLE_",
            "ANT_",
            "SBT_",
            "CATALINA_",
            "DOTNET_",
            "CORECLR_",
            "COREHOST_",
            "COMPLUS_",
            "LUA_",
            "LUAROCKS_",
            "PHP",
            "TCL",
            "TK_",
            "R_",
            "ERL_",
            "ELIXIR_",
            "MIX_",
            "HEX_",
            "CARGO_",
            "RUSTC",
            "RUSTUP_",
        ),
        # Option variables of any runtime: JAVA_TOOL_OPTIONS, MAVEN_OPTS, GOFLAGS, RUBYOPT.
        suffixes=("_OPTIONS", "_OPTS", "_FLAGS", "OPT"),
        # Go's own variables are GO and letters, without '_' (GOFLAGS, GOPROXY, GODEBUG);
        # GOOGLE_API_KEY is not one of them.
        pattern=re.compile(r"^GO[A-Z0-9]*$"),
    ),
    _Family(
        "names starting with '_' are a runtime's internal switches (_JAVA_OPTIONS)",
        prefixes=("_",),
    ),
    _Family(
        "the shell and process start-up read it (search path, home, start-up files, temp files)",
        names=frozenset(
            {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "ENV", "IFS", "CDPATH"}
            | {"PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS"}
            | {"GLOBIGNORE", "ZDOTDIR", "PWD", "OLDPWD", "TMPDIR", "TMP", "TEMP", "INPUTRC"}
            | {"HOSTNAME"}
        ),
        prefixes=("BASH_", "ZSH", "XDG_", "SYSTEMD_", "DBUS_"),
    ),
    _Family(
        "programs run the command it names",
        names=frozenset(
            {"EDITOR", "VISUAL", "PAGER", "BROWSER", "MANPAGER", "LESSOPEN", "LESSCLOSE"}
        ),
    ),
    _Family(
        "version control and remote shells read it (hooks, helpers, keys)",
        names=frozenset({"GNUPGHOME", "HGRCPATH"}),
        prefixes=("GIT_", "SSH_", "GPG_", "SVN_", "HG_"),
    ),
    _Family(
        "the container engine reads it (image servers get their variables through the "
        "engine's own environment)",
        names=frozenset(
            {"KUBECONFIG", "REGISTRIES_CONFIG_PATH", "REGISTRY_AUTH_FILE", "NOTIFY_SOCKET"}
            | {"STORAGE_DRIVER", "STORAGE_OPTS"}
        ),
        prefixes=(
            "DOCKER_",
            "CONTAINER_",
            "CONTAINERS_",
            "PODMAN_",
            "BUILDAH_",
            "CONTAINERD_",
            "CNI_",
        ),
    ),
    _Family("it is one of Clara's own settings", prefixes=("CLARA_",)),
)


def refusal_of(name: str) -> str | None:
    """Why ``name`` may not be set for an MCP server, or None when it may."""
    for family in _FAMILIES:
        if family.holds(name):
            return family.reason
    return None


def parse_env(text: str) -> dict[str, str]:
    """``KEY=VALUE`` pairs separated by spaces (API keys a server needs).

    Names are upper-case identifiers outside the refused families (``refusal_of``); values
    are 1 to ``MAX_ENV_VALUE`` printable characters. Errors name the variable and the
    reason, never a value.
    """
    values: dict[str, str] = {}
    for item in text.split():
        name, equals, value = item.partition("=")
        if not equals:
            raise SourceError(f"environment: {name[:40]!r} is not NAME=VALUE")
        if not _ENV_NAME.match(name):
            raise SourceError(f"environment: {name[:40]!r} is not a variable name (A-Z, 0-9, _)")
        reason = refusal_of(name)
        if reason is not None:
            raise SourceError(f"environment: {name} cannot be set: {reason}")
        if not value or len(value) > MAX_ENV_VALUE or not value.isprintable():
            raise SourceError(
                f"environment: the value of {name} must be 1 to {MAX_ENV_VALUE} printable "
                "characters"
            )
        values[name] = value
    if len(values) > MAX_ENV:
        raise SourceError(f"environment: {len(values)} variables; {MAX_ENV} at most")
    return values
