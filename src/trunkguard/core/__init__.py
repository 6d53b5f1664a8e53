"""The pure decision core: functions of (snapshot, observations, now) with no I/O, no sleeping and
no wall clock. Production and simulation run the same code; only the clock and the world differ."""
