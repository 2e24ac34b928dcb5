"""One module per command address: seal@, verify@, help@."""
