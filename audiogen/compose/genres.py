"""Genre templates for the procedural composer: instrumentation, groove, tempo range and harmonic habits.

:data:`GENRE_TEMPLATES` holds the composer's eight templates (a request's ``genre``); the style vocabulary's genre
tags are another list, :data:`audiogen.conditioning.styles.GENRE_TAGS` (mapped onto the templates by
:data:`audiogen.compose.planner.GENRE_OF_TAG`).

Instruments are General MIDI programs (0-127, drums on the GM percussion channel). Progressions are written as
Roman numerals relative to the tonic and parsed by :func:`audiogen.compose.composer.parse_chord`: upper case is a major
triad, lower case minor, ``b``/``#`` alter the root, ``°`` diminished, ``ø7`` half-diminished seventh, ``+``
augmented, and the suffixes ``7`` (dominant on upper case, minor seventh on lower case), ``maj7``, ``sus2``,
``sus4``, ``add9``. Minor-mode progressions are written against the major scale (``i bVI bIII bVII``).
"""

from __future__ import annotations

from dataclasses import dataclass

# Short, caption-friendly names of the programs the templates use (program numbers are 0-based).
INSTRUMENT_NAMES: dict[int, str] = {
    0: "piano", 4: "electric piano", 5: "electric piano", 8: "celesta", 9: "glockenspiel", 10: "music box",
    11: "vibraphone", 16: "organ", 18: "rock organ", 19: "church organ", 21: "accordion", 22: "harmonica",
    24: "nylon guitar", 25: "acoustic guitar", 26: "jazz guitar", 27: "electric guitar", 29: "overdriven guitar",
    30: "distorted guitar", 32: "double bass", 33: "electric bass", 34: "electric bass", 35: "fretless bass",
    38: "synth bass", 39: "synth bass", 40: "violin", 41: "viola", 42: "cello", 43: "contrabass",
    45: "pizzicato strings", 46: "harp", 47: "timpani", 48: "strings", 49: "strings", 50: "synth strings",
    52: "choir", 56: "trumpet", 57: "trombone", 58: "tuba", 59: "muted trumpet", 60: "french horn",
    61: "brass", 62: "synth brass", 65: "alto sax", 66: "tenor sax", 68: "oboe", 70: "bassoon", 71: "clarinet",
    73: "flute", 74: "recorder", 75: "pan flute", 78: "whistle", 80: "square lead", 81: "saw lead",
    82: "calliope lead", 88: "new age pad", 89: "warm pad", 90: "synth pad", 91: "choir pad", 94: "halo pad",
    95: "sweep pad", 105: "banjo",
}  # fmt: skip

# Semitones added to the melody's centre for instruments that sound best outside the soprano range.
MELODY_OFFSET: dict[int, int] = {
    8: 12, 9: 12, 10: 12, 11: 0, 42: -12, 57: -12, 60: -5, 66: -7, 70: -12, 22: 0, 74: 5, 78: 7, 73: 5,
    29: -5, 30: -5, 26: -5,
}  # fmt: skip

# General MIDI percussion keys.
KICK, SIDESTICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE, TAMBOURINE, SHAKER = (
    36,
    37,
    38,
    39,
    42,
    44,
    46,
    49,
    51,
    54,
    70,
)
TOMS = (50, 48, 47, 45, 43, 41)  # high to low

