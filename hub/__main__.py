"""``python -m hub``: the ``hub`` command, for an environment without its console script on the PATH."""
from hub.cli import app

app(prog_name="hub")
