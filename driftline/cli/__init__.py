"""The `driftline` command line, the product's face: `app` builds the command from the groups
(one module each), `common` holds what they share."""
