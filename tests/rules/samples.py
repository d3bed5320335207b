"""Rule set documents shared by the rules tests."""

GOOD = """\
schema: interlock/ruleset/v1
ruleset: quality-gates
description: Incoming inspection and scrap gates
owner: governance-board
rules:
  - id: block_failed_lot
    description: A failed incoming inspection blocks the lot
    owner: quality
    on: [inspection.recorded]
    when: event.result == "failed"
    then:
      - action: change_lot_status
        params: {status: blocked, reason: inspection failed}
      - action: open_supplier_case
        params: {reason: incoming inspection failed}
  - id: disposition
    description: Decide a disposition from result and defect count
    owner: quality
    on: [inspection.recorded]
    table:
      hit_policy: FIRST
      inputs:
        - {name: result, expr: event.result}
        - {name: defects, expr: event.defects}
      outputs:
        - {name: disposition, type: string}
      rows:
        - {when: [failed, "> 5"], then: {disposition: scrap}}
        - {when: [failed, "-"], then: {disposition: rework}}
        - {when: ['in ["passed", "conditionally_released"]', "-"], then: {disposition: use}}
    then:
      - action: notify_role
        params: {role: quality_lead, message: disposition decided}
  - id: scrap_spike
    description: Scrap over the plant threshold alerts quality
    owner: quality
    on: [scrap.declared]
    when: |
      event.window_qty >
        double(plant.scrap_threshold)
    then:
      - action: threshold_alert
        params: {parameter: scrap_threshold, roles: [quality_lead, maintenance]}
tests:
  - name: failed lot is blocked
    event_type: inspection.recorded
    event: {lot: L1, result: failed, defects: 7}
    expect:
      actions: [change_lot_status, open_supplier_case, notify_role]
      results: {disposition: {disposition: scrap}}
  - name: passed lot is used
    event_type: inspection.recorded
    event: {lot: L1, result: passed, defects: 0}
    expect:
      actions: [notify_role]
"""
