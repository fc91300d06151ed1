"""``run.py`` reads as the tree: which children each set-up declares, in which order."""

from pathlib import Path

import pytest

import run
from clara.actors import ActorSystem
from clara.config import load_settings
from clara.health import Readiness
from clara.supervisors import DynamicSupervisor, Supervisor

TOKEN = "x" * 24 + ".abcdef." + "y" * 27


def tree(tmp_path: Path, chat: run.Chat, **env: str) -> run.Tree:
    settings = load_settings({"CLARA_DATA_DIR": str(tmp_path), **env})
    return run.build_tree(settings, ActorSystem("clara"), Readiness(), 0.0, chat=chat)


def test_the_console_tree_has_every_subsystem_in_start_order(tmp_path: Path) -> None:
    root = tree(tmp_path, "console").root
    assert root.child_ids == [
        "shared", "status", "llm", "memory", "mcp", "sandbox", "channels", "console"
    ]  # fmt: skip


def test_discord_replaces_the_console_and_disabled_features_are_left_out(
    tmp_path: Path,
) -> None:
    root = tree(
        tmp_path,
        "discord",
        DISCORD_BOT_TOKEN=TOKEN,
        CLARA_STATUS_ENABLED="false",
        CLARA_MEMORY_ENABLED="false",
        CLARA_MCP_ENABLED="false",
    ).root
    # The sandbox subtree stays (with no backend its tools tell the model code is off).
    assert root.child_ids == ["shared", "llm", "discord", "sandbox", "channels", "intake"]


def test_a_one_shot_tree_has_no_chat_child(tmp_path: Path) -> None:
    built = tree(tmp_path, "once", CLARA_MCP_ENABLED="false")
    assert built.root.child_ids == ["shared", "status", "llm", "memory", "sandbox", "channels"]
    assert isinstance(built.root.child("channels"), DynamicSupervisor)
    assert built.channels.supervisor is built.root.child("channels")


def test_the_mcp_subtree_declares_its_own_children(tmp_path: Path) -> None:
    mcp = tree(tmp_path, "once").root.child("mcp")
    assert isinstance(mcp, Supervisor)
    assert mcp.child_ids == ["reaper", "catalog", "servers"]


def test_the_root_takes_its_intensity_from_the_settings(tmp_path: Path) -> None:
    root = tree(tmp_path, "once", CLARA_ROOT_MAX_RESTARTS="7", CLARA_ROOT_MAX_SECONDS="9").root
    stats = root.statistics()
    assert (stats.max_restarts, stats.max_seconds) == (7, 9.0)


def test_discord_without_a_token_is_refused_with_the_variable_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DISCORD_BOT_TOKEN"):
        tree(tmp_path, "discord")
