"""Checks every protocol's configuration class applies to its knobs: attrs
validators for counts of ticks or entries, and the orderings between two knobs.
Each failure is a ``ConfigError`` that names the knob."""

from __future__ import annotations

import attrs

from pyconsensus.core.errors import ConfigError


def positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    """attrs validator: an int of at least 1 (a bool is not a count)."""
    if type(value) is not int or value < 1:
        raise ConfigError(f"{attribute.name} must be a positive integer, got {value!r}")


def non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    """attrs validator: an int of at least 0 (a bool is not a count)."""
    if type(value) is not int or value < 0:
        raise ConfigError(f"{attribute.name} must be a non-negative integer, got {value!r}")


def require_below(config: object, smaller: str, larger: str) -> None:
    """``config.<smaller>`` must be strictly smaller than ``config.<larger>``."""
    low, high = getattr(config, smaller), getattr(config, larger)
    if low >= high:
        raise ConfigError(f"{smaller} ({low}) must be smaller than {larger} ({high})")


def require_at_most(config: object, lower: str, upper: str) -> None:
    """``config.<lower>`` must not exceed ``config.<upper>``."""
    low, high = getattr(config, lower), getattr(config, upper)
    if low > high:
        raise ConfigError(f"{lower} ({low}) must not exceed {upper} ({high})")
