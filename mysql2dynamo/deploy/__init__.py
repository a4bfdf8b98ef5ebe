"""One CloudFormation stack per migration, generated from the config (`mysql2dynamo deploy`), and the
target tables alone (`mysql2dynamo create-tables`)."""
