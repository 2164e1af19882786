"""Per-class encoders and decoders, generated once from shapes (as attrs does for ``__init__``).

Walking annotations for every message would cost more than the CBOR work
itself, so registration compiles each record into two plain functions:

* ``enc_<Name>(obj) -> list`` - the positional array of the fields;
* ``dec_<Name>(value, path) -> obj`` - checks the decoded CBOR value against the
  shape (exact types, lengths, enum values) and only then builds the object.

A ``tuple[Record, ...]`` travels as *one flat array* (the fields of the first
item, then of the second...): cbor2 pays per array, so one array beats one per
item, and the decoder can cut it into columns with C-level slices and
type-check a whole column in one pass instead of one Python test per element. The
generated source of any class is available from ``Codec.source`` for debugging.
"""

from __future__ import annotations

import types
from collections import deque
from collections.abc import Callable
from itertools import repeat
from typing import Any

import attrs

from pyconsensus.adapters.cbor.errors import DecodeError
from pyconsensus.adapters.cbor.shapes import (
    Choice,
    EnumShape,
    Fixed,
    Maybe,
    Record,
    Scalar,
    Seq,
    SetOf,
    Shape,
)

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any, str], Any]

SMALL_BATCH = 8
"""Up to this many records in a tuple, per-item code beats the fixed cost of
column-wide passes (measured with ``pyconsensus bench codec``)."""

_NONE_TYPE = type(None)
_TYPE_NAMES = {int: "int", bool: "bool", bytes: "bytes", str: "str", _NONE_TYPE: "null"}


def describe(value: object) -> str:
    """A short description of a decoded value for error messages."""
    if isinstance(value, list) or (isinstance(value, bytes | str) and len(value) > 16):
        return f"{type(value).__name__} of length {len(value)}"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def fail(path: str, where: str, expected: str, value: object) -> Any:
    raise DecodeError(f"expected {expected}, got {describe(value)}", path + where)


def fail_items(path: str, where: str, items: list[Any], allowed: frozenset[type]) -> Any:
    """Name the first element of ``items`` whose type is not ``allowed``."""
    expected = " or ".join(sorted(_TYPE_NAMES.get(t, t.__name__) for t in allowed))
    for i, item in enumerate(items):
        if type(item) not in allowed:
            fail(path, f"{where}[{i}]", expected, item)
    raise AssertionError("fail_items called without a bad item")  # pragma: no cover


def fail_enum(path: str, where: str, items: list[Any], by_value: dict[Any, Any]) -> Any:
    for i, item in enumerate(items):
        if item not in by_value:
            raise DecodeError(f"{item!r} is not a known value", f"{path}{where}[{i}]")
    raise AssertionError("fail_enum called without a bad item")  # pragma: no cover


def fail_length(path: str, where: str, length: int, limit: int) -> Any:
    raise DecodeError(f"{length} items exceed the limit of {limit}", path + where)


def reject(path: str, exc: Exception) -> Any:
    """An attrs validator or ``__attrs_post_init__`` refused the decoded values."""
    raise DecodeError(f"rejected by the class: {type(exc).__name__}: {exc}", path) from exc


