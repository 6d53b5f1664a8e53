"""trunkguard: keeps a contact center reachable when its SIP carrier fails."""

__version__ = "0.1.0"
