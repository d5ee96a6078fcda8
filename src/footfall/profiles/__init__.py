"""Profiles and journeys: computed traits per resolved person, unified timelines, paths and funnels."""

from footfall.profiles.home import haversine_km
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
    "PROFILES_TABLE",
    "NotResolvedForProfilesError",
    "ProfilesMissingError",
    "build_profiles",
    "haversine_km",
    "materialize_profiles",
    "person_events",
    "profiles_table",
]
