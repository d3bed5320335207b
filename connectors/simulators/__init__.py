"""Simulators of the plant systems Interlock connects: ERP, MES, QMS and WMS.

Each is a small real HTTP service with its own SQLite tables (``<var>/sim/<name>.sqlite3``),
started as its own process (``manage.py simulate erp|mes|qms`` or
``python -m connectors.simulators.<name>``); ``manage.py demo`` starts all three. They
implement the wire contract Interlock's outbound delivery posts to (``base``), speak to
Interlock's inbound API in each plant's own codes (``world``, from ``fixtures/demo``), and
can be told to fail, throttle or be slow (``POST /<name>/_control``).

| module | port | mount | takes | sends to Interlock |
|---|---|---|---|---|
| ``erp`` | 8101 | ``/erp`` | confirmations, goods issues, scrap, goods receipts, settlement | ``production_order.released`` (release driver) |
| ``mes`` | 8102 | ``/mes/<plant>`` | ``production_order.release`` | acknowledgment, starts, issues, confirmations, scrap, completion |
| ``qms`` | 8103 | ``/qms/<plant>`` | ``inspection.request`` | ``inspection.requested``, ``inspection.recorded`` |
| ``wms`` | 8105 | ``/wms/<plant>`` | move-to-hold tasks, pick pause/resume, shipment holds | ``cycle_count.recorded`` (``POST /wms/_count``) |
"""

SIMULATORS = ("erp", "mes", "qms", "wms")
