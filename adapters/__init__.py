"""I/O adapters for the pure core, installed as ``pyconsensus.adapters``.

Each adapter is optional and pulls in its own dependency (see the ``trio``,
``lmdb`` and ``cbor`` extras). The core never imports anything from here.
"""
