"""API.md section 4 (and section 3's last bullet) as a stateful property test against a model.

Hypothesis drives the real SDK through the public test kit only (``sim.send``, bursts through
``sim.app.dispatch(sim.message(...))``, ``sim.settle()``, ``sim.advance()``, ``sim.app.sessions``),
with two small plugins of our own: ``Rooms`` opens sessions on ``/open`` and its waiter does what
each message's text says, ``Journal`` is a ``priority=-10`` handler that notes every message that
reached the plugins. After every step the observable outcome is compared with ``Model``, a small
pure-Python statement of the rules: the open sessions by key, their deadlines, queues and running
calls, the sender gates, what reached each waiter and the journal, in which order, and how each
opener's ``await waiter(...)`` ended.

Steps: one message or a burst in one loop turn (one sender, or several members of a group), an
``/open`` followed by ``exit`` in one turn where no session takes them yet (rule 15), a rival
``/open`` for the key that a sleeping opener is about to take (rule 9), ``app.sessions.close``, and
moving virtual time. Sessions are opened under ``SenderSessionFilter`` and ``GroupSessionFilter``
by three users in two groups and in private; each run has the sender gate on (``order_window``
2 s) or off.

Message texts (the waiter and the model read the same encoding):

- ``/open SID sender|group TIMEOUT busy|replace DELAY``: open a session with that filter, timeout
  and conflict policy, after sleeping ``DELAY`` seconds in the handler (0: at once).
- ``mN [sleep:S] FINAL``: a waiter call that (after sleeping ``S`` virtual seconds) does ``FINAL``:
  ``ok`` (return), ``stop``, ``stoperr`` (``stop(error)``), ``raise``, ``keep:T`` or
  ``keep:T:reset``. Sent with no session to take it, it is ordinary chat.
- ``exit``: the exit word.

The order rules (docs/bus.md, section 3): a message goes through the exit words, the sessions,
its sender's gate and the handlers. A message that waits at its sender's gate keeps its place in
arrival order: the chains of later messages wait before each handler it would reach (the
journal, and ``Rooms.open`` for an ``/open``) until it goes on (its chain's task starts) or goes
elsewhere; so does the rest of a chain handed on by an ``/open`` handler that opened a session,
until that rest starts. What a session hands back (rule 8) goes to the handlers at once, past the
gates. So the journal is compared whole, order and times, with the gate on or off: a message
reaches it late only while an earlier one keeps a place there, and later messages pass one only
while its chain is still at its ``/open`` handler (asleep in it, or waiting before it).

What the contract leaves open is kept out of the runs rather than guessed: two timers due at the
same instant (a deadline and the end of a sleep, say), and work of one instant whose outcome
depends on how waiter calls and handler chains interleave. Before each message is sent, the
model plays it and the whole future without further input under several such orders; if they
disagree or two timers coincide, the step is skipped.

Where the model reads the contract in a way the text does not spell out, it says so: a message a
session took but whose call had not started when the session ended (an exit word right behind
it in one loop turn) counts as queued (rule 8); ``session.max_queue`` drops what a full queue
cannot take (docs/sessions.md); a message takes its place in arrival order when it reaches the
gate or the handlers (a handed-back one, when it is handed back); a handed-back message whose
sender's gate is closed runs with no gate of its own, and that gate keeps what it holds; gates
due at one instant open in the order they closed; a chain waiting for an earlier place keeps one
of its own before the handlers it has left, until it goes on; at stop, a chain still waiting
for a place runs no more handlers.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from waiter_sdk import (
    GroupSessionFilter,
    MessageChain,
    MessageEvent,
    Plugin,
    SenderSessionFilter,
    SessionBusyError,
    SessionClosedError,
    SessionController,
    SessionTimeoutError,
    command,
    on_message,
    session_waiter,
)
from waiter_sdk.config import Settings
from waiter_sdk.testing import Simulator

# --- the encoding of what a message asks for ----------------------------------------------------

USERS = ("ann", "bob", "cy")
CONVERSATIONS: tuple[str | None, ...] = ("g1", "g2", None)  # None: a private chat
EXIT = "exit"
WINDOW = 2.0  # the default session.order_window, in the configurations that keep the gate on
MAX_QUEUE = 8  # session.max_queue: beyond it a busy session drops a message (docs/sessions.md)

# Every duration is a multiple of 1/256, so sums of them are exact floats in any order. The sleeps
# have odd 64ths, so that the end of a chain of sleeps rarely meets a deadline or another timer
# (such a meeting is left out of the run, see the module docstring); ``build`` adds a jitter.
TIMEOUTS = (3.0, 6.5, 12.0)
DELAYS = (1.25, 3.25)  # an opener that sleeps shorter than the gate window, and longer
SLEEPS = (0.765625, 2.515625, 4.203125)
KEEPS_RESET = (0.0, 1.5, 5.0)  # 0: "keep left no time", the session ends at once
KEEPS_ADD = (-60.0, -1.25, 3.5)  # -60: past, the session ends at once
STEPS = (0.5, 1.0, 2.0, 4.0, 8.0)

Filter = Literal["sender", "group"]


@dataclass(frozen=True)
class Open:
    """``/open``: open a session (after ``delay`` seconds in the handler).

    Sessions with an even ``sid`` record history (rule 12); the others do not.
    """

    sid: int
    filter: Filter
    timeout: float
    replace: bool
    delay: float

    @property
    def history(self) -> bool:
        return self.sid % 2 == 0

    def text(self) -> str:
        conflict = "replace" if self.replace else "busy"
        return f"/open {self.sid} {self.filter} {self.timeout} {conflict} {self.delay}"

    @classmethod
    def parse(cls, args: list[str]) -> Open:
        sid, flt, timeout, conflict, delay = args
        return cls(
            int(sid),
            "group" if flt == "group" else "sender",
            float(timeout),
            conflict == "replace",
            float(delay),
        )


@dataclass(frozen=True)
class Act:
    """What one waiter call does with the message that carries this text."""

    mid: int
    sleep: float
    final: str  # ok | stop | stoperr | raise | keep
    keep: float = 0.0
    reset: bool = False

    def text(self) -> str:
        words = [f"m{self.mid}"]
        if self.sleep:
            words.append(f"sleep:{self.sleep}")
        if self.final == "keep":
            words.append(f"keep:{self.keep}" + (":reset" if self.reset else ""))
        else:
            words.append(self.final)
        return " ".join(words)

    @classmethod
    def parse(cls, text: str) -> Act | None:
        words = text.split()
        if not words or not words[0].startswith("m") or not words[0][1:].isdigit():
            return None  # "/open ..." taken by a session: the waiter just returns
        mid, sleep, final = int(words[0][1:]), 0.0, words[-1]
        if len(words) == 3:
            sleep = float(words[1].removeprefix("sleep:"))
        if final.startswith("keep:"):
            parts = final.split(":")
            return cls(mid, sleep, "keep", float(parts[1]), len(parts) == 3)
        return cls(mid, sleep, final)


@dataclass(frozen=True)
class Msg:
    """One message from the platform, as the model sees it."""

    user: str
    conv: str | None
    text: str
    spec: Open | Act | None  # None: the exit word

    def __deepcopy__(self, memo: dict[int, Any]) -> Msg:
        return self  # immutable: a model's copy can share it

    @property
    def stream(self) -> tuple[str, ...]:
        # The sender gate's key: one sender in one conversation.
        return ("p" if self.conv is None else "g" + self.conv, self.user)


def session_key(flt: Filter, user: str, conv: str | None) -> tuple[str, ...]:
    """What the filter makes of a message: rule 1, and the filter table of docs/sessions.md."""
    if flt == "sender":
        return ("sender", "p" if conv is None else "g" + conv, user)
    return ("group", "p" + user) if conv is None else ("group", "g" + conv)


FILTER_NAMES = {"sender": "SenderSessionFilter", "group": "GroupSessionFilter"}
Entry = tuple[str, str | None, str, float]  # what the journal notes: sender, group, text, time

# --- the model ----------------------------------------------------------------------------------

# Ends decided from outside the waiter: a call still running is cancelled (rule 6, and the
# reasons table of docs/sessions.md).
INTERRUPTING = frozenset({"timeout", "cancelled", "replaced", "shutdown"})
OUTCOME_OF = {"timeout": ("timeout",), "replaced": ("closed",), "shutdown": ("closed",)}

# Orders of one instant's work that the contract does not fix; a step is only taken if they
# all agree: ("fifo" | "calls" | "chains" first) x (the calls of held messages that a gate lets
# go to a session start after | before queued work). Handler chains are tasks, started in the
# order they were created; section 3 fixes what each handler sees, so no policy reorders them.
Policy = tuple[str, str]
POLICIES: tuple[Policy, ...] = tuple(
    itertools.product(("fifo", "calls", "chains"), ("back", "front"))
)


@dataclass(eq=False)
class MSession:
    sid: int
    key: tuple[str, ...]
    filter: Filter
    opened_at: float
    deadline: float
    seq: int  # opening order: rule 11
    opener: tuple[str, str | None]  # who opened it, where
    running: Msg | None = None  # the call running or about to start
    started: bool = False
    wake: float | None = None  # when the running call's sleep ends
    queue: list[Msg] = field(default_factory=list)
    history: list[str] | None = None  # rule 12: what each call got, if recording
    live: bool = True


@dataclass(eq=False)
class MPlace:
    """A message's place in arrival order, kept while its handlers cannot run yet.

    Kept for a message held at its sender's gate (from the moment it is held) and for the rest
    of a chain whose ``/open`` handler opened a session (until that rest starts). Chains of
    later messages wait before each handler in ``handlers``, and only those.
    """

    seq: int
    handlers: frozenset[str]  # "open", "journal": what the message's text selects


@dataclass(eq=False)
class MGate:
    key: tuple[str, ...]
    expires: float
    order: int  # closing order
    held: list[tuple[Msg, MPlace]] = field(default_factory=list)


@dataclass(eq=False)
class MChain:
    """The plugin handlers of one message: the ``/open`` handler (if a command), the journal."""

    seq: int  # its place in arrival order
    msg: Msg
    gate: MGate | None
    stage: str  # the handler it is at: "open" | "journal" | "done"
    place: MPlace | None = None  # kept until its task starts
    wake: float | None = None  # a delayed opener asleep (inside its handler) until then
    woke: bool = False
    waiting: bool = False  # it waited before ``stage`` for an earlier place and has not run it


def selects(msg: Msg) -> frozenset[str]:
    """The handlers a message's text selects: the journal always, ``Rooms.open`` for /open."""
    return frozenset(("open", "journal")) if isinstance(msg.spec, Open) else frozenset(("journal",))


