"""The consent registry: who agreed to what, for whom, and the one question every read and publish asks
(:mod:`consent.decisions`)."""
