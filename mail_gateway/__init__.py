"""mail_gateway transport."""
