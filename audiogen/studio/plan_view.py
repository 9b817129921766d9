"""What the page shows of a track's plan: its summary, its sections, and its bars with their chords."""

from __future__ import annotations


def plan_view(plan) -> dict | None:
    """A :class:`~audiogen.compose.plan.Plan` → plain JSON for the page (None for a track without a plan).

    ``bars`` lists every bar of the form: its number (from 1), its section, its start (s) and the chords it plays,
    each as ``{"label": "A:min", "numeral": "vi"}`` in order (a chord per change; one held over the bar line
    is named again in the next bar)."""
    if plan is None:
        return None
    downbeats = [float(t) for t in plan.downbeats]
    ends = [*downbeats[1:], float(plan.duration)]
    bars = []
    for n, (start, end) in enumerate(zip(downbeats, ends, strict=True)):
        section = next((s.name for s in plan.sections if s.start <= start + 1e-6 < s.end), "")
        chords: list[dict] = []
        for c in plan.chords:
            chord = {"label": c.label, "numeral": c.numeral}
            if c.start < end - 1e-6 and c.end > start + 1e-6 and (not chords or chords[-1] != chord):
                chords.append(chord)
        bars.append({"n": n + 1, "section": section, "start": round(start, 3), "chords": chords})
    return {
        "summary": plan.summary(),
        "key": plan.key_name,
        "tempo": plan.tempo,
        "meter": plan.meter,
        "genre": plan.genre,
        "ending": plan.ending,
        "sections": [{"name": s.name, "bars": s.bars, "start": s.start, "end": s.end} for s in plan.sections],
        "bars": bars,
    }
