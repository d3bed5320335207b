"""Plants, connected systems, canonical master data and site mappings.

The lowest layer of Interlock: it knows nothing of rules or business-object lifecycles.
"""
