"""The inbound contract in words: what an event must carry and why, and what each answer
means. Used as the OpenAPI description of ``POST /api/v1/events`` (and quoted in the
README), so a plant's integrator learns it from the documentation, not from handler code.
The machine-checked truth stays the JSON Schemas in ``schemas/v1/``.
"""

RELEASE_CONTRACT = """\
**`production_order.released` (from the ERP) must carry**

| field | why |
| --- | --- |
| `order`, `item`, `qty`, `uom` | the order, what it makes and how much (plant codes; mapped to canonical ones) |
| `routing_revision` | the MES acknowledges *this* routing; a different one is quarantined (`revision_mismatch`), so no MES runs an outdated routing |
| `bom_revision` | likewise for the bill of materials; consumption is checked against this BOM |
| `operations[]` (`operation`, `work_center`, optional `qty`) | confirmations, starts and scrap refer to these operations, and the sequence checks follow their order; a confirmation of an unknown operation is quarantined |
| `components[]` (`item`, `qty`, `uom`) | the reserved components: a material issue of anything not reserved for the order is quarantined (scenario 3); omit only for an order without material |
| optional `revision`, `due_date`, `erp_reference` | the item revision (checked against the master data), scheduling, the ERP's own number |

Every code is the plant's own and must have a site mapping valid on the event's date
(`occurred_at`); an unmapped code is quarantined with `mapping_missing`, naming the table,
the code and the validity of the mappings that exist for it.

A result (`inspection.recorded`) needs its `inspection` id: the goods receipt waits for
that inspection's gate.
"""

ANSWERS = """\
**Answers (`status` of each result)**

- `accepted`: stored, deduplicated and applied.
- `parked`: stored and deduplicated, but it arrived before its prerequisite (e.g. a
  confirmation before the MES acknowledged the order). `waiting_for` names the
  prerequisite; the event is applied automatically when it arrives, and escalated after
  the plant's `sequencing.park_timeout`. Do not resend it.
- `duplicate`: the same business key and payload was received before (`event_id` is the
  original).
- `conflict` (409 for a single event): same business key, different payload.
- `quarantined`: stored but not applied; `reasons` say why (`code`, `path`, `expected`,
  `found`). An operator fixes and replays it.
- `rejected`: the envelope itself is invalid (400 for a single event).
"""

EVENTS_DESCRIPTION = RELEASE_CONTRACT + "\n" + ANSWERS
