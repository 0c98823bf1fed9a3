"""The adapter SDK as a partner's developer meets it: ``hub adapter new`` writes a package, pip installs it
(and the example in ``examples/``) into a fresh virtual environment, each package's own tests pass there,
the hub finds both through the ``saphan.adapters`` entry point, registers the new source after a dry run
and ingests its sample, all through the ``hub`` command line.

The fresh environment (:func:`helpers.fresh_venv`) gets the hub from this checkout and its dependencies
from the environment running the tests; the adapters go in with pip, as a partner installs theirs."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import fresh_venv
from hub.errors import ConfigurationError
from hub.scaffold import new_adapter

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "saphan-dla-elderly"


def run(*args, env=None, cwd=None) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout}\n{done.stderr}"
    return " ".join(done.stdout.split())  # as one line: the console wraps to the width it finds


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory) -> Path:
    """A new virtual environment that sees the hub but none of the adapters outside it."""
    return fresh_venv(tmp_path_factory.mktemp("venv") / "env") / "python"


def test_a_new_adapter_and_the_example_install_pass_their_tests_register_and_ingest(fresh_python, tmp_path):
    env = {**os.environ, "HUB_HOME": str(tmp_path / "home"), "HUB_CONTRACTS_DIR": str(tmp_path / "contracts")}
    env.pop("HUB_DATABASE_URL", None)  # the embedded default
    hub = (fresh_python, "-m", "hub")
    out = run(*hub, "adapter", "new", "village_fund", "--into", tmp_path, "--title", "กองทุนหมู่บ้าน (village fund)",
              env=env)
    package = tmp_path / "saphan-village-fund"
    assert "wrote" in out and (package / "saphan_village_fund" / "__init__.py").is_file()

    example = tmp_path / EXAMPLE.name  # a copy: building in place would leave build/ in the checkout
    shutil.copytree(EXAMPLE, example)
    for source in (package, example):
        run(fresh_python, "-m", "pip", "install", "--quiet", "--no-deps", source, env=env)
        run(fresh_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", source / "tests", env=env, cwd=tmp_path)

    contracts = tmp_path / "contracts"
    contracts.mkdir()
    for agreement in [*(ROOT / "contracts" / "agreements").glob("*.toml"), package / "contract" / "village_fund.toml",
                      example / "contract" / "dla_elderly.toml"]:
        (contracts / agreement.name).write_bytes(agreement.read_bytes())
    adapters = run(*hub, "init", env=env).split("adapters:")[1]
    assert "village_fund" in adapters and "dla_elderly" in adapters
    assert "valid" in run(*hub, "contracts", "check", env=env)
    listed = run(*hub, "sources", env=env)
    assert "village_fund" in listed and "dla_elderly" in listed

    sample = package / "saphan_village_fund" / "sample.csv"
    added = run(*hub, "sources", "add", "village_fund", "--inbox", tmp_path / "inbox" / "fund", "--sample", sample,
                "--option", "delimiter=,", env=env)
    assert "3 record(s) of 3 person(s)" in added and "1 would be quarantined" in added
    ingested = run(*hub, "ingest", "village_fund", sample, env=env)
    assert "accepted 3, quarantined 1" in ingested and "3 new" in ingested

    dla = run(*hub, "sources", "add", "dla_elderly", "--inbox", tmp_path / "inbox" / "dla", "--sample",
              example / "saphan_dla_elderly" / "sample.csv", env=env)
    assert "4 record(s)" in dla and "1 would be quarantined" in dla
    toml = (tmp_path / "home" / "sources.toml").read_text(encoding="utf-8")
    assert "[village_fund]" in toml and '[village_fund.options]\ndelimiter = ","' in toml and "[dla_elderly]" in toml


def test_a_name_that_is_taken_malformed_or_already_written_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="lower-case"):
        new_adapter("Village-Fund", tmp_path)
    with pytest.raises(ConfigurationError, match="already named 'tpmap'"):
        new_adapter("tpmap", tmp_path, taken={"tpmap"})
    new_adapter("village_fund", tmp_path)
    with pytest.raises(ConfigurationError, match="exists already"):
        new_adapter("village_fund", tmp_path)
