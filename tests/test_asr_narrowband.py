"""Telephone audio: a rendered sentence through a real G.711 A-law round trip (ffmpeg), 8 kHz samples
as a SIP endpoint decodes them, is heard through the narrowband path (``asr.narrowband.widen``, then
the call's short-window Whisper base): the drug, the value and its unit."""

import numpy as np
import pytest
from scipy.signal import resample_poly, welch

from asr import widen
from asr.short_window import ShortWindowTranscriber
from evals.phone import round_trip
from medical_terms import TermCorrector, hotwords, normalize_numbers


def test_a_sentence_over_pcma_is_heard_with_its_term_and_value(fast: ShortWindowTranscriber, speak) -> None:
    samples, rate = round_trip(speak("空腹血糖七点八，我在吃二甲双胍。").astype(np.float32) / 32767, "pcma")
    assert rate == 8000
    heard = fast.transcribe(widen(samples, rate), hotwords("followup"))
    final = normalize_numbers(TermCorrector().correct(heard.text).text)
    assert "7.8 mmol/L" in final and "二甲双胍" in final, heard


def test_widen_upsamples_without_images_and_keeps_the_duration() -> None:
    narrow = (np.random.default_rng(0).standard_normal(8000) * 0.1).astype(np.float32)  # 0-4 kHz
    wide = widen(narrow, 8000)
    assert wide.dtype == np.float32 and len(wide) == 16000
    freqs, power = welch(wide, fs=16000, nperseg=512)
    band, above = (freqs > 300) & (freqs < 3400), (freqs > 4500)
    assert power[above].mean() < 1e-4 * power[band].mean()  # no mirror image above 4 kHz
    # Audio the transport already brought to 16 kHz is taken as it is.
    upsampled = resample_poly(narrow, 2, 1)
    assert np.array_equal(widen(upsampled, 16000), upsampled.astype(np.float32))


def test_widen_refuses_other_rates() -> None:
    with pytest.raises(ValueError, match="8000 or 16000"):
        widen(np.zeros(441, np.float32), 44100)
