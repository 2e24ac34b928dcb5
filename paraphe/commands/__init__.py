"""Command groups of the paraphe CLI, one module each."""
