"""Environment variables for MCP servers: whole families of names refused, each with its reason.

The hostile names are the kinds issue 13 found accepted (proxies, TLS trust, OpenSSL and
gconv paths, JVM/Perl/Ruby option variables) and their relatives in other runtimes; the
look-alikes are API-key names real MCP servers document, which must still pass.
"""

from __future__ import annotations

import pytest

from clara.adapters.mcp import SourceError, parse_env, refusal_of

PROXY = "through a proxy"
TLS = "which TLS certificates are trusted"
LINKER = "dynamic linker and the C library"
RUNTIME = "how a language runtime starts"
UNDERSCORE = "runtime's internal switches"
SHELL = "shell and process start-up"
COMMAND = "run the command it names"
VCS = "version control and remote shells"
ENGINE = "container engine reads it"
CLARA = "Clara's own settings"

HOSTILE = [
    # proxies
    ("HTTP_PROXY", PROXY),
    ("HTTPS_PROXY", PROXY),
    ("ALL_PROXY", PROXY),
    ("NO_PROXY", PROXY),
    ("FTP_PROXY", PROXY),
    ("SOCKS_PROXY", PROXY),
    ("SOCKS5_SERVER", PROXY),
    ("GLOBAL_AGENT_HTTP_PROXY", PROXY),
    ("NODE_USE_ENV_PROXY", PROXY),
    ("GRPC_PROXY_EXP", PROXY),
    # TLS trust and OpenSSL
    ("SSL_CERT_FILE", TLS),
    ("SSL_CERT_DIR", TLS),
    ("SSLKEYLOGFILE", TLS),
    ("REQUESTS_CA_BUNDLE", TLS),
    ("CURL_CA_BUNDLE", TLS),
    ("CURL_HOME", TLS),
    ("AWS_CA_BUNDLE", TLS),
    ("WEBSOCKET_CLIENT_CA_BUNDLE", TLS),
    ("HTTPLIB2_CA_CERTS", TLS),
    ("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", TLS),
    ("OPENSSL_CONF", TLS),
    ("OPENSSL_MODULES", TLS),
    ("OPENSSL_ENGINES", TLS),
    ("OPENSSL_IA32CAP", TLS),
    ("GNUTLS_SYSTEM_PRIORITY_FILE", TLS),
    ("NSS_DB_DIR", TLS),
    ("MY_SERVICE_INSECURE", TLS),
    ("WGETRC", TLS),
    # dynamic linker, C library
    ("LD_PRELOAD", LINKER),
    ("LD_LIBRARY_PATH", LINKER),
    ("LD_AUDIT", LINKER),
    ("DYLD_INSERT_LIBRARIES", LINKER),
    ("GCONV_PATH", LINKER),
    ("LOCPATH", LINKER),
    ("NLSPATH", LINKER),
    ("GLIBC_TUNABLES", LINKER),
    ("MALLOC_CHECK_", LINKER),
    ("HOSTALIASES", LINKER),
    ("RES_OPTIONS", LINKER),
    ("LOCALDOMAIN", LINKER),
    # language runtimes: code paths and option variables
    ("JAVA_TOOL_OPTIONS", RUNTIME),
    ("JDK_JAVA_OPTIONS", RUNTIME),
    ("JAVA_HOME", RUNTIME),
    ("CLASSPATH", RUNTIME),
    ("MAVEN_OPTS", RUNTIME),
    ("GRADLE_OPTS", RUNTIME),
    ("CATALINA_OPTS", RUNTIME),
    ("PERL5OPT", RUNTIME),
    ("PERL5LIB", RUNTIME),
    ("PERLLIB", RUNTIME),
    ("PERL5DB", RUNTIME),
    ("RUBYOPT", RUNTIME),
    ("RUBYLIB", RUNTIME),
    ("GEM_PATH", RUNTIME),
    ("BUNDLE_GEMFILE", RUNTIME),
    ("NODE_OPTIONS", RUNTIME),
    ("NODE_PATH", RUNTIME),
    ("NODE_EXTRA_CA_CERTS", TLS),  # both families; TLS trust answers first
    ("NODE_TLS_REJECT_UNAUTHORIZED", TLS),
    ("NPM_CONFIG_REGISTRY", RUNTIME),
    ("YARN_RC_FILENAME", RUNTIME),
    ("PYTHONPATH", RUNTIME),
    ("PYTHONSTARTUP", RUNTIME),
    ("PYTHONWARNINGS", RUNTIME),
    ("PYTHONHTTPSVERIFY", RUNTIME),
    ("PIP_INDEX_URL", RUNTIME),
    ("UV_INDEX_URL", RUNTIME),
    ("VIRTUAL_ENV", RUNTIME),
    ("CONDA_PREFIX", RUNTIME),
    ("DENO_DIR", RUNTIME),
    ("BUN_INSTALL", RUNTIME),
    ("LUA_INIT", RUNTIME),
    ("LUA_PATH", RUNTIME),
    ("PHPRC", RUNTIME),
    ("PHP_INI_SCAN_DIR", RUNTIME),
    ("DOTNET_STARTUP_HOOKS", RUNTIME),
    ("CORECLR_PROFILER_PATH", RUNTIME),
    ("GOFLAGS", RUNTIME),
    ("GOPROXY", RUNTIME),
    ("GODEBUG", RUNTIME),
    ("CARGO_HOME", RUNTIME),
    ("RUSTC_WRAPPER", RUNTIME),
    ("RUSTFLAGS", RUNTIME),
    ("R_PROFILE_USER", RUNTIME),
    ("TCLLIBPATH", RUNTIME),
    ("ERL_AFLAGS", RUNTIME),
    ("ELIXIR_ERL_OPTIONS", RUNTIME),
    ("SOME_TOOL_OPTIONS", RUNTIME),
    ("_JAVA_OPTIONS", RUNTIME),  # the option suffix answers first
    ("_X", UNDERSCORE),
    # the shell, the process, commands run for you
    ("PATH", SHELL),
    ("HOME", SHELL),
    ("SHELL", SHELL),
    ("ENV", SHELL),
    ("BASH_ENV", SHELL),
    ("BASH_FUNC_X", SHELL),
    ("PROMPT_COMMAND", SHELL),
    ("PS4", SHELL),
    ("SHELLOPTS", SHELL),
    ("IFS", SHELL),
    ("TMPDIR", SHELL),
    ("XDG_CONFIG_HOME", SHELL),
    ("ZDOTDIR", SHELL),
    ("EDITOR", COMMAND),
    ("PAGER", COMMAND),
    ("BROWSER", COMMAND),
    ("LESSOPEN", COMMAND),
    # version control, remote shells
    ("GIT_SSH_COMMAND", VCS),
    ("GIT_CONFIG_GLOBAL", VCS),
    ("SSH_AUTH_SOCK", VCS),
    ("GNUPGHOME", VCS),
    # the container engine (image servers take their variables through its environment)
    ("DOCKER_HOST", ENGINE),
    ("DOCKER_CONFIG", ENGINE),
    ("CONTAINER_HOST", ENGINE),
    ("CONTAINERS_CONF", ENGINE),
    ("CONTAINERS_REGISTRIES_CONF", ENGINE),
    ("REGISTRIES_CONFIG_PATH", ENGINE),
    ("REGISTRY_AUTH_FILE", ENGINE),
    ("KUBECONFIG", ENGINE),
    ("STORAGE_DRIVER", ENGINE),
    # Clara's own
    ("CLARA_STATUS_TOKEN", CLARA),
]


