"""Processes Driftline runs or talks to: the shared local Prefect API, `up`/`down` servers and
their credentials, the retrain schedule, notifications and alert routes."""
