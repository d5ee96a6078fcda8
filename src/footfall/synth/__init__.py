"""The synthetic O2O world: stores, products, customers and everything they do, with ground truth.

`generate` writes stores, products, events and POS receipts exactly in the canonical schemas, plus the
truth behind them (`truth/*.parquet`: the person behind every identifier, event and receipt, and every
true store visit), so identity resolution, visit detection and segments can be scored for accuracy.
"""

from footfall.synth.people import ARCHETYPE_MIX, ARCHETYPES
from footfall.synth.world import WorldManifest, WorldParameterError, generate
from footfall.synth.writer import TRUTH_TABLES, world_files

__all__ = ["ARCHETYPES", "ARCHETYPE_MIX", "TRUTH_TABLES", "WorldManifest", "WorldParameterError", "generate", "world_files"]
