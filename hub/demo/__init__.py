"""Synthetic demo data: a ground-truth Thai population and the partner files written from it."""
