"""cintel-segment: Segment and RudderStack event exports as a cintel source.

Reads the gzipped NDJSON files their S3 destinations write (or any copy of
them: GCS, Azure, local disk; any fsspec URL), incrementally by file with exact
mid-file checkpoints, de-duplicated by ``messageId``, and maps the events onto
the canonical model with no YAML. See ``docs/connectors/segment.md``.
"""

from __future__ import annotations

from cintel_segment.config import ConversionsConfig, SegmentConfig, TouchpointsConfig
from cintel_segment.connector import SegmentConnector
from cintel_segment.mapping import SegmentMapper
from cintel_segment.stream import EventsStream

__all__ = [
    "ConversionsConfig",
    "EventsStream",
    "SegmentConfig",
    "SegmentConnector",
    "SegmentMapper",
    "TouchpointsConfig",
]