# Drum grooves on a 16th-note grid: one string per drum, four steps per beat ('x' hit, 'o' soft hit, '.' rest).
# Keys "4" and "3" are the meter (beats per bar).
DRUM_PATTERNS: dict[str, dict[str, dict[int, str]]] = {
    "pop": {
        "4": {KICK: "x.....x...x.....", SNARE: "....x.......x...", HAT: "x.x.x.x.x.x.x.x."},
        "3": {KICK: "x...........", SNARE: "....x...x...", HAT: "x.x.x.x.x.x."},
    },
    "rock": {
        "4": {KICK: "x.......x.x.....", SNARE: "....x.......x...", HAT: "x.x.x.x.x.x.x.x."},
        "3": {KICK: "x.......x...", SNARE: "....x.......", HAT: "x.x.x.x.x.x."},
    },
    "jazz": {
        "4": {RIDE: "x...x.x.x...x.x.", PEDAL_HAT: "....x.......x...", KICK: "o.......o......."},
        "3": {RIDE: "x...x.x.x.x.", PEDAL_HAT: "....x...x...", KICK: "o..........."},
    },
    "electronic": {
        "4": {
            KICK: "x...x...x...x...",
            CLAP: "....x.......x...",
            OPEN_HAT: "..x...x...x...x.",
            HAT: "x.o.x.o.x.o.x.o.",
        },
        "3": {KICK: "x...x...x...", CLAP: "....x.......", OPEN_HAT: "..x...x...x."},
    },
    "lofi": {
        "4": {KICK: "x......x..x.....", SNARE: "....x.......x...", HAT: "x.o.x.o.x.o.x.o."},
        "3": {KICK: "x.....x.....", SNARE: "....x.......", HAT: "x.o.x.o.x.o."},
    },
    "folk": {
        "4": {KICK: "x.......x.......", TAMBOURINE: "..x...x...x...x.", SIDESTICK: "....x.......x..."},
        "3": {KICK: "x...........", TAMBOURINE: "....x...x..."},
    },
    "cinematic": {
        "4": {KICK: "x.......x..x....", SNARE: "........x.......", TOMS[3]: "......x.......x."},
        "3": {KICK: "x.......x...", TOMS[3]: "....x.......", SNARE: "........x..."},
    },
}


@dataclass(frozen=True)
class Genre:
    """One style: what plays, how it grooves, how fast, which progressions it favours.

    ``tempo`` is the BPM range that arousal moves through; ``comping``/``bass_style`` name the accompaniment
    writers in the composer; ``drums`` names a groove in :data:`DRUM_PATTERNS` (None: no drums) and
    ``drum_min_arousal`` the arousal below which the drummer sits out; ``density`` is the melody's notes per beat
    at neutral arousal; ``swing`` 0..1 delays off-beat eighths towards the triplet; ``harmonic_rhythm`` is bars per
    chord; ``reverb`` the GM reverb send (CC 91).
    """

    name: str
    tempo: tuple[int, int]
    melody: tuple[int, ...]
    chords: tuple[int, ...]
    bass: tuple[int, ...]
    major: tuple[str, ...]
    minor: tuple[str, ...]
    pad: tuple[int, ...] = ()
    arp: tuple[int, ...] = ()
    comping: str = "block"
    bass_style: str = "root"
    drums: str | None = None
    drum_min_arousal: float = -1.0
    density: float = 1.0
    swing: float = 0.0
    meters: tuple[int, ...] = (4,)
    harmonic_rhythm: int = 1
    reverb: int = 40
    cadence: str = "V"
    final: str = ""


