"""Replay an utterance to the incremental decoder in real-time order, and time only what is left
at end of speech.

The audio arrives in 20 ms frames on a simulated clock. End of speech is where the live call
learns of it: the last voiced frame (``turntaking.voicing.VoicingClock``, the call's own rule) plus the
VAD's stop delay; the decoder never sees audio after that moment. Every ``interim_every_s`` of
new audio, when no decode is running, an interim decode runs on the audio that has arrived; its
measured duration keeps the decoder busy on the simulated clock, while audio keeps arriving.
At end of speech the final waits for a decode still running (that wait counts), then decodes
what is left (that counts). The interim decodes' wall and CPU time are reported apart: they
are spent while the caller speaks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from asr.incremental import IncrementalSettings, IncrementalTranscript
from asr.short_window import ShortWindowTranscriber
from asr.transcriber import SAMPLE_RATE, Transcript
from turntaking.voicing import VoicingClock

FRAME = SAMPLE_RATE // 50
VAD_STOP_S = 0.2


@dataclass(frozen=True)
class Replay:
    """One utterance streamed to the incremental decoder.

    Parameters:
        transcript: The final transcript.
        final_s: End of speech to final transcript: ``wait_s`` plus the final decode.
        wait_s: Time the final waited for an interim decode still running at end of speech.
        streamed_s: Audio streamed up to end of speech (speech plus the VAD's stop delay).
        interim_wall_s: Wall time of the interim decodes (spent while the caller spoke).
        interim_cpu_s: Process CPU time of the interim decodes (all threads).
        interims: Decodes run before end of speech (pause and interim decodes).
        reused: The final was the pause decode, started before end of speech.
    """

    transcript: Transcript
    final_s: float
    wait_s: float
    streamed_s: float
    interim_wall_s: float
    interim_cpu_s: float
    interims: int
    reused: bool


def end_of_speech(audio: np.ndarray, vad_stop_s: float = VAD_STOP_S) -> int:
    """The sample at which the live call hands the utterance over: last voiced frame + VAD stop."""
    clock = VoicingClock()
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    for start in range(0, len(pcm) - FRAME + 1, FRAME):
        clock.add(pcm[start:start + FRAME].tobytes(), (start + FRAME) / SAMPLE_RATE, in_speech=True)
    if clock.last_voiced is None:
        return len(audio)
    return min(len(audio), int((clock.last_voiced + vad_stop_s) * SAMPLE_RATE))


def replay(transcriber: ShortWindowTranscriber, audio: np.ndarray, settings: IncrementalSettings,
           hotwords: str | None = None) -> Replay:
    """Stream ``audio`` (float32 16 kHz) to a fresh ``IncrementalTranscript`` and time its final.

    As in the live call: a pause decode when the caller has been quiet for ``quiet_s`` (once per
    pause), a caption decode every ``interim_every_s`` of audio while the caller is voiced, each
    only when no decode is running.
    """
    handover = end_of_speech(audio)
    turn = IncrementalTranscript(transcriber, settings, hotwords)
    clock = VoicingClock()
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    busy_until = 0.0
    next_caption = settings.interim_every_s or float("inf")
    paused_at: float | None = None  # the last voiced time a pause decode was run for
    interim_wall = interim_cpu = 0.0
    interims = 0
    for arrived in range(FRAME, handover + 1, FRAME):
        now = arrived / SAMPLE_RATE
        clock.add(pcm[arrived - FRAME:arrived].tobytes(), now, in_speech=True)
        if now < busy_until or clock.last_voiced is None:
            continue
        quiet = now - clock.last_voiced >= settings.quiet_s
        if quiet and paused_at != clock.last_voiced:
            decode = turn.pause
            paused_at = clock.last_voiced
        elif not quiet and now >= next_caption:
            decode = turn.update
            next_caption = now + settings.interim_every_s
        else:
            continue
        wall, cpu = time.perf_counter(), time.process_time()
        decode(audio[:arrived])
        cost = time.perf_counter() - wall
        interim_cpu += time.process_time() - cpu
        interim_wall += cost
        interims += 1
        busy_until = now + cost
    end = handover / SAMPLE_RATE
    wait = max(0.0, busy_until - end)
    started = time.perf_counter()
    transcript = turn.finish(audio[:handover])
    final = wait + time.perf_counter() - started
    return Replay(transcript, final, wait, end, interim_wall, interim_cpu, interims, turn.reused)
