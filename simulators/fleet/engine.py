"""The fleet engine: one thread drives every simulated gateway -- measuring on schedule,
batching, publishing, resending unacknowledged readings, heartbeating, acting out faults --
and serves every MQTT connection between ticks (simulators.fleet.transport), so nothing else
ever touches the fleet's state.

    run_fleet(FleetConfig(...)) -> FleetReport

Generation runs for the configured duration at the configured pace; then every outage and
link drop ends, the backlog goes out, and the engine keeps resending until every reading is
acknowledged end to end or the drain period is over. Whatever is still unacknowledged then is
counted as lost.
"""

from __future__ import annotations

import heapq
import queue
import random
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TextIO

from pydantic import ValidationError

from simulators.fleet.assembly import assemble, plan_fleet
from simulators.fleet.config import ConnectionMode, FleetConfig, FleetError
from simulators.fleet.credentials import load_credentials
from simulators.fleet.devices import measure
from simulators.fleet.disruptions import Disruptions
from simulators.fleet.gateway import GatewayRuntime, encode_batches, mark_late
from simulators.fleet.network import Network
from simulators.fleet.pacing import Pacing, SimClock, resolve_pacing, sim_origin
from simulators.fleet.progress import Progress
from simulators.fleet.readings import WireReading
from simulators.fleet.report import FleetReport
from simulators.fleet.roster import Roster, deal_random_faults
from simulators.fleet.scenario import FleetScenario
from simulators.fleet.tally import Tally, summarise
from simulators.fleet.timeline import build_timeline
from simulators.fleet.transport import Link, Note
from simulators.physiology.noise import uniform
from simulators.physiology.patient import Patient
from vigil.messages import Ack, GatewayState, PayloadTooLarge, decode
from vigil.topics import Channel, InvalidTopic, parse

__all__ = ["FleetError", "FleetRun", "plan_fleet", "run_fleet"]

TICK_S = 0.005
RESEND_SCAN_S = 0.25
# Work per tick is capped so that acks keep being read while the generator is behind.
MAX_READINGS_PER_TICK = 500
LATE_AFTER_S = 600.0  # edge.config late_after_s


def run_fleet(
    config: FleetConfig,
    *,
    passwords: Mapping[str, str] | None = None,
    progress_to: TextIO | None = None,
    plan: tuple[Roster, FleetScenario] | None = None,
) -> FleetReport:
    """Run a fleet to completion and report. `passwords` are the per-gateway MQTT passwords
    (from provisioning, else read from `config.credentials_file` when it exists); `plan` is
    what `plan_fleet(config)` returned, when the caller already has it."""
    return FleetRun(config, passwords=passwords, progress_to=progress_to, plan=plan).run()


