"""Synthetic demo data: a ground-truth Thai population (``population``) and the partner files it yields (``writers``)."""
