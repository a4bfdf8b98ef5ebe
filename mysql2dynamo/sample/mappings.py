"""The sample shop mapped into one DynamoDB table, as the tests and the load bench use it: every sample
type through the mapping, two rules on customers (profile, and a birthday item: `birthday` is
nullable, so that rule refuses some rows, which go to the rejects of the load and the dead letters
of the replay), orders with a `where`, order lines. `mysql2dynamo/sample/mapping.yaml` is the
documented single-table design of `demo`.
"""

from __future__ import annotations

MAPPING = """
version: 1
tables:
  {db}.customers:
    - name: profile
      target: {table}
      key: {{PK: "CUSTOMER#{{id}}", SK: "PROFILE"}}
      attributes:
        email: "{{lower(email)}}"
        GSI1PK: "EMAIL#{{lower(email)}}"
        entity: "'Customer'"
      exclude: [password_hash]
      rest: true
    - name: birthday
      target: {table}
      key: {{PK: "BIRTHDAY#{{birthday}}", SK: "CUSTOMER#{{pad(id, 8)}}"}}
      attributes: {{name: name}}
  {db}.orders:
    target: {table}
    key: {{PK: "CUSTOMER#{{customer_id}}", SK: "ORDER#{{fmt_time(created_at, '%Y-%m-%d')}}#{{pad(id, 10)}}"}}
    attributes: {{shipping: "{{json(shipping)}}"}}
    rest: true
    where: "status != 'draft'"
  {db}.order_items:
    target: {table}
    key: {{PK: "ORDER#{{pad(order_id, 10)}}", SK: "ITEM#{{pad(line_no, 4)}}"}}
    rest: true
"""


def mapping_text(db: str, table: str) -> str:
    """The mapping for the sample shop in database `db`, writing DynamoDB table `table`."""
    return MAPPING.format(db=db, table=table)
