"""cintel-typeform: Typeform forms and responses as a cintel source.

Streams ``forms`` (declared in ``manifest.yaml``) and ``responses`` (every
configured or listed form, incremental on ``submitted_at`` with an overlap
window, de-duplicated by ``response_id``). Responses map onto
``survey_responses`` (NPS/CSAT/CES, answers by ref, free text, identifiers from
hidden fields) and ``survey`` touchpoints. See ``docs/connectors/typeform.md``.
"""

from __future__ import annotations

from cintel_typeform.config import TypeformConfig
from cintel_typeform.connector import TypeformConnector
from cintel_typeform.mapping import map_responses
from cintel_typeform.responses import FormResponses, Responses, form_scales

__all__ = [
    "FormResponses",
    "Responses",
    "TypeformConfig",
    "TypeformConnector",
    "form_scales",
    "map_responses",
]
