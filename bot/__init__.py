"""bot transport."""
