"""Identity resolution: who is who across web, app, stores and events, why, and how often it is right."""

from footfall.identity.explain import EdgeEvidence, Explanation, explain_identifier
from footfall.identity.identifiers import IDENTIFIER_TYPES, GarbageCount
from footfall.identity.lookup import NotLinkedError, NotResolvedError, UnknownIdentifierError, find_identifier
from footfall.identity.metrics import Scores, b_cubed, pairwise_precision_recall
from footfall.identity.normalise import NormalisationSettings
from footfall.identity.probabilistic import ComparisonSpec, ProbabilisticSettings
from footfall.identity.protection import MergeProtection
from footfall.identity.resolve import OUTPUT_TABLES, STEPS, ResolutionResult, resolve_identities
from footfall.identity.settings import IdentitySettings, load_identity_settings
from footfall.identity.stats import IdentityStats, identity_stats
from footfall.identity.unmerge import UnmergeError, UnmergeResult, unmerge

__all__ = [
    "IDENTIFIER_TYPES",
    "OUTPUT_TABLES",
    "STEPS",
    "ComparisonSpec",
    "EdgeEvidence",
    "Explanation",
    "GarbageCount",
    "IdentitySettings",
    "IdentityStats",
    "MergeProtection",
    "NormalisationSettings",
    "NotLinkedError",
    "NotResolvedError",
    "ProbabilisticSettings",
    "ResolutionResult",
    "Scores",
    "UnknownIdentifierError",
    "UnmergeError",
    "UnmergeResult",
    "b_cubed",
    "explain_identifier",
    "find_identifier",
    "identity_stats",
    "load_identity_settings",
    "pairwise_precision_recall",
    "resolve_identities",
    "unmerge",
]
