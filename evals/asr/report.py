"""Aggregate benchmark rows into flat metrics, print the table, write results.json and the chart."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from evals.asr.audio import ALL_CONDITIONS, PHONE_CONDITIONS  # noqa: E402
from evals.asr.runner import Row  # noqa: E402
from evals.asr.streaming import VAD_STOP_S  # noqa: E402


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _scores(rows: list[Row]) -> dict[str, float]:
    chars = sum(r.reference_chars for r in rows)
    terms = sum(r.terms for r in rows)
    changes = sum(r.changes for r in rows)
    numbers = sum(r.numbers_expected for r in rows)
    cer_raw = _ratio(sum(r.errors_raw for r in rows), chars)
    cer_corrected = _ratio(sum(r.errors_corrected for r in rows), chars)
    return {
        "cer_raw": cer_raw,
        "cer_corrected": cer_corrected,
        "cer_relative_reduction": _ratio(cer_raw - cer_corrected, cer_raw),
        "term_recall_raw": _ratio(sum(r.term_hits_raw for r in rows), terms),
        "term_recall": _ratio(sum(r.term_hits_corrected for r in rows), terms),
        "term_precision": _ratio(sum(r.changes_correct for r in rows), changes) if changes else 1.0,
        "corrections": float(changes),
        "number_accuracy": _ratio(sum(r.numbers_found for r in rows), numbers),
        "utterances": float(len(rows)),
    }


def _latency(rows: list[Row], prefix: str) -> dict[str, float]:
    if not rows:
        return {}
    latencies = np.array([r.latency_s for r in rows]) * 1000
    rtf = np.array([r.latency_s / r.audio_s for r in rows])
    return {
        f"{prefix}final_latency_ms_median": float(np.median(latencies)),
        f"{prefix}final_latency_ms_p95": float(np.percentile(latencies, 95)),
        f"{prefix}rtf_median": float(np.median(rtf)),
        f"{prefix}rtf_p95": float(np.percentile(rtf, 95)),
    }


def _incremental(rows: list[Row], metrics: dict[str, float]) -> dict[str, float]:
    """``incremental_*``: the streamed decoder, clean audio, next to stock on the same audio."""
    if not rows:
        return {}
    out = {f"incremental_{name}": value for name, value in _latency(rows, "").items()}
    scores = _scores(rows)
    for name in ("cer_raw", "cer_corrected", "term_recall", "number_accuracy"):
        out[f"incremental_{name}"] = scores[name]
    waits = np.array([r.wait_s for r in rows]) * 1000
    latencies = np.array([r.latency_s for r in rows]) * 1000
    speech_s = sum(r.audio_s for r in rows)
    out.update({
        "incremental_voice_end_to_final_ms_median": float(np.median(latencies)) + VAD_STOP_S * 1000,
        "incremental_wait_ms_median": float(np.median(waits)),
        "incremental_wait_ms_p95": float(np.percentile(waits, 95)),
        "incremental_reuse_rate": _ratio(sum(r.reused for r in rows), len(rows)),
        "incremental_fallback_rate": _ratio(sum("fallback" in r.path for r in rows), len(rows)),
        "incremental_wide_window_rate": _ratio(sum(r.path == "wide_window" for r in rows), len(rows)),
        "incremental_early_decodes_per_utterance": _ratio(sum(r.early_decodes for r in rows), len(rows)),
        "incremental_busy_s_per_speech_s": _ratio(sum(r.early_busy_s for r in rows), speech_s),
        "incremental_cpu_s_per_speech_s": _ratio(sum(r.early_cpu_s for r in rows), speech_s),
    })
    if "stock_final_latency_ms_median" in metrics:
        out["incremental_latency_speedup_median"] = _ratio(metrics["stock_final_latency_ms_median"],
                                                           out["incremental_final_latency_ms_median"])
        out["incremental_cer_raw_minus_stock_points"] = 100 * (scores["cer_raw"] - metrics["stock_cer_raw"])
    return out


def _relisten(rows: list[Row], baseline: list[Row], prefix: str) -> dict[str, float]:
    """``<prefix>*``: a decoder with the second pass (``asr.relisten``) next to the same decoder
    without it on the same audio (``baseline``): scores, latency, how often the second pass ran
    and what it cost."""
    if not rows:
        return {}
    out = {f"{prefix}{name}": value for name, value in _scores(rows).items()}
    out.update({f"{prefix}{name}": value for name, value in _latency(rows, "").items()})
    ran = [r for r in rows if r.relisten_ran]
    seconds = np.array([r.relisten_s for r in ran]) * 1000 if ran else np.zeros(1)
    changes = sum(r.relisten_changes for r in rows)
    out.update({
        f"{prefix}second_pass_share": _ratio(len(ran), len(rows)),
        f"{prefix}second_pass_ms_median": float(np.median(seconds)),
        f"{prefix}second_pass_ms_p95": float(np.percentile(seconds, 95)),
        f"{prefix}second_pass_changes": float(changes),
        f"{prefix}second_pass_precision": _ratio(sum(r.relisten_correct for r in rows), changes) if changes else 1.0,
    })
    if baseline:
        base = _latency(baseline, "")
        out[f"{prefix}latency_ms_median_minus_without"] = (out[f"{prefix}final_latency_ms_median"]
                                                           - base["final_latency_ms_median"])
        out[f"{prefix}latency_ms_p95_minus_without"] = (out[f"{prefix}final_latency_ms_p95"]
                                                        - base["final_latency_ms_p95"])
    return out


def _phone(rows: list[Row]) -> dict[str, float]:
    """The phone path side by side with 16 kHz on the same sentences: ``cer_16k``, ``cer_pcma``,
    ``term_recall_16k``, ``term_recall_pcma``, ``numbers_16k``, ``numbers_pcma`` ... (corrected text,
    as the dialogue gets it), ``<metric>_<codec>_minus_16k_points``; ``relisten_`` in front for the
    decoder with the second pass."""
    out: dict[str, float] = {}
    for decoder, prefix in (("short_window", ""), ("relisten", "relisten_")):
        mine = [r for r in rows if r.decoder == decoder]
        phone = [c for c in PHONE_CONDITIONS if any(r.condition == c for r in mine)]
        clean = [r for r in mine if r.condition == "clean"]
        if not phone or not clean:
            continue
        for condition in ("clean", *phone):
            scores = _scores([r for r in mine if r.condition == condition])
            name = "16k" if condition == "clean" else condition
            out.update({
                f"{prefix}cer_{name}": scores["cer_corrected"],
                f"{prefix}cer_raw_{name}": scores["cer_raw"],
                f"{prefix}term_recall_{name}": scores["term_recall"],
                f"{prefix}term_precision_{name}": scores["term_precision"],
                f"{prefix}numbers_{name}": scores["number_accuracy"],
            })
            if condition != "clean":
                for metric in ("cer", "term_recall", "numbers"):
                    out[f"{prefix}{metric}_{name}_minus_16k_points"] = 100 * (
                        out[f"{prefix}{metric}_{name}"] - out[f"{prefix}{metric}_16k"])
    return out


def summarise(rows: list[Row], clean_text_changes: int, clean_text_sentences: int) -> dict[str, float]:
    """Flat metrics: headline names score the short-window decoder on clean audio (all voices)."""
    fast = [r for r in rows if r.decoder == "short_window"]
    stock = [r for r in rows if r.decoder == "stock"]
    fast_clean = [r for r in fast if r.condition == "clean"]
    metrics: dict[str, float] = {}
    if fast_clean:
        metrics.update(_scores(fast_clean))
        metrics.update(_latency(fast_clean, ""))
    if stock and fast_clean:
        metrics.update(_latency(stock, "stock_"))
        stock_scores = _scores(stock)
        metrics["stock_cer_raw"] = stock_scores["cer_raw"]
        metrics["stock_cer_corrected"] = stock_scores["cer_corrected"]
        metrics["latency_speedup_median"] = _ratio(metrics["stock_final_latency_ms_median"],
                                                   metrics["final_latency_ms_median"])
        metrics["cer_raw_fast_minus_stock_points"] = 100 * (metrics["cer_raw"] - stock_scores["cer_raw"])
    for condition in ALL_CONDITIONS:
        subset = [r for r in fast if r.condition == condition]
        if subset and condition != "clean":
            for name, value in _scores(subset).items():
                metrics[f"{condition}_{name}"] = value
    metrics.update(_incremental([r for r in rows if r.decoder == "incremental"], metrics))
    metrics.update(_relisten([r for r in rows if r.decoder == "relisten" and r.condition == "clean"], fast_clean,
                             "relisten_"))
    metrics.update(_phone(rows))
    metrics.update(_relisten([r for r in rows if r.decoder == "incremental_relisten"],
                             [r for r in rows if r.decoder == "incremental"], "incremental_relisten_"))
    metrics["fallback_rate"] = _ratio(sum(r.path == "fallback" for r in fast), len(fast))
    metrics["wide_window_rate"] = _ratio(sum(r.path == "wide_window" for r in fast), len(fast))
    metrics["rejected_speech_rate"] = _ratio(sum(r.path.startswith("rejected") for r in fast), len(fast))
    metrics["clean_text_changes"] = float(clean_text_changes)
    metrics["clean_text_sentences"] = float(clean_text_sentences)
    return metrics


def print_table(metrics: dict[str, float]) -> None:
    print(f"{'metric':44s} value")
    for name, value in metrics.items():
        print(f"{name:44s} {value:.4f}" if isinstance(value, float) and value < 100 else f"{name:44s} {value:.1f}")


def write(out: Path, metrics: dict[str, float], rows: list[Row]) -> None:
    """``results.json`` (flat metrics), ``rows.jsonl`` (scores only, no text) and ``asr.png``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(metrics, indent=1, sort_keys=True), encoding="utf-8")
    with (out / "rows.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row.__dict__) + "\n")
    _plot(out / "asr.png", rows)
    if any(r.condition in PHONE_CONDITIONS for r in rows):
        _plot_phone(out / "phone.png", rows)


def _plot(path: Path, rows: list[Row]) -> None:
    fast = [r for r in rows if r.decoder == "short_window"]
    conditions = [c for c in ALL_CONDITIONS if any(r.condition == c for r in fast)]
    figure, (cer_axis, latency_axis) = plt.subplots(1, 2, figsize=(11, 4))
    positions = np.arange(len(conditions))
    raw = [_scores([r for r in fast if r.condition == c])["cer_raw"] * 100 for c in conditions]
    corrected = [_scores([r for r in fast if r.condition == c])["cer_corrected"] * 100 for c in conditions]
    cer_axis.bar(positions - 0.2, raw, 0.4, label="raw")
    cer_axis.bar(positions + 0.2, corrected, 0.4, label="term-corrected")
    cer_axis.set_xticks(positions, conditions)
    cer_axis.set_ylabel("CER %")
    cer_axis.set_title("Short-window Whisper base, by condition")
    cer_axis.legend()
    stock = [r.latency_s * 1000 for r in rows if r.decoder == "stock"]
    short = [r.latency_s * 1000 for r in fast if r.condition == "clean"]
    streamed = [r.latency_s * 1000 for r in rows if r.decoder == "incremental"]
    relistened = [r.latency_s * 1000 for r in rows if r.decoder == "incremental_relisten"]
    named = (("stock transcribe", stock), ("short window", short), ("incremental", streamed),
             ("incremental + re-listen", relistened))
    series = [s for _, s in named if s]
    labels = [name for name, s in named if s]
    if series:
        latency_axis.boxplot(series, tick_labels=labels, showfliers=True)
    latency_axis.set_ylabel("final transcript latency, ms")
    latency_axis.set_title("End of utterance to final text (clean)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot_phone(path: Path, rows: list[Row]) -> None:
    """CER, term recall and numbers at 16 kHz and through each phone codec, per decoder."""
    decoders = [d for d in ("short_window", "relisten") if any(r.decoder == d and r.condition in PHONE_CONDITIONS
                                                                for r in rows)]
    conditions = ["clean", *(c for c in PHONE_CONDITIONS if any(r.condition == c for r in rows))]
    figure, axes = plt.subplots(1, len(decoders), figsize=(6 * len(decoders), 4), squeeze=False)
    metrics = (("cer_corrected", "CER (corrected)"), ("term_recall", "term recall"),
               ("number_accuracy", "numbers right"))
    positions = np.arange(len(metrics))
    width = 0.8 / len(conditions)
    for axis, decoder in zip(axes[0], decoders, strict=True):
        for index, condition in enumerate(conditions):
            scores = _scores([r for r in rows if r.decoder == decoder and r.condition == condition])
            axis.bar(positions + (index - (len(conditions) - 1) / 2) * width,
                     [100 * scores[m] for m, _ in metrics], width, label="16 kHz" if condition == "clean" else condition)
        axis.set_xticks(positions, [label for _, label in metrics])
        axis.set_ylabel("%")
        axis.set_title(f"Phone path vs 16 kHz ({decoder})")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
