"""The running service: the engine loop around the pure decision core."""
