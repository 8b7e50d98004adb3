"""Caption templates per class. The ``heldout`` templates never appear in training; they test whether the text
path generalises to new phrasings of known sounds."""

from __future__ import annotations

import numpy as np

# {adj} comes from the class's adjective list; other slots come from the scene's attributes.
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "impact_wood": {
        "train": [
            "a wooden {obj} dropped on the floor",
            "{adj} knocks of a wooden {obj} bouncing",
            "wood hitting the ground, a {obj} falls and bounces",
            "the {adj} thud of a wooden {obj} landing",
            "someone drops a {obj} made of wood",
            "wooden {obj} clattering on the floor",
        ],
        "heldout": ["{adj} impacts as a wooden {obj} is dropped", "a {obj} of wood bounces a few times"],
        "adj": ["dull", "hollow", "soft", "loud", "short"],
    },
    "impact_metal": {
        "train": [
            "a metal {obj} dropped on the floor",
            "{adj} clangs of a metal {obj} bouncing",
            "metal hitting the ground, a {obj} falls and rings",
            "the {adj} clang of a metal {obj} landing",
            "someone drops a {obj} made of metal",
            "metal {obj} clanking on the floor",
        ],
        "heldout": [
            "{adj} ringing impacts as a metal {obj} is dropped",
            "a {obj} of metal bounces and rings",
        ],
        "adj": ["ringing", "bright", "heavy", "loud", "resonant"],
    },
    "impact_glass": {
        "train": [
            "a glass {obj} dropped on the floor",
            "{adj} clinks of a glass {obj} bouncing",
            "glass hitting the ground, a {obj} falls without breaking",
            "the {adj} clink of a glass {obj} landing",
            "someone drops a {obj} made of glass",
            "glass {obj} tapping on the floor",
        ],
        "heldout": ["{adj} glassy impacts as a {obj} is dropped", "a {obj} of glass bounces and clinks"],
        "adj": ["delicate", "bright", "high", "tiny", "clear"],
    },
    "footsteps_wood": {
        "train": [
            "footsteps on a wooden floor",
            "a person walking on {adj} wooden boards",
            "{adj} steps on wood",
            "someone walks across a wood floor",
            "shoes on a creaky wooden floor",
        ],
        "heldout": [
            "a figure crossing the room, footsteps on wood",
            "walking footsteps over {adj} floorboards of wood",
        ],
        "adj": ["hollow", "creaky", "heavy", "slow", "quick"],
    },
    "footsteps_gravel": {
        "train": [
            "footsteps on gravel",
            "a person walking on {adj} gravel",
            "{adj} crunchy steps on gravel",
            "someone walks along a gravel path",
            "boots crunching on gravel",
        ],
        "heldout": [
            "a figure crossing a yard, footsteps on gravel",
            "walking footsteps over {adj} loose gravel",
        ],
        "adj": ["loose", "crunchy", "coarse", "heavy", "quick"],
    },
    "footsteps_snow": {
        "train": [
            "footsteps in snow",
            "a person walking through {adj} snow",
            "{adj} crunching steps in snow",
            "someone walks across fresh snow",
            "boots squeaking in snow",
        ],
        "heldout": [
            "a figure crossing a field, footsteps in snow",
            "walking footsteps over {adj} packed snow",
        ],
        "adj": ["fresh", "deep", "powdery", "crisp", "soft"],
    },
    "door": {
        "train": [
            "a door {action}",
            "a wooden door {action} {adj}",
            "someone {verb} a door",
            "the sound of a door {action}",
            "{adj} door {action} in a room",
        ],
        "heldout": ["a person {verb} the door of a room", "door {action}, {adj}"],
        "adj": ["slowly", "loudly", "quietly", "firmly", "suddenly"],
    },
    "cloth_rustle": {
        "train": [
            "cloth rustling",
            "{adj} rustle of fabric",
            "someone shaking a piece of cloth",
            "fabric moving and rustling",
            "clothes rustling {adj}",
        ],
        "heldout": ["a sheet of fabric being handled, {adj} rustling", "the rustle of cloth as it is shaken"],
        "adj": ["soft", "gentle", "quick", "busy", "light"],
    },
    "paper_crumple": {
        "train": [
            "paper being crumpled",
            "{adj} crumpling of a sheet of paper",
            "someone crumples paper",
            "crinkling paper in hands",
            "a paper ball being squeezed",
        ],
        "heldout": ["hands crushing a sheet of paper, {adj} crinkles", "the crackle of crumpled paper"],
        "adj": ["crisp", "noisy", "dry", "quick", "slow"],
    },
    "switch_click": {
        "train": [
            "a {obj} clicking",
            "{adj} clicks of a {obj}",
            "someone flips a {obj}",
            "a {obj} turned on and off",
            "the click of a {obj}",
        ],
        "heldout": ["{adj} clicking as a lamp {obj} is pressed", "a {obj} toggling the light, click"],
        "adj": ["sharp", "small", "plastic", "crisp", "quiet"],
    },
    "rain": {
        "train": [
            "{adj} rain falling",
            "rain pouring down",
            "the sound of {adj} rainfall",
            "raindrops hitting the ground",
            "a rain shower",
        ],
        "heldout": ["{adj} rain outside, drops everywhere", "rainfall on a street at night"],
        "adj": ["heavy", "light", "steady", "soft", "drizzling"],
    },
    "wind": {
        "train": [
            "{adj} wind blowing",
            "wind blowing through grass",
            "the sound of {adj} wind",
            "a gust of wind",
            "wind howling outside",
        ],
        "heldout": ["{adj} wind sweeping over a meadow", "blowing wind with leaves flying"],
        "adj": ["gusty", "strong", "steady", "cold", "whistling"],
    },
    "fire": {
        "train": [
            "a fire {adj}",
            "crackling fire",
            "the sound of a campfire burning",
            "flames burning and popping",
            "{adj} fire with sparks",
        ],
        "heldout": ["wood burning in a fire, {adj}", "a burning fire popping with sparks"],
        "adj": ["crackling", "roaring", "burning", "warm", "popping"],
    },
    "water": {
        "train": [
            "water {action}",
            "the sound of water {action}",
            "{adj} water {action}",
            "someone {verb} water",
            "water {action} in a quiet room",
        ],
        "heldout": ["{adj} sounds of water {action}", "a person {verb} some water"],
        "adj": ["gentle", "bubbly", "wet", "quick", "soft"],
    },
    "engine": {
        "train": [
            "a car engine {action}",
            "{adj} engine {action}",
            "the sound of a motor {action}",
            "a vehicle engine with changing rpm",
            "an engine {action} {adj}",
        ],
        "heldout": ["a motor car {action}, {adj} engine", "engine noise of a car {action}"],
        "adj": ["loud", "rumbling", "powerful", "deep", "growling"],
    },
    "whoosh": {
        "train": [
            "a {adj} whoosh",
            "something swinging fast through the air",
            "whoosh of an object flying past",
            "{adj} swishes through the air",
            "a fast swoosh",
        ],
        "heldout": ["an object passing by quickly with a {adj} whoosh", "the swish of something swung fast"],
        "adj": ["fast", "sharp", "airy", "quick", "short"],
    },
    "bell_chime": {
        "train": [
            "a {kind} ringing",
            "{adj} {kind} sound",
            "someone strikes a {kind}",
            "the ring of a swinging {kind}",
            "a {kind} ringing {adj}",
        ],
        "heldout": ["a {adj} {kind} struck repeatedly", "ringing of a {kind} in the distance"],
        "adj": ["clear", "bright", "deep", "resonant", "soft"],
    },
    "glass_break": {
        "train": [
            "glass breaking",
            "a window shattering",
            "{adj} sound of breaking glass",
            "a ball smashes a pane of glass",
            "glass shattering into pieces",
        ],
        "heldout": ["a pane of glass is smashed, {adj} shards falling", "breaking glass and falling shards"],
        "adj": ["loud", "sharp", "sudden", "violent", "crisp"],
    },
}

