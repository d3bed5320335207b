"""Routes of the orchestrator API (mounted under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import approvals, checks, outbox, reads, tasks, trace, views, workbench

router = SimpleRouter(trailing_slash=False)
router.register("orders", views.OrderViewSet, basename="order")
router.register("lots", views.LotViewSet, basename="lot")
router.register("inspections", views.InspectionViewSet, basename="inspection")
router.register("nonconformances", views.NonconformanceViewSet, basename="nonconformance")
router.register("audit-records", views.AuditRecordViewSet, basename="audit-record")
router.register("goods-receipts", reads.GoodsReceiptViewSet, basename="goods-receipt")
router.register("messages", reads.MessageViewSet, basename="message")
router.register("exceptions", reads.ExceptionViewSet, basename="exception")
router.register("outbox", reads.OutboxViewSet, basename="outbox")

urlpatterns = [
    *router.urls,
    path("checks/<str:check>", checks.CheckView.as_view(), name="check"),
    path("trace/<path:correlation_id>", trace.TraceView.as_view(), name="trace"),
    path("messages/<int:pk>/replay", workbench.MessageReplayView.as_view(), name="message-replay"),
    path("messages/<int:pk>/discard", workbench.MessageDiscardView.as_view(), name="msg-discard"),
    path("events/<int:pk>/replay", workbench.EventReplayView.as_view(), name="event-replay"),
    path("events/<int:pk>/discard", workbench.EventDiscardView.as_view(), name="event-discard"),
    path("outbox/<int:pk>/replay", outbox.OutboxReplayView.as_view(), name="outbox-replay"),
    path(
        "approvals/<int:pk>/decide", approvals.ApprovalDecideView.as_view(), name="approval-decide"
    ),
    path("tasks/mine", tasks.MyTasksView.as_view(), name="tasks-mine"),
    path("tasks/<int:pk>/claim", tasks.TaskClaimView.as_view(), name="task-claim"),
    path("tasks/<int:pk>/release", tasks.TaskReleaseView.as_view(), name="task-release"),
    path("tasks/<int:pk>/complete", tasks.TaskCompleteView.as_view(), name="task-complete"),
    path("reconciliation/runs", tasks.ReconciliationRunView.as_view(), name="reconciliation-run"),
    path(
        "reconciliation/exceptions",
        tasks.ReconciliationExceptionsView.as_view(),
        name="reconciliation-exceptions",
    ),
    path(
        "reconciliation/exceptions/<int:pk>/<str:action>",
        tasks.ReconciliationExceptionActionView.as_view(),
        name="reconciliation-exception-act",
    ),
]
