"""Getting data from partners on schedule: pulls from their APIs, inbox directories for their files, the
scheduler that runs sync -> link -> publish per source, and each source's status."""
