"""OneBot v11 actions: echo strings, the response envelope, and typed helpers.

Usage::

    await bot.send_group_msg("123", "hello")          # -> message id as str
    info = await bot.get_group_member_info("123", "456")
    await bot.call_action("set_group_card", group_id=123, user_id=456, card="x")

Success is ``status`` ``ok``/``async`` with ``retcode`` 0/1; anything else (``failed``, or the
implementation-specific 100, 200, 1200, 1404 ...) raises ``ActionFailedError``. Ids go out as JSON
numbers, because some implementations reject ``"123"`` where the spec wants an integer.
"""

from __future__ import annotations

import itertools
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from ...events import Component, MessageChain, MessageEventResult, to_chain
from ...exceptions import ActionFailedError
from .message import to_segments

__all__ = ["ActionsMixin", "MessageLike", "action_result", "new_echo", "wire_id"]

MessageLike = str | Component | Sequence[Component | str] | MessageChain | MessageEventResult

# Echoes are unique across every connection of the process, so a response can never be matched
# to a call made on another connection, or by an earlier run of the same bot.
_ECHO_PREFIX = f"wsdk-{os.getpid():x}-{secrets.token_hex(3)}-"
_echo_numbers = itertools.count(1)


def new_echo() -> str:
    """A fresh echo string, unique in this process."""
    return f"{_ECHO_PREFIX}{next(_echo_numbers)}"


def action_result(action: str, response: Mapping[str, Any]) -> Any:
    """The ``data`` of a successful response; raise ``ActionFailedError`` for any failure."""
    status = response.get("status")
    retcode = response.get("retcode")
    try:
        code = int(retcode) if retcode is not None else None
    except (TypeError, ValueError):
        code = None
    if code is None:
        succeeded = status in ("ok", "async")
    else:
        succeeded = code in (0, 1) and status in ("ok", "async", None)
    if succeeded:
        return response.get("data")
    message = str(response.get("message") or response.get("msg") or "")
    if not message and status not in (None, "failed"):
        message = f"status {status!r}"
    raise ActionFailedError(action, code, message, str(response.get("wording") or ""))


