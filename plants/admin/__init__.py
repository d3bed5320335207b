"""Admin of the plants app: what a plant admin, the governance board and auditors use.

One module per concern; importing them registers the ModelAdmins. Every plant-bound
admin is scoped by :class:`plants.admin_scoping.PlantScopedAdminMixin` (a plant admin of
P1 sees and edits only P1's rows) and shows its read-only history (django-simple-history;
reverting is disabled in settings because configuration changes go through services).
"""

from . import access, mappings, masterdata, parameters, sites, systems

__all__ = ["access", "mappings", "masterdata", "parameters", "sites", "systems"]
