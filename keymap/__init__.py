"""keymap: the declarative MySQL row -> DynamoDB item mapping of mysql2dynamo.

One AST, two compilers: `compile_python` (replay, plain closures over decoded row dicts) and
`compile_spark` (bulk load, one select of native Column expressions). See docs/keymap.md.
"""
