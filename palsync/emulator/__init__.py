"""A faithful local Tavus API (`pal-sync emulator`, `--emulator`, and the tests' server)."""

from palsync.emulator.faults import FaultRule, Faults
from palsync.emulator.server import Emulator
from palsync.emulator.store import Store

__all__ = ["Emulator", "FaultRule", "Faults", "Store"]
