"""pal-sync: manage Tavus PALs as code (validate, plan, apply, import)."""

__version__ = "0.1.0"
