"""The local stack: real servers on 127.0.0.1 standing in for MySQL and AWS (DESIGN.md section 7)."""
