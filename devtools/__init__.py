"""Helpers the tests and the benchmarks share (never shipped): the template read as data,
Lambda-like loading and contexts, sample events, DynamoDB stream batches, a scriptable CM.

Lives outside ``tests/`` so that ``bench/`` (and scripts) can use the same code as the tests
without importing the test suite.
"""
