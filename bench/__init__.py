"""Performance and cost benchmarks of dtmf-gateway (`make bench`; not part of `make test`).

Entry point: ``python -m bench.run``. A benchmark prints numbers; it asserts nothing.
"""
