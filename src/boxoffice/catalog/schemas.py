from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from boxoffice.catalog.model import ScheduleListing, SeatMap, SeatStatus
from boxoffice.catalog.plans import (
    MAX_GRADE_LENGTH,
    MAX_ROW_LENGTH,
    MAX_SEATS,
    MAX_SEATS_PER_ROW,
    MAX_SECTION_LENGTH,
    GradePrice,
    PlanRow,
    PlanSection,
    SeatPlan,
    plan_problems,
    simple_plan,
)
from boxoffice.catalog.zones import TimeZoneName
from boxoffice.http.schemas import MAX_INT64, ApiModel, Instant, Printable, Trimmed

Text = Annotated[str, Trimmed, Field(max_length=200), Printable]
SectionName = Annotated[str, Trimmed, Field(max_length=MAX_SECTION_LENGTH), Printable]
RowName = Annotated[str, Trimmed, Field(max_length=MAX_ROW_LENGTH), Printable]
GradeName = Annotated[str, Trimmed, Field(max_length=MAX_GRADE_LENGTH), Printable]
Price = Annotated[int, Field(strict=True, ge=0, le=MAX_INT64)]
DEFAULT_SEAT_COUNT = 50


class ConcertPublic(ApiModel):
    concert_id: int
    title: str
    venue: str
    time_zone: str = Field(description="The venue's IANA time zone, e.g. Asia/Seoul.")


class ConcertList(ApiModel):
    items: list[ConcertPublic]


class SchedulePublic(ApiModel):
    schedule_id: int
    concert_at: datetime
    total_seats: int
    available_seats: int


class ScheduleList(ApiModel):
    concert_id: int
    time_zone: str
    schedules: list[SchedulePublic]

    @classmethod
    def of(cls, listing: ScheduleListing) -> ScheduleList:
        return cls.model_validate(listing)


class GradePublic(ApiModel):
    grade: str
    price: int
    available_seats: int


class ScheduleCreated(SchedulePublic):
    concert_id: int
    grades: list[GradePublic]


class SeatPublic(ApiModel):
    seat_id: int
    seat_number: int
    price: int
    status: SeatStatus
    section: str
    row: str
    label: str = Field(description='The seat as a ticket names it: "A-12", or "12" unplanned.')
    grade: str


class SeatMapPublic(ApiModel):
    concert_id: int
    schedule_id: int
    concert_at: datetime
    time_zone: str
    venue: str
    total_seats: int
    available_seats: int
    grades: list[GradePublic] = Field(description="In plan order; counts ignore ?status=.")
    hold_limit: int = Field(
        description="The most seats a fan may hold at once (`MAX_HOLDS_PER_USER`), in one "
        "order or several."
    )
    seats: list[SeatPublic]

    @classmethod
    def of(cls, m: SeatMap, *, hold_limit: int) -> SeatMapPublic:
        """A seat map's schedule fields sit at the top level of the answer."""
        return cls.model_validate(
            {
                **asdict(m.schedule),
                "time_zone": m.time_zone,
                "venue": m.venue,
                "grades": m.grades,
                "hold_limit": hold_limit,
                "seats": m.seats,
            }
        )


class ConcertCreate(ApiModel):
    title: Text
    venue: Text
    time_zone: TimeZoneName | None = Field(
        default=None, description="IANA name; BOXOFFICE_DEFAULT_TIME_ZONE when left out."
    )


class GradeIn(ApiModel):
    grade: GradeName
    price: Price


class RowIn(ApiModel):
    row: RowName
    seats: Annotated[int, Field(strict=True, ge=1, le=MAX_SEATS_PER_ROW)]
    grade: GradeName


class SectionIn(ApiModel):
    section: SectionName
    rows: Annotated[list[RowIn], Field(min_length=1)]


class ScheduleCreate(ApiModel):
    """Either ``seatCount`` (default 50) and ``price``, or a plan: ``grades`` and
    ``sections``."""

    concert_at: Instant = Field(description="With a UTC offset, e.g. 2026-12-24T19:00:00Z.")
    seat_count: Annotated[int, Field(strict=True, ge=1, le=MAX_SEATS)] | None = Field(
        default=None, description=f"Simple form; {DEFAULT_SEAT_COUNT} when left out."
    )
    price: Price | None = Field(default=None, description="Simple form: every seat's price.")
    grades: Annotated[list[GradeIn], Field(min_length=1)] | None = Field(
        default=None, description="Plan form: the grades with their prices, in order."
    )
    sections: Annotated[list[SectionIn], Field(min_length=1)] | None = Field(
        default=None, description="Plan form: the sections, each with its rows, in order."
    )

    @model_validator(mode="after")
    def _one_form(self) -> ScheduleCreate:
        simple = self.price is not None or self.seat_count is not None
        planned = self.grades is not None or self.sections is not None
        if simple and planned:
            raise _refused("give seatCount and price, or grades and sections, not both")
        if planned and (self.grades is None or self.sections is None):
            raise _refused("a plan needs both grades and sections")
        if not planned and self.price is None:
            raise _refused("price is required (or a plan: grades and sections)")
        if problems := plan_problems(self.plan()):
            raise _refused("; ".join(problems))
        return self

    def plan(self) -> SeatPlan:
        if self.grades is None or self.sections is None:
            seat_count = DEFAULT_SEAT_COUNT if self.seat_count is None else self.seat_count
            return simple_plan(seat_count=seat_count, price=self.price or 0)
        return SeatPlan(
            grades=tuple(GradePrice(grade=g.grade, price=g.price) for g in self.grades),
            sections=tuple(
                PlanSection(
                    section=s.section,
                    rows=tuple(PlanRow(row=r.row, seats=r.seats, grade=r.grade) for r in s.rows),
                )
                for s in self.sections
            ),
        )


def _refused(message: str) -> PydanticCustomError:
    return PydanticCustomError("seat_plan", message)
