"""Text messages out of the outbox: providers (file, SMPP 3.4, Octopush's HTTP API) and the
sender that renders a notification for them; the dispatcher (paraphe.dispatch) sends and
retries."""
