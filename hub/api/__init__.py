"""The hub's JSON API (FastAPI), served by ``hub serve``."""
