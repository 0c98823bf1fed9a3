"""Pure functions for Thai data: citizen IDs, Buddhist-era dates, names with titles, DOPA area codes."""