def left(chain: MChain) -> frozenset[str]:
    """The handlers ``chain`` has not run yet, its current one included."""
    return frozenset(("open", "journal")) if chain.stage == "open" else frozenset(("journal",))


Work = tuple[str, Any]  # ("chain", MChain) | ("call", (MSession, Msg))


class Model:
    """Section 4 of API.md (plus section 3's ordering and the sender gate) over plain data."""

    def __init__(self, window: float, policy: Policy = POLICIES[0]) -> None:
        self.window = window
        self.policy = policy
        self.now = 0.0
        self.sessions: list[MSession] = []
        self.by_key: dict[tuple[str, ...], MSession] = {}
        self.gates: dict[tuple[str, ...], MGate] = {}
        self.closings = 0
        self.sleepers: list[MChain] = []
        self.work: list[Work] = []
        self._front: list[Work] | None = None
        self.published = 0  # places handed out in arrival order (a chain's or a held message's)
        self.places: list[MPlace] = []  # kept places (rule 3): later chains wait for them
        self.parked: list[MChain] = []  # chains waiting for a place, in the order they began
        self.opened = 0
        # What the SDK must show.
        self.journal: list[Entry] = []
        self.calls: dict[int, list[tuple[Any, ...]]] = {}
        self.outcomes: dict[int, tuple[Any, ...]] = {}
        self.ended: dict[str, int] = {}
        # For the look-ahead.
        self.trace: list[Any] = []
        self.tie = False

    # --- inputs -------------------------------------------------------------------------------

    def dispatch(self, msgs: list[Msg]) -> None:
        """Messages arriving in one loop turn, then everything they cause at this instant."""
        for msg in msgs:
            self.route(msg)
        self.drain()
        self.trace.append((self.now, self.sessions_view()))

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while (when := self.next_timer()) is not None and when <= target:
            self.tick(when)
        self.now = target

    def run_out(self) -> None:
        """Play the future with no more input, until no timer is left."""
        while (when := self.next_timer()) is not None:
            self.tick(when)

    def fork(self, policy: Policy) -> Model:
        """A copy that plays on from here under ``policy``, with no output recorded yet.

        Only what the future depends on is copied: the look-ahead runs for every message sent,
        and copying what was already observed made it the slowest part of the test.
        """
        state = {k: v for k, v in vars(self).items() if k not in ("journal", "calls", "trace")}
        state["sessions"] = [s for s in self.sessions if s.live]
        state["outcomes"], state["ended"] = {}, {}
        twin = Model(self.window, policy)
        vars(twin).update(copy.deepcopy(state))
        twin.policy, twin.tie = policy, False
        return twin

    def close(self, sid: int) -> None:
        """``app.sessions.close(key)``: the session ends as if by an exit word."""
        self.end(next(s for s in self.sessions if s.sid == sid), "cancelled")
        self.drain()
        self.trace.append((self.now, self.sessions_view()))

    def shutdown(self) -> None:
        """Rule 13: ``App.stop()`` ends every open session; their openers raise SessionClosedError."""
        for session in [s for s in self.sessions if s.live]:
            self.end(session, "shutdown", release=False)

    # --- time ---------------------------------------------------------------------------------

    def timers(self) -> Iterator[tuple[float, str, Any]]:
        for s in self.sessions:
            if s.live:
                yield s.deadline, "deadline", s
            if s.wake is not None:
                yield s.wake, "wake", s
        for chain in self.sleepers:
            assert chain.wake is not None
            yield chain.wake, "opener", chain
        for gate in self.gates.values():
            yield gate.expires, "gate", gate

    def next_timer(self) -> float | None:
        return min((when for when, _, _ in self.timers()), default=None)

    def tick(self, when: float) -> None:
        self.now = when
        due = [(kind, obj) for at, kind, obj in self.timers() if at == when]
        # Gates share one window, so those due at one instant open in the order they closed
        # (docs/bus.md, "at most order_window"); a gate that holds nothing changes nothing by
        # opening. Any other two timers of one instant: the contract does not say which goes
        # first.
        due.sort(key=lambda item: item[1].order if item[0] == "gate" else -1)
        gates = any(kind == "gate" and obj.held for kind, obj in due)
        if sum(kind != "gate" for kind, _ in due) + gates > 1:
            self.tie = True
        for kind, obj in due:
            if kind == "deadline" and obj.live and obj.deadline == when:
                self.end(obj, "timeout")  # rule 6
            elif kind == "wake" and obj.wake == when:
                obj.wake = None
                assert obj.running is not None
                self.log(obj, ("woke", obj.running.text))
                self.finish_call(obj, obj.running)
            elif kind == "opener" and obj in self.sleepers:
                self.sleepers.remove(obj)
                obj.woke = True
                self.run_chain(obj)
            elif kind == "gate":
                self.open_gate(obj)
        self.drain()
        self.trace.append((self.now, self.sessions_view()))

    # --- routing: exit words, sessions, the sender gate, the handlers (docs/bus.md) ------------

    def match(self, msg: Msg) -> MSession | None:
        """Rule 2 and rule 11: the newest open session whose key the message has."""
        found = [self.by_key.get(session_key(f, msg.user, msg.conv)) for f in ("sender", "group")]
        live = [s for s in found if s is not None]
        return max(live, key=lambda s: s.seq) if live else None

    def route(self, msg: Msg, place: MPlace | None = None) -> None:
        """Dispatch of a platform message; ``place``: the one it kept while held at a gate."""
        session = self.match(msg)
        if msg.spec is None and session is not None:
            self.end(session, "cancelled")  # rule 15: before any waiter sees it
            self.release(place)
            return
        if session is not None:
            self.deliver(session, msg)
            self.release(place)
            return
        gate = self.gates.get(msg.stream)
        if gate is not None:
            # It waits for its sender's previous message, and keeps its place meanwhile.
            gate.held.append((msg, place if place is not None else self.reserve(msg)))
            return
        self.publish(msg, place)

    def hand_back(self, msg: Msg) -> None:
        """Rule 8: to the plugin handlers only, in order, and past the gates: a gate holds a
        message back for a session its sender's handler may open, which rule 8 rules out."""
        self.publish(msg)

    def publish(self, msg: Msg, place: MPlace | None = None) -> None:
        if place is None:
            self.published += 1
        seq = self.published if place is None else place.seq
        gate = None
        # Only a handed-back message finds its sender's gate closed here: that gate keeps what
        # it holds and opens when its own chain lets it; this chain closes none.
        if self.window > 0 and msg.stream not in self.gates:
            self.closings += 1
            gate = MGate(msg.stream, self.now + self.window, self.closings)
            self.gates[msg.stream] = gate
        stage = "open" if isinstance(msg.spec, Open) else "journal"
        self.push(("chain", MChain(seq, msg, gate, stage, place)))

    def reserve(self, msg: Msg) -> MPlace:
        self.published += 1
        place = MPlace(self.published, selects(msg))
        self.places.append(place)
        return place

    def release(self, place: MPlace | None) -> None:
        """``place`` is given up (its chain started, or its message went elsewhere): the chains
        that waited for a place go on, in the order they began to wait, and check again."""
        if place is None or place not in self.places:
            return
        self.places.remove(place)
        self.wake()

    def wake(self) -> None:
        # Every waiting chain checks again, in the order it began to wait.
        woken, self.parked = self.parked, []
        for chain in woken:
            self.push(("chain", chain))

    def blocked(self, chain: MChain, handler: str) -> bool:
        """An earlier message keeps a place before ``handler``: a kept place, or a chain that
        waits for one (it keeps a place before the handlers it has left, woken or not)."""
        if any(p.seq < chain.seq and handler in p.handlers for p in self.places):
            return True
        waiting = itertools.chain(self.parked, (c for kind, c in self.work if kind == "chain"))
        return any(
            other.waiting and other.seq < chain.seq and handler in left(other) for other in waiting
        )

    def waits(self, chain: MChain, handler: str) -> bool:
        """Rule 3: ``chain`` waits before ``handler`` while an earlier message keeps a place
        there. If it goes on, no chain of an earlier message may still be waiting there."""
        if self.blocked(chain, handler):
            chain.waiting = True
            self.parked.append(chain)
            return True
        if chain.waiting:
            chain.waiting = False
            self.wake()  # the place it kept while it waited is given up
        for other in itertools.chain(self.parked, (c for kind, c in self.work if kind == "chain")):
            # A chain that never waited cannot be passed: it starts first, or keeps a place.
            assert not (other.stage == handler and other.seq < chain.seq), (
                f"model: {chain.msg.text} passes {other.msg.text}"
            )
        return False

    def open_gate(self, gate: MGate | None) -> None:
        if gate is None or self.gates.get(gate.key) is not gate:
            return
        del self.gates[gate.key]
        held, gate.held = gate.held, []
        outer = self._front
        if self.policy[1] == "front":
            self._front = []
        for msg, place in held:
            self.route(msg, place)  # the whole route again, exit words included (rule 15)
        if self.policy[1] == "front":
            assert self._front is not None
            front, self._front = self._front, outer
            if outer is not None:
                outer.extend(front)
            else:
                self.work[:0] = front

    # --- work of one instant ------------------------------------------------------------------

    def push(self, item: Work) -> None:
        if self._front is not None and item[0] == "call":
            self._front.append(item)
        else:
            self.work.append(item)

    def drain(self) -> None:
        while self.work:
            index = 0
            if self.policy[0] != "fifo":
                want = "call" if self.policy[0] == "calls" else "chain"
                index = next((i for i, (kind, _) in enumerate(self.work) if kind == want), 0)
            kind, obj = self.work.pop(index)
            if kind == "chain":
                place, obj.place = obj.place, None
                self.release(place)  # its task has started
                self.run_chain(obj)
            else:
                session, msg = obj
                if session.live and session.running is msg and not session.started:
                    self.start_call(session, msg)

    def run_chain(self, chain: MChain) -> None:
        msg = chain.msg
        if chain.stage == "open":
            assert isinstance(msg.spec, Open)
            if not chain.woke:
                if self.waits(chain, "open"):
                    return
                if msg.spec.delay:
                    chain.wake = self.now + msg.spec.delay
                    self.sleepers.append(chain)
                    return  # the rest of its chain waits for it; the sender's gate stays closed
            chain.stage = "journal"
            if self.try_open(chain):
                return
        if chain.stage == "journal":
            if self.waits(chain, "journal"):
                return
            self.journal.append((msg.user, msg.conv, msg.text, self.now))
            chain.stage = "done"
            self.open_gate(chain.gate)

    def try_open(self, chain: MChain) -> bool:
        spec = chain.msg.spec
        assert isinstance(spec, Open)
        key = session_key(spec.filter, chain.msg.user, chain.msg.conv)
        held = self.by_key.get(key)
        if held is not None:
            if not spec.replace:
                self.outcomes[spec.sid] = ("busy",)  # rule 9; the first session is untouched
                return False
            self.end(held, "replaced")
        self.opened += 1
        opener = (chain.msg.user, chain.msg.conv)
        deadline = self.now + spec.timeout
        session = MSession(spec.sid, key, spec.filter, self.now, deadline, self.opened, opener)
        session.history = [] if spec.history else None
        self.sessions.append(session)
        self.by_key[key] = session
        # Section 3: the rest of its chain (the journal) goes on now, in a task of its own, and
        # keeps the chain's place until that task starts.
        chain.place = MPlace(chain.seq, frozenset(("journal",)))
        self.places.append(chain.place)
        self.push(("chain", chain))
        self.open_gate(chain.gate)  # the handler opened a session: its sender may go on
        return True

    def deliver(self, session: MSession, msg: Msg) -> None:
        if session.running is None:
            session.running, session.started = msg, False
            self.push(("call", (session, msg)))
        elif len(session.queue) < MAX_QUEUE:
            session.queue.append(msg)  # rule 2: one call at a time, in arrival order

    def start_call(self, session: MSession, msg: Msg) -> None:
        session.started = True
        if session.history is not None:
            session.history.append(msg.text)  # rule 12: recorded before the call sees it
        history = list(session.history or ())
        self.log(session, ("call", msg.text, session.deadline, history))  # rule 3: see keep
        act = msg.spec if isinstance(msg.spec, Act) else None
        if act is not None and act.sleep:
            session.wake = self.now + act.sleep
            return
        self.finish_call(session, msg)

    def finish_call(self, session: MSession, msg: Msg) -> None:
        act = msg.spec if isinstance(msg.spec, Act) else None
        final = act.final if act is not None else "ok"
        if act is None or final == "ok":
            pass
        elif final == "stop":
            self.end(session, "stopped")  # rule 5
        elif final == "stoperr":
            self.end(session, "stopped", ("raised", act.mid))
        elif final == "raise":
            self.end(session, "error", ("raised", act.mid))  # rule 7
        else:  # rule 4
            deadline = self.now + act.keep if act.reset else session.deadline + act.keep
            session.deadline = deadline
            self.log(session, ("kept", msg.text, deadline, deadline <= self.now))
            if deadline <= self.now:
                self.end(session, "exhausted")
        session.running, session.started = None, False
        if session.live and session.queue:
            nxt = session.queue.pop(0)
            session.running = nxt
            self.start_call(session, nxt)

    def end(self, session: MSession, reason: str, error: Any = None, release: bool = True) -> None:
        if not session.live:
            return
        session.live = False
        if self.by_key.get(session.key) is session:  # rule 10
            del self.by_key[session.key]
        self.ended[reason] = self.ended.get(reason, 0) + 1
        leftover, session.queue = session.queue, []
        running = session.running
        if running is not None and not session.started:
            leftover.insert(0, running)  # taken but never started: as good as queued
            session.running = None
        elif running is not None and reason in INTERRUPTING:
            assert session.wake is not None
            self.log(session, ("cancelled", running.text))  # it may send nothing more
            session.running, session.started, session.wake = None, False, None
        self.outcomes[session.sid] = error or OUTCOME_OF.get(reason, ("returned",))
        if release:
            for msg in leftover:
                self.hand_back(msg)  # rule 8: every one, in order, to the handlers only

    def log(self, session: MSession, entry: tuple[Any, ...]) -> None:
        self.calls.setdefault(session.sid, []).append(entry)

    # --- what the SDK must show ---------------------------------------------------------------

    def sessions_view(self) -> list[tuple[Any, ...]]:
        return [
            (
                FILTER_NAMES[s.filter],
                s.opened_at,
                s.deadline,
                len(s.queue),
                s.running is not None,
                len(s.history or ()),
            )
            for s in self.sessions
            if s.live
        ]

    def observables(self) -> Any:
        return (self.journal, self.calls, self.outcomes, self.ended, self.trace)


