"""A real SIP peer for the tests: a PJSUA2 user agent in its own process (one process holds one
PJSIP endpoint), driven by lines on stdin and reporting JSON lines on stdout.

    python tests/sip/peer.py --port 0 [--codecs PCMA/8000] call sip:triage@127.0.0.1:5060 --record out.wav
    python tests/sip/peer.py --port 0 answer

Commands (stdin): ``play <wav>`` (16-bit mono WAV into the call), ``dtmf <digits>`` (RFC 4733),
``info <digit>`` (SIP INFO), ``hold``/``unhold`` (re-INVITE), ``status <code>`` (answer incoming
calls with it; ``--status-for 1002=486,1003=180`` answers calls to those users with those), ``hangup``, ``quit``.
Events (stdout): ``ready`` (with the bound port), ``state``, ``media``, ``invite`` (an answered
INVITE's headers), ``transfer_request``, ``played``, ``disconnected`` (status, reason), ``error``.
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import sys
import threading
import time

import pjsua2 as pj

events_lock = threading.Lock()


def emit(kind: str, **fields: object) -> None:
    with events_lock:
        print(json.dumps({"event": kind, "t": round(time.monotonic(), 3), **fields}, ensure_ascii=False), flush=True)


class PeerCall(pj.Call):
    def __init__(self, peer: Peer, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.peer = peer
        self.audio: pj.AudioMedia | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        emit("state", state=info.stateText, status=info.lastStatusCode)
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            retry_after = None
            try:
                if prm.e.type == pj.PJSIP_EVENT_TSX_STATE:
                    message = prm.e.body.tsxState.src.rdata.wholeMsg
                    found = re.search(r"^Retry-After\s*:\s*(\d+)", message, re.IGNORECASE | re.MULTILINE)
                    retry_after = int(found.group(1)) if found else None
            except Exception:
                pass
            emit("disconnected", status=info.lastStatusCode, reason=info.lastReason, retry_after=retry_after)
            self.peer.ended = True

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = self.getAudioMedia(index)
                # the (null) microphone into the call, as a phone's: RTP flows whether or not we speak
                if not self.peer.args.mute:
                    self.peer.ep.audDevManager().getCaptureDevMedia().startTransmit(self.audio)
                if self.peer.recorder is not None:
                    self.audio.startTransmit(self.peer.recorder)
                stream = self.getStreamInfo(index)
                emit("media", codec=f"{stream.codecName}/{stream.codecClockRate}")

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        # accepted (202); PJSUA2 reuses this Call object for the call to the target (a new Call
        # object handed over in prm.newCall crashes this wheel's SWIG binding)
        emit("transfer_request", target=prm.dstUri)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        emit("transfer_status", status=int(prm.statusCode), final=bool(prm.finalNotify))


class PeerAccount(pj.Account):
    def __init__(self, peer: Peer) -> None:
        super().__init__()
        self.peer = peer

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = PeerCall(self.peer, self, prm.callId)
        headers = {}
        for line in prm.rdata.wholeMsg.splitlines():
            match = re.match(r"^(X-[\w-]+|Referred-By|From|To)\s*:\s*(.*)$", line, re.IGNORECASE)
            if match:
                headers[match.group(1)] = match.group(2)
        emit("invite", headers=headers, source=prm.rdata.srcAddress)
        self.peer.calls.append(call)
        op = pj.CallOpParam()
        called = re.match(r"^\S+\s+sips?:([^@;>\s]+)@", prm.rdata.wholeMsg)
        op.statusCode = self.peer.status_for.get(called.group(1) if called else "", self.peer.answer_status)
        call.answer(op)


class Peer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ended = False
        self.calls: list[PeerCall] = []
        self.transferred: PeerCall | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.players: list[pj.AudioMediaPlayer] = []
        self.answer_status = args.answer_status
        # a number plan: the called user -> the status its calls are answered with (else answer_status)
        self.status_for = {user: int(code) for user, _, code in
                           (entry.partition("=") for entry in args.status_for.split(",") if entry)}
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.logConfig.level = 1
        cfg.logConfig.consoleLevel = 1
        cfg.medConfig.clockRate = 16000
        cfg.medConfig.sndClockRate = 16000
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        self.ep.libInit(cfg)
        self.ep.audDevManager().setNullDev()
        tc = pj.TransportConfig()
        tc.port = args.port
        tc.boundAddress = args.bind
        tc.publicAddress = args.bind
        tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        self.port = int(self.ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
        self.ep.libStart()
        if args.codecs:
            wanted = args.codecs.split(",")  # codec names, most preferred first: PCMA,PCMU
            for info in self.ep.codecEnum2():
                name = info.codecId.split("/")[0]
                self.ep.codecSetPriority(info.codecId, 255 - wanted.index(name) if name in wanted else 0)
        acc_cfg = pj.AccountConfig()
        acc_cfg.idUri = f"sip:{args.user}@{args.bind}:{self.port}"
        acc_cfg.mediaConfig.srtpUse = {"off": pj.PJMEDIA_SRTP_DISABLED, "optional": pj.PJMEDIA_SRTP_OPTIONAL,
                                       "mandatory": pj.PJMEDIA_SRTP_MANDATORY}[args.srtp]
        acc_cfg.mediaConfig.srtpSecureSignaling = 0
        acc_cfg.natConfig.sdpNatRewriteUse = 0
        acc_cfg.natConfig.contactRewriteUse = 0
        acc_cfg.mediaConfig.transportConfig.boundAddress = args.bind
        acc_cfg.mediaConfig.transportConfig.publicAddress = args.bind
        self.account = PeerAccount(self)
        self.account.create(acc_cfg)
        if args.record:
            self.recorder = pj.AudioMediaRecorder()
            self.recorder.createRecorder(args.record)

    def call(self, uri: str) -> None:
        call = PeerCall(self, self.account)
        self.calls.append(call)
        call.makeCall(uri, pj.CallOpParam(True))

    @property
    def current(self) -> PeerCall | None:
        return self.calls[-1] if self.calls else None

    def command(self, line: str) -> bool:
        verb, _, arg = line.strip().partition(" ")
        call = self.current
        try:
            if verb == "play" and call is not None and call.audio is not None:
                player = pj.AudioMediaPlayer()
                player.createPlayer(arg, pj.PJMEDIA_FILE_NO_LOOP)
                player.startTransmit(call.audio)
                self.players.append(player)
                emit("played", path=arg)
            elif verb == "dtmf" and call is not None:
                call.dialDtmf(arg)
                emit("dtmf_sent", digits=arg)
            elif verb == "info" and call is not None:
                prm = pj.CallSendDtmfParam()
                prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
                prm.digits = arg
                call.sendDtmf(prm)
                emit("dtmf_sent", digits=arg, method="info")
            elif verb == "hold" and call is not None:
                call.setHold(pj.CallOpParam(True))
            elif verb == "unhold" and call is not None:
                prm = pj.CallOpParam(True)
                prm.opt.flag = pj.PJSUA_CALL_UNHOLD
                call.reinvite(prm)
            elif verb == "status":  # how the next incoming calls are answered (486: busy)
                self.answer_status = int(arg)
                emit("status_set", status=self.answer_status)
            elif verb == "hangup":
                self.ep.hangupAllCalls()
            elif verb == "quit":
                return False
        except pj.Error as exc:
            emit("error", command=line.strip(), message=exc.info())
        return True

    def close(self) -> None:
        self.ep.hangupAllCalls()
        for _ in range(20):
            self.ep.libHandleEvents(10)
        if self.recorder is not None:
            del self.recorder
            self.recorder = None
        self.players.clear()
        self.calls.clear()
        self.account.shutdown()
        self.ep.libDestroy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--user", default="caller")
    parser.add_argument("--codecs", default="")
    parser.add_argument("--record", default="")
    parser.add_argument("--srtp", choices=["off", "optional", "mandatory"], default="off")
    parser.add_argument("--mute", action="store_true", help="send no RTP at all (a dead phone)")
    parser.add_argument("--answer-status", type=int, default=200)
    parser.add_argument("--status-for", default="", help="USER=STATUS,...: answer calls to USER with STATUS")
    parser.add_argument("mode", choices=["call", "answer"])
    parser.add_argument("uri", nargs="?")
    args = parser.parse_args()
    commands: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read_stdin() -> None:
        for line in sys.stdin:
            commands.put(line)
        commands.put("quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    peer = Peer(args)
    emit("ready", port=peer.port)
    if args.mode == "call":
        peer.call(args.uri)
    running = True
    while running:
        peer.ep.libHandleEvents(10)
        while running:
            try:
                line = commands.get_nowait()
            except queue.Empty:
                break
            running = peer.command(line)
    peer.close()
    emit("closed")


if __name__ == "__main__":
    main()
