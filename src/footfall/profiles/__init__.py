"""Profiles and journeys: computed traits per resolved person, unified timelines, paths and funnels."""

from footfall.profiles.funnel import FunnelDefinitionError, StepResult, funnel, parse_step, parse_window
from footfall.profiles.home import haversine_km
from footfall.profiles.paths import DEFAULT_STEP_EVENTS, PathCount, top_paths
from footfall.profiles.timeline import PersonNotFoundError, Timeline, TimelineEntry, find_person, timeline
from footfall.profiles.traits import (
    PROFILES_TABLE,
    NotResolvedForProfilesError,
    ProfilesMissingError,
    build_profiles,
    materialize_profiles,
    person_events,
    profiles_table,
)

__all__ = [
    "DEFAULT_STEP_EVENTS",
    "PROFILES_TABLE",
    "FunnelDefinitionError",
    "NotResolvedForProfilesError",
    "PathCount",
    "PersonNotFoundError",
    "ProfilesMissingError",
    "StepResult",
    "Timeline",
    "TimelineEntry",
    "build_profiles",
    "find_person",
    "funnel",
    "haversine_km",
    "materialize_profiles",
    "parse_step",
    "parse_window",
    "person_events",
    "profiles_table",
    "timeline",
    "top_paths",
]
