"""Seat plans: a venue's sections and rows with a grade (and so a price) per row, and
how a plan becomes the numbered seats of one schedule.

A plan's seats are numbered 1..N in plan order: section by section, row by row, and
along each row; a seat's label is its row and its place in the row (``A-12``). A
schedule made without a plan has one section of one row of one grade, and its seats
are labelled by their numbers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

MAX_SECTION_LENGTH = 40  # seats.section
MAX_ROW_LENGTH = 20  # seats.row_name
MAX_GRADE_LENGTH = 20  # seats.grade, seat_grades.grade
MAX_SEATS_PER_ROW = 1_000
MAX_SEATS = 10_000

SIMPLE_SECTION = "Floor"
SIMPLE_ROW = "1"
SIMPLE_GRADE = "General"


@dataclass(frozen=True, slots=True)
class GradePrice:
    grade: str
    price: int


@dataclass(frozen=True, slots=True)
class PlanRow:
    row: str
    seats: int
    grade: str


@dataclass(frozen=True, slots=True)
class PlanSection:
    section: str
    rows: tuple[PlanRow, ...]


@dataclass(frozen=True, slots=True)
class SeatPlan:
    grades: tuple[GradePrice, ...]
    sections: tuple[PlanSection, ...]
    # The simple form's seats are labelled "1", "2", ... rather than "1-1", "1-2", ...
    labels_are_numbers: bool = False

    @property
    def seat_count(self) -> int:
        return sum(row.seats for section in self.sections for row in section.rows)


@dataclass(frozen=True, slots=True)
class PlannedSeat:
    seat_number: int
    section: str
    row: str
    label: str
    grade: str
    price: int


def simple_plan(*, seat_count: int, price: int) -> SeatPlan:
    """Seats 1..seat_count at one price: what a schedule made without a plan has."""
    row = PlanRow(row=SIMPLE_ROW, seats=seat_count, grade=SIMPLE_GRADE)
    return SeatPlan(
        grades=(GradePrice(grade=SIMPLE_GRADE, price=price),),
        sections=(PlanSection(section=SIMPLE_SECTION, rows=(row,)),),
        labels_are_numbers=True,
    )


def plan_problems(plan: SeatPlan) -> list[str]:
    """What makes the plan unusable (nothing: it is fine). The lengths and ranges of
    single names and numbers are checked where the request is read."""
    problems = [
        f"grade {g!r} is listed more than once" for g in _twice([g.grade for g in plan.grades])
    ]
    sections = _twice([s.section for s in plan.sections])
    problems += [f"section {s!r} is listed more than once" for s in sections]
    listed = {g.grade for g in plan.grades}
    for section in plan.sections:
        where = f"of section {section.section!r}"
        problems += [
            f"row {r!r} {where} is listed more than once"
            for r in _twice([r.row for r in section.rows])
        ]
        problems += [
            f"row {row.row!r} {where} has grade {row.grade!r}, which is not one of the "
            "plan's grades"
            for row in section.rows
            if row.grade not in listed
        ]
    if not 1 <= plan.seat_count <= MAX_SEATS:
        problems.append(f"the plan has {plan.seat_count} seats; a schedule has 1 to {MAX_SEATS}")
    return problems


def _twice(names: Sequence[str]) -> list[str]:
    return [name for name, seen in Counter(names).items() if seen > 1]


def seats_of(plan: SeatPlan) -> list[PlannedSeat]:
    """The plan's seats, numbered 1..N in plan order."""
    prices = {g.grade: g.price for g in plan.grades}
    seats: list[PlannedSeat] = []
    for section in plan.sections:
        for row in section.rows:
            for place in range(1, row.seats + 1):
                number = len(seats) + 1
                label = str(number) if plan.labels_are_numbers else f"{row.row}-{place}"
                seats.append(
                    PlannedSeat(
                        seat_number=number,
                        section=section.section,
                        row=row.row,
                        label=label,
                        grade=row.grade,
                        price=prices[row.grade],
                    )
                )
    return seats
