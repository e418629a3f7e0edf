"""``python -m cm_simulator``: run the CM DTMF simulator."""

from cm_simulator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
