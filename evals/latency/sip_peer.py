"""The latency benchmark's phone: a PJSUA2 user agent in its own process (one process holds one PJSIP
endpoint) that places one call, streams the caller's speech into it in real time and timestamps
the agent's audio as it comes out of the call's jitter buffer and decoder.

    python -m evals.latency.sip_peer --uri sip:triage@127.0.0.1:5060 [--codec PCMA]

A ``PhonePort`` sits on PJSIP's conference bridge like a phone's handset: the conference clock
(the null sound device's, every 20 ms) asks it for the microphone's next frame (queued speech, or
silence, so RTP flows whether or not the caller speaks) and hands it the frame heard from the call.

Commands (stdin): ``say <path>`` (raw int16 16 kHz mono PCM, spoken once, frame by frame, after
what is queued), ``hangup``, ``quit``. Events (stdout, JSON lines, ``t`` is ``time.monotonic()``,
the same clock as the benchmark's): ``ready`` (port), ``media`` (codec), ``spoken`` (start, end:
when the first and last frame of a ``say`` went into the call), ``audio`` (a heard 20 ms frame with
an RMS of at least ``--audio-rms``: agent speech), ``disconnected`` (status, reason), ``error``.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import pjsua2 as pj

CLOCK_RATE = 16000
FRAME_MS = 20
FRAME_SAMPLES = CLOCK_RATE * FRAME_MS // 1000
SILENCE = bytes(2 * FRAME_SAMPLES)

_print_lock = threading.Lock()


def emit(kind: str, **fields: object) -> None:
    with _print_lock:
        print(json.dumps({"event": kind, "t": time.monotonic(), **fields}), flush=True)


class PhonePort(pj.AudioMediaPort):
    """The handset: speech queued by ``say`` goes out frame by frame; loud heard frames are stamped."""

    def __init__(self, audio_rms: float) -> None:
        super().__init__()
        self.audio_rms = audio_rms
        self._lock = threading.Lock()
        self._utterances: deque[bytes] = deque()
        self._current = b""
        self._position = 0
        self._started = 0.0
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.clockRate = CLOCK_RATE
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = FRAME_MS * 1000
        self.createPort("benchmark-phone", fmt)

    def say(self, pcm: bytes) -> None:
        with self._lock:
            self._utterances.append(pcm)

    def _next(self) -> bytes:
        now = time.monotonic()
        with self._lock:
            if not self._current and self._utterances:
                self._current, self._position, self._started = self._utterances.popleft(), 0, now
            if not self._current:
                return SILENCE
            frame = self._current[self._position:self._position + len(SILENCE)]
            self._position += len(SILENCE)
            if self._position >= len(self._current):
                duration = len(self._current) / 2 / CLOCK_RATE
                self._current = b""
                emit("spoken", start=self._started, end=self._started + duration)
        return frame + SILENCE[len(frame):]

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        try:
            audio = self._next()
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            frame.buf = pj.ByteVector(audio)
            frame.size = len(audio)
        except Exception as exc:  # never into PJSIP's clock thread
            emit("error", command="frame", message=repr(exc))

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        try:
            if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or not frame.size:
                return
            samples = np.frombuffer(bytes(frame.buf), np.int16).astype(np.float32)
            rms = float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0
            if rms >= self.audio_rms:
                emit("audio", rms=round(rms))
        except Exception as exc:
            emit("error", command="frame", message=repr(exc))


class PhoneCall(pj.Call):
    def __init__(self, phone: Phone, account: pj.Account) -> None:
        super().__init__(account)
        self.phone = phone

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            emit("disconnected", status=info.lastStatusCode, reason=info.lastReason)
            self.phone.ended = True

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                audio = self.getAudioMedia(index)
                audio.startTransmit(self.phone.port)
                self.phone.port.startTransmit(audio)
                stream = self.getStreamInfo(index)
                emit("media", codec=f"{stream.codecName}/{stream.codecClockRate}")


class Phone:
    """One PJSIP endpoint on loopback with a null sound device and the handset port."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.ended = False
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.logConfig.level = 1
        cfg.logConfig.consoleLevel = 1
        cfg.medConfig.clockRate = CLOCK_RATE
        cfg.medConfig.sndClockRate = CLOCK_RATE
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        self.ep.libInit(cfg)
        self.ep.audDevManager().setNullDev()
        tc = pj.TransportConfig()
        tc.port = 0
        tc.boundAddress = args.bind
        tc.publicAddress = args.bind
        tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        self.port_number = int(self.ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
        self.ep.libStart()
        for info in self.ep.codecEnum2():  # the one codec a phone line offers
            self.ep.codecSetPriority(info.codecId, 255 if info.codecId.split("/")[0] == args.codec else 0)
        acc_cfg = pj.AccountConfig()
        acc_cfg.idUri = f"sip:caller@{args.bind}:{self.port_number}"
        acc_cfg.natConfig.sdpNatRewriteUse = 0
        acc_cfg.natConfig.contactRewriteUse = 0
        acc_cfg.mediaConfig.transportConfig.boundAddress = args.bind
        acc_cfg.mediaConfig.transportConfig.publicAddress = args.bind
        self.account = pj.Account()
        self.account.create(acc_cfg)
        self.port = PhonePort(args.audio_rms)
        self.call: PhoneCall | None = None

    def dial(self, uri: str) -> None:
        self.call = PhoneCall(self, self.account)
        self.call.makeCall(uri, pj.CallOpParam(True))

    def command(self, line: str) -> bool:
        verb, _, arg = line.strip().partition(" ")
        try:
            if verb == "say":
                self.port.say(Path(arg).read_bytes())
            elif verb == "hangup":
                self.ep.hangupAllCalls()
            elif verb == "quit":
                return False
        except (pj.Error, OSError) as exc:
            emit("error", command=line.strip(), message=str(exc))
        return True

    def close(self) -> None:
        self.ep.hangupAllCalls()
        for _ in range(20):
            self.ep.libHandleEvents(10)
        self.call = None
        self.account.shutdown()
        self.ep.libDestroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--codec", default="PCMA")
    parser.add_argument("--audio-rms", type=float, default=30.0)
    args = parser.parse_args()
    commands: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read_stdin() -> None:
        for line in sys.stdin:
            commands.put(line)
        commands.put("quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    phone = Phone(args)
    emit("ready", port=phone.port_number)
    phone.dial(args.uri)
    running = True
    while running:
        phone.ep.libHandleEvents(10)
        while running:
            try:
                running = phone.command(commands.get_nowait())
            except queue.Empty:
                break
    phone.close()
    emit("closed")


if __name__ == "__main__":
    main()
