"""The demo's embedded MQTT broker (amqtt, in-process, MQTT 3.1.1): no system service needed.

For the guarantees, use a real broker (Mosquitto, EMQX, HiveMQ): the tests do.
"""

from __future__ import annotations

import asyncio
import logging

from amqtt.broker import Broker


async def serve(host: str, port: int, stop: asyncio.Event | None = None) -> None:
    broker = Broker({
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 1000}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    })
    await broker.start()
    logging.getLogger("carbon_lake.broker").info("event=broker_started url=mqtt://%s:%d", host, port)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await broker.shutdown()


def run(host: str, port: int) -> None:
    try:
        asyncio.run(serve(host, port))
    except KeyboardInterrupt:
        pass