VERBS = {
    "opening": "opens",
    "closing": "closes",
    "slamming": "slams",
    "pouring": "pours",
    "splashing": "splashes",
    "driving past": "drives",
    "revving": "revs",
}


def make_caption(
    rng: np.random.Generator, label: str, attrs: dict[str, str], heldout: bool
) -> tuple[str, int]:
    """A caption from the train or held-out templates; returns the text and the template index."""
    spec = TEMPLATES[label]
    pool = spec["heldout"] if heldout else spec["train"]
    k = int(rng.integers(len(pool)))
    slots = {"adj": str(rng.choice(spec["adj"])), "obj": "object", "kind": "bell", "action": "", "verb": ""}
    slots.update(attrs)
    if slots["action"]:
        slots["verb"] = VERBS.get(slots["action"], slots["action"])
    text = pool[k].format(**slots)
    return " ".join(text.split()), k


# the values the scenes give each class's slots (scenes_events / scenes_textures), for enumerating captions
SLOT_VALUES: dict[str, dict[str, list[str]]] = {
    "impact_wood": {"obj": ["block", "plank", "log"]},
    "impact_metal": {"obj": ["pipe", "pan", "can"]},
    "impact_glass": {"obj": ["jar", "bottle", "cup"]},
    "switch_click": {"obj": ["light switch", "push button"]},
    "bell_chime": {"kind": ["bell", "chime"]},
    "door": {"action": ["opening", "closing", "slamming"]},
    "water": {"action": ["pouring", "splashing"]},
    "engine": {"action": ["driving past", "revving"]},
}


def enumerate_template_captions(which: str) -> dict[str, set[str]]:
    """Every caption the ``which`` ("train" or "heldout") templates can make, per class."""
    import itertools

    out: dict[str, set[str]] = {}
    for label, spec in TEMPLATES.items():
        values = SLOT_VALUES.get(label, {})
        names = sorted(values)
        texts: set[str] = set()
        for template in spec[which]:
            for adj in spec["adj"]:
                for combo in itertools.product(*(values[n] for n in names)):
                    slots = {"adj": adj, "obj": "object", "kind": "bell", "action": "", "verb": ""}
                    slots.update(dict(zip(names, combo, strict=True)))
                    if slots["action"]:
                        slots["verb"] = VERBS.get(slots["action"], slots["action"])
                    texts.add(" ".join(template.format(**slots).split()))
        out[label] = texts
    return out
