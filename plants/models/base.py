"""Shared bits of plants models."""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")
code_validator = RegexValidator(
    CODE_RE, "Use letters, digits, '.', '_', '/' or '-', starting with a letter or digit."
)


class PlantScoped:
    """Marker for models that belong to exactly one plant through a ``plant`` foreign key.

    Permission checks and admin/API querysets use ``plant_lookup`` to scope rows to the
    plants a person or system may see.
    """

    plant_lookup = "plant"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}  # type: ignore[attr-defined]