# --- the plugins --------------------------------------------------------------------------------


class Boom(Exception):
    def __init__(self, mid: int) -> None:
        super().__init__(f"boom m{mid}")
        self.mid = mid


@dataclass
class World:
    """What the plugins saw, for the test to compare with the model."""

    journal: list[Entry] = field(default_factory=list)
    calls: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)
    outcomes: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    raised: dict[int, Boom] = field(default_factory=dict)
    keys: dict[int, set[str]] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)
    faults: list[str] = field(default_factory=list)


class Rooms(Plugin):
    """``/open``: opens a session whose waiter does what each delivered message says."""

    name = "rooms"

    def __init__(self, world: World) -> None:
        self.world = world

    @command("open")
    async def open(self, event: MessageEvent) -> None:
        spec = Open.parse(event.args)
        world = self.world
        if spec.delay:
            await asyncio.sleep(spec.delay)  # a slow handler: its sender's gate stays closed
        flt = SenderSessionFilter() if spec.filter == "sender" else GroupSessionFilter()
        outcome: tuple[Any, ...]
        try:
            await self.waiter(spec)(event, session_filter=flt)
        except SessionBusyError:
            outcome = ("busy",)
        except SessionTimeoutError:
            outcome = ("timeout",)
        except SessionClosedError:
            outcome = ("closed",)
        except Boom as exc:
            if exc is not world.raised.get(exc.mid):
                world.faults.append(f"opener {spec.sid} got a copy of the waiter's exception")
            outcome = ("raised", exc.mid)
        else:
            outcome = ("returned",)
        if spec.sid in world.outcomes:
            world.faults.append(f"opener {spec.sid} returned twice")
        world.outcomes[spec.sid] = outcome

    def waiter(self, spec: Open) -> Any:
        world, sid = self.world, spec.sid

        @session_waiter(
            timeout=spec.timeout,
            record_history_chains=spec.history,
            conflict="replace" if spec.replace else "busy",
        )
        async def play(controller: SessionController, reply: MessageEvent) -> None:
            if sid in world.running:
                world.faults.append(f"session {sid}: two waiter calls at once")  # rule 2
            world.running.add(sid)
            log = world.calls.setdefault(sid, [])
            world.keys.setdefault(sid, set()).add(controller.key)
            try:
                chains = controller.get_history_chains()
                history = [MessageChain(chain).plain_text for chain in chains]
                for chain in chains:
                    chain.clear()  # copies (rule 12): this must not change the next call's
                log.append(("call", reply.message_str, controller.deadline, history))
                act = Act.parse(reply.message_str)
                if act is None:
                    return
                if act.sleep:
                    try:
                        await asyncio.sleep(act.sleep)
                    except asyncio.CancelledError:
                        try:
                            await reply.send(f"late m{act.mid}")
                        except SessionClosedError:
                            log.append(("cancelled", reply.message_str))
                        else:
                            log.append(("sent after cancel", reply.message_str))
                        raise
                    log.append(("woke", reply.message_str))
                if act.final == "stop":
                    controller.stop()
                elif act.final == "stoperr":
                    world.raised[act.mid] = Boom(act.mid)
                    controller.stop(world.raised[act.mid])
                elif act.final == "raise":
                    world.raised[act.mid] = Boom(act.mid)
                    raise world.raised[act.mid]
                elif act.final == "keep":
                    controller.keep(act.keep, reset_timeout=act.reset)
                    log.append(("kept", reply.message_str, controller.deadline, controller.stopped))
            finally:
                world.running.discard(sid)

        return play


