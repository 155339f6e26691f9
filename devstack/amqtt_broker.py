"""Fallback broker for the demo when Mosquitto is not installed: amqtt, in its own process.

Why amqtt: of the brokers on PyPI it is the maintained one (hbmqtt and distmqtt stopped in
2020-21; gmqtt and paho are clients only). Measured here (devstack evaluation, 2026-11-25): it
accepts QoS 1 at a few thousand messages/s, but did not deliver QoS 1 messages queued for an
offline persistent session on reconnect. Vigil tolerates that -- the gateway keeps every
reading until ingest's end-to-end ack and resends -- but it is a demo convenience only; the
tests and every deployment use Mosquitto.

    python -m devstack.amqtt_broker --port 1883
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any


async def serve(port: int) -> None:
    from amqtt.broker import Broker

    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }
    broker = Broker(config)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=1883)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