@pytest.mark.parametrize(("name", "reason"), HOSTILE)
def test_a_name_of_a_refused_family_is_refused_with_its_reason(name: str, reason: str) -> None:
    value = "/tmp/evil-value-1234"
    with pytest.raises(SourceError, match=f"{name} cannot be set: .*{reason}") as caught:
        parse_env(f"API_KEY=ok {name}={value}")
    assert value not in str(caught.value)


def test_every_hostile_name_of_the_issue_is_covered() -> None:
    assert len(HOSTILE) >= 100
    assert all(refusal_of(name) is not None for name, _ in HOSTILE)


@pytest.mark.parametrize(
    "name",
    [
        "API_KEY",
        "GITHUB_TOKEN",
        "GITHUB_PERSONAL_ACCESS_TOKEN",
        "GOOGLE_API_KEY",
        "GOOGLE_MAPS_API_KEY",
        "BRAVE_API_KEY",
        "SLACK_BOT_TOKEN",
        "SLACK_TEAM_ID",
        "NOTION_API_KEY",
        "PERPLEXITY_API_KEY",
        "TAVILY_API_KEY",
        "EXA_API_KEY",
        "LINEAR_API_KEY",
        "SENTRY_AUTH_TOKEN",
        "CONTEXT7_API_KEY",
        "JIRA_URL",
        "DATABASE_URL",
        "POSTGRES_CONNECTION_STRING",
        "MEMORY_FILE_PATH",
        "CALENDAR_ID",
        "NODEJS_ENV_NAME",
        "RESEND_API_KEY",
        "CAPTCHA_SITE_KEY",
        "PHOTOS_TOKEN",
    ],
)
def test_api_key_names_real_servers_use_still_pass(name: str) -> None:
    assert parse_env(f"{name}=value-1") == {name: "value-1"}
