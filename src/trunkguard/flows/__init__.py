"""Carrier-aware contact-center flows: reading Architect flow files (Archy YAML and exported JSON),
the lint that names what in a flow breaks when the carrier changes, and the DID-sweep tone the
shipped routing-matrix flow plays to trunkguard's own test calls (deploy/genesys/)."""
