"""The `driftline` command line, the product's face: `app` builds the command from the groups
(one module each), `common` holds what they share.

Every first-party import is at the top of its module except the flows: a command first sets the
process environment (the project's Prefect home and API, quiet library logs), and only then
imports the flow it runs, because Prefect reads that environment when first imported. It also
keeps `driftline --help` and the commands that run no flow from loading Prefect at all.
"""
