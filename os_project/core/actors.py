from typing import Any


def actor_name(user: Any) -> str:
    """Who did something, as history and stock entries record it."""
    name = getattr(user, "username", "") or ""
    return str(name) if name else f"user:{getattr(user, 'id', '?')}"
