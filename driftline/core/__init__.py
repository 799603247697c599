"""The floor: configuration, the process environment, progress, batch files, fault markers,
managed processes. Imports nothing of Driftline's."""
