"""Linking: source records to persons, persons to households, with stable ids (see ``docs/linking.md``)."""