GENRE_TEMPLATES: dict[str, Genre] = {
    "pop": Genre(
        "pop", (78, 128), melody=(0, 4, 73, 11, 81, 27), chords=(0, 4, 25, 27), bass=(33, 34),
        pad=(48, 89, 50), comping="block", bass_style="pop", drums="pop", density=1.1, reverb=45,
        major=("I V vi IV", "vi IV I V", "I IV vi V", "I vi IV V", "IV I V vi"),
        minor=("i bVI bIII bVII", "i iv bVI V", "i bVII bVI bVII", "bVI bVII i i"),
    ),
    "rock": Genre(
        "rock", (92, 150), melody=(29, 30, 27, 18, 81), chords=(30, 29, 18), bass=(34, 33), comping="power",
        bass_style="eighths", drums="rock", density=1.2, reverb=30, cadence="V",
        major=("I IV V IV", "I bVII IV I", "I V IV IV", "I IV I V", "IV I V V"),
        minor=("i bVII bVI bVII", "i bVI bVII i", "i iv v i", "i bIII bVII iv"),
    ),
    "ambient": Genre(
        "ambient", (56, 88), melody=(8, 11, 10, 73, 0, 91, 9), chords=(89, 94, 88, 90, 95, 49), bass=(35, 42, 89),
        arp=(46, 0, 11, 8), comping="pad", bass_style="pedal", density=0.45, harmonic_rhythm=2, reverb=110,
        cadence="IV", major=("Imaj7 IVmaj7", "I iii", "Iadd9 vi", "IV I", "I V"),
        minor=("i bVI", "i iv", "isus2 bVImaj7", "i bVII", "i v"),
    ),
    "cinematic": Genre(
        "cinematic", (60, 132), melody=(60, 48, 40, 42, 56, 73, 68, 52), chords=(48, 49, 61, 52), bass=(43, 42, 58),
        arp=(46, 45, 0), comping="pad", bass_style="pedal", drums="cinematic", drum_min_arousal=0.3, density=0.8,
        meters=(4, 4, 3), reverb=95,
        major=("I V vi IV", "I bVI bVII I", "vi IV I V", "I iii IV iv", "IV V iii vi"),
        minor=("i bVI bIII bVII", "i bVI iv V", "i iv bVI V", "i bVII bVI V", "i bIII bVI bVII"),
    ),
    "jazz": Genre(
        "jazz", (84, 176), melody=(66, 65, 56, 11, 0, 59, 71), chords=(0, 4, 26), bass=(32,), comping="comp",
        bass_style="walking", drums="jazz", density=1.4, swing=1.0, meters=(4, 4, 3), reverb=40, cadence="V7",
        final="maj7",
        major=("ii7 V7 Imaj7 vi7", "Imaj7 vi7 ii7 V7", "iii7 vi7 ii7 V7", "Imaj7 IV7 iii7 VI7", "ii7 V7 iii7 VI7"),
        minor=("iiø7 V7 i7 i7", "i7 iv7 bVII7 bIIImaj7", "i7 bVImaj7 iiø7 V7", "i7 iv7 iiø7 V7"),
    ),
    "electronic": Genre(
        "electronic", (112, 140), melody=(80, 81, 82, 62, 4), chords=(90, 50, 62, 81), bass=(38, 39),
        pad=(89, 94, 90), comping="stab", bass_style="octaves", drums="electronic", density=1.5, reverb=60,
        major=("vi IV I V", "I V vi IV", "IV V vi vi", "I iii vi IV"),
        minor=("i bVI bIII bVII", "i bVII bVI bVII", "i iv bVI bVII", "i bVI bVII v"),
    ),
    "lofi": Genre(
        "lofi", (64, 92), melody=(4, 11, 26, 73, 59), chords=(4, 5, 0), bass=(33, 32, 35), comping="lazy",
        bass_style="lazy", drums="lofi", density=0.8, swing=0.6, reverb=55, cadence="V7", final="maj7",
        major=("IVmaj7 iii7 ii7 Imaj7", "ii7 V7 Imaj7 vi7", "Imaj7 vi7 ii7 V7", "Imaj7 iii7 IVmaj7 iv7"),
        minor=("i7 iv7 i7 bVImaj7", "iiø7 V7 i7 i7", "i7 bVImaj7 bVII7 i7", "i7 iv7 bVII7 bIIImaj7"),
    ),
    "folk": Genre(
        "folk", (84, 138), melody=(40, 73, 74, 21, 22, 78, 105, 75), chords=(25, 24, 21, 105), bass=(32,),
        comping="strum", bass_style="boom", drums="folk", drum_min_arousal=0.0, density=1.3, meters=(4, 3),
        reverb=45, cadence="V",
        major=("I IV I V", "I V IV I", "I IV V I", "I vi IV V", "I bVII IV I"),
        minor=("i bVII i v", "i iv i V", "i bIII bVII i", "i bVII bVI bVII"),
    ),
}  # fmt: skip
GENRES = GENRE_TEMPLATES  # the earlier name (not the style vocabulary's: audiogen.conditioning.styles.GENRE_TAGS)

# Progressions used instead of the genre's habits when a piece is tense (chromatic, diminished, Neapolitan).
TENSE_PROGRESSIONS: tuple[str, ...] = ("i bII bVI V", "i bVI ii° V", "i vii° i bII", "i #iv° V i", "i bII i vii°")
