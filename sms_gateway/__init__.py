"""Text messages out of the outbox: providers (file, SMPP 3.4, Octopush's HTTP API), the sender
that renders a notification for them, and the worker that sends and retries."""
