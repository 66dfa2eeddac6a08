"""JSON shapes of the routing API: agents, teams, SLA policies, calendars, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admin", "supervisor", "agent"]
Availability = Literal["online", "away", "offline"]
Priority = Literal["urgent", "high", "normal", "low", ""]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str
    languages: list[str]
    platforms: list[str]
    capacity: int
    availability: str
    active: bool
    last_assigned_at: datetime | None
    team_ids: list[int] = []


class AgentCreate(Strict):
    email: str
    name: str
    role: Role = "agent"
    password: str | None = Field(default=None, description="At least 8 characters; stored as an argon2 hash.")
    languages: list[str] = []
    platforms: list[str] = []
    capacity: int = Field(default=10, ge=0, le=1000)
    availability: Availability = "offline"
    teams: list[str] = Field(default=[], description="Team slugs.")


class AgentUpdate(Strict):
    name: str | None = None
    role: Role | None = None
    password: str | None = None
    languages: list[str] | None = None
    platforms: list[str] | None = None
    capacity: int | None = Field(default=None, ge=0, le=1000)
    active: bool | None = None
    teams: list[str] | None = Field(default=None, description="Team slugs; replaces the agent's teams.")


class AvailabilityIn(Strict):
    availability: Availability


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    brand_id: int | None
    languages: list[str]
    platforms: list[str]
    timezone: str
    is_senior: bool
    is_crisis: bool
    agent_ids: list[int] = []


class TeamCreate(Strict):
    slug: str
    name: str
    brand: str | None = Field(default=None, description="Brand slug; empty = any brand.")
    languages: list[str] = []
    platforms: list[str] = []
    timezone: str = "UTC"
    is_senior: bool = False
    is_crisis: bool = False


class TeamUpdate(Strict):
    name: str | None = None
    languages: list[str] | None = None
    platforms: list[str] | None = None
    timezone: str | None = None
    is_senior: bool | None = None
    is_crisis: bool | None = None


class AssignmentIn(Strict):
    agent_id: int | None = None
    team_id: int | None = None


class AssignmentOut(BaseModel):
    conversation_id: int
    agent_id: int | None
    team_id: int | None
    reason: str = ""


class QueueItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    platform: str
    priority: str
    status: str
    language: str
    subject: str
    urgency: int
    last_message_at: datetime
    first_response_due_at: datetime | None
    next_response_due_at: datetime | None
    resolution_due_at: datetime | None


class RoutingSettings(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    senior_urgency_threshold: int
    route_vip_to_senior: bool
    reassign_on_offline: bool
    sla_warning_minutes: int


class RoutingSettingsUpdate(Strict):
    senior_urgency_threshold: int | None = Field(default=None, ge=0, le=101)
    route_vip_to_senior: bool | None = None
    reassign_on_offline: bool | None = None
    sla_warning_minutes: int | None = Field(default=None, ge=0, le=10080)


class SlaPolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    brand_id: int | None
    platform: str
    priority: str
    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    business_hours: bool
    calendar_id: int | None
    active: bool


class SlaPolicyIn(Strict):
    name: str
    brand_id: int | None = None
    platform: str = ""
    priority: Priority = ""
    first_response_minutes: int | None = None
    next_response_minutes: int | None = None
    resolution_minutes: int | None = None
    business_hours: bool = False
    calendar_id: int | None = None
    active: bool = True


class SlaPolicyUpdate(Strict):
    name: str | None = None
    brand_id: int | None = None
    platform: str | None = None
    priority: Priority | None = None
    first_response_minutes: int | None = None
    next_response_minutes: int | None = None
    resolution_minutes: int | None = None
    business_hours: bool | None = None
    calendar_id: int | None = None
    active: bool | None = None


class CalendarOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    team_id: int | None
    timezone: str
    schedule: dict[str, list[list[str]]]
    holiday_country: str
    holiday_subdivision: str
    closed_days: list[str]


class CalendarIn(Strict):
    name: str
    team_id: int | None = None
    timezone: str | None = Field(
        default=None, description="IANA zone; defaults to the team's timezone or UTC."
    )
    schedule: dict[str, list[list[str]]] = Field(
        description='Weekday → windows, e.g. {"mon": [["09:00", "17:00"]]}.'
    )
    holiday_country: str = ""
    holiday_subdivision: str = ""
    closed_days: list[str] = []


class CalendarUpdate(Strict):
    name: str | None = None
    timezone: str | None = None
    schedule: dict[str, list[list[str]]] | None = None
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closed_days: list[str] | None = None


class SlaClock(BaseModel):
    target: str
    target_minutes: int | None
    state: str
    started_at: datetime | None
    stopped_at: datetime | None
    due_at: datetime | None
    remaining_seconds: int | None
    breached: bool


class SlaAlertOut(BaseModel):
    kind: str
    target: str
    due_at: datetime
    fired_at: datetime


class SlaPolicyRef(BaseModel):
    id: int
    name: str
    business_hours: bool


class ConversationSla(BaseModel):
    conversation_id: int
    policy: SlaPolicyRef | None
    clocks: list[SlaClock]
    alerts: list[SlaAlertOut]
