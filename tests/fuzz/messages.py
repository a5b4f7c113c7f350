"""Every gRPC service and method, read from the generated modules' descriptors, and a
hypothesis strategy that builds any request message from its descriptor.

Nothing here names a service or a method: a proto added or extended later is fuzzed as soon as
its code is generated.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT / "gen"
PROTOS = ROOT / "protos"
MAX_DEPTH = 3  # nested messages deeper than this are left empty

INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


@dataclass(frozen=True)
class Rpc:
    service: ServiceDescriptor
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.service.full_name}/{self.method.name}"

    @property
    def request_class(self) -> type[Message]:
        return GetMessageClass(self.method.input_type)

    @property
    def response_class(self) -> type[Message]:
        return GetMessageClass(self.method.output_type)


def _generated_modules() -> Iterator[Any]:
    for path in sorted(GEN.rglob("*_pb2.py")):
        yield importlib.import_module(".".join(path.relative_to(GEN).with_suffix("").parts))


@cache
def all_rpcs() -> tuple[Rpc, ...]:
    """Every unary method of every service in the generated code."""
    return tuple(
        Rpc(service, method)
        for module in _generated_modules()
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
        if not method.client_streaming and not method.server_streaming
    )


def proto_services() -> set[str]:
    """The full names of the services declared in protos/**/*.proto, read from the source
    (so a service whose code was never generated is noticed)."""
    found = set()
    for path in PROTOS.rglob("*.proto"):
        text = path.read_text(encoding="utf-8")
        package = re.search(r"^package\s+([\w.]+)\s*;", text, re.M)
        prefix = f"{package.group(1)}." if package else ""
        found |= {prefix + name for name in re.findall(r"^service\s+(\w+)", text, re.M)}
    return found


# --- values -----------------------------------------------------------------------------

HUGE = "x" * 70_000  # past every sane limit, under the 4 MiB message cap
AWKWARD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202etxt.exe",  # right-to-left override
    "\U0001d518\U0001d52b\U0001d526 \u2713 ÆØÅ æøå",  # astral plane, Norwegian letters
    "' OR 1=1 --",
    "../../etc/passwd",
    "%s%n{0}{{7*7}}",
    "-1",
    "9" * 40,
    "1e309",
    "NaN",
    "2024-02-30",
    "nb",
    "en",
    "NOK",
    "*",
    HUGE,
]


@dataclass(frozen=True)
class Pools:
    """Real values from the stack, so that fuzzed requests sometimes name real rows."""

    ids: tuple[str, ...]
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


def _strings(field: FieldDescriptor, pools: Pools) -> st.SearchStrategy[str]:
    name = field.name
    likely: list[st.SearchStrategy[str]] = []
    if pools.ids and (name.endswith("id") or name.endswith("ids") or name in ("subject", "ref")):
        likely.append(st.sampled_from(pools.ids))
    if "email" in name and pools.emails:
        likely += [st.sampled_from(pools.emails), st.emails()]
    if "phone" in name and pools.phones:
        likely.append(st.sampled_from(pools.phones))
    general = st.one_of(
        st.sampled_from(AWKWARD),
        st.text(max_size=30),
        st.text(alphabet=st.characters(codec="ascii"), max_size=12),
        *([st.sampled_from(pools.ids)] if pools.ids else []),
    )
    return st.one_of(*likely, general) if likely else general


def _scalar(field: FieldDescriptor, pools: Pools) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return _strings(field, pools)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=64), st.just(b"\x00" * 70_000))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        width = 32 if kind == FieldDescriptor.TYPE_FLOAT else 64
        return st.floats(width=width)
    if kind == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        values = st.sampled_from(known)
        # Open (proto3) enums carry numbers no version of the proto names.
        if not field.enum_type.is_closed:
            values = st.one_of(values, st.integers(-(2**31), 2**31 - 1))
        return values
    low, high = INT_RANGES[kind]
    return st.one_of(
        st.sampled_from([0, 1, -1 if low < 0 else 2, low, high]),
        st.integers(min_value=max(low, -1000), max_value=min(high, 100_000)),
        st.integers(min_value=low, max_value=high),
    )


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _field(field: FieldDescriptor, pools: Pools, depth: int) -> st.SearchStrategy[Any]:
    if _is_map(field):
        entry = field.message_type
        return st.dictionaries(
            _value(entry.fields_by_name["key"], pools, depth),
            _value(entry.fields_by_name["value"], pools, depth),
            max_size=3,
        )
    single = _value(field, pools, depth)
    if field.is_repeated:
        return st.lists(single, max_size=4)
    return single


def _value(field: FieldDescriptor, pools: Pools, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message(field.message_type, pools, depth + 1)
    return _scalar(field, pools)


def message(descriptor: Descriptor, pools: Pools, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of this type: each field present or not, with awkward values."""
    cls = GetMessageClass(descriptor)
    if depth > MAX_DEPTH:
        return st.just(cls())
    fields = {f.name: _field(f, pools, depth) for f in descriptor.fields}
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: _build(cls, values))


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    built = cls()
    for name, value in values.items():
        field = cls.DESCRIPTOR.fields_by_name[name]
        target = getattr(built, name)
        if _is_map(field):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field.is_repeated:
            target.extend(value)
        elif isinstance(value, Message):
            target.CopyFrom(value)
        else:
            setattr(built, name, value)
    return built


def requests(rpc: Rpc, pools: Pools) -> st.SearchStrategy[Message]:
    return message(rpc.method.input_type, pools)
