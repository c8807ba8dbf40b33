"""At each GitHub login, write access follows organisation or team membership."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_logged_in
from django.dispatch import receiver

from citriage.web.access import sync_write_access


@receiver(user_logged_in)
def _logged_in(request: Any, user: Any, **kwargs: Any) -> None:
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is None or sociallogin.account.provider != "github":
        return
    token = sociallogin.token.token if sociallogin.token else ""
    login = sociallogin.account.extra_data.get("login", "")
    sync_write_access(user, login, token)
