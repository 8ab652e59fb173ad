"""Prints each dataclass's proto message and field names as JSON, for the test that compares them
with the descriptor set `buf build` makes."""

import dataclasses
import inspect
import json

from aurea_client import types

print(
    json.dumps(
        {
            cls.PROTO: [field.name for field in dataclasses.fields(cls)]
            for _, cls in inspect.getmembers(types, inspect.isclass)
            if dataclasses.is_dataclass(cls) and hasattr(cls, "PROTO")
        }
    )
)
