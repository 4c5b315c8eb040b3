"""State machines as tables (DESIGN §2 rule 2, after h2's ``stream.py``).

A machine is an enum of states, an enum of inputs and a dict ``(state, input) -> (action, next
state)``. Writing it as data keeps every protocol rule visible in one place, lets the tests walk
every pair, and turns "this cannot happen" into a value: a pair missing from the table is a
protocol violation *by the peers* that the user should see, so :meth:`StateTable.step` returns a
:class:`Violation` instead of raising, and the state stays where it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

S = TypeVar("S", bound=Enum)
I = TypeVar("I", bound=Enum)  # noqa: E741 - "I" for input, as in h2
A = TypeVar("A", bound=Enum)


@dataclass(frozen=True, slots=True)
class Transition(Generic[S, A]):
    """A pair found in the table: what to do, and the state to move to."""

    action: A
    next_state: S


@dataclass(frozen=True, slots=True)
class Violation(Generic[S, I]):
    """A pair absent from the table: the peers did something the protocol does not allow here."""

    machine: str
    state: S
    input: I

    def describe(self) -> str:
        return f"{self.input.value} is not expected in {self.machine} state {self.state.value}"


class StateTable(Generic[S, I, A]):
    """An immutable transition table for one kind of machine."""

    __slots__ = ("_by_id", "inputs", "name", "states", "table")

    def __init__(
        self,
        name: str,
        states: type[S],
        inputs: type[I],
        table: Mapping[tuple[S, I], tuple[A, S]],
    ) -> None:
        self.name = name
        self.states = states
        self.inputs = inputs
        self.table: dict[tuple[S, I], Transition[S, A]] = {
            pair: Transition(action, nxt) for pair, (action, nxt) in table.items()
        }
        # The same table keyed by the members' ids: enum members are singletons, and hashing
        # an id pair is a C-level operation, while Enum.__hash__ is Python code (two calls per
        # lookup, and the correlator steps a machine for nearly every message).
        self._by_id: dict[tuple[int, int], Transition[S, A]] = {
            (id(state), id(event)): step for (state, event), step in self.table.items()
        }

    def step(self, state: S, event: I) -> Transition[S, A] | Violation[S, I]:
        """Look up ``(state, event)``; a missing pair is a :class:`Violation`, never an error."""
        found = self._by_id.get((id(state), id(event)))
        if found is None:
            return Violation(self.name, state, event)
        return found

    def find(self, state: S, event: I) -> Transition[S, A] | None:
        """Like :meth:`step`, with None for a missing pair (hot paths then skip the isinstance
        check that tells a Violation apart, and build one only when they need it)."""
        return self._by_id.get((id(state), id(event)))

    def allows(self, state: S, event: I) -> bool:
        return (state, event) in self.table

    def pairs(self) -> list[tuple[S, I]]:
        """Every (state, input) combination, listed or not, for tests that walk them all."""
        return [(s, i) for s in self.states for i in self.inputs]
