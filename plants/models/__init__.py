"""Models of the plants app (one module per concern)."""

from .calendar import ReleaseFreeze, ReleaseWindow
from .mappings import (
    MAPPING_MODELS,
    ItemMapping,
    SiteMapping,
    StatusMapping,
    UomMapping,
    WorkCenterMapping,
)
from .masterdata import (
    AlternateRouting,
    Item,
    ItemRevision,
    Supplier,
    UnitOfMeasure,
    WorkCenter,
)
from .parameters import SiteParameter, SiteParameterOverride
from .plant import ApiKey, ConnectedSystem, Plant
from .roles import GLOBAL_ROLES, Membership

__all__ = [
    "GLOBAL_ROLES",
    "MAPPING_MODELS",
    "AlternateRouting",
    "ApiKey",
    "ConnectedSystem",
    "Item",
    "ItemMapping",
    "ItemRevision",
    "Membership",
    "Plant",
    "ReleaseFreeze",
    "ReleaseWindow",
    "SiteMapping",
    "SiteParameter",
    "SiteParameterOverride",
    "StatusMapping",
    "Supplier",
    "UnitOfMeasure",
    "UomMapping",
    "WorkCenter",
    "WorkCenterMapping",
]
