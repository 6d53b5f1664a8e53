"""Probes: one module per kind, all returning the same ProbeResult (blackbox_exporter's shape)."""

from trunkguard.probing.result import ProbeResult, ProbeStatus

__all__ = ["ProbeResult", "ProbeStatus"]
