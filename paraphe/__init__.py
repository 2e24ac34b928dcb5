"""Paraphe: settings, command line and runtime wiring."""
