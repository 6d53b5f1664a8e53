"""The daemon's local HTTP API (and, later, its dashboard and metrics)."""
