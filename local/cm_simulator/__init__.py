"""Local stand-in for CM.com's Voice API "Request DTMF" app (a sandbox).

Run it with ``python -m cm_simulator`` (see README.md), or embed it::

    from cm_simulator import Simulator

    with Simulator(port=0, time_scale=0.0005) as sim:
        ...  # point the CM client's base URL at sim.url
"""

from cm_simulator.delivery import DeliveryMode
from cm_simulator.flow import Pickup
from cm_simulator.scripts import DEFAULT_BEHAVIOUR, MAGIC_NUMBERS, Behaviour
from cm_simulator.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_PRODUCT_TOKEN,
    DEFAULT_TIME_SCALE,
    Simulator,
    __version__,
)

__all__ = [
    "DEFAULT_BEHAVIOUR",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_PRODUCT_TOKEN",
    "DEFAULT_TIME_SCALE",
    "MAGIC_NUMBERS",
    "Behaviour",
    "DeliveryMode",
    "Pickup",
    "Simulator",
    "__version__",
]
