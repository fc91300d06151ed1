"""Helpers shared by the runtime benchmarks.

Every measurement runs in a fresh interpreter (`run_in_subprocess`), so one scenario's heap,
threads and allocator state never leak into the next one's timings or RSS figures. The child
is started as ``python -c 'from bench._harness import child_main; ...' MODULE FUNCTION KWARGS
OUT`` with the repository root as working directory; it imports ``MODULE``, calls
``FUNCTION(**KWARGS)`` and writes the returned dict as JSON to the file ``OUT`` (stdout stays
free for whatever a peer library prints).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Packages whose versions are recorded with every run.
VERSIONED_PACKAGES = ("trio", "outcome", "pykka", "thespian", "psutil", "msgspec", "clara")

#: Seconds one measurement may take before its process group is killed.
DEFAULT_TIMEOUT = 240.0

_CHILD_CODE = (
    "import sys; from bench._harness import child_main; sys.exit(child_main(sys.argv[1:]))"
)

Result = dict[str, Any]


# --------------------------------------------------------------------------- subprocesses


def run_in_subprocess(
    module: str, function: str, kwargs: dict[str, Any], *, timeout: float = DEFAULT_TIMEOUT
) -> Result:
    """Run ``module.function(**kwargs)`` in a fresh interpreter and return its dict.

    Never raises for a failing benchmark: a child that cannot import what it needs returns
    ``{"skipped": reason}``, one that raises returns ``{"error": reason}``, and a child that
    dies or overruns ``timeout`` gives ``{"error": ...}`` here.
    """
    with tempfile.TemporaryDirectory(prefix="clara-bench-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-c", _CHILD_CODE, module, function, json.dumps(kwargs), str(out)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env.setdefault("PYTHONHASHSEED", "0")
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # The child leads its own session: end its whole group (pykka threads, any
            # helper processes a peer started) and nothing else.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"error": f"timed out after {timeout:.0f} s"}
        if out.exists():
            result: Result = json.loads(out.read_text())
            return result
        tail = _last_line(stderr) or f"exit status {proc.returncode}"
        return {"error": f"child died without a result: {tail}"}


def child_main(argv: Sequence[str]) -> int:
    """Entry point of the measuring child (see `run_in_subprocess`)."""
    module_name, function_name, kwargs_json, out_path = argv
    result: Result
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, function_name)
        result = function(**json.loads(kwargs_json))
    except ImportError as exc:
        result = {"skipped": f"cannot import: {_one_line(exc)}"}
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {_one_line(exc)}"}
    if not isinstance(result, dict):
        result = {"error": f"{function_name} returned {type(result).__name__}, not dict"}
    Path(out_path).write_text(json.dumps(result))
    sys.stdout.flush()
    sys.stderr.flush()
    return 0


def probe(module: str, names: list[str]) -> Result:
    """Import ``module`` and report which of ``names`` it defines as callables.

    Run through `run_in_subprocess`, so an import failure comes back as ``{"skipped": ...}``.
    """
    mod = importlib.import_module(module)
    return {"functions": [name for name in names if callable(getattr(mod, name, None))]}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


# --------------------------------------------------------------------------- statistics


def percentile(sorted_samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of already sorted samples, linearly interpolated."""
    if not sorted_samples:
        raise ValueError("percentile of no samples")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside 0..100")
    rank = (len(sorted_samples) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_samples) - 1)
    fraction = rank - low
    return sorted_samples[low] + (sorted_samples[high] - sorted_samples[low]) * fraction


def latency_summary_us(samples_ns: Iterable[int]) -> dict[str, float]:
    """p50, p99 and mean of nanosecond samples, in microseconds (rounded to 0.01 µs)."""
    ordered = sorted(samples_ns)
    if not ordered:
        raise ValueError("no samples")
    return {
        "p50_us": round(percentile(ordered, 50) / 1000, 2),
        "p99_us": round(percentile(ordered, 99) / 1000, 2),
        "mean_us": round(sum(ordered) / len(ordered) / 1000, 2),
    }


def throughput(messages: int, seconds: float) -> Result:
    """The tell_throughput figures for ``messages`` processed in ``seconds``."""
    return {
        "messages": messages,
        "seconds": round(seconds, 6),
        "per_second": round(messages / seconds) if seconds > 0 else None,
    }


def spawn_figures(actors: int, seconds: float, rss_before: int, rss_after: int) -> Result:
    """The spawn figures for ``actors`` idle actors created in ``seconds``."""
    return {
        "actors": actors,
        "seconds": round(seconds, 6),
        "us_per_actor": round(seconds / actors * 1e6, 3),
        "rss_bytes_per_actor": round((rss_after - rss_before) / actors, 1),
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
    }


# --------------------------------------------------------------------------- memory and time


def rss_bytes() -> int:
    """Resident set size of this process, in bytes (psutil, else /proc/self/statm)."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
    except ImportError:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    return int(psutil.Process().memory_info().rss)


def now_ns() -> int:
    """`time.perf_counter_ns`, named once so every peer uses the same clock."""
    return time.perf_counter_ns()


# --------------------------------------------------------------------------- machine info


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> Result:
    """What the figures were measured on."""
    info: Result = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "memory_bytes": _memory_total(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": {name: package_version(name) for name in VERSIONED_PACKAGES},
        "git_commit": _git_commit(),
    }
    return info


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _memory_total() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return None


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def failed_part(figures: dict[str, Any]) -> str | None:
    """The first part of ``figures`` (a part, or a list of them, by name) that failed or
    was skipped, as one line naming it; None when every part ran."""
    for name, value in figures.items():
        for part in value if isinstance(value, list) else [value]:
            if "error" in part or "skipped" in part:
                return f"{name}: {part}"
    return None


def write_results(
    name: str, quick: bool, figures: dict[str, Any], markdown: Callable[[dict[str, Any]], str]
) -> dict[str, Any]:
    """Write ``bench/results/<name>[-quick].json`` and ``.md``, print the Markdown.

    The document is ``figures`` plus the mode, the time and the machine; returned too.
    """
    mode = "quick" if quick else "full"
    doc: dict[str, Any] = {
        "mode": mode,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        **figures,
    }
    results = REPO_ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    stem = name if mode == "full" else f"{name}-quick"
    (results / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    text = markdown(doc)
    (results / f"{stem}.md").write_text(text)
    print(text)
    return doc
