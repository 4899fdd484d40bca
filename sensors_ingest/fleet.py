"""A simulated device fleet that publishes realistic telemetry over MQTT.

Five kinds of device, the systems the seeds describe:

- ``chimney``: a tea-factory chimney sensor (flue-gas CO2, temperature, velocity);
- ``factory_meter``: the same factories' firewood, diesel and electricity meters;
- ``data_center``: a data-center gateway sending batches of rack readings;
- ``vehicle``: a freight truck moving around Nairobi (diesel, distance, position);
- ``smart_plug``: a home appliance plug in Nairobi or New York (electricity in Wh).

Values follow daily cycles (the local hour of each reading's timestamp: boilers, offices and
trucks busy in daytime, homes peaking in the evening) with noise. Each device draws from its
own ``random.Random`` seeded by the fleet seed, so one seed gives the same fleet and the same
sequence of messages (shapes, gaps, duplicates, malformed variants); only the magnitudes follow
the clock. The landing service's defences get exercised on purpose: devices skip ticks (gaps),
publish the same bytes twice (duplicates) and send malformed messages (:data:`MALFORMED_KINDS`
in rotation), each malformed message with its own event id.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import paho.mqtt.client as mqtt

from carbon_lake.contracts import SCHEMA_TELEMETRY, telemetry_topic
from carbon_lake.settings import broker_address

MALFORMED_KINDS = ("truncated_json", "invalid_utf8", "missing_event_id", "string_value",
                   "negative_energy", "unknown_unit")
PROTOCOLS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}
ACK_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0

# site -> (region tag, hours ahead of UTC, for the local daily cycle; no daylight saving)
SITES = {
    "kangaita": ("KE", 3), "chinga": ("KE", 3), "gitugi": ("KE", 3),
    "lon-dc1": ("GB", 0),
    "depot-nbo": ("KE", 3),
    "home-nbo-01": ("KE", 3), "home-nyc-01": ("US-NYUP", -5),
}
KTDA_SITES = ("kangaita", "chinga", "gitugi")
NAIROBI = (-1.2864, 36.8172)
NAIROBI_RADIUS_DEG = 0.12  # trucks turn back towards the centre beyond ~13 km


@dataclass(frozen=True)
class Kind:
    """What every device of one kind shares."""

    name: str
    org: str
    sites: tuple[str, ...]
    vertical: str
    stem: str                       # device_id = {org}-{site}-{stem}-{n}
    energy_metric: str              # what the "negative_energy" / "unknown_unit" variants corrupt
    energy_unit: str | None = None  # set: that metric is sent in the object form, in this unit
    batch_size: int = 0             # > 0: a gateway publishing this many readings per message


KINDS = {kind.name: kind for kind in (
    Kind("chimney", "ktda", KTDA_SITES, "manufacturing", "boiler", "electricity_kwh"),
    Kind("factory_meter", "ktda", KTDA_SITES, "manufacturing", "meter", "electricity_kwh"),
    Kind("data_center", "nimbus-ai", ("lon-dc1",), "ai_data_center", "gateway", "energy_kwh", batch_size=4),
    Kind("vehicle", "swiftfreight", ("depot-nbo",), "logistics", "truck", "diesel_litres"),
    Kind("smart_plug", "homes", ("home-nbo-01", "home-nyc-01"), "residential", "plug", "electricity",
         energy_unit="Wh"),
)}

# appliance -> (watts when on, standby watts, chance of being on at any hour, extra chance at the evening peak)
APPLIANCES = {
    "fridge": (120.0, 8.0, 0.45, 0.10),
    "kettle": (2000.0, 0.5, 0.01, 0.12),
    "tv": (95.0, 1.0, 0.05, 0.85),
    "washing_machine": (500.0, 1.0, 0.02, 0.15),
    "water_heater": (3000.0, 2.0, 0.03, 0.35),
    "lighting": (60.0, 0.0, 0.05, 0.90),
}


@dataclass
class Device:
    """One simulated device: identity and tags, kind-specific settings, and its running state."""

    kind: str
    org: str
    site: str
    device_id: str
    region: str
    vertical: str
    utc_offset: int = 0
    appliance: str | None = None       # smart plugs
    diesel_object: bool = False        # vehicles sending {"diesel": {"value": ..., "unit": "L"}}
    rack_kw: tuple[float, ...] = ()    # data-center gateways: each rack's base load
    lat: float = 0.0                   # vehicles: position and heading (radians from north)
    lon: float = 0.0
    heading: float = 0.0
    boot: str = ""                     # this run's id: event_ids never repeat across runs
    next_event: int = 0                # the per-device event_id counter
    last_tick: int | None = None       # the tick of the last good reading (consumption is since then)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def take_event_id(self) -> str:
        event_id = f"{self.boot}-{self.next_event:08d}" if self.boot else f"{self.next_event:08d}"
        self.next_event += 1
        return event_id


@dataclass
class FleetStats:
    """What a run published: messages (duplicates and malformed included), good readings,
    duplicate messages, malformed messages, and messages per device kind."""

    published: int
    readings: int
    duplicates: int
    malformed: int
    by_kind: dict[str, int]


@dataclass(frozen=True)
class Message:
    """One message to publish; ``label`` is "reading", "duplicate" or one of :data:`MALFORMED_KINDS`."""

    topic: str
    payload: bytes
    device: Device
    label: str
    readings: int = 0


def build_fleet(devices: int, seed: int) -> list[Device]:
    """``devices`` devices spread round-robin over the five kinds, reproducible from ``seed``."""
    if devices < 1:
        raise ValueError(f"devices: expected at least 1, got {devices}")
    chooser = random.Random(seed)
    kinds = list(KINDS.values())
    fleet = []
    for i in range(devices):
        kind = kinds[i % len(kinds)]
        number = i // len(kinds) + 1
        site = kind.sites[(number - 1) % len(kind.sites)]
        region, utc_offset = SITES[site]
        device_id = f"{kind.org}-{site}-{kind.stem}-{number}"
        device = Device(kind=kind.name, org=kind.org, site=site, device_id=device_id, region=region,
                        vertical=kind.vertical, utc_offset=utc_offset,
                        rng=random.Random(f"{seed}:{device_id}"))
        if kind.name == "smart_plug":
            device.appliance = chooser.choice(sorted(APPLIANCES))
        elif kind.name == "vehicle":
            device.diesel_object = number % 2 == 0
            device.lat = NAIROBI[0] + chooser.uniform(-0.05, 0.05)
            device.lon = NAIROBI[1] + chooser.uniform(-0.05, 0.05)
            device.heading = chooser.uniform(0, 2 * math.pi)
        elif kind.name == "data_center":
            device.rack_kw = tuple(round(chooser.uniform(28.0, 42.0), 1) for _ in range(kind.batch_size))
        fleet.append(device)
    return fleet


def local_hour(device: Device, ts: datetime) -> float:
    return (ts.hour + ts.minute / 60 + ts.second / 3600 + device.utc_offset) % 24


def daytime(hour: float) -> float:
    """0 at night, rising from 06:00 to 1 around 12:30, back to 0 at 19:00."""
    return math.sin(math.pi * (hour - 6) / 13) if 6 < hour < 19 else 0.0


def evening(hour: float) -> float:
    """A home's activity: a big peak around 20:00 and a smaller one at breakfast."""
    def bump(centre: float, width: float) -> float:
        distance = abs(hour - centre)
        return math.exp(-(min(distance, 24 - distance) / width) ** 2)
    return min(1.0, bump(20, 2.0) + 0.4 * bump(7, 1.2))


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def reading_metrics(device: Device, ts: datetime, hours: float) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """``(metrics, extra tags)`` of one reading, one per rack for a data-center gateway.

    ``hours`` is the time the reading covers: consumption metrics are since the previous
    reading. Every kind draws a fixed number of random numbers, so that the sequence of
    messages depends on the seed only, never on the hour.
    """
    rng = device.rng
    hour = local_hour(device, ts)
    day = daytime(hour)

    def noisy(value: float, spread: float) -> float:
        return max(0.0, value * (1.0 + rng.gauss(0.0, spread)))

    if device.kind == "chimney":
        load = 0.15 + 0.85 * day  # boilers are banked overnight
        return [({
            "co2_ppm": round(_clamp(60_000 + 55_000 * load + rng.gauss(0, 2_500), 55_000, 125_000)),
            "flue_temp_c": round(_clamp(150 + 65 * load + rng.gauss(0, 3), 140, 230), 1),
            "flue_velocity_m_s": round(_clamp(2 + 2.8 * load + rng.gauss(0, 0.15), 1.5, 5.5), 2),
        }, {})]
    if device.kind == "factory_meter":
        load = 0.1 + 0.9 * day
        firewood = noisy(1_100 * load * hours, 0.08)
        return [({
            "firewood_kg": round(firewood, 6),
            "diesel_litres": round(noisy(8 * load * hours, 0.15), 6),
            "electricity_kwh": round(noisy(300 * load * hours, 0.05), 6),
            # Tea dryers burn roughly 2 kg of firewood per kg of made tea.
            "made_tea_kg": round(noisy(firewood / 2.0, 0.05), 6),
        }, {})]
    if device.kind == "data_center":
        readings = []
        for rack, base_kw in enumerate(device.rack_kw, start=1):
            energy = noisy(base_kw * (0.85 + 0.15 * day) * hours, 0.03)
            utilisation = _clamp(0.7 + 0.25 * day + rng.gauss(0, 0.05), 0.0, 1.0)
            readings.append(({
                "energy_kwh": round(energy, 6),
                "gpu_hours": round(32 * utilisation * hours, 6),
                "water_litres": round(noisy(energy * (0.4 + 1.4 * day), 0.05), 6),  # evaporative cooling
                "pue": round(1.12 + 0.12 * day + rng.gauss(0, 0.01), 3),
            }, {"rack": f"r{rack:02d}"}))
        return readings
    if device.kind == "vehicle":
        on_duty = day > 0.05
        speed_kmh = noisy(38.0 if on_duty else 0.0, 0.25)
        device.heading += rng.gauss(0, 0.35)
        if math.hypot(device.lat - NAIROBI[0], device.lon - NAIROBI[1]) > NAIROBI_RADIUS_DEG:
            device.heading = math.atan2(NAIROBI[1] - device.lon, NAIROBI[0] - device.lat)
        km = speed_kmh * hours
        device.lat += km / 111.32 * math.cos(device.heading)
        device.lon += km / (111.32 * math.cos(math.radians(device.lat))) * math.sin(device.heading)
        litres = round(noisy(0.32 * km + (1.5 * hours if on_duty else 0.0), 0.05), 6)
        diesel = {"diesel": {"value": litres, "unit": "L"}} if device.diesel_object else {"diesel_litres": litres}
        return [({**diesel, "distance_km": round(km, 6), "latitude_deg": round(device.lat, 6),
                  "longitude_deg": round(device.lon, 6)}, {})]
    if device.kind == "smart_plug":
        on_watts, standby_watts, chance, evening_chance = APPLIANCES[device.appliance]
        watts = on_watts if rng.random() < min(1.0, chance + evening_chance * evening(hour)) else standby_watts
        return [({"electricity": {"value": round(noisy(watts * hours, 0.05), 6), "unit": "Wh"}},
                 {"appliance": device.appliance})]
    raise ValueError(f"device kind: expected one of {sorted(KINDS)}, got {device.kind!r}")


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def _single(device: Device, ts: datetime, metrics: dict[str, Any], extra_tags: dict[str, str]) -> dict[str, Any]:
    return {"schema": SCHEMA_TELEMETRY, "source_id": device.device_id, "event_id": device.take_event_id(),
            "ts": _iso(ts), "vertical": device.vertical, "metrics": metrics,
            "tags": {"region": device.region, "site": device.site, **extra_tags}}


