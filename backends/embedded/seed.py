"""Demo-hospital seed data: departments, doctors and clinic sessions expanded into bookable slots.

The data file (``backends/data/demo_hospital.json``) is loaded with ``importlib.resources``; a hospital
can pass its own file of the same shape. Seeding is idempotent and tops up slots: slot ids are
derived from doctor and start time, so re-running it only adds the days not seeded yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from backends.embedded.engine import insert_ignoring_duplicates
from backends.embedded.schema import departments, doctors, slots
from backends.interfaces import CHINA_STANDARD_TIME


@dataclass(frozen=True)
class Session:
    weekdays: tuple[int, ...]
    start: time
    end: time
    slot_minutes: int


@dataclass(frozen=True)
class DoctorSeed:
    id: str
    name: str
    title: str
    sessions: tuple[Session, ...]


@dataclass(frozen=True)
class DepartmentSeed:
    id: str
    name: str
    doctors: tuple[DoctorSeed, ...]


@dataclass(frozen=True)
class HospitalSeed:
    id: str
    name: str
    departments: tuple[DepartmentSeed, ...]


def _parse(doc: dict[str, Any], source: str) -> HospitalSeed:
    try:
        return HospitalSeed(
            id=doc["hospital"]["id"],
            name=doc["hospital"]["name"],
            departments=tuple(
                DepartmentSeed(
                    id=d["id"],
                    name=d["name"],
                    doctors=tuple(
                        DoctorSeed(
                            id=p["id"],
                            name=p["name"],
                            title=p["title"],
                            sessions=tuple(
                                Session(
                                    weekdays=tuple(s["weekdays"]),
                                    start=time.fromisoformat(s["start"]),
                                    end=time.fromisoformat(s["end"]),
                                    slot_minutes=int(s["slot_minutes"]),
                                )
                                for s in p["sessions"]
                            ),
                        )
                        for p in d["doctors"]
                    ),
                )
                for d in doc["departments"]
            ),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"hospital seed {source} is malformed ({error!r}); see backends/data/README.md for the format"
        ) from error


def load_seed(path: Path | None = None) -> HospitalSeed:
    """The bundled demo hospital, or a hospital file of the same shape at ``path``."""
    if path is None:
        text = resources.files("backends.data").joinpath("demo_hospital.json").read_text(encoding="utf-8")
        return _parse(json.loads(text), "backends/data/demo_hospital.json")
    if not path.is_file():
        raise FileNotFoundError(f"hospital seed file {path} does not exist")
    return _parse(json.loads(path.read_text(encoding="utf-8")), str(path))


def slot_times(session: Session, day: date) -> list[tuple[datetime, datetime]]:
    """The (start, end) UTC pairs of one session on one day, or [] if the doctor is off that day."""
    if day.isoweekday() not in session.weekdays:
        return []
    start = datetime.combine(day, session.start, CHINA_STANDARD_TIME)
    end_of_session = datetime.combine(day, session.end, CHINA_STANDARD_TIME)
    step = timedelta(minutes=session.slot_minutes)
    pairs = []
    while start + step <= end_of_session:
        pairs.append((start.astimezone(UTC), (start + step).astimezone(UTC)))
        start += step
    return pairs


def seed_hospital(conn: sa.Connection, seed: HospitalSeed, first_day: date, days: int) -> int:
    """Insert missing departments, doctors and slots for ``days`` days from ``first_day``; returns new slots.

    Safe to run from several processes at once (duplicates are skipped, not errors).
    """
    window_start = datetime.combine(first_day, time(0), CHINA_STANDARD_TIME).astimezone(UTC)
    known_slots = set(
        conn.execute(
            sa.select(slots.c.id).where(slots.c.hospital_id == seed.id, slots.c.start >= window_start)
        ).scalars()
    )
    department_rows = [{"id": d.id, "hospital_id": seed.id, "name": d.name} for d in seed.departments]
    doctor_rows = [
        {"id": p.id, "hospital_id": seed.id, "department_id": d.id, "name": p.name, "title": p.title}
        for d in seed.departments
        for p in d.doctors
    ]
    slot_rows = [
        {
            "id": f"{doctor.id}-{start:%Y%m%d%H%M}",
            "hospital_id": seed.id,
            "department_id": department.id,
            "doctor_id": doctor.id,
            "start": start,
            "end": end,
        }
        for department in seed.departments
        for doctor in department.doctors
        for offset in range(days)
        for session in doctor.sessions
        for start, end in slot_times(session, first_day + timedelta(days=offset))
    ]
    new_slots = [row for row in slot_rows if row["id"] not in known_slots]
    insert_ignoring_duplicates(conn, departments, department_rows)
    insert_ignoring_duplicates(conn, doctors, doctor_rows)
    insert_ignoring_duplicates(conn, slots, new_slots)
    return len(new_slots)