def _plain_slots(cls: type) -> bool:
    """Whether instances of ``cls`` may be built by setting their slots directly:
    nothing in its ``__init__`` beyond assigning fields."""
    if not attrs.has(cls) or "__slots__" not in cls.__dict__:
        return False
    if any(hasattr(cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__")):
        return False
    fields = attrs.fields(cls)
    if any(f.validator is not None or f.converter is not None for f in fields):
        return False
    slots: set[str] = set()
    for klass in cls.__mro__:
        declared = klass.__dict__.get("__slots__", ())
        slots.update((declared,) if isinstance(declared, str) else declared)
    slots.discard("__weakref__")
    if slots != {f.name for f in fields}:
        return False  # e.g. a cached-hash slot that __init__ would have set
    return all(isinstance(getattr(cls, f.name, None), types.MemberDescriptorType) for f in fields)


def _slot_builder(cls: type, names: list[str]) -> Callable[..., tuple[Any, ...]]:
    """Builds ``n`` instances from columns without calling ``__init__`` per object:
    every loop here runs in C, which is what makes long entry batches cheap."""
    new = object.__new__
    setters = [getattr(cls, name).__set__ for name in names]

    def build(n: int, *columns: list[Any]) -> tuple[Any, ...]:
        objs: list[Any] = list(map(new, repeat(cls, n)))
        for setter, column in zip(setters, columns, strict=True):
            deque(map(setter, objs, column), maxlen=0)
        return tuple(objs)

    return build


def _init_builder(cls: type, aliases: list[str], kw_only: bool) -> Callable[..., tuple[Any, ...]]:
    if not kw_only:

        def build(n: int, *columns: list[Any]) -> tuple[Any, ...]:
            return tuple(map(cls, *columns))

        return build

    def build_kw(n: int, *columns: list[Any]) -> tuple[Any, ...]:
        return tuple(
            cls(**dict(zip(aliases, row, strict=True))) for row in zip(*columns, strict=True)
        )

    return build_kw


class Generator:
    """Generates, compiles and caches the encoder and decoder of each shape.

    ``max_items`` bounds every decoded collection. One generator serves one codec.
    """

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self.namespace: dict[str, Any] = {
            "DecodeError": DecodeError,
            "fail": fail,
            "fail_items": fail_items,
            "fail_enum": fail_enum,
            "fail_length": fail_length,
            "reject": reject,
            "MAX_ITEMS": max_items,
            "NoneType": _NONE_TYPE,
        }
        self.sources: dict[str, str] = {}
        self._names: dict[tuple[str, Shape], str] = {}
        self._count = 0

    # -- public ------------------------------------------------------------

    def encoder(self, record: Record) -> Encoder:
        fn: Encoder = self.namespace[self._enc_function(record)]
        return fn

    def decoder(self, record: Record) -> Decoder:
        fn: Decoder = self.namespace[self._dec_function(record)]
        return fn

    # -- helpers -----------------------------------------------------------

    def _const(self, value: object, hint: str) -> str:
        self._count += 1
        name = f"{hint}_{self._count}"
        self.namespace[name] = value
        return name

    def _compile(self, name: str, lines: list[str]) -> None:
        source = "\n".join(lines) + "\n"
        self.sources[name] = source
        exec(compile(source, f"<pyconsensus codec {name}>", "exec"), self.namespace)

    def _function_name(self, kind: str, shape: Shape) -> tuple[str, bool]:
        """A stable function name for ``kind`` of ``shape``; True if already generated."""
        key = (kind, shape)
        if key in self._names:
            return self._names[key], True
        self._count += 1
        label = shape.name if isinstance(shape, Record) else type(shape).__name__.lower()
        name = f"{kind}_{label}_{self._count}"
        self._names[key] = name
        return name, False

    @staticmethod
    def _is_identity(shape: Shape) -> bool:
        """Whether values of ``shape`` encode as themselves."""
        if isinstance(shape, Scalar):
            return True
        if isinstance(shape, EnumShape):
            return shape.passthrough
        if isinstance(shape, Maybe):
            return Generator._is_identity(shape.inner)
        return False

    @staticmethod
    def _flat_types(shape: Shape) -> frozenset[type] | None:
        """The exact types a decoded value of ``shape`` may have when one type
        test validates it completely (scalars and optional scalars)."""
        if isinstance(shape, Scalar):
            return frozenset({shape.type})
        if isinstance(shape, Maybe) and isinstance(shape.inner, Scalar):
            return frozenset({shape.inner.type, _NONE_TYPE})
        return None

    # -- encoding ----------------------------------------------------------

    def _enc_expr(self, shape: Shape, x: str) -> str:
        """A Python expression encoding the value of expression ``x``."""
        if self._is_identity(shape):
            return x
        if isinstance(shape, EnumShape):
            return f"{x}.value"
        if isinstance(shape, Maybe):
            if isinstance(shape.inner, EnumShape):
                return f"(None if {x} is None else {x}.value)"
            if isinstance(shape.inner, Record):
                return f"(None if {x} is None else {self._enc_function(shape.inner)}({x}))"
            inner = self._enc_expr(shape.inner, "_v")
            return f"(None if {x} is None else (lambda _v: {inner})({x}))"
        if isinstance(shape, Record):
            return f"{self._enc_function(shape)}({x})"
        if isinstance(shape, Choice):
            return f"{self._enc_choice_function(shape)}({x})"
        if isinstance(shape, Seq):
            item = shape.item
            if isinstance(item, Record):
                return f"{self._enc_items_function(item)}({x})"
            if self._is_identity(item):
                return x  # cbor2 writes a tuple as an array
            return f"[{self._enc_expr(item, '_i')} for _i in {x}]"
        if isinstance(shape, Fixed):
            if all(self._is_identity(s) for s in shape.items):
                return x
            parts = ", ".join(self._enc_expr(s, f"{x}[{i}]") for i, s in enumerate(shape.items))
            return f"[{parts}]"
        assert isinstance(shape, SetOf)
        return f"sorted({self._enc_expr(shape.item, '_i')} for _i in {x})"

    def _enc_function(self, record: Record) -> str:
        name, done = self._function_name("enc", record)
        if done:
            return name
        lines = [f"def {name}(o):"]
        parts = []
        for i, field in enumerate(record.fields):
            shape = field.shape
            if isinstance(shape, Seq) and isinstance(shape.item, Record):
                # One item (the common single-write append) right here: no call.
                item = [self._enc_expr(f.shape, f"_x.{f.name}") for f in shape.item.fields]
                lines += [
                    f"    s{i} = o.{field.name}",
                    f"    if len(s{i}) == 1:",
                    f"        _x, = s{i}",
                    f"        e{i} = [{', '.join(item)}]",
                    "    else:",
                    f"        e{i} = {self._enc_items_function(shape.item)}(s{i})",
                ]
                parts.append(f"e{i}")
            else:
                parts.append(self._enc_expr(shape, f"o.{field.name}"))
        lines.append(f"    return [{', '.join(parts)}]")
        self._compile(name, lines)
        return name

    def _enc_choice_function(self, choice: Choice) -> str:
        """Encoder of a union of records: ``[alternative, fields]``."""
        name, done = self._function_name("encchoice", choice)
        if done:
            return name
        lines = [f"def {name}(o):", "    t = type(o)"]
        for i, alt in enumerate(choice.alternatives):
            cls = self._const(alt.cls, alt.name)
            lines.append(f"    if t is {cls}: return [{i}, {self._enc_function(alt)}(o)]")
        lines.append("    raise TypeError(f'{t.__qualname__} is not an alternative of this union')")
        self._compile(name, lines)
        return name

    def _dec_choice_function(self, choice: Choice) -> str:
        """Decoder of ``[alternative, fields]`` into one of the union's records."""
        name, done = self._function_name("decchoice", choice)
        if done:
            return name
        n = len(choice.alternatives)
        lines = [
            f"def {name}(v, path):",
            "    if type(v) is not list or len(v) != 2:",
            "        fail(path, '', 'an array of [alternative, fields]', v)",
            "    k, body = v",
            "    if type(k) is not int: fail(path, '', 'an alternative number', k)",
        ]
        for i, alt in enumerate(choice.alternatives):
            lines.append(f"    if k == {i}: return {self._dec_function(alt)}(body, path)")
        lines.append(f"    fail(path, '', 'an alternative from 0 to {n - 1}', k)")
        self._compile(name, lines)
        return name

    def _enc_items_function(self, record: Record) -> str:
        """Encoder of ``tuple[record, ...]``: one flat array, fields item after item."""
        name, done = self._function_name("encitems", record)
        if done:
            return name
        k = len(record.fields)
        per_item = [self._enc_expr(f.shape, f"_x.{f.name}") for f in record.fields]
        lines = [
            f"def {name}(s):",
            "    n = len(s)",
            f"    if n <= {SMALL_BATCH}:",
            f"        return [_y for _x in s for _y in ({', '.join(per_item)},)]",
            f"    flat = [None] * ({k} * n)",
        ]
        # Whole columns at a time, written into place by slice assignment: the
        # comprehensions are the fastest way to read slotted attributes.
        for i, expr in enumerate(per_item):
            lines.append(f"    flat[{i}::{k}] = [{expr} for _x in s]")
        lines.append("    return flat")
        self._compile(name, lines)
        return name

    # -- decoding ----------------------------------------------------------

    def _dec_stmts(
        self, shape: Shape, src: str, dst: str, where: str, path: str = "path"
    ) -> list[str]:
        """Statements that check ``src`` against ``shape`` and bind ``dst`` to the
        decoded value. The expression ``path`` + the literal ``where`` name it in
        errors (``path`` is only evaluated on failure, except for nested values)."""
        w = repr(where)
        if isinstance(shape, Scalar):
            t = shape.type.__name__
            lines = [f"if type({src}) is not {t}: fail({path}, {w}, {t!r}, {src})"]
            return lines if dst == src else [*lines, f"{dst} = {src}"]
        if isinstance(shape, EnumShape):
            table = self._const(dict(shape.by_value), f"values_{shape.cls.__name__}")
            vt = shape.value_type.__name__
            return [
                f"if type({src}) is not {vt}: fail({path}, {w}, {shape.cls.__name__!r}, {src})",
                f"{dst} = {table}.get({src})",
                f"if {dst} is None: fail({path}, {w}, 'a {shape.cls.__name__} value', {src})",
            ]
        if isinstance(shape, Maybe):
            if isinstance(shape.inner, Scalar) and dst == src:
                t = shape.inner.type.__name__
                return [
                    f"if {src} is not None and type({src}) is not {t}:",
                    f"    fail({path}, {w}, {t + ' or null'!r}, {src})",
                ]
            inner = self._dec_stmts(shape.inner, src, dst, where, path)
            return [
                f"if {src} is None: {dst} = None",
                "else:",
                *(f"    {line}" for line in inner),
            ]
        if isinstance(shape, Record):
            return [f"{dst} = {self._dec_function(shape)}({src}, {path} + {w})"]
        if isinstance(shape, Choice):
            return [f"{dst} = {self._dec_choice_function(shape)}({src}, {path} + {w})"]
        if isinstance(shape, Seq) and isinstance(shape.item, Record):
            return self._dec_items_stmts(shape.item, src, dst, where, path)
        if isinstance(shape, Seq | SetOf):
            return [f"{dst} = {self._dec_collection_function(shape)}({src}, {path} + {w})"]
        assert isinstance(shape, Fixed)
        return [f"{dst} = {self._dec_fixed_function(shape)}({src}, {path} + {w})"]

    def _dec_items_stmts(
        self, record: Record, src: str, dst: str, where: str, path: str
    ) -> list[str]:
        """``tuple[record, ...]``: one item (the common single-write append) is
        checked and built right here - no call, no slicing, no loop, and the
        path is only joined on failure; every other length goes to the items
        function. ``Limits`` guarantee ``max_items >= 1``, so one item is
        always within the limit."""
        k = len(record.fields)
        var = f"{src}_"  # unique per field, so nested records cannot clash
        item_path = f"{path} + {where + '[0]'!r}"
        if k == 0:
            self._dec_items_function(record)  # raises the registration error
        return [
            f"if type({src}) is list and len({src}) == {k}:",
            f"    {''.join(f'{var}{j}, ' for j in range(k))}= {src}",
            *self._item_stmts(record, f"{dst} = (", item_path, "    ", var),
            "else:",
            f"    {dst} = {self._dec_items_function(record)}({src}, {path} + {where!r})",
        ]

    def _dec_function(self, record: Record) -> str:
        name, done = self._function_name("dec", record)
        if done:
            return name
        n = len(record.fields)
        lines = [
            f"def {name}(v, path):",
            f"    if type(v) is not list or len(v) != {n}:",
            f"        fail(path, '', 'an array of {n} fields', v)",
        ]
        if n:
            lines.append(f"    {''.join(f'a{i}, ' for i in range(n))}= v")
        args = []
        for i, field in enumerate(record.fields):
            dst = f"a{i}" if self._is_check_only(field.shape) else f"b{i}"
            lines += [
                f"    {s}" for s in self._dec_stmts(field.shape, f"a{i}", dst, f".{field.name}")
            ]
            args.append(f"{field.alias}={dst}" if record.kw_only else dst)
        lines += self._construct(record, args, "return ", "path", "    ")
        self._compile(name, lines)
        return name

    def _construct(
        self, record: Record, args: list[str], action: str, path: str, indent: str
    ) -> list[str]:
        """Statements building ``record`` from the checked ``args`` and passing it
        to ``action`` (``"return "``, ``"r.append("``, or ``"x = ("`` for a 1-tuple).
        A class whose ``__init__`` only assigns fields gets its slots set directly:
        a frozen attrs class's ``__init__`` costs about twice as much."""
        close = ",)" if action.endswith("= (") or action == "return (" else ""
        close = ")" if action.endswith(".append(") else close
        if record.kw_only or not _plain_slots(record.cls):
            cls = self._const(record.cls, record.name)
            return [
                f"{indent}try:",
                f"{indent}    {action}{cls}({', '.join(args)}){close}",
                f"{indent}except Exception as exc:",
                f"{indent}    reject({path}, exc)",
            ]
        new = self._const(record.cls.__new__, f"new_{record.name}")
        cls = self._const(record.cls, record.name)
        lines = [f"{indent}_o = {new}({cls})"]
        for field, arg in zip(record.fields, args, strict=True):
            setter = self._const(getattr(record.cls, field.name).__set__, f"set_{field.name}")
            lines.append(f"{indent}{setter}(_o, {arg})")
        lines.append(f"{indent}{action}_o{close}")
        return lines

    @staticmethod
    def _is_check_only(shape: Shape) -> bool:
        """Whether decoding ``shape`` only checks the value (it stays the same object)."""
        if isinstance(shape, Scalar):
            return True
        return isinstance(shape, Maybe) and isinstance(shape.inner, Scalar)

    def _column_stmts(self, shape: Shape, col: str, where: str) -> list[str]:
        """Check and convert column ``col`` (a list of known length) in place."""
        w = repr(where)
        allowed = self._flat_types(shape)
        if allowed is not None:
            types_ = self._const(allowed, "types")
            return [
                f"if not {types_}.issuperset(map(type, {col})):",
                f"    fail_items(path, {w}, {col}, {types_})",
            ]
        if isinstance(shape, EnumShape):
            types_ = self._const(frozenset({shape.value_type}), "types")
            table = self._const(dict(shape.by_value), f"values_{shape.cls.__name__}")
            return [
                f"if not {types_}.issuperset(map(type, {col})):",
                f"    fail_items(path, {w}, {col}, {types_})",
                "try:",
                f"    {col} = list(map({table}.__getitem__, {col}))",
                "except KeyError:",
                f"    fail_enum(path, {w}, {col}, {table})",
            ]
        item = self._dec_item_function(shape)
        return [f"_p = path + {w}", f"{col} = [{item}(_i, _p) for _i in {col}]"]

    def _dec_item_function(self, shape: Shape) -> str:
        """A function ``(value, path) -> decoded`` for one value of ``shape``."""
        if isinstance(shape, Record):
            return self._dec_function(shape)
        name, done = self._function_name("decitem", shape)
        if done:
            return name
        lines = [f"def {name}(v, path):"]
        lines += [f"    {s}" for s in self._dec_stmts(shape, "v", "r", "")]
        lines.append("    return r")
        self._compile(name, lines)
        return name

    def _dec_items_function(self, record: Record) -> str:
        """Decoder of ``tuple[record, ...]`` from its flat array.

        Short batches are checked item by item; longer ones are cut into columns
        (C-level slices) that are each checked in one pass and then turned into
        objects without a Python-level loop.
        """
        name, done = self._function_name("decitems", record)
        if done:
            return name
        k = len(record.fields)
        if k == 0:
            raise TypeError(f"a tuple of {record.name} cannot be encoded: it has no fields")
        if _plain_slots(record.cls):
            builder = _slot_builder(record.cls, [f.name for f in record.fields])
        else:
            builder = _init_builder(record.cls, [f.alias for f in record.fields], record.kw_only)
        build = self._const(builder, f"build_{record.name}")
        lines = [
            f"def {name}(v, path):",
            "    if type(v) is not list: fail(path, '', 'an array', v)",
            "    size = len(v)",
            f"    if size % {k}: fail(path, '', 'an array of {k} values per item', v)",
            f"    n = size // {k}",
            "    if n > MAX_ITEMS: fail_length(path, '', n, MAX_ITEMS)",
            f"    if n <= {SMALL_BATCH}:",
            "        r = []",
            f"        for i in range(0, size, {k}):",
            f"            {''.join(f'a{j}, ' for j in range(k))}= v[i:i + {k}]",
        ]
        row_path = f'f"{{path}}[{{i // {k}}}]"'
        lines += self._item_stmts(record, "r.append(", row_path, "            ")
        lines.append("        return tuple(r)")
        cols = [f"c{j}" for j in range(k)]
        for j in range(k):
            lines.append(f"    c{j} = v[{j}::{k}]")
        for j, field in enumerate(record.fields):
            lines += [
                f"    {st}" for st in self._column_stmts(field.shape, cols[j], f".{field.name}")
            ]
        lines += [
            "    try:",
            f"        return {build}(n, {', '.join(cols)})",
            "    except Exception as exc:",
            "        reject(path, exc)",
        ]
        self._compile(name, lines)
        return name

    def _item_stmts(
        self, record: Record, action: str, path: str, indent: str, var: str = "a"
    ) -> list[str]:
        """Check the item unpacked into ``a0, a1, ...`` (``var`` names them)
        field by field, build it and pass it to ``action`` (see ``_construct``);
        ``path`` is the item's path expression, evaluated only on failure."""
        lines = []
        args = []
        for j, field in enumerate(record.fields):
            dst = f"{var}{j}" if self._is_check_only(field.shape) else f"{var}{j}_"
            stmts = self._dec_stmts(field.shape, f"{var}{j}", dst, f".{field.name}", path)
            lines += [f"{indent}{st}" for st in stmts]
            args.append(f"{field.alias}={dst}" if record.kw_only else dst)
        return lines + self._construct(record, args, action, path, indent)

    def _dec_collection_function(self, shape: Seq | SetOf) -> str:
        name, done = self._function_name("deccoll", shape)
        if done:
            return name
        lines = [
            f"def {name}(v, path):",
            "    if type(v) is not list: fail(path, '', 'an array', v)",
            "    if len(v) > MAX_ITEMS: fail_length(path, '', len(v), MAX_ITEMS)",
        ]
        lines += [f"    {s}" for s in self._column_stmts(shape.item, "v", "")]
        if isinstance(shape, Seq):
            lines.append("    return tuple(v)")
        else:
            lines += [
                "    r = frozenset(v)",
                "    if len(r) != len(v): raise DecodeError('duplicate set items', path)",
                "    return r",
            ]
        self._compile(name, lines)
        return name

    def _dec_fixed_function(self, shape: Fixed) -> str:
        name, done = self._function_name("decfixed", shape)
        if done:
            return name
        n = len(shape.items)
        lines = [
            f"def {name}(v, path):",
            f"    if type(v) is not list or len(v) != {n}:",
            f"        fail(path, '', 'an array of {n} items', v)",
        ]
        if n:
            lines.append(f"    {''.join(f'a{i}, ' for i in range(n))}= v")
        results = []
        for i, item in enumerate(shape.items):
            dst = f"a{i}" if self._is_check_only(item) else f"b{i}"
            lines += [f"    {s}" for s in self._dec_stmts(item, f"a{i}", dst, f"[{i}]")]
            results.append(dst)
        lines.append(f"    return ({''.join(f'{r}, ' for r in results)})")
        self._compile(name, lines)
        return name
