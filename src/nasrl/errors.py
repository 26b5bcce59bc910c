"""The one exception type a user can cause, and the one place a settings model's validation error becomes one
sentence: the command line turns either into that sentence and exit code 2."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class UserError(Exception):
    """A mistake the user can fix (bad config, missing data, bad file); its message says how."""


def flag_name(model: type[BaseModel], field: str) -> str:
    """The command-line flag of a config field: `child_epochs` -> `--child-epochs` (or the field's own flag)."""
    extra = model.model_fields[field].json_schema_extra if field in model.model_fields else None
    name = extra.get("flag", field) if isinstance(extra, dict) else field
    return "--" + str(name).replace("_", "-")


def validated(model: type[ModelT], fields: dict[str, Any], help_command: str = "nasrl search --help") -> ModelT:
    """`model(**fields)`, any problem turned into one sentence that names the flag and what is wrong."""
    try:
        return model(**fields)
    except ValidationError as e:
        err = e.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a rule between fields: its message names the flags itself
            raise UserError(msg[0].upper() + msg[1:] + ".") from None
        field = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            raise UserError(f"Unknown config field '{field}': see `{help_command}` for the fields.") from None
        flag_of = getattr(model, "flag_of", None)  # a model in sections names each field's flag itself
        flag = flag_of(err["loc"]) if flag_of is not None else flag_name(model, str(err["loc"][0]))
        raise UserError(f"Bad value {err.get('input')!r} for {flag}: {msg}.") from None
