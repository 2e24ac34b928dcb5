"""The cabinet space /c/: server-rendered pages where a member signs in by a mailed code and
an expert manages their cabinet. Every action calls the core's use cases; no rule lives here."""
