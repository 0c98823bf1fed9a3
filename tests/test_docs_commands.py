"""Every command in the docs runs: each ```bash block of README.md and docs/*.md, in order, one shell per
document (``set -euo pipefail``: a command that fails fails the test), in a folder of its own holding a copy
of the demo's hub (``hub demo --no-serve``, the default population), as a newcomer who ran the demo would
type them. Docs that drift from the commands fail CI.

A block preceded by ``<!-- docs-test: not run, REASON -->`` is not run; REASON must name the test that
runs it instead. A document whose blocks install packages gets a fresh virtual environment of its own
(the hub's dependencies come from the test's environment through a ``.pth`` file; pip installs the rest).
PostgreSQL commands talk to the local server (``PGHOST``/``PGUSER``), which CI starts."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import fresh_venv

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"(?:<!-- docs-test: not run, (?P<reason>[^>]*?) -->\n)?```bash\n(?P<body>.*?)\n```", re.S)
_NAMED_TEST = re.compile(r"tests/(test_\w+\.py)")


def blocks(doc: Path) -> list[tuple[int, str, str | None]]:
    """(line, commands, reason not run) of each bash block in ``doc``."""
    text = doc.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start("body")) + 1, m.group("body"), m.group("reason"))
            for m in _FENCE.finditer(text)]


def hub_env(home: Path, path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return {**env, "HOME": str(home), "PATH": path, "COLUMNS": "200", "PGHOST": "127.0.0.1", "PGUSER": "postgres",
            "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    """A folder where ``hub demo --no-serve`` ran: ``.hub/`` (the default HUB_HOME) and ``demo-out/``."""
    folder = tmp_path_factory.mktemp("demo")
    env = hub_env(folder, f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    done = subprocess.run([sys.executable, "-m", "hub", "demo", "--no-serve"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder


def server_left_as_a_newcomer_finds_it(script: str) -> None:
    """Drop the databases and roles the doc creates, left by an earlier run of this test."""
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGUSER": "postgres"}
    for name in re.findall(r"^createdb (\w+)", script, re.M):
        subprocess.run(["dropdb", "--if-exists", "--force", name], env=env, check=True, capture_output=True)
    for name in re.findall(r"^createuser (\w+)", script, re.M):
        subprocess.run(["dropuser", "--if-exists", name], env=env, check=True, capture_output=True)


@pytest.mark.parametrize("doc", [d for d in DOCS if blocks(d)], ids=lambda d: d.name)
def test_every_command_in_the_doc_runs(doc: Path, demo_folder: Path, tmp_path: Path):
    folder = tmp_path / "work"
    shutil.copytree(demo_folder, folder, symlinks=True)
    run = [(line, body) for line, body, reason in blocks(doc) if reason is None]
    for line, _, reason in blocks(doc):
        if reason is not None:
            named = _NAMED_TEST.search(reason)
            assert named and (ROOT / "tests" / named.group(1)).is_file(), \
                f"{doc.name}:{line}: a block not run must name the test that runs it instead ({reason!r})"
    if not run:
        return
    script = "\n".join(body for _, body in run)
    if re.search(r"\b(createdb|createuser|psql|pg_dump|pg_restore)\b", script):
        if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode != 0:
            pytest.skip("PostgreSQL is not running on 127.0.0.1 (.ci/run starts it)")
        server_left_as_a_newcomer_finds_it(script)
    venv_bin = fresh_venv(folder / ".venv-docs") if re.search(r"\bpip install\b", script) else ROOT / ".venv" / "bin"
    env = hub_env(folder, f"{venv_bin}:{os.environ['PATH']}")
    # one shell for the whole document, as one terminal: variables and the folder carry from block to block
    script = "\n".join(f"echo '@@ {line}' >&2\n{body}" for line, body in run)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=900)
    if done.returncode != 0:
        line = int(re.findall(r"^@@ (\d+)$", done.stderr, re.M)[-1])
        body = dict(run)[line]
        pytest.fail(f"{doc.relative_to(ROOT)}: the block at line {line} failed (exit {done.returncode}):\n{body}\n"
                    f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}", pytrace=False)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_local_link_in_the_doc_resolves(doc: Path):
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        path = target.split("#", 1)[0]
        if path and not re.match(r"^[a-z]+:", path) and not (doc.parent / path).exists():
            broken.append(target)
    assert not broken, f"{doc.name} links to what is not there: {broken}"
