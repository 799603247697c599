"""The `driftline` command line, the product's face: `app` builds the command from the groups
(one module each), `common` holds what they share.

The one place where first-party imports sit inside functions: a command first sets the process
environment (telemetry off, the project's Prefect home and API, quiet library logs), and only
then imports the flows, because Prefect and MLflow read that environment when first imported.
It also keeps `driftline --help` and the read-only commands from loading Prefect at all.
"""
