"""The once-a-second status line on stderr: how much is sent, acknowledged and pending."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from simulators.fleet.engine import FleetRun


class Progress:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last_at: float | None = None
        self.last_generated = 0
        self.last_acked = 0

    def show(self, run: FleetRun, now: float) -> None:
        tally = run.tally
        elapsed = now - run.clock.real_start
        gen_rate = ack_rate = 0.0
        if self.last_at is not None and now > self.last_at:
            gen_rate = (tally.generated - self.last_generated) / (now - self.last_at)
            ack_rate = (tally.acked - self.last_acked) / (now - self.last_at)
        self.last_at, self.last_generated, self.last_acked = now, tally.generated, tally.acked
        up = sum(link.connected for link in run.links)
        print(
            f"fleet {elapsed:6.1f}s  generated {tally.generated}  sent {tally.sent_first}  "
            f"acked {tally.acked}  pending {run.pending()}  resent {tally.resent}  "
            f"rate {gen_rate:.0f}/s  acks {ack_rate:.0f}/s  links {up}/{len(run.links)}",
            file=self.stream, flush=True,
        )
