"""`@record`: the part of `dataclasses` cnictl uses, without its start-up cost.

`import dataclasses` pulls in `inspect` (and with it `ast`, `dis`, `tokenize`), and every `@dataclass`
compiles generated methods with `exec`: together ~8 ms before any work, on every `cnictl` and every
`cnictl-cni` call (the plugin runs once per container). `@record` builds the same behaviour from plain
closures: keyword/positional `__init__` with defaults and `field(default_factory=...)`, `__repr__`,
`__eq__`, and for `frozen=True` immutability and `__hash__`. Type checkers see it as a dataclass
(PEP 681 `dataclass_transform`).

    >>> @record(frozen=True)
    ... class P:
    ...     x: int
    ...     tags: list[str] = field(default_factory=list)
    >>> p = P(1)
    >>> p, p == P(x=1), asdict(p)
    (P(x=1, tags=[]), True, {'x': 1, 'tags': []})
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:  # the decorator only matters to type checkers
    def dataclass_transform(**_: object) -> object:
        return lambda f: f

_MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made fresh for each instance (a list, a dict)."""
    return _Factory(default_factory)  # type: ignore[return-value]


def _fields(cls: type) -> list[tuple[str, Any]]:
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):
        for name in klass.__dict__.get("__annotations__", {}):
            if name.startswith("__") or str(klass.__dict__["__annotations__"][name]).startswith("ClassVar"):
                continue
            out[name] = klass.__dict__.get(name, _MISSING) if name in klass.__dict__ else out.get(name, _MISSING)
    return list(out.items())


def _build(cls: type, frozen: bool) -> type:
    fields = _fields(cls)
    names = tuple(n for n, _ in fields)
    defaults = dict(fields)
    for name, default in fields:
        if isinstance(default, _Factory) and name in cls.__dict__:
            delattr(cls, name)  # made per instance; as a class attribute it would only mislead
    setter = object.__setattr__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments but {len(args)} were given")
        for name, value in zip(names, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{cls.__name__}() got multiple values for argument '{name}'")
            setter(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                setter(self, name, kwargs.pop(name))
                continue
            default = defaults[name]
            if default is _MISSING:
                raise TypeError(f"{cls.__name__}() missing required argument: '{name}'")
            setter(self, name, default.make() if isinstance(default, _Factory) else default)
        if kwargs:  # every known name was taken out above
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument '{sorted(kwargs)[0]}'")
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def __repr__(self: Any) -> str:
        return f"{cls.__qualname__}(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in names) + ")"

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    cls.__init__ = __init__  # type: ignore[misc]
    cls.__repr__ = __repr__  # type: ignore[assignment,method-assign]
    cls.__eq__ = __eq__  # type: ignore[assignment,method-assign]
    cls.__record_fields__ = names  # type: ignore[attr-defined]
    if frozen:
        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise FrozenInstanceError(f"cannot assign to field '{name}'")

        def __delattr__(self: Any, name: str) -> None:
            raise FrozenInstanceError(f"cannot delete field '{name}'")

        def __hash__(self: Any) -> int:
            return hash(tuple(getattr(self, n) for n in names))

        cls.__setattr__ = __setattr__  # type: ignore[assignment,method-assign]
        cls.__delattr__ = __delattr__  # type: ignore[assignment,method-assign]
        cls.__hash__ = __hash__  # type: ignore[assignment,method-assign]
    else:
        cls.__hash__ = None  # type: ignore[assignment]
    return cls


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """Decorate a class with annotated fields (see the module docstring)."""
    if cls is None:
        return lambda c: _build(c, frozen)
    return _build(cls, frozen)


def is_record(obj: Any) -> bool:
    return hasattr(type(obj), "__record_fields__")


def asdict(obj: Any) -> Any:
    """A record as a dict, recursively (records, lists, tuples and dicts inside are converted or copied)."""
    if is_record(obj):
        return {n: asdict(getattr(obj, n)) for n in type(obj).__record_fields__}
    if isinstance(obj, list):
        return [asdict(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(asdict(v) for v in obj)
    if isinstance(obj, dict):
        return {k: asdict(v) for k, v in obj.items()}
    return obj