class FleetRun:
    def __init__(
        self,
        config: FleetConfig,
        *,
        passwords: Mapping[str, str] | None = None,
        progress_to: TextIO | None = None,
        plan: tuple[Roster, FleetScenario] | None = None,
    ) -> None:
        if plan is None:
            self.roster, self.fleet_scenario, self.config = plan_fleet(config)
        else:
            (self.roster, self.fleet_scenario), self.config = plan, config
        config = self.config
        scenario = self.fleet_scenario.scenario
        self.pacing: Pacing = resolve_pacing(
            mix=config.mix, natural_rate=self.roster.natural_rate(), rate=config.rate,
            speed=config.speed, duration_s=config.duration_s,
            scenario_duration_s=None if scenario is None else scenario.duration.total_seconds(),
        )
        deal_random_faults(self.roster, self.fleet_scenario.fleet.random_faults,
                           timedelta(seconds=self.pacing.simulated_s), config.seed)
        if passwords is None and config.credentials_file is not None and (
            config.credentials_file.exists()
        ):
            passwords = load_credentials(config.credentials_file)
        self.passwords = dict(passwords or {})
        self.tally = Tally()
        self.notes: queue.SimpleQueue[Note] = queue.SimpleQueue()
        self.rng = random.Random(config.seed)
        self.progress = Progress(progress_to or sys.stderr) if config.progress else None
        self.links: list[Link] = []
        self.gateways: list[GatewayRuntime] = []
        self.by_id: dict[str, GatewayRuntime] = {}
        self.patients: dict[str, Patient] = {}
        self.refused: list[str] = []
        # Gateways holding unsent readings, oldest first (dicts keep insertion order).
        self.dirty: dict[int, None] = {}
        self.generated_to = 0.0  # simulated offset generation reached
        self.events_waiting: set[int] = set()  # gateways holding device events
        # Set from signal handlers: stop generating (then drain), or stop draining too.
        self.stopping = False
        self.aborting = False

    # --- setup ------------------------------------------------------------------------------

    def _build(self, clock: SimClock) -> None:
        built = assemble(self.config, self.roster, self.fleet_scenario, clock.origin,
                         self.passwords, self.notes, self.rng)
        self.patients, self.links, self.gateways = built.patients, built.links, built.gateways
        self.by_id = {g.id: g for g in self.gateways}
        # Our own ack topics, exactly as vigil.topics renders them: the common case skips
        # parsing (anything else -- another fleet's, a malformed one -- is parsed as before).
        self.by_ack_topic = {g.topics[Channel.ACK]: g for g in self.gateways}
        self.beats = [(g.next_heartbeat, g.index) for g in self.gateways]
        heapq.heapify(self.beats)
        self.network = Network(self.links)
        self.link_gateways: list[list[GatewayRuntime]] = [[] for _ in self.links]
        for runtime in self.gateways:
            self.link_gateways[runtime.link].append(runtime)

    def _connect_all(self) -> None:
        for link in self.links:
            link.start()
        timeout = self.config.connect_timeout_s + 0.01 * len(self.links)
        deadline = time.monotonic() + timeout
        while not all(link.connected for link in self.links):
            self._drain_notes(first_connect=True)
            if self.refused:
                raise FleetError(f"the broker refused {len(self.refused)} connection(s): "
                                 f"{self.refused[0]}")
            if time.monotonic() > deadline:
                down = sum(not link.connected for link in self.links)
                raise FleetError(f"{down} of {len(self.links)} MQTT connections did not come "
                                 f"up within {timeout:.0f}s: is the broker at "
                                 f"{self.config.mqtt_url.rsplit('@', 1)[-1]} running?")
            self.network.poll(0.01)

    # --- notes from the connections -----------------------------------------------------

    def _drain_notes(self, first_connect: bool = False) -> None:
        while True:
            try:
                note = self.notes.get_nowait()
            except queue.Empty:
                return
            link = self.links[note.link]
            if note.kind == "message":
                self._on_ack(note)
            elif note.kind == "connected":
                if not first_connect and not link.connected:
                    self.tally.reconnects += 1
                link.connected = True
                self._on_connected(note.link, note.at)
            elif note.kind == "disconnected":
                link.connected = False
            elif note.kind == "denied":
                self.tally.denied += 1
            elif note.kind == "refused":
                self.refused.append(f"{link_name(self, note.link)}: {note.reason}")

    def _on_connected(self, link: int, now: float) -> None:
        """Like the edge uplink: announce "online" on every connect, then resend."""
        for gateway in self.link_gateways[link]:
            if gateway.online:
                self._publish_status(gateway, GatewayState.ONLINE)
                gateway.outbox.resend_all_soon(now)

    def on_gateway_back(self, gateway: GatewayRuntime) -> None:
        """A shared-connection gateway's outage ended: online again, resend what waits."""
        if self.links[gateway.link].connected:
            self._publish_status(gateway, GatewayState.ONLINE)
            gateway.outbox.resend_all_soon(time.monotonic())

    def _on_ack(self, note: Note) -> None:
        gateway = self.by_ack_topic.get(note.topic)
        try:
            where = None if gateway is not None else parse(note.topic)
            ack = decode(Ack, note.payload)
        except (InvalidTopic, ValidationError, PayloadTooLarge):
            self.tally.malformed_acks += 1
            return
        if where is not None:
            gateway = self.by_id.get(where.gateway_id)
            if where.channel is not Channel.ACK:
                return
        if gateway is None:
            return  # another fleet's or a real gateway's ack on a shared wildcard
        if ack.gateway_id != gateway.id:
            self.tally.malformed_acks += 1
            return
        rejected = {r.id: r.reason for r in ack.rejected}
        outcome = gateway.outbox.ack(ack.stored, rejected, note.at)
        tally = self.tally
        tally.acked += outcome.acked
        tally.duplicate_acks += outcome.duplicates
        tally.unknown_acks += outcome.unknown
        tally.latencies.extend(outcome.latencies)
        tally.latency_sent.extend(outcome.sent)

    # --- publishing -------------------------------------------------------------------------

    def _can_send(self, gateway: GatewayRuntime) -> bool:
        return gateway.online and self.links[gateway.link].connected

    def _publish_status(self, gateway: GatewayRuntime, state: GatewayState,
                        reason: str | None = None) -> bool:
        link = self.links[gateway.link]
        payload = gateway.status(state, datetime.now(UTC), reason)
        if link.publish(gateway.topics[Channel.STATUS], payload, retain=True):
            self.tally.statuses += 1
            return True
        return False

    def publish_event(self, gateway: GatewayRuntime, payload: bytes) -> None:
        gateway.pending_events.append(payload)
        self.events_waiting.add(gateway.index)
        self._send_events(gateway)

    def _send_events(self, gateway: GatewayRuntime) -> None:
        if not self._can_send(gateway):
            return
        link = self.links[gateway.link]
        while gateway.pending_events:
            if not link.publish(gateway.topics[Channel.EVENTS], gateway.pending_events[0]):
                return
            gateway.pending_events.pop(0)
            self.tally.events += 1
        self.events_waiting.discard(gateway.index)

    def _flush(self, gateway: GatewayRuntime, now: float, sim_now: datetime) -> None:
        if not gateway.outbox.unsent or not self._can_send(gateway):
            return
        if not self.links[gateway.link].can_publish():
            return  # the connection's in-flight window is full: keep buffering
        outbox = gateway.outbox
        since = outbox.unsent_since
        readings = mark_late(outbox.take_unsent(), sim_now, LATE_AFTER_S)
        sent = self._send(gateway, readings)
        outbox.mark_sent(readings[:sent], now)
        self.tally.sent_first += sent
        if sent < len(readings):
            # The connection went mid-flush: the rest waits, keeping its place in the queue.
            outbox.unsent, outbox.unsent_since = readings[sent:], since

    def _send(self, gateway: GatewayRuntime, readings: list[WireReading]) -> int:
        """Publish in batches; how many readings (a prefix) went to the broker."""
        link = self.links[gateway.link]
        sent = 0
        for payload, count in encode_batches(gateway.id, readings, datetime.now(UTC),
                                             self.config.batch_size):
            if not link.publish(gateway.topics[Channel.READINGS], payload):
                break
            self.tally.messages += 1
            sent += count
        return sent

    def _resend(self, now: float) -> None:
        for gateway in self.gateways:
            # Nothing due (the usual case, checked first: this runs over every gateway).
            if now < gateway.outbox.earliest_due or not self._can_send(gateway):
                continue
            if not self.links[gateway.link].can_publish():
                continue  # timers wait for a free slot rather than back off for nothing
            due = gateway.outbox.due_for_resend(now)
            if due:
                # Whatever does not go out now is still in flight and comes round again.
                self.tally.resent += self._send(gateway, due)

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> FleetReport:
        config = self.config
        pacing = self.pacing
        fixed = None if self.fleet_scenario.scenario is None else (
            self.fleet_scenario.scenario.start
        )
        self.started_wall = datetime.now(UTC)
        origin = sim_origin(self.started_wall, pacing, fixed)
        # The clock starts once connected; until then it is provisional (patients need it).
        self.clock = SimClock(origin, time.monotonic(), pacing.speed)
        self._build(self.clock)
        try:
            self._connect_all()
            self.clock = SimClock(origin, time.monotonic(), pacing.speed)
            self.disruptions = Disruptions(self, build_timeline(self.roster))
            started = self.clock.real_start
            cpu_started = time.process_time()
            # Where generation began on the wall clock: benchmarks meter other processes
            # over exactly [start, start + generating + draining].
            wall_started = time.time() - (time.monotonic() - started)
            self._generate(started + pacing.duration_s)
            generated_at = time.monotonic()
            self._drain(generated_at + config.drain_s)
            drained_at = time.monotonic()
            cpu_s = time.process_time() - cpu_started
            self._shutdown()
        finally:
            if hasattr(self, "network"):
                self.network.close()
        from simulators.fleet.oracle import check_database

        report = summarise(self, generated_at - started, drained_at - generated_at, started)
        report = report.model_copy(update={"cpu_s": cpu_s, "started_unix": wall_started})
        if config.database_url is not None:
            database, alerts = check_database(
                config.database_url.get_secret_value(), self, settle_s=config.alert_settle_s
            )
            report = report.model_copy(update={"database": database, "alerts": alerts})
        return report

    def _generate(self, until: float) -> None:
        """Measure on schedule until the real deadline. A scenario is played to its end even
        when generation falls behind real time (its events come late in the timeline);
        a plain load run stops at the deadline and reports the rate it reached."""
        schedule = self._schedule()
        limit = self.config.max_readings
        end = self.pacing.simulated_s
        whole_timeline = self.fleet_scenario.scenario is not None
        next_resend = next_progress = time.monotonic()
        while True:
            now = time.monotonic()
            self._drain_notes()
            offset = min(self.clock.offset_at(now), end)
            self.disruptions.advance(offset)
            made = 0
            while schedule and schedule[0][0] <= offset and made < MAX_READINGS_PER_TICK:
                due, order, g, d = heapq.heappop(schedule)
                made += self._measure(g, d, due, now)
                self.generated_to = due
                period = self.gateways[g].devices[d].entry.cadence.period_s
                heapq.heappush(schedule, (due + self._next_gap(g, d, period), order, g, d))
                if limit is not None and self.tally.generated >= limit:
                    break
            self._flush_due(now)
            if now >= next_resend:
                self._resend(now)
                next_resend = now + RESEND_SCAN_S
            self._heartbeats(now)
            if self.progress is not None and now >= next_progress:
                self.progress.show(self, now)
                next_progress = now + 1.0
            if limit is not None and self.tally.generated >= limit:
                break
            caught_up = not schedule or schedule[0][0] > end
            if self.stopping or (now >= until and (caught_up or not whole_timeline)):
                break
            # Waiting is serving the network; a generator that is behind only peeks.
            self.network.poll(TICK_S if made < MAX_READINGS_PER_TICK else 0.0)

    def _schedule(self) -> list[tuple[float, int, int, int]]:
        heap = []
        order = 0
        for g, gateway in enumerate(self.gateways):
            for d, device in enumerate(gateway.devices):
                period = device.entry.cadence.period_s
                # A deterministic phase: devices do not all measure in the same instant.
                heap.append((period * uniform(device.entry.stream, 0), order, g, d))
                order += 1
        heapq.heapify(heap)
        return heap

    def _next_gap(self, g: int, d: int, period: float) -> float:
        device = self.gateways[g].devices[d]
        if device.entry.cadence.continuous:
            return period
        # People measure roughly, not exactly, on schedule.
        return period * (0.9 + 0.2 * uniform(device.entry.stream, 10_000 + device.draws))

    def _measure(self, g: int, d: int, offset: float, now: float) -> int:
        gateway = self.gateways[g]
        state = gateway.devices[d]
        result = measure(state, offset, self.clock, gateway.powered)
        if result.malformed is not None:
            self.disruptions.malformed(gateway, state, result.malformed, offset)
            return 0
        outbox = gateway.outbox
        for reading in result.readings:
            if not outbox.unsent:
                self.dirty[g] = None
            outbox.add(reading, now)
        self.tally.generated += len(result.readings)
        if len(outbox.unsent) >= self.config.batch_size:
            self._flush(gateway, now, self.clock.at(offset))
            if not outbox.unsent:
                self.dirty.pop(g, None)
        return len(result.readings)

    def _flush_due(self, now: float, everything: bool = False) -> None:
        """Time-based flush, oldest-buffered gateways first (dicts keep insertion order).
        Stops at the first gateway not yet due, and once every connection is busy: nothing
        is encoded that could not be published."""
        sim_now = self.clock.at(min(self.clock.offset_at(now), self.pacing.simulated_s))
        interval = self.config.flush_interval_s
        busy: set[int] = set()
        emptied: list[int] = []
        for g in self.dirty:
            gateway = self.gateways[g]
            outbox = gateway.outbox
            if outbox.unsent and not everything and now - outbox.unsent_since < interval:
                break
            if outbox.unsent and gateway.link not in busy:
                if not self.links[gateway.link].can_publish():
                    busy.add(gateway.link)
                    if len(busy) == len(self.links):
                        break
                    continue
                self._flush(gateway, now, sim_now)
            if not outbox.unsent:
                emptied.append(g)
        for g in emptied:
            del self.dirty[g]

    def _heartbeats(self, now: float) -> None:
        """Due heartbeats (a heap: ten thousand gateways are not scanned every tick), and
        events that waited for a connection or a free in-flight slot."""
        beats = self.beats
        while beats and beats[0][0] <= now:
            _, g = heapq.heappop(beats)
            gateway = self.gateways[g]
            if self._can_send(gateway):
                self._publish_status(gateway, GatewayState.ONLINE)
            heapq.heappush(beats, (now + gateway.heartbeat_s, g))
        for g in list(self.events_waiting):
            self._send_events(self.gateways[g])

    def _drain(self, until: float) -> None:
        self.disruptions.end_all(min(self.clock.offset_at(time.monotonic()),
                                     self.pacing.simulated_s))
        next_progress = time.monotonic()
        while True:
            now = time.monotonic()
            self._drain_notes()
            self._flush_due(now, everything=True)
            self._resend(now)
            for g in list(self.events_waiting):
                self._send_events(self.gateways[g])
            if self.progress is not None and now >= next_progress:
                self.progress.show(self, now)
                next_progress = now + 1.0
            if now >= until or self.aborting or not any(g.outbox.depth for g in self.gateways):
                break
            self.network.poll(TICK_S * 4)

    def _shutdown(self) -> None:
        """A clean stop, as the edge uplink does it: retained "offline", then disconnect."""
        waiting = [g for g in self.gateways if g.online]
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            waiting = [
                g for g in waiting
                if self.links[g.link].connected
                and not self._publish_status(g, GatewayState.OFFLINE, reason="shutdown")
            ]
            if not waiting and not any(k.connected and k.in_flight > 0 for k in self.links):
                return
            self.network.poll(0.01)
            self._drain_notes()

    # --- the report -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """First call: stop generating and drain; second call: stop draining as well."""
        if self.stopping:
            self.aborting = True
        self.stopping = True

    def pending(self) -> int:
        return sum(g.outbox.depth for g in self.gateways)

def link_name(run: FleetRun, index: int) -> str:
    gateways = run.link_gateways[index] if index < len(run.link_gateways) else []
    if run.config.connection_mode is ConnectionMode.PER_GATEWAY and gateways:
        return f"gateway {gateways[0].id}"
    return f"service connection {index}"

