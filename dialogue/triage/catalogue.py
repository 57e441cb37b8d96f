"""Per-hospital department catalogue: department keys -> the hospital's own department names.

Lives in ``dialogue/data/hospitals/<hospital_id>.json``; a hospital with a different catalogue adds its
own file (or passes a path) and the router keeps working with the same keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class DepartmentCatalogue:
    """Department names of one hospital.

    Parameters:
        hospital_id: Which hospital.
        departments: Department key (``"pediatrics"``) -> name (``"儿科"``).
        fallback: Key used when the complaint's department is not offered.
    """

    hospital_id: str
    departments: dict[str, str]
    fallback: str

    def __post_init__(self) -> None:
        if self.fallback not in self.departments or "emergency" not in self.departments:
            raise ValueError(
                f"catalogue of {self.hospital_id!r} must define 'emergency' and its fallback {self.fallback!r}; "
                f"it has {sorted(self.departments)}"
            )

    @classmethod
    def load(cls, hospital_id: str = "demo-hospital", path: Path | None = None) -> DepartmentCatalogue:
        """Load the packaged catalogue of ``hospital_id`` (file name or alias), or ``path`` when given.

        Raises:
            FileNotFoundError: no catalogue for that hospital (names the file to add).
        """
        if path is not None:
            if not path.is_file():
                raise FileNotFoundError(f"department catalogue {path} does not exist; pass an existing JSON file")
            text = path.read_text("utf-8")
        else:
            text = _packaged(hospital_id)
        data = json.loads(text)
        return cls(data.get("hospital_id", hospital_id), dict(data["departments"]), data["fallback"])

    def name(self, key: str) -> str:
        """The hospital's name for ``key``; the fallback department when it has none."""
        return self.departments.get(key) or self.departments[self.fallback]


def _packaged(hospital_id: str) -> str:
    """The packaged catalogue whose file name or ``aliases`` match ``hospital_id``."""
    folder = resources.files("dialogue.data").joinpath("hospitals")
    candidates = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    for resource in candidates:
        text = resource.read_text("utf-8")
        if resource.name == f"{hospital_id}.json" or hospital_id in json.loads(text).get("aliases", []):
            return text
    raise FileNotFoundError(
        f"no department catalogue for hospital {hospital_id!r}; add dialogue/data/hospitals/{hospital_id}.json "
        f"(copy demo-hospital.json) or pass path="
    )
