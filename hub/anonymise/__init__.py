"""Anonymisation rules: pure functions over tables, no storage."""
