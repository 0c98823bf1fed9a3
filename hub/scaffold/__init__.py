"""``hub adapter new NAME``: a pip-installable adapter package to start from (the plugin module with typed
options, a sample file, its tests, a draft data-sharing contract and a README), rendered from the
templates beside this module."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hub.errors import ConfigurationError

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
_TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Output path (formatted with the package's names) -> template.
FILES = {
    "pyproject.toml": "pyproject.toml.j2",
    "README.md": "README.md.j2",
    "{package}/__init__.py": "adapter.py.j2",
    "{package}/sample.csv": "sample.csv.j2",
    "tests/test_adapter.py": "test_adapter.py.j2",
    "contract/{name}.toml": "contract.toml.j2",
}


def new_adapter(name: str, into: Path, *, title: str | None = None, taken: set[str] = frozenset()) -> Path:
    """Write the package for adapter ``name`` into ``into/saphan-NAME`` and return that directory. Raises
    :class:`ConfigurationError` for a malformed name, a name an installed adapter has (``taken``) or a
    directory that exists already (nothing is overwritten)."""
    if not _NAME.match(name):
        raise ConfigurationError(f"adapter name {name!r}: use 2-41 lower-case letters, digits and _, "
                                 "starting with a letter (it is the SOURCE on the command line)")
    if name in taken:
        raise ConfigurationError(f"an installed adapter is already named {name!r}; choose another name")
    target = into / f"saphan-{name.replace('_', '-')}"
    if target.exists():
        raise ConfigurationError(f"{target} exists already; nothing was written")
    today = dt.date.today()
    names = {
        "name": name, "package": f"saphan_{name}", "distribution": f"saphan-{name.replace('_', '-')}",
        "class_name": "".join(part.capitalize() for part in name.split("_")) + "Adapter",
        "title": title or name.replace("_", " ").capitalize(), "today": today.isoformat(),
        "until": dt.date(today.year + 2, 12, 31).isoformat(),
    }
    env = Environment(loader=FileSystemLoader(_TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True,
                      autoescape=False)
    env.filters["quoted"] = lambda text: json.dumps(text, ensure_ascii=False)  # a Python and TOML string
    for output, template in FILES.items():
        path = target / output.format(**names)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(**names), encoding="utf-8")
    return target
