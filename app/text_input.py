"""One rule for every string the API takes: no NUL, and nothing UTF-8 cannot encode.

PostgreSQL's ``text`` cannot hold NUL, and a lone surrogate (``"\\ud800"`` is legal in JSON)
cannot be encoded as UTF-8: httpx, bcrypt and the database drivers all fail on it, later and
far from the request. So such a string is refused at the door with a 422, the same on every
database, and whatever is stored can always be read back.

``StorableText()`` is the one validator: annotate any string-like type with it
(``Annotated[str, StorableText()]``, ``Annotated[EmailStr, StorableText()]``...). It runs
before the type's own validation (an e-mail or a secret never sees a bad string) and adds a
``pattern`` to the JSON schema, so the OpenAPI document says what the code refuses.
``refuse_unstorable_json`` applies the same rule to free-form JSON (keys included).
"""

from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, JsonValue
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# ECMA 262 (JSON Schema) and Python agree on this spelling.
NUL_FREE_PATTERN: Final = "^[^\\u0000]*$"

NUL_MESSAGE: Final = "Text must not contain NUL characters (\\u0000)"
SURROGATE_MESSAGE: Final = (
    "Text must be valid Unicode: a lone surrogate (\\ud800-\\udfff) cannot be encoded "
    "as UTF-8"
)


def unstorable_reason(value: str) -> str | None:
    """Why ``value`` cannot be accepted, or None when it can."""
    if "\x00" in value:
        return NUL_MESSAGE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def refuse_unstorable(value: Any) -> Any:
    """Before-validator: a string that breaks the rule raises; anything else passes on."""
    if isinstance(value, str) and (reason := unstorable_reason(value)):
        raise PydanticCustomError("unstorable_text", reason)
    return value


def refuse_unstorable_json(value: JsonValue) -> None:
    """The same rule over a JSON value: every string and every object key inside it."""
    pending: list[JsonValue] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            refuse_unstorable(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                refuse_unstorable(key)
                pending.append(inner)
        elif isinstance(item, list):
            pending.extend(item)


@dataclass(frozen=True, slots=True)
class StorableText:
    """Annotation: refuse NUL and lone surrogates, and say so in the JSON schema."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            refuse_unstorable, handler(source)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        if target.get("type") == "string" and "pattern" not in target:
            target["pattern"] = NUL_FREE_PATTERN
        return json_schema


Text = Annotated[str, StorableText()]
