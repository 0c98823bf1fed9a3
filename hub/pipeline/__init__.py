"""The stages data flows through, in order: ingest (then link and publish, in later stages).
A stage never imports from a later one."""
