"""What the tests and the benches both need, written once: ports, PostgreSQL servers and databases (with a
migrated template to clone), `dealgraph` subprocesses, a Redis server, the statement-counting proxy, and the
data sets both measure against.

Tests import from here and never from `bench/` (tests/test_architecture_tests.py checks it); production code
(`dealgraph/`) imports from neither.
"""
