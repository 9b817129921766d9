"""Composing, the first stage of generation: a request becomes a :class:`~audiogen.compose.plan.Plan`.

``planner`` maps a request (words, emotion, style, tempo, key, duration, ending, seed) onto the composer's
parameters and composes; ``composer``/``parts``/``genres`` are the composer itself; ``transfer`` makes a plan from a
clip's beats, chords and melody; ``plan`` is the plain-data result (JSON, MIDI).
"""
