"""The click commands, one module per verb group; `mysql2dynamo.cli` assembles them. The phase
folders expose functions; only these modules parse options, read the config (`common.configured`)
and resolve where MySQL is (`common.source_url`)."""
