"""Request bodies checked against JSON schemas (fastjsonschema): each schema is
compiled once per process, on first use, and a failure is rendered here only,
as 400 UNSUPPORTED naming the offending field."""
from __future__ import annotations

from typing import Any, Callable

from ..oci import json_input
from ..oci.errors import RegistryError

_compiled: dict[str, Callable[[Any], Any]] = {}


def _validator(name: str, schema: dict) -> Callable[[Any], Any]:
    fn = _compiled.get(name)
    if fn is None:
        import fastjsonschema  # compiling costs ~ms: only when a request needs it

        fn = _compiled[name] = fastjsonschema.compile(schema)
    return fn


def invalid(field: str, reason: str) -> RegistryError:
    """The one shape of a refused body field."""
    return RegistryError("UNSUPPORTED", {"field": field, "reason": reason}, status=400)


def check(name: str, schema: dict, doc: Any) -> Any:
    """`doc` if it satisfies `schema` (registered under `name`), else 400 naming the field."""
    from fastjsonschema import JsonSchemaValueException

    try:
        return _validator(name, schema)(doc)
    except JsonSchemaValueException as exc:
        field = (exc.name or "data").removeprefix("data").lstrip(".") or "body"
        raise invalid(field, exc.message.replace("data.", "", 1).replace("data ", "body ", 1)) from None


def parse_json(body: bytes, floats: bool = False) -> Any:
    """A JSON document from untrusted bytes, by the strict parser (oci/json_input.py):
    malformed, non-UTF-8, NaN, duplicate keys, absurd nesting and - unless `floats` -
    any number with a fraction or exponent (1.0 for a count) is 400 naming the reason."""
    try:
        return json_input.loads(body, floats=floats)
    except ValueError as exc:
        raise invalid("body", f"not a strict JSON document: {exc}") from None


# String properties that hold names (keys in DynamoDB): grammar first, then length.
ACCOUNT = {"type": "string", "maxLength": 129, "pattern": r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\+[a-z0-9]+(?:[._-][a-z0-9]+)*)?\Z"}
USER = {"type": "string", "maxLength": 64, "pattern": r"^[a-z0-9]+(?:[._-][a-z0-9]+)*\Z"}
REPOSITORY = {"type": "string", "minLength": 1, "maxLength": 255,
              "pattern": r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*\Z"}
SECRET = {"type": "string", "maxLength": 1024}


def obj(required: tuple = (), **props: dict) -> dict:
    """An object schema with exactly `props` (no others) and the `required` ones."""
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}
