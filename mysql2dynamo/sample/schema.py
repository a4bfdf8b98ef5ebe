"""DDL of the sample shop database.

Between them the three tables use every type the migration must carry exactly: signed and
unsigned integers (BIGINT UNSIGNED beyond 2**63), DECIMAL(12,2) and DECIMAL(38,10), FLOAT,
DOUBLE, CHAR/VARCHAR with emoji, TEXT, BLOB, BINARY(16), DATE, DATETIME(6), DATETIME(3),
TIMESTAMP, TIME, JSON, ENUM, SET and NULLs; order_items has a composite primary key.
Foreign keys are RESTRICT, not CASCADE: cascaded changes never reach the binlog.
"""

from __future__ import annotations

TABLES: dict[str, str] = {
    "customers": """
CREATE TABLE customers (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  external_id    BIGINT UNSIGNED NOT NULL,
  email          VARCHAR(255) NOT NULL,
  name           VARCHAR(100) NOT NULL,
  country        CHAR(2) NOT NULL,
  tier           ENUM('free','pro','enterprise') NOT NULL DEFAULT 'free',
  tags           SET('newsletter','beta','vip') NOT NULL DEFAULT '',
  credit_limit   DECIMAL(12,2) NOT NULL,
  lifetime_value DECIMAL(38,10) NOT NULL,
  score          FLOAT NOT NULL,
  ratio          DOUBLE NOT NULL,
  avatar         BLOB NULL,
  api_key        BINARY(16) NOT NULL,
  birthday       DATE NULL,
  created_at     DATETIME(6) NOT NULL,
  updated_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  preferred_time TIME NULL,
  profile        JSON NULL,
  notes          TEXT NULL,
  password_hash  CHAR(60) NOT NULL,
  login_count    INT UNSIGNED NOT NULL DEFAULT 0,
  balance_cents  BIGINT NOT NULL,
  flags          TINYINT NOT NULL DEFAULT 0,
  age            SMALLINT NULL,
  UNIQUE KEY uq_customers_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    "orders": """
CREATE TABLE orders (
  id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,
  status      ENUM('draft','placed','paid','shipped','cancelled') NOT NULL,
  total       DECIMAL(12,2) NOT NULL,
  currency    CHAR(3) NOT NULL,
  created_at  DATETIME(6) NOT NULL,
  shipped_at  DATETIME(3) NULL,
  shipping    JSON NOT NULL,
  note        TEXT NULL,
  KEY ix_orders_customer (customer_id),
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
    ON DELETE RESTRICT ON UPDATE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    "order_items": """
CREATE TABLE order_items (
  order_id   BIGINT NOT NULL,
  line_no    SMALLINT UNSIGNED NOT NULL,
  sku        VARCHAR(32) NOT NULL,
  qty        INT NOT NULL,
  unit_price DECIMAL(12,2) NOT NULL,
  weight_kg  DOUBLE NULL,
  gift       TINYINT(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id)
    ON DELETE RESTRICT ON UPDATE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
}

CUSTOMER_COLUMNS = (
    "external_id", "email", "name", "country", "tier", "tags", "credit_limit", "lifetime_value",
    "score", "ratio", "avatar", "api_key", "birthday", "created_at", "preferred_time", "profile",
    "notes", "password_hash", "login_count", "balance_cents", "flags", "age",
)
ORDER_COLUMNS = ("customer_id", "status", "total", "currency", "created_at", "shipped_at", "shipping", "note")
ITEM_COLUMNS = ("order_id", "line_no", "sku", "qty", "unit_price", "weight_kg", "gift")
