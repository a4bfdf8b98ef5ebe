"""The sample shop: a schema that uses every MySQL type mysql2dynamo must carry, and live traffic."""
