"""Dense controls at the codec frame rate: computed from a plan (``from_plan``) and read from audio (``extract``) in
one layout (``layout``), with the chord vocabulary (``chords``) and the beat tracker (``beats``) they share."""
