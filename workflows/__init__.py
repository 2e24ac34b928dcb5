"""The core of Paraphe: use cases that every channel calls; imports no transport."""
