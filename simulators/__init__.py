"""Partner systems simulated as real servers and file drops, for the demo and the fault tests.

Each runs as its own process (``python -m simulators.msdhs_api``, ``python -m simulators.file_partner``):
the hub talks to them over HTTP or through its inbox directories exactly as it talks to the partners.
"""
