"""``{% my_open_task_count %}``: how many tasks wait for the person logged in (one
COUNT query; shown on the admin home page next to "My tasks")."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def my_open_task_count(context) -> int:
    from ..services.tasks import inbox

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return inbox(user).count()