class Journal(Plugin):
    """Section 3: a low-priority handler that notes every message that reached the plugins.

    It comes after ``Rooms.open`` in the chain of an ``/open`` message, so it also shows that a
    handler waiting on the session it opened does not hold back the handlers after it.
    """

    name = "journal"

    def __init__(self, world: World) -> None:
        self.world = world

    @on_message(priority=-10)
    async def note(self, event: MessageEvent) -> None:
        # The loop's clock is the Simulator's virtual clock.
        at = asyncio.get_running_loop().time()
        self.world.journal.append((event.sender_id, event.group_id, event.message_str, at))


# --- the state machine --------------------------------------------------------------------------


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """``one_of`` with weights (``one_of`` itself draws its branches evenly)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    # A lambda, not table.__getitem__: Hypothesis labels a flatmap by its function, and a bound
    # builtin method hashes by id. Labels that depend on memory layout change which examples
    # a derandomized run tries from one process to the next.
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


finals = weighted(
    (5, st.just(("ok", 0.0, False))),
    (1, st.just(("stop", 0.0, False))),
    (1, st.just(("stoperr", 0.0, False))),
    (1, st.just(("raise", 0.0, False))),
    (2, st.tuples(st.just("keep"), st.sampled_from(KEEPS_RESET), st.just(True))),
    (2, st.tuples(st.just("keep"), st.sampled_from(KEEPS_ADD), st.just(False))),
)
acts = st.tuples(st.just("act"), st.sampled_from((0.0, *SLEEPS, 0.0, 0.0, 0.0)), finals)
opens = st.tuples(
    st.just("open"),
    st.sampled_from(["sender", "group"]),
    st.sampled_from(TIMEOUTS),
    st.booleans(),
    st.sampled_from((0.0, 0.0, *DELAYS)),
)
kinds = weighted((12, acts), (5, opens), (1, st.just(("exit",))))


class SessionRules(RuleBasedStateMachine):
    """Random conversations in virtual time, checked step by step against ``Model``."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.sim: Simulator | None = None
        self.world = World()
        self.model = Model(WINDOW)
        self.numbers = itertools.count(1)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize(window=st.sampled_from([WINDOW, 0.0]))
    def start(self, window: float) -> None:
        self.model = Model(window)
        config = Settings.load(
            session={"exit_words": [EXIT], "order_window": window, "max_queue": MAX_QUEUE}
        )
        # raise_errors stays on: every waiter exception is its opener's to catch (rule 7), and
        # Rooms catches them all, so anything the Simulator raises is a failure of the test.
        self.sim = Simulator(plugins=[Rooms(self.world), Journal(self.world)], settings=config)
        self.run(self.sim.start())

    def teardown(self) -> None:
        try:
            if self.sim is not None and self.sim.clock is not None:
                self.run(self.sim.stop())
                # Rule 13: every open session ends, its opener raises SessionClosedError, and a
                # running call is cancelled.
                self.model.shutdown()
                # A chain still waiting for an earlier place runs no more handlers: an opener
                # waiting before its handler has no outcome at all.
                assert self.world.outcomes == self.model.outcomes
                assert self.world.calls == self.model.calls
                assert not self.world.faults, self.world.faults
        finally:
            self.loop.close()

    def build(self, user: str, conv: str | None, raw: tuple[Any, ...]) -> Msg:
        number = next(self.numbers)
        # A few 256ths of a second, different for neighbouring messages: two openers or two
        # sleeps of one burst would otherwise end at the same instant.
        jitter = (number % 16) / 256
        spec: Open | Act | None
        if raw[0] == "exit":
            spec = None
        elif raw[0] == "open":
            delay = raw[4] + jitter if raw[4] else 0.0
            spec = Open(number, raw[1], raw[2] + jitter, raw[3], delay)
        else:
            final, amount, reset = raw[2]
            spec = Act(number, raw[1] + jitter if raw[1] else 0.0, final, amount, reset)
        return Msg(user, conv, EXIT if spec is None else spec.text(), spec)

    def left_out(self, step: Callable[[Model], None]) -> str | None:
        """Why ``step`` is left out of the run, or None to take it.

        It is left out if two timers coincide, or if the orders the contract leaves open give
        different outcomes.
        """
        reasons: set[str] = set()
        seen = None
        for policy in POLICIES if self.model.window else POLICIES[::2]:
            trial = self.model.fork(policy)
            step(trial)
            trial.run_out()
            if trial.tie:
                reasons.add("timers coincide")
            result = trial.observables()
            if seen is not None and result != seen:
                reasons.add("order left open")
            seen = result
        return "; ".join(sorted(reasons)) or None

    def busy_streams(self) -> list[tuple[str, str | None]]:
        """Who can talk to an open session, or next to one: its opener, anyone in its group."""
        streams: list[tuple[str, str | None]] = []
        for s in self.model.sessions:
            conv = s.opener[1]
            if s.live and (s.filter == "sender" or conv is None):
                streams.append(s.opener)
            if s.live and conv is not None:
                # The members of a group session; for a sender session, its neighbours, who
                # may open a group session over it (rule 11).
                streams.extend((u, conv) for u in USERS)
        return streams

    @rule(
        data=st.data(),
        raws=weighted((3, st.tuples(kinds)), (2, st.lists(kinds, min_size=2, max_size=3))),
        crowd=weighted((4, st.just(())), (1, st.lists(st.integers(0, len(USERS) - 1), max_size=3))),
    )
    def talk(self, data: st.DataObject, raws: list[tuple[Any, ...]], crowd: list[int]) -> None:
        """One message, or a burst in one loop turn: from one sender in one conversation, or
        (``crowd``: who says each of the first messages) from several members of a group."""
        assert self.sim is not None
        if crowd and len(raws) > 1:
            conv = CONVERSATIONS[data.draw(st.integers(0, 1))]
            voices = [USERS[who] for who in crowd] + [USERS[crowd[-1]]] * len(raws)
            self.send([self.build(voices[i], conv, raw) for i, raw in enumerate(raws)])
            return
        busy = self.busy_streams()
        # Indices, not sampled_from(busy): see weighted() and contend() on labels and hashes.
        if busy and data.draw(st.integers(0, 3)) < 3:
            user, conv = busy[data.draw(st.integers(0, len(busy) - 1))]
        else:
            user = USERS[data.draw(st.integers(0, len(USERS) - 1))]
            conv = CONVERSATIONS[data.draw(st.integers(0, len(CONVERSATIONS) - 1))]
        self.say(user, conv, raws)

    @rule(data=st.data(), opening=opens, then=st.lists(acts, max_size=1))
    def open_and_quit(
        self, data: st.DataObject, opening: tuple[Any, ...], then: list[tuple[Any, ...]]
    ) -> None:
        """Rule 15: ``/open`` then ``exit`` in one loop turn, where no session takes them yet
        (``/quiz`` then ``exit`` at once). With the gate on, the exit word waits behind the
        ``/open`` handler, keeping its place, and ends the session that handler opens."""
        if data.draw(st.integers(0, 3)):
            return  # now and then: talk covers bursts in general
        free = [
            (u, c)
            for u in USERS
            for c in CONVERSATIONS
            if self.model.match(Msg(u, c, "", None)) is None
        ]
        if free:
            user, conv = free[data.draw(st.integers(0, len(free) - 1))]
            self.say(user, conv, [opening, ("exit",), *then])

    def say(self, user: str, conv: str | None, raws: list[tuple[Any, ...]]) -> bool:
        """Send ``raws`` as ``user`` in ``conv`` unless the step is left out; False if it is."""
        return self.send([self.build(user, conv, raw) for raw in raws])

    def send(self, msgs: list[Msg]) -> bool:
        """Send ``msgs`` in one loop turn unless the step is left out; False if it is."""
        texts = [f"{m.user}@{m.conv or 'private'}: {m.text}" for m in msgs]
        reason = self.left_out(lambda model: model.dispatch(msgs))
        if reason:
            note(f"skipped ({reason}): {texts}")
            return False
        note(f"t={self.model.now} {texts}")
        self.model.dispatch(msgs)
        self.run(self.deliver(msgs))
        return True

    async def deliver(self, msgs: list[Msg]) -> None:
        sim = self.sim
        assert sim is not None
        if len(msgs) == 1:
            await sim.send(sim.user(msgs[0].user), msgs[0].text, group=msgs[0].conv)
            return
        for msg in msgs:  # one loop turn: nothing runs between these
            sim.app.dispatch(sim.message(sim.user(msg.user), msg.text, group=msg.conv))
        await sim.settle()

    @rule(
        data=st.data(),
        replace=st.booleans(),
        delay=st.sampled_from((0.0, 0.0, DELAYS[0])),
        then=st.lists(acts, max_size=2),
    )
    @precondition(lambda self: any(isinstance(c.msg.spec, Open) for c in self.model.sleepers))
    def contend(
        self, data: st.DataObject, replace: bool, delay: float, then: list[tuple[Any, ...]]
    ) -> None:
        """Rule 9: open on the key that an opener still asleep in its handler is about to take.

        Any message of a key's scope is taken by the session that holds it, so two openers
        only meet while the first one's handler has not opened yet. What follows the rival's
        ``/open`` in the same loop turn gives its session work (and a queue) to have when the
        sleeper wakes and, with ``replace``, takes the key over (rules 8 and 9).
        """
        rivals = [c for c in self.model.sleepers if isinstance(c.msg.spec, Open)]
        # An index, not sampled_from(rivals): Hypothesis labels a sampled_from by the hash of
        # its elements, and these hash by id (see weighted()).
        chain = rivals[data.draw(st.integers(0, len(rivals) - 1))]
        spec, user, conv = chain.msg.spec, chain.msg.user, chain.msg.conv
        assert isinstance(spec, Open)
        if spec.filter == "group" and conv is not None:
            user = data.draw(st.sampled_from(USERS))
        timeout = data.draw(st.sampled_from(TIMEOUTS))
        self.say(user, conv, [("open", spec.filter, timeout, replace, delay), *then])

    @rule(data=st.data())
    @precondition(lambda self: any(s.live for s in self.model.sessions))
    def close(self, data: st.DataObject) -> None:
        """``app.sessions.close(key)`` (API section 5): ends a session like an exit word."""
        assert self.sim is not None
        if data.draw(st.integers(0, 3)):
            return  # now and then: a session closed at every other step would never get going
        live = [s for s in self.model.sessions if s.live]
        index = data.draw(st.integers(0, len(live) - 1))
        sid = live[index].sid
        reason = self.left_out(lambda model: model.close(sid))
        if reason:
            note(f"skipped ({reason}): close session {sid}")
            return
        note(f"t={self.model.now} close session {sid}")
        self.model.close(sid)
        self.run(self.close_session(index))

    async def close_session(self, index: int) -> None:
        assert self.sim is not None
        key = list(self.sim.app.sessions)[index].key  # oldest first, as the model lists them
        assert await self.sim.app.sessions.close(key)
        await self.sim.settle()

    @rule(seconds=st.sampled_from(STEPS))
    def wait(self, seconds: float) -> None:
        assert self.sim is not None
        note(f"advance {seconds} from t={self.model.now}")
        self.model.advance(seconds)
        self.run(self.sim.advance(seconds))

    @invariant()
    def agrees_with_the_model(self) -> None:
        if self.sim is None:
            return
        sim, world, model = self.sim, self.world, self.model
        assert sim.time() == model.now
        assert not world.faults, world.faults
        assert not model.tie
        # Section 3: every message that reached the plugins, in the order and at the time the
        # journal saw it (the rules fix both, with the sender gate on or off).
        assert world.journal == model.journal
        assert world.outcomes == model.outcomes
        assert world.calls == model.calls
        infos = list(sim.app.sessions)
        seen = [
            (i.filter, i.opened_at, i.deadline, i.queued, i.busy, i.history_length) for i in infos
        ]
        assert seen == model.sessions_view(), f"sessions {seen} != model {model.sessions_view()}"
        assert {i.plugin for i in infos} <= {"rooms"}
        assert sim.app.sessions.ended_counts == model.ended
        assert all(len(keys) == 1 for keys in world.keys.values())
        assert sim.outbox == []  # a cancelled call sent nothing


SessionRules.TestCase.settings = settings(
    derandomize=True,
    database=None,
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
)
TestSessionRules = SessionRules.TestCase
