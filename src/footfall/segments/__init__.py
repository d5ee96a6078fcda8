"""Segments: a readable rule language (text ↔ canonical JSON tree), its compiler to one Ibis expression,
and the built-in online-to-offline segments defined in that language."""

from footfall.segments.builtin import BUILTIN_SEGMENTS
from footfall.segments.compiler import SegmentCompileError, compile_rule, event_condition_counts
from footfall.segments.language import parse, render
from footfall.segments.parser import SegmentSyntaxError
from footfall.segments.rules import Rule, rule_from_json, rule_to_json

__all__ = [
    "BUILTIN_SEGMENTS",
    "Rule",
    "SegmentCompileError",
    "SegmentSyntaxError",
    "compile_rule",
    "event_condition_counts",
    "parse",
    "render",
    "rule_from_json",
    "rule_to_json",
]
