"""Message templates rendered in Jinja2's sandbox.

A template (public.message_templates) declares the variables it may use. Rendering refuses,
with a stable code, a template that uses a variable it does not declare
(`template_variable_undeclared`), values for variables it does not declare
(`template_variable_unknown`), a declared variable left without a value
(`template_variable_missing`: StrictUndefined, never an empty string), values that are not
plain text or numbers (`template_variable_not_text`), and anything the sandbox forbids
(`template_unsafe`: attribute access to internals, calls). The text is plain (SMS, WhatsApp,
plain-text email): nothing is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import SandboxedEnvironment, SecurityError

_ENVIRONMENT = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_PLAIN = (str, int, float, bool)


class TemplateError(ValueError):
    """A template that cannot be rendered with these values; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def render(source: str, declared: Sequence[str], values: Mapping[str, Any]) -> str:
    """The text of `source` with `values`, every variable declared and given."""
    try:
        parsed = _ENVIRONMENT.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateError(
            "template_syntax", f"the template cannot be read: {error.message}"
        ) from error
    undeclared = sorted(meta.find_undeclared_variables(parsed) - set(declared))
    if undeclared:
        raise TemplateError(
            "template_variable_undeclared",
            f"the template uses variables it does not declare: {', '.join(undeclared)}",
        )
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise TemplateError(
            "template_variable_unknown",
            f"the template does not declare these variables: {', '.join(unknown)}",
        )
    not_text = sorted(name for name, value in values.items() if not isinstance(value, _PLAIN))
    if not_text:
        raise TemplateError(
            "template_variable_not_text",
            f"variables are text or numbers: {', '.join(not_text)}",
        )
    missing = [name for name in declared if name not in values]
    if missing:
        raise TemplateError(
            "template_variable_missing", f"no value for the variables: {', '.join(missing)}"
        )
    try:
        return _ENVIRONMENT.from_string(parsed).render(dict(values))
    except UndefinedError as error:
        raise TemplateError("template_variable_missing", str(error)) from error
    except SecurityError as error:
        raise TemplateError("template_unsafe", f"the template is not allowed: {error}") from error
