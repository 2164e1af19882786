"""atheris fuzz target for the CBOR codec.

The property: any byte string either decodes to an object of a registered type
that re-encodes to an equal object, or raises ``DecodeError``. Anything else -
another exception, a crash, a hang - is a finding.

Run it directly for as long as you like (libFuzzer flags apply)::

    python tests/fuzz/fuzz_codec.py -max_total_time=600 corpus/

``tests/adapters/test_cbor_fuzz.py`` runs it briefly in CI, seeded with one
valid frame of every registered type.
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped, import-not-found, unused-ignore]

with atheris.instrument_imports():
    from pyconsensus.adapters.cbor import DecodeError, default_codec

CODEC = default_codec()
TYPES = frozenset(CODEC.types.values())
# The per-type decoders are generated at runtime (exec), after the import hook
# ran: instrument them too, so coverage guides the fuzzer into them.
atheris.instrument_all()


def test_one_input(data: bytes) -> None:
    try:
        obj = CODEC.decode(data)
    except DecodeError:
        return
    if type(obj) not in TYPES:
        raise AssertionError(f"decoded an unregistered type {type(obj)!r}")
    again = CODEC.decode(CODEC.encode(obj))
    if again != obj:
        raise AssertionError(f"{obj!r} re-encodes to {again!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
