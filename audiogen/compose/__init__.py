"""Composing, the first stage of generation: a request becomes a :class:`~audiogen.compose.plan.Plan`.

``planner`` maps a request (words, emotion, style, tempo, key, duration, ending, seed; :class:`PlanRequest`, whose
ranges are the request's own, :mod:`audiogen.request_fields`) onto the composer's parameters and composes;
``composer``/``parts``/``genres`` are the composer itself (``genres.GENRE_TEMPLATES`` its eight templates);
``transfer`` makes a plan from a clip's beats, chords and melody; ``plan`` is the plain-data result (JSON, MIDI).
"""
