"""Platform adapters: one file per platform behind the small `Platform` protocol (base.py)."""