def wire_id(value: object) -> Any:
    """An id as the implementation wants it: a JSON number when it is one, else unchanged."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return value


def _message_id(data: Any) -> str:
    if isinstance(data, Mapping) and data.get("message_id") is not None:
        return str(data["message_id"])
    return ""  # an async send, or an implementation that does not say


def _object(data: Any) -> dict[str, Any]:
    return dict(data) if isinstance(data, Mapping) else {}


def _list(data: Any) -> list[Any]:
    return list(data) if isinstance(data, list) else []


class ActionsMixin(ABC):
    """Typed helpers for the common actions, on top of ``call_action``."""

    @abstractmethod
    async def call_action(self, action: str, /, **params: Any) -> Any:
        """Call ``action`` with ``params``; return the response's ``data``."""

    # --- messages --------------------------------------------------------------------------

    async def send_private_msg(self, user_id: str | int, message: MessageLike) -> str:
        """Send ``message`` to a friend (or group member); returns the new message id."""
        data = await self.call_action(
            "send_private_msg", user_id=wire_id(user_id), message=to_segments(to_chain(message))
        )
        return _message_id(data)

    async def send_group_msg(self, group_id: str | int, message: MessageLike) -> str:
        """Send ``message`` to a group; returns the new message id. No @ is added."""
        data = await self.call_action(
            "send_group_msg", group_id=wire_id(group_id), message=to_segments(to_chain(message))
        )
        return _message_id(data)

    async def delete_msg(self, message_id: str | int) -> None:
        """Recall a message."""
        await self.call_action("delete_msg", message_id=wire_id(message_id))

    async def get_msg(self, message_id: str | int) -> dict[str, Any]:
        """A message by id: ``time``, ``message_type``, ``sender``, ``message`` ..."""
        return _object(await self.call_action("get_msg", message_id=wire_id(message_id)))

    async def get_forward_msg(self, forward_id: str) -> dict[str, Any]:
        """The nodes of a forwarded message."""
        return _object(await self.call_action("get_forward_msg", id=forward_id))

    async def send_like(self, user_id: str | int, times: int = 1) -> None:
        """Like a user's profile ``times`` times."""
        await self.call_action("send_like", user_id=wire_id(user_id), times=times)

    # --- who is who ------------------------------------------------------------------------

    async def get_login_info(self) -> dict[str, Any]:
        """The bot account: ``user_id``, ``nickname``."""
        return _object(await self.call_action("get_login_info"))

    async def get_stranger_info(self, user_id: str | int, no_cache: bool = False) -> dict[str, Any]:
        """Public profile of any user."""
        return _object(
            await self.call_action("get_stranger_info", user_id=wire_id(user_id), no_cache=no_cache)
        )

    async def get_friend_list(self) -> list[dict[str, Any]]:
        """Every friend: ``user_id``, ``nickname``, ``remark``."""
        return _list(await self.call_action("get_friend_list"))

    async def get_group_info(self, group_id: str | int, no_cache: bool = False) -> dict[str, Any]:
        """A group's name and member counts."""
        return _object(
            await self.call_action("get_group_info", group_id=wire_id(group_id), no_cache=no_cache)
        )

    async def get_group_list(self) -> list[dict[str, Any]]:
        """Every group the bot is in."""
        return _list(await self.call_action("get_group_list"))

    async def get_group_member_info(
        self, group_id: str | int, user_id: str | int, no_cache: bool = False
    ) -> dict[str, Any]:
        """One member: ``card``, ``role``, ``level``, ``join_time`` ..."""
        return _object(
            await self.call_action(
                "get_group_member_info",
                group_id=wire_id(group_id),
                user_id=wire_id(user_id),
                no_cache=no_cache,
            )
        )

    async def get_group_member_list(self, group_id: str | int) -> list[dict[str, Any]]:
        """Every member of a group."""
        return _list(await self.call_action("get_group_member_list", group_id=wire_id(group_id)))

    async def get_status(self) -> dict[str, Any]:
        """``online`` and ``good``, plus whatever the implementation adds."""
        return _object(await self.call_action("get_status"))

    async def get_version_info(self) -> dict[str, Any]:
        """``app_name``, ``app_version``, ``protocol_version``."""
        return _object(await self.call_action("get_version_info"))

    # --- requests and moderation -----------------------------------------------------------

    async def set_friend_add_request(
        self, flag: str, approve: bool = True, remark: str = ""
    ) -> None:
        """Answer a friend request; ``flag`` comes from the request event, verbatim."""
        params: dict[str, Any] = {"flag": flag, "approve": approve}
        if remark:
            params["remark"] = remark
        await self.call_action("set_friend_add_request", **params)

    async def set_group_add_request(
        self, flag: str, sub_type: str, approve: bool = True, reason: str = ""
    ) -> None:
        """Answer a join request (``sub_type="add"``) or an invitation (``"invite"``)."""
        params: dict[str, Any] = {"flag": flag, "sub_type": sub_type, "approve": approve}
        if reason and not approve:
            params["reason"] = reason
        await self.call_action("set_group_add_request", **params)

    async def set_group_ban(
        self, group_id: str | int, user_id: str | int, duration: int = 1800
    ) -> None:
        """Mute a member for ``duration`` seconds; 0 lifts the mute."""
        await self.call_action(
            "set_group_ban",
            group_id=wire_id(group_id),
            user_id=wire_id(user_id),
            duration=int(duration),
        )

    async def set_group_whole_ban(self, group_id: str | int, enable: bool = True) -> None:
        """Mute (or unmute) the whole group."""
        await self.call_action("set_group_whole_ban", group_id=wire_id(group_id), enable=enable)

    async def set_group_kick(
        self, group_id: str | int, user_id: str | int, reject_add_request: bool = False
    ) -> None:
        """Remove a member; ``reject_add_request`` also refuses their later requests."""
        await self.call_action(
            "set_group_kick",
            group_id=wire_id(group_id),
            user_id=wire_id(user_id),
            reject_add_request=reject_add_request,
        )

    async def set_group_admin(
        self, group_id: str | int, user_id: str | int, enable: bool = True
    ) -> None:
        """Make a member admin (or not)."""
        await self.call_action(
            "set_group_admin", group_id=wire_id(group_id), user_id=wire_id(user_id), enable=enable
        )

    async def set_group_card(self, group_id: str | int, user_id: str | int, card: str = "") -> None:
        """Set a member's group nickname; ``""`` clears it."""
        await self.call_action(
            "set_group_card", group_id=wire_id(group_id), user_id=wire_id(user_id), card=card
        )

    async def set_group_leave(self, group_id: str | int, is_dismiss: bool = False) -> None:
        """Leave a group (an owner may dismiss it)."""
        await self.call_action("set_group_leave", group_id=wire_id(group_id), is_dismiss=is_dismiss)
