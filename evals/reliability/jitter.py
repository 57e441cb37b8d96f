"""Packet delay with jitter for a kernel without ``sch_netem``: an NFQUEUE verdict delayer.

``python -m evals.reliability.jitter --queue N --delay-ms D --jitter-ms J`` (run inside the network
namespace whose iptables rules send packets to queue N) holds each queued packet for
``D + uniform(-J, J)`` ms (at least 0) and then accepts it, so packets are delayed, jittered and
reordered by the kernel's own queue, as ``netem delay D J`` would. It speaks nfnetlink_queue over a
raw netlink socket (``NETLINK_NETFILTER``), with no library: bind the queue, copy packet metadata
only, answer ``NF_ACCEPT`` verdicts by packet id. Prints ``ready`` once bound; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2


def _attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _message(kind: int, queue: int, attributes: bytes, family: int = socket.AF_UNSPEC) -> bytes:
    body = struct.pack("=BBH", family, 0, socket.htons(queue)) + attributes
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, NLM_F_REQUEST, 0, 0) + body


def _packet_ids(data: bytes) -> list[int]:
    """Packet ids of the NFQNL_MSG_PACKET messages in one netlink datagram."""
    ids = []
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            position = offset + 20  # netlink header + nfgenmsg
            while position + 4 <= offset + length:
                attr_length, attr_kind = struct.unpack_from("=HH", data, position)
                if attr_length < 4:
                    break
                if attr_kind & 0x7FFF == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from("!I", data, position + 4)[0])
                position += (attr_length + 3) & ~3
        offset += (length + 3) & ~3
    return ids


class Delayer:
    """Binds NFQUEUE ``queue`` and accepts each packet after its delay."""

    def __init__(self, queue: int, delay_ms: float, jitter_ms: float, seed: int = 22) -> None:
        self.queue, self.delay_s, self.jitter_s = queue, delay_ms / 1000, jitter_ms / 1000
        self.random = random.Random(seed)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setblocking(False)
        self.handled = 0

    def bind(self) -> None:
        command = struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET))
        self.sock.send(_message(NFQNL_MSG_CONFIG, self.queue, _attribute(NFQA_CFG_CMD, command)))
        params = struct.pack("!IB", 0, NFQNL_COPY_META) + b"\0" * 3
        self.sock.send(_message(NFQNL_MSG_CONFIG, self.queue, _attribute(NFQA_CFG_PARAMS, params[:5])))

    def accept(self, packet_id: int) -> None:
        verdict = struct.pack("!II", NF_ACCEPT, packet_id)
        self.sock.send(_message(NFQNL_MSG_VERDICT, self.queue, _attribute(NFQA_VERDICT_HDR, verdict)))
        self.handled += 1

    async def serve(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def readable() -> None:
            while True:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    return
                for packet_id in _packet_ids(data):
                    hold = max(0.0, self.delay_s + self.random.uniform(-self.jitter_s, self.jitter_s))
                    loop.call_later(hold, self.accept, packet_id)

        loop.add_reader(self.sock.fileno(), readable)
        try:
            await stop.wait()
        finally:
            loop.remove_reader(self.sock.fileno())
            await asyncio.sleep(self.delay_s + self.jitter_s + 0.05)  # let held packets go
            self.sock.close()


async def _main(args: argparse.Namespace) -> None:
    delayer = Delayer(args.queue, args.delay_ms, args.jitter_ms)
    delayer.bind()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("ready", flush=True)
    await delayer.serve(stop)
    print(f"delayed {delayer.handled} packets", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.reliability.jitter", description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    asyncio.run(_main(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
