"""The REST API under /api/v1: one module per resource; web/api_v1.py mounts them."""
