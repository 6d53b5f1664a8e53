"""Simulation: the real scheduler and decision core replayed on a virtual clock."""
