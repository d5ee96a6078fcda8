"""Segments: a readable rule language (text ↔ canonical JSON tree), its compiler to one Ibis expression,
and the built-in online-to-offline segments defined in that language."""

from footfall.segments.language import parse, render
from footfall.segments.parser import SegmentSyntaxError
from footfall.segments.rules import Rule, rule_from_json, rule_to_json

__all__ = ["Rule", "SegmentSyntaxError", "parse", "render", "rule_from_json", "rule_to_json"]
