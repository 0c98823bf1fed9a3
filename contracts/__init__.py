"""Data-sharing contracts: one file per agreement, validated, versioned and recorded in the audit log."""
