"""Events: frozen dataclasses (one per Avro record) and the name -> class registry."""

from cmo.events.base import REGISTRY, Event, event_type
from cmo.events.models import (
    Alert,
    Citation,
    ControlCommand,
    ControllerDecision,
    CostRecorded,
    DocumentIngested,
    QualityScored,
    QueryReceived,
    ResponseGenerated,
    RoutingDecision,
    ShadowComparison,
    UserFeedback,
    WindowMetrics,
)
from cmo.events.records import from_record, to_record

__all__ = [
    "REGISTRY",
    "Alert",
    "Citation",
    "ControlCommand",
    "ControllerDecision",
    "CostRecorded",
    "DocumentIngested",
    "Event",
    "QualityScored",
    "QueryReceived",
    "ResponseGenerated",
    "RoutingDecision",
    "ShadowComparison",
    "UserFeedback",
    "WindowMetrics",
    "event_type",
    "from_record",
    "to_record",
]
