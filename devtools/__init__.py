"""Tooling beside the product (app/): the demo data, `make run`'s and `make cluster`'s
process supervisors, and the private PostgreSQL cluster the tests and benchmarks start."""
