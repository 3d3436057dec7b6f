"""Message templates: ``Hola {nombre}, ...`` with named variables, checked before a campaign is
saved (a variable no lead of the audience has is refused) and filled per recipient."""

from __future__ import annotations

import string

from ssmas.campaigns.errors import InvalidInput

__all__ = ["BUILT_IN", "MAX_TEMPLATE_CHARS", "fill", "template_variables"]

MAX_TEMPLATE_CHARS = 1_600  # ten SMS segments
# Variables every lead has, beside the columns of its import.
BUILT_IN = ("city", "state")


def template_variables(template: str) -> list[str]:
    """The template's variable names in order of first use; :class:`InvalidInput` for a
    template that is empty, too long, has unbalanced braces, or positional, indexed or
    formatted fields."""
    if not template.strip():
        raise InvalidInput(message="the template is empty")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(message=f"the template is over {MAX_TEMPLATE_CHARS} characters")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidInput(message=f"the template's braces do not balance ({exc})") from None
    names: list[str] = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise InvalidInput(
                message=f"template field {{{name}}} must be a plain name such as {{nombre}}"
            )
        if name not in names:
            names.append(name)
    return names


def fill(template: str, values: dict[str, str]) -> str:
    """The template with each variable replaced by its value (all must be present)."""
    return template.format_map(values)
