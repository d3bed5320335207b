"""Choice lists of the plants app and the canonical vocabularies that site mappings target.

The canonical status vocabularies live here (the lowest layer) because status mappings
must validate against them; orchestrator's lifecycles use the same values.
"""

from django.db import models


class PlantProfile(models.TextChoices):
    HIGH_VOLUME = "high_volume", "High-volume standard products"
    CUSTOM = "custom", "Custom configurations"
    OVERFLOW = "overflow", "Overflow capacity"


class SystemKind(models.TextChoices):
    ERP = "erp", "ERP"
    MES = "mes", "MES"
    QMS = "qms", "QMS"
    WMS = "wms", "WMS"
    SUPPLIER_PORTAL = "supplier_portal", "Supplier portal"


class Transport(models.TextChoices):
    REST = "rest", "REST (JSON over HTTPS)"
    WEBHOOK = "webhook", "Signed webhook"
    FILE_DROP = "file_drop", "File drop (CSV/XML)"
    MQTT = "mqtt", "MQTT"


class AuthType(models.TextChoices):
    NONE = "none", "None"
    BEARER = "bearer", "Bearer token"
    BASIC = "basic", "HTTP basic"
    HMAC = "hmac", "HMAC signature"
    OAUTH2 = "oauth2", "OAuth2 client credentials"


class UomDimension(models.TextChoices):
    COUNT = "count", "Count"
    MASS = "mass", "Mass"
    LENGTH = "length", "Length"
    VOLUME = "volume", "Volume"
    TIME = "time", "Time"


class RoundingMode(models.TextChoices):
    """How a converted quantity is rounded to the mapping's number of decimal places."""

    HALF_UP = "ROUND_HALF_UP", "Half up (commercial)"
    HALF_EVEN = "ROUND_HALF_EVEN", "Half even (banker's)"
    UP = "ROUND_UP", "Away from zero"
    DOWN = "ROUND_DOWN", "Towards zero (truncate)"
    CEILING = "ROUND_CEILING", "Ceiling"
    FLOOR = "ROUND_FLOOR", "Floor"


class ItemType(models.TextChoices):
    FINISHED = "finished", "Finished good"
    SEMI_FINISHED = "semi_finished", "Semi-finished"
    COMPONENT = "component", "Component"
    RAW = "raw", "Raw material"


class LotStatus(models.TextChoices):
    AVAILABLE = "available", "Available (unrestricted)"
    INSPECTION = "inspection", "In quality inspection"
    BLOCKED = "blocked", "Blocked / quarantine"
    REWORK = "rework", "Rework"
    IN_TRANSIT = "in_transit", "In transit"
    CONSIGNED = "consigned", "Consigned"
    EXPIRED = "expired", "Expired"
    SCRAPPED = "scrapped", "Scrapped"


class InspectionOutcome(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    CONDITIONALLY_RELEASED = "conditionally_released", "Conditionally released"


class OrderStatusCode(models.TextChoices):
    """Canonical order states a plant system may report (the subset a status map can target)."""

    RELEASED = "released", "Released"
    IN_PROCESS = "in_process", "In process"
    COMPLETED = "completed", "Completed"
    ON_HOLD = "on_hold", "On hold"
    CANCELLED = "cancelled", "Cancelled"


class StatusDomain(models.TextChoices):
    """Which canonical vocabulary a plant status code is mapped into."""

    LOT_STATUS = "lot_status", "Lot / inventory status"
    INSPECTION_OUTCOME = "inspection_outcome", "Inspection outcome"
    ORDER_STATUS = "order_status", "Production order status"


CANONICAL_STATUSES: dict[str, type[models.TextChoices]] = {
    StatusDomain.LOT_STATUS: LotStatus,
    StatusDomain.INSPECTION_OUTCOME: InspectionOutcome,
    StatusDomain.ORDER_STATUS: OrderStatusCode,
}


class ParameterType(models.TextChoices):
    DECIMAL = "decimal", "Decimal"
    INTEGER = "integer", "Integer"
    DURATION = "duration", "Duration (seconds)"
    BOOLEAN = "boolean", "Boolean"
    STRING = "string", "Text"


class Role(models.TextChoices):
    """People's roles (DOMAIN.md). Global roles may hold a membership without a plant."""

    GOVERNANCE_BOARD = "governance_board", "Integration governance board"
    PLANT_ADMIN = "plant_admin", "Plant admin"
    OPERATOR = "operator", "Operator / integration support"
    QUALITY_LEAD = "quality_lead", "Quality lead"
    AUDITOR = "auditor", "Auditor"
    # The roles the shipped rule packs route approvals and alerts to (``rules.actions``):
    # each decides the approvals addressed to it at its plants and sees the plant's data.
    PLANNING = "planning", "Production planning"
    MAINTENANCE = "maintenance", "Maintenance"
    SUPERVISOR = "supervisor", "Shift supervisor"
    PROCUREMENT = "procurement", "Procurement"
    CUSTOMER_SERVICE = "customer_service", "Customer service"
    ENGINEERING = "engineering", "Engineering"


Weekday = models.IntegerChoices(
    "Weekday", "MONDAY TUESDAY WEDNESDAY THURSDAY FRIDAY SATURDAY SUNDAY", start=0
)
