"""The calls table, one module per store; `calls_table` is the one home of its item layout.

Kept import-light on purpose: import the store you need.
"""
