"""The machinery under every config section: declared bounds, checks, overrides, printing.

A section is a frozen dataclass derived from :class:`Section`. Each field declares what it
accepts beside its type, with ``typing.Annotated``::

    steps: Annotated[int, Range(1, MAX_STEPS)] = 100_000        # 1 <= steps <= MAX_STEPS
    lr: Annotated[float, Range(gt=0)] = 2e-4                     # > 0 (and finite)
    ema_decay: Annotated[float, Range(0, lt=1)] = 0.999          # in [0, 1)
    betas: Annotated[tuple[float, float], Range(0, lt=1)] = ...  # each item in [0, 1)
    seeds: Annotated[tuple[int, ...], SEED, NON_EMPTY] = (0, 1)  # each a seed; at least one
    diffaug: Annotated[tuple[str, ...], OneOf(*NAMES)] = ...     # each item one of NAMES
    device: Annotated[str, DEVICE] = "auto"                      # auto, cpu, mps, cuda[:N]
    arch: Literal["small", "resnet50"] = "small"                 # a single name: a Literal

The markers:

- :class:`Range` (``ge``/``gt`` below, ``le``/``lt`` above): numbers, and every item of a tuple
  of numbers; floats must also be finite. An upper bound on an integer is a generous cap (on
  sizes, counts, steps, workers) that keeps an absurd value from reaching the allocator or a
  loop, so its message names the side that was broken (``must be >= 1``); a float with both
  bounds is an interval and its message says so (``must be in [0, 1)``).
- :class:`OneOf`: the names a string, or every item of a tuple of strings, may take.
- :data:`NON_EMPTY`: a tuple needs at least one item (seed lists).
- :data:`DEVICE`: a torch device name; :data:`SUPPORTED_SIZE`: one of the section class's
  ``image_sizes`` (generator families).

A declaration that many fields share is named once, beside the sections that use it
(``Width = Annotated[int, Range(1, MAX_WIDTH)]``, then ``z_dim: Width = 256``).
``None`` passes every marker (an optional field's ``None`` means "not set"). A subclass that
re-declares an inherited field only to change its default may write the bare type: the
markers of the nearest base that declares the field apply. Rules that tie fields together are
the section's :meth:`Section.validate`. Every section checks itself when it is built (also by
:func:`dataclasses.replace`), and :func:`override` also checks the types of the new values,
so that :func:`hsilib.config.resolve` and :func:`from_dict` refuse bad input early, with a
:class:`ConfigError` that names the section, the field and the value.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import operator
import re
import types
import typing
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, Union

from .bounds import Cap

Deltas = dict[str, dict[str, Any]]  # profile -> {field: value}, beside each section class


class ConfigError(ValueError):
    """An unknown profile, section or key, a value of the wrong type, or one outside its
    declared bounds or choices."""


# --------------------------------------------------------------------------------------------
# Markers
# --------------------------------------------------------------------------------------------
def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v)


@dataclass(frozen=True)
class Range:
    """Numbers in ``[ge, le]`` (``gt``/``lt``: open ends); ``None``: no bound on that side.
    ``note`` is added to the message in brackets."""

    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None
    note: str = ""
    #: what the field counts when its upper bound is a :class:`Cap` (``steps``, ``epochs``,
    #: ``count``), or as declared (``replicates``); part of equality, so that typing's cache
    #: of ``Annotated`` hints keeps ``Range(0, MAX_EPOCHS)`` apart from
    #: ``Range(0, MAX_IMAGES)`` (the same number)
    kind: str = dataclasses.field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.kind and isinstance(self.le, Cap):
            object.__setattr__(self, "kind", self.le.kind)

    def _broken(self, v: float) -> list[str]:
        sides = ((self.ge, ">=", operator.ge), (self.gt, ">", operator.gt),
                 (self.le, "<=", operator.le), (self.lt, "<", operator.lt))
        return [f"must be {op} {_num(b)}" for b, op, ok in sides if b is not None and not ok(v, b)]

    def why(self, value: float, integer: bool) -> str | None:
        """What is wrong with ``value`` (None when it lies within the range)."""
        if not math.isfinite(value):
            return "must be a finite number"
        broken = self._broken(value)
        if not broken:
            return None
        low, high = (self.ge, self.gt), (self.le, self.lt)
        if not integer and any(b is not None for b in low) and any(b is not None for b in high):
            left = f"[{_num(self.ge)}" if self.ge is not None else f"({_num(self.gt)}"
            right = f"{_num(self.le)}]" if self.le is not None else f"{_num(self.lt)})"
            text = f"must be in {left}, {right}"
        else:
            text = broken[0]
        return f"{text} ({self.note})" if self.note else text


class OneOf:
    """The names a string field, or each item of a tuple-of-strings field, may take."""

    def __init__(self, *names: str) -> None:
        self.names = tuple(names)

    def __repr__(self) -> str:
        return f"OneOf{self.names}"


@dataclass(frozen=True)
class _Marker:
    name: str


#: A tuple that needs at least one item.
NON_EMPTY = _Marker("non-empty")
#: A torch device: "auto", "cpu", "mps", "cuda" or "cuda:N".
DEVICE = _Marker("device")
DEVICE_RE = r"auto|cpu|mps|cuda(:\d+)?"
#: An ``image_size`` that the section class lists in its ``image_sizes``.
SUPPORTED_SIZE = _Marker("supported size")
#: A random seed that every generator the project uses accepts (numpy's: 0 <= seed < 2**32).
SEED = Range(0, 2**32 - 1)
#: A loss weight: any finite number >= 0 (0 turns the term off).
WEIGHT = Range(ge=0)
#: Reflectance at the ends of a normaliser's range: about 0 to 1; dark-current subtraction
#: leaves small negative values and glints exceed 1.
REFLECTANCE = Range(-1.0, 10.0)


# --------------------------------------------------------------------------------------------
# Reading the declarations
# --------------------------------------------------------------------------------------------
def _strip_optional(hint: Any) -> Any:
    """``X | None`` -> ``X`` (other unions unchanged)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


