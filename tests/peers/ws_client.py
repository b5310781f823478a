"""A third-party WebSocket client for the gateway, using the `websockets` package.

Usage: python3 ws_client.py ws://127.0.0.1:8080/api/v1/ws
Prints "hello <api_version>", then "events <id> <count>" and "reply <id> <text>".
"""
import asyncio
import json
import sys

import websockets


async def main(url):
    async with websockets.connect(url) as ws:
        hello = json.loads(await ws.recv())
        print("hello", hello["api_version"], flush=True)
        await ws.send(json.dumps({"type": "exchange", "id": "py-1", "protocol": "tcp", "message": "from python"}))
        events = 0
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "event":
                events += 1
            elif frame["type"] == "reply":
                print("events", frame["id"], events)
                print("reply", frame["id"], frame["reply"])
                return
            else:
                raise SystemExit(f"unexpected frame: {frame}")


asyncio.run(main(sys.argv[1]))