def good_message(device: Device, tick: int, now: datetime, rate: float) -> tuple[str, bytes, int]:
    """``(topic, payload, readings)`` of the device's reading at ``tick`` (``rate`` ticks a second)."""
    kind = KINDS[device.kind]
    ticks = 1 if device.last_tick is None else tick - device.last_tick
    device.last_tick = tick
    readings = reading_metrics(device, now, ticks / rate / 3600)
    if not kind.batch_size:
        (metrics, extra_tags), = readings
        document = _single(device, now, metrics, extra_tags)
        return telemetry_topic(device.org, device.site, device.device_id), _encode(document), 1
    document = {
        "schema": SCHEMA_TELEMETRY, "source_id": device.device_id, "ts": _iso(now), "vertical": device.vertical,
        "tags": {"region": device.region, "site": device.site},
        "readings": [{"event_id": device.take_event_id(), "ts": _iso(now), "metrics": metrics, "tags": extra_tags}
                     for metrics, extra_tags in readings],
    }
    return telemetry_topic(device.org, device.site, device.device_id, "batch"), _encode(document), len(readings)


def malformed_message(device: Device, variant: str, now: datetime) -> tuple[str, bytes]:
    """``(topic, payload)`` of one deliberately broken single reading, with its own event id."""
    kind = KINDS[device.kind]
    metrics, extra_tags = reading_metrics(device, now, hours=0.0)[0]
    document = _single(device, now, metrics, extra_tags)
    activity = kind.energy_metric.split("_")[0]
    if variant == "missing_event_id":
        del document["event_id"]
    elif variant == "string_value":
        document["metrics"] = {**metrics, next(iter(metrics)): "abc"}
    elif variant == "negative_energy":
        amount = -round(device.rng.uniform(0.5, 20.0), 3)
        value = {"value": amount, "unit": kind.energy_unit} if kind.energy_unit else amount
        document["metrics"] = {kind.energy_metric: value}
    elif variant == "unknown_unit":
        document["metrics"] = {activity: {"value": 3, "unit": "furlong"}}
    elif variant not in ("truncated_json", "invalid_utf8"):
        raise ValueError(f"malformed variant: expected one of {MALFORMED_KINDS}, got {variant!r}")
    payload = _encode(document)
    if variant == "truncated_json":
        payload = payload[: len(payload) * 2 // 3]
    elif variant == "invalid_utf8":
        source = device.device_id.encode()
        payload = payload.replace(source, source + b"\xff\xfe", 1)
    return telemetry_topic(device.org, device.site, device.device_id), payload


class Fleet:
    """The messages of a seeded fleet, tick by tick; no network (:func:`simulate` publishes them)."""

    def __init__(self, devices: int, rate: float, seed: int, malformed_rate: float,
                 duplicate_rate: float, gap_rate: float) -> None:
        self.devices = build_fleet(devices, seed)
        boot = format(time.time_ns() // 1_000_000, "x")  # like a device's boot counter: unique per run
        for device in self.devices:
            device.boot = boot
        self.rate = rate
        self.malformed_rate = malformed_rate
        self.duplicate_rate = duplicate_rate
        self.gap_rate = gap_rate
        self._malformed_turn = 0

    def tick(self, index: int, now: datetime) -> list[Message]:
        out = []
        for device in self.devices:
            rng = device.rng
            if rng.random() < self.gap_rate:
                continue  # a gap: no message, no event id consumed
            if rng.random() < self.malformed_rate:
                variant = MALFORMED_KINDS[self._malformed_turn % len(MALFORMED_KINDS)]
                self._malformed_turn += 1
                topic, payload = malformed_message(device, variant, now)
                out.append(Message(topic, payload, device, variant))
                continue
            topic, payload, readings = good_message(device, index, now, self.rate)
            out.append(Message(topic, payload, device, "reading", readings))
            if rng.random() < self.duplicate_rate:
                out.append(Message(topic, payload, device, "duplicate"))
        return out


class _Acks:
    """Counts broker acknowledgements (PUBACK), including of messages queued while disconnected."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.sent = 0
        self.acked = 0
        self.refused: list[str] = []

    def on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason_code: mqtt.ReasonCode,
                   properties: object) -> None:
        with self.condition:
            self.acked += 1
            if reason_code.is_failure:
                self.refused.append(str(reason_code))
            self.condition.notify_all()

    def wait(self, deadline: float) -> bool:
        with self.condition:
            return self.condition.wait_for(lambda: self.acked >= self.sent, timeout=max(0.0, deadline - time.monotonic()))


def _connect(broker_url: str, protocol: str, client_id: str, acks: _Acks) -> mqtt.Client:
    host, port = broker_address(broker_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=PROTOCOLS[protocol])
    client.reconnect_delay_set(min_delay=0.5, max_delay=5)
    connected = threading.Event()
    outcome: dict[str, mqtt.ReasonCode] = {}

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason_code: mqtt.ReasonCode,
                   properties: object) -> None:
        outcome.setdefault("reason", reason_code)
        connected.set()

    client.on_connect = on_connect
    client.on_publish = acks.on_publish
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise ConnectionError(f"cannot connect to the MQTT broker at {broker_url}: {exc}") from exc
    client.loop_start()
    if not connected.wait(CONNECT_TIMEOUT_SECONDS) or outcome["reason"].is_failure:
        client.disconnect()
        client.loop_stop()
        why = outcome["reason"] if outcome else f"no CONNACK within {CONNECT_TIMEOUT_SECONDS:g} s"
        raise ConnectionError(f"the MQTT broker at {broker_url} refused the connection: {why}")
    return client


def _check(devices: int, rate: float, duration: float, protocol: str, **shares: float) -> None:
    if devices < 1:
        raise ValueError(f"devices: expected at least 1, got {devices}")
    if not rate > 0:
        raise ValueError(f"rate: expected a positive number of messages per second, got {rate}")
    if not duration >= 0:
        raise ValueError(f"duration: expected seconds >= 0 (0 runs until stopped), got {duration}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {sorted(PROTOCOLS)}, got {protocol!r}")
    for name, share in shares.items():
        if not 0 <= share <= 1:
            raise ValueError(f"{name}: expected a share between 0 and 1, got {share}")


def _count(stats: FleetStats, message: Message) -> None:
    stats.published += 1
    stats.by_kind[message.device.kind] += 1
    if message.label == "duplicate":
        stats.duplicates += 1
    elif message.label in MALFORMED_KINDS:
        stats.malformed += 1
    else:
        stats.readings += message.readings


def simulate(broker_url: str, devices: int, rate: float, duration: float, seed: int = 0,
             malformed_rate: float = 0.02, duplicate_rate: float = 0.02, gap_rate: float = 0.01,
             protocol: str = "5", client_id: str | None = None,
             progress: Callable[[FleetStats], None] | None = None,
             stop: threading.Event | None = None) -> FleetStats:
    """Publish the fleet ``rate`` times a second per device for ``duration`` seconds (0: until
    ``stop`` is set), QoS 1, and return once the broker has acknowledged every message."""
    _check(devices, rate, duration, protocol, malformed_rate=malformed_rate,
           duplicate_rate=duplicate_rate, gap_rate=gap_rate)
    fleet = Fleet(devices, rate, seed, malformed_rate, duplicate_rate, gap_rate)
    stats = FleetStats(0, 0, 0, 0, {device.kind: 0 for device in fleet.devices})
    stop = stop or threading.Event()
    ticks = math.ceil(duration * rate - 1e-9) if duration > 0 else math.inf
    acks = _Acks()
    client = _connect(broker_url, protocol, client_id or f"carbon-fleet-{seed}-{os.getpid()}", acks)
    try:
        pending: list[mqtt.MQTTMessageInfo] = []
        start = time.monotonic()
        next_progress = start + 1.0
        index = 0
        while index < ticks and not stop.is_set():
            delay = start + index / rate - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            for message in fleet.tick(index, datetime.now(timezone.utc)):
                with acks.condition:
                    acks.sent += 1
                info = client.publish(message.topic, message.payload, qos=1)
                if info.rc == mqtt.MQTT_ERR_SUCCESS:
                    pending.append(info)
                elif info.rc != mqtt.MQTT_ERR_NO_CONN:  # NO_CONN: queued, sent on reconnection
                    raise RuntimeError(f"publishing to {broker_url} failed: {mqtt.error_string(info.rc)}")
                _count(stats, message)
            index += 1
            if time.monotonic() >= next_progress:
                pending = [info for info in pending if not info.is_published()]
                next_progress = time.monotonic() + 1.0
                if progress:
                    progress(stats)
        deadline = time.monotonic() + ACK_TIMEOUT_SECONDS
        for info in pending:
            info.wait_for_publish(timeout=max(0.01, deadline - time.monotonic()))
        if not acks.wait(deadline):
            raise TimeoutError(f"{acks.sent - acks.acked} of {acks.sent} QoS 1 messages to {broker_url} "
                               f"not acknowledged within {ACK_TIMEOUT_SECONDS:g} s")
        if acks.refused:
            raise RuntimeError(f"the MQTT broker at {broker_url} refused {len(acks.refused)} messages "
                               f"(first: {acks.refused[0]})")
    finally:
        client.disconnect()
        client.loop_stop()
    if progress:
        progress(stats)
    return stats