@functools.cache
def declared(cls: type) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """``{field: (type, markers)}`` of a section class: the type without ``Annotated`` and
    ``None``, the markers of its declaration or of the nearest base class that has some."""
    plain = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        markers: tuple[Any, ...] = ()
        for base in cls.__mro__:
            if f.name not in getattr(base, "__annotations__", {}):
                continue
            hint = typing.get_type_hints(base, include_extras=True)[f.name]
            markers = getattr(_strip_optional(hint), "__metadata__", ())
            if markers:
                break
        out[f.name] = (_strip_optional(plain[f.name]), markers)
    return out


def _numbers(value: Any) -> list[Any] | None:
    """The numbers of a number or of a tuple of numbers (None for anything else)."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    ok = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items)
    return items if ok else None


def _item_type(hint: Any) -> Any:
    args = typing.get_args(hint)
    return args[0] if typing.get_origin(hint) is tuple and args else hint


def _why(obj: Any, name: str, value: Any, hint: Any, markers: tuple[Any, ...]) -> str | None:
    """The message tail for field ``name`` holding ``value`` (None when it is fine)."""
    if value is None or isinstance(value, bool):
        return None
    if typing.get_origin(hint) is Literal and value not in typing.get_args(hint):
        return f": {_choices_error(value, hint)}"
    many = isinstance(value, (tuple, list))
    for m in markers:
        if isinstance(m, Range) and _numbers(value) is not None:
            for v in _numbers(value):
                why = m.why(v, integer=_item_type(hint) is int)
                if why:
                    if many:
                        why = "must hold finite numbers" if "finite" in why else f"{why} each"
                    return f" {why}, got {value!r}"
        elif isinstance(m, OneOf):
            bad = [v for v in (value if many else [value]) if v not in m.names]
            if bad:
                return (f": unknown {name} {bad}, got {value!r}; choose from "
                        f"{', '.join(map(repr, m.names))}")
        elif m is NON_EMPTY and many and not value:
            return " must hold at least one item, got ()"
        elif m is DEVICE and not (isinstance(value, str) and re.fullmatch(DEVICE_RE, value)):
            return f" must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', got {value!r}"
        elif m is SUPPORTED_SIZE and value not in type(obj).image_sizes:
            return (f" must be one of the sizes {type(obj).__name__} supports: "
                    f"{', '.join(map(str, type(obj).image_sizes))}, got {value!r}")
    return None


def check(obj: Any) -> None:
    """Raise :class:`ConfigError` for the first field of ``obj`` outside its declaration,
    naming the section, the field and the value."""
    for name, (hint, markers) in declared(type(obj)).items():
        why = _why(obj, name, getattr(obj, name), hint, markers)
        if why:
            raise ConfigError(f"{type(obj).__name__}.{name}{why}")


def _choices_error(value: Any, hint: Any) -> str:
    return f"got {value!r}, choose one of {', '.join(map(repr, typing.get_args(hint)))}"


# --------------------------------------------------------------------------------------------
# The base of every section
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Section:
    """A config section: checked when built, printed one ``field = value`` per line."""

    DELTAS: ClassVar[Deltas] = {}  # profile -> the fields that differ from the full defaults

    def __post_init__(self) -> None:
        check(self)
        self.validate()

    def validate(self) -> None:
        """The section's rules across fields (raise :class:`ConfigError`); none by default."""

    def __str__(self) -> str:
        """The section's name, then one ``field = value`` per line in declaration order; a
        family's inherited fields and its own are headed by the class that declares them. A
        value too long for one line of :data:`PRINT_WIDTH` characters (a tuple of tuples) is
        wrapped, its continuation lines indented under the value."""
        owners = {}
        for base in reversed(type(self).__mro__):
            for name in getattr(base, "__annotations__", {}):
                owners.setdefault(name, base.__name__)
        fields = dataclasses.fields(self)
        grouped = len({owners[f.name] for f in fields}) > 1
        lines, group = [type(self).__name__], None
        for f in fields:
            if grouped and owners[f.name] != group:
                group = owners[f.name]
                lines.append(f"  [{group}]")
            value = getattr(self, f.name)
            text = str(value) if isinstance(value, Section) else _field_line(f.name, value)
            lines += ["  " + line for line in text.splitlines()]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows a section left as a cell's last expression as :meth:`__str__` does
        (the one-line dataclass ``repr`` stays what ``repr()`` returns)."""
        printer.text(type(self).__name__ if cycle else str(self))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # IPython takes the first class of the MRO that defines __repr__ or _repr_pretty_,
        # and @dataclass gives every section its own __repr__: give each its own copy too
        cls._repr_pretty_ = Section._repr_pretty_


#: The width :meth:`Section.__str__` wraps long values to (characters, indentation included).
PRINT_WIDTH = 96


def _field_line(name: str, value: Any) -> str:
    """``name = repr(value)``, wrapped by :func:`pprint.pformat` when longer than
    :data:`PRINT_WIDTH` (continuation lines aligned under the value)."""
    import pprint

    head = f"{name} = "
    text = head + repr(value)
    if len(text) + 2 <= PRINT_WIDTH:
        return text
    body = pprint.pformat(value, width=max(40, PRINT_WIDTH - 2 - len(head)), compact=True)
    return head + body.replace("\n", "\n" + " " * len(head))


# --------------------------------------------------------------------------------------------
# Overrides, types, (de)serialisation
# --------------------------------------------------------------------------------------------
def type_ok(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the type ``hint`` (a tuple hint also takes a list)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return any(type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(type_ok(v, args[0]) for v in value)
        return len(value) == len(args) and all(
            type_ok(v, a) for v, a in zip(value, args, strict=True))
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def override(obj: Any, overrides: dict[str, Any], where: str) -> Any:
    """A copy of section ``obj`` with ``overrides`` (nested dicts for nested sections), every
    key and value checked; errors are prefixed with ``where`` (e.g. ``quick.fastgan``)."""
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise ConfigError(
                f"unknown key {key!r} for {where} ({type(obj).__name__}); "
                f"valid keys: {', '.join(names)}"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key} takes a dict of overrides, got {value!r}")
            value = override(getattr(obj, key), value, f"{where}.{key}")
        elif typing.get_origin(hint) is Literal and not type_ok(value, hint):
            raise ConfigError(f"{where}.{key}: {_choices_error(value, hint)}")
        elif not type_ok(value, hint):
            raise ConfigError(
                f"{where}.{key} must be {getattr(hint, '__name__', hint)}, "
                f"got {type(value).__name__} {value!r}"
            )
        elif isinstance(value, list):  # JSON and --set give lists; sections hold tuples
            value = tuple(value)
        elif hint is float:
            value = float(value)
        changes[key] = value
    try:
        return replace(obj, **changes)  # the section checks itself when built
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, JSON-ready dict of a config (saved inside checkpoints and manifests)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config saved with :func:`to_dict`, with the same checks as ``resolve``."""
    return override(cls(), values, cls.__name__)
