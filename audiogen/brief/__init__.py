"""Pictures and videos as briefs: ``generate(..., image=...)`` and ``generate(..., video=...)``.

- :mod:`~audiogen.brief.image`: a picture's colour and texture features and their documented mapping to a
  valence/arousal point and style hints.
- :mod:`~audiogen.brief.video`: a video's frames (PyAV), its hard cuts and each shot's mood.
- :mod:`~audiogen.brief.align`: a plan whose sections change on the cuts.
- :mod:`~audiogen.brief.perform`: that plan performed shot by shot, joined on the cuts.
- :mod:`~audiogen.brief.mux`: a copy of the video with the track as its sound (video stream copied).
- :mod:`~audiogen.brief.request`: the checks and what a brief fills in; :mod:`~audiogen.brief.cli`:
  ``audiogen analyze-image`` and ``audiogen analyze-video``; :mod:`~audiogen.brief.synth`: synthetic test media.
"""
