"""Many training phrasings per class for the text encoder (issue 17): a lexicon of synonyms per class (sources,
actions, sound words, adjectives) poured into sentence shapes that vary the word order, plus light noise
(a dropped word, a made-up word, swapped clauses) so that the encoder learns to rely on the words that name
the sound and to shrug off words it has never seen.

The hand-written held-out phrasings (``heldout_phrasings.py``) are never drawn from here; ``producible``
says whether a text can come out of these templates (before the noise), which the tests use to keep the two
apart. The corpus's own caption templates (``captions.py``) stay as they are: the pool's captions and the
held-out evaluation set's captions come from those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class Lexicon:
    nouns: tuple[str, ...]  # the source, with its determiner where English wants one
    actions: tuple[str, ...]  # what happens to it ("dropped on the floor", "falling")
    sounds: tuple[str, ...]  # a sound word, singular ("thud")
    adjs: tuple[str, ...]


def _lex(nouns: str, actions: str, sounds: str, adjs: str) -> Lexicon:
    def split(s: str) -> tuple[str, ...]:
        return tuple(w.strip() for w in s.split("|") if w.strip())

    return Lexicon(split(nouns), split(actions), split(sounds), split(adjs))


LEXICON: dict[str, Lexicon] = {
    "impact_wood": _lex(
        "a wooden block|a block of wood|a plank|a wooden plank|a log|a piece of wood|a wooden stick"
        "|a wooden toy|a wooden board|a chunk of wood|a wooden object",
        "dropped on the floor|falling on the floor|hitting the ground|bouncing on the floor|landing"
        "|falling down|dropped|knocked to the floor|bouncing a few times",
        "thud|knock|clunk|clack|thump|bump",
        "dull|hollow|soft|loud|short|woody|heavy",
    ),
    "impact_metal": _lex(
        "a metal pipe|a metal pan|a metal can|a pipe|a pan|a can|a piece of metal|a metal rod"
        "|a metal object|a metal bucket|a metal plate",
        "dropped on the floor|falling on the floor|hitting the ground|bouncing on the floor|landing"
        "|falling down|dropped|knocked to the floor|ringing after it lands",
        "clang|clank|ring|bang|clatter|ding",
        "ringing|bright|heavy|loud|resonant|metallic|harsh",
    ),
    "impact_glass": _lex(
        "a glass jar|a glass bottle|a glass cup|a jar|a bottle|a cup made of glass|a glass object"
        "|a small glass|a glass bowl",
        "dropped on the floor without breaking|falling on the floor|bouncing on the floor|landing"
        "|tapping the floor|dropped but not broken|bouncing without breaking|rolling after it lands",
        "clink|tap|tink|chink|click",
        "delicate|bright|high|tiny|clear|glassy|light",
    ),
    "footsteps_wood": _lex(
        "a person|someone|a man|a woman|a walker|footsteps|shoes|feet",
        "walking on a wooden floor|walking on wood|stepping on wooden boards|walking across floorboards"
        "|walking on a wood floor|on a creaky wooden floor|crossing a wooden floor|stepping on planks",
        "step|footstep|creak|knock|tap",
        "hollow|creaky|heavy|slow|quick|steady|light",
    ),
    "footsteps_gravel": _lex(
        "a person|someone|a man|a woman|a walker|footsteps|shoes|feet|boots",
        "walking on gravel|stepping on gravel|walking along a gravel path|crunching on gravel"
        "|walking over gravel|crossing a gravel road|walking on a gravel path",
        "crunch|step|footstep|scrape",
        "loose|crunchy|coarse|heavy|quick|slow|gritty",
    ),
    "footsteps_snow": _lex(
        "a person|someone|a man|a woman|a walker|footsteps|shoes|feet|boots",
        "walking in snow|stepping through snow|walking across fresh snow|crunching in snow"
        "|squeaking in snow|walking through deep snow|walking on snow",
        "crunch|squeak|step|footstep",
        "fresh|deep|powdery|crisp|soft|cold|slow",
    ),
    "door": _lex(
        "a door|the door|a wooden door|a room door|a house door|a heavy door",
        "opening|closing|slamming|being opened|being closed|slammed shut|swinging open|shutting"
        "|opened and closed",
        "creak|slam|bang|click|thud",
        "slowly|loudly|quietly|firmly|suddenly|gently|hard",
    ),
    "cloth_rustle": _lex(
        "cloth|fabric|clothes|a piece of cloth|a blanket|a sheet of fabric|a cloth|clothing",
        "rustling|being shaken|moving|being handled|being folded|flapping|rubbing",
        "rustle|swish|flutter",
        "soft|gentle|quick|busy|light|dry|papery",
    ),
    "paper_crumple": _lex(
        "paper|a sheet of paper|a paper ball|a piece of paper|a page|some paper|a paper sheet",
        "being crumpled|crumpling|being squeezed|being crushed|crinkling|being scrunched up"
        "|crumpled in hands",
        "crinkle|crackle|crumple|rustle",
        "crisp|noisy|dry|quick|slow|loud|sharp",
    ),
    "switch_click": _lex(
        "a light switch|a switch|a push button|a button|a wall switch|a power switch|a toggle",
        "clicking|being flipped|turned on and off|being pressed|switched on|switched off"
        "|flicked on and off|clicking on",
        "click|clack|tick|snap",
        "sharp|small|plastic|crisp|quiet|short|dry",
    ),
    "rain": _lex(
        "rain|the rain|rainfall|raindrops|a rain shower|rainwater|a shower of rain",
        "falling|pouring down|hitting the ground|pattering|coming down|falling outside|falling on leaves",
        "patter|hiss|splatter",
        "heavy|light|steady|soft|drizzling|constant|wet",
    ),
    "wind": _lex(
        "wind|the wind|a gust of wind|gusts of wind|strong wind|an air current|a gust",
        "blowing|howling|blowing through grass|blowing outside|rushing by|whistling|blowing through trees"
        "|sweeping past",
        "whoosh|howl|rumble|whistle|roar",
        "gusty|strong|steady|cold|whistling|windy|low",
    ),
    "fire": _lex(
        "a fire|fire|a campfire|flames|a wood fire|burning wood|a fireplace fire",
        "crackling|burning|popping|burning with sparks|roaring|crackling and popping",
        "crackle|pop|hiss|roar",
        "crackling|roaring|burning|warm|popping|hot|lively",
    ),
    "water": _lex(
        "water|some water|the water|a stream of water|a cup of water",
        "pouring|splashing|being poured|being splashed|running|trickling|pouring into a glass"
        "|splashing in a bowl",
        "splash|gurgle|trickle|slosh|bubbling",
        "gentle|bubbly|wet|quick|soft|liquid|splashy",
    ),
    "engine": _lex(
        "a car engine|an engine|a motor|a car|a vehicle|a vehicle engine|a car motor|an automobile",
        "running|revving|driving past|idling|accelerating|passing by|with changing rpm|starting up",
        "rumble|roar|growl|hum|whine",
        "loud|rumbling|powerful|deep|growling|noisy|low",
    ),
    "whoosh": _lex(
        "a stick|an object|something|a rod|a pole|a thrown object|a fast object|a branch",
        "swinging fast through the air|flying past|swung quickly|passing by fast|cutting through the air"
        "|moving fast through the air|swept through the air",
        "whoosh|swish|swoosh|woosh",
        "fast|sharp|airy|quick|short|rushing|swift",
    ),
    "bell_chime": _lex(
        "a bell|a chime|a small bell|a metal bell|chimes|a bell chime|a ringing bell",
        "ringing|being struck|swinging and ringing|ringing out|struck once|ringing repeatedly",
        "ring|ding|dong|chime|tone",
        "clear|bright|deep|resonant|soft|musical|pure",
    ),
    "glass_break": _lex(
        "glass|a window|a pane of glass|a glass pane|a glass sheet|a glass window",
        "breaking|shattering|smashing|being smashed|breaking into pieces|shattering into pieces"
        "|cracking and shattering",
        "crash|shatter|smash|crack",
        "loud|sharp|sudden|violent|crisp|harsh|explosive",
    ),
}

# {n}: noun, {b}: noun without its determiner, {a}: action, {s}: sound word, {j}: adjective
SHAPES: tuple[str, ...] = (
    "{n} {a}",
    "the sound of {n} {a}",
    "{j} {s} of {n} {a}",
    "{n} {a}, {j} {s}",
    "{j} {s}, {b} {a}",
    "{s} of {n}",
    "{b} {s}",
    "{j} {b} {s}",
    "{j} {s}s as {n} is {a}",
    "sound effect: {b} {a}",
    "{n} {a} in a room",
    "{n} {a} outdoors",
    "{j} {s}",
    "{b}, {a}",
    "{a} {b}",
    "a recording of {n} {a}",
    "listen to {n} {a}",
    "{j} {s}s from {n} {a}",
)
_DETERMINERS = ("a ", "an ", "the ", "some ")


def bare(noun: str) -> str:
    for d in _DETERMINERS:
        if noun.startswith(d):
            return noun[len(d) :]
    return noun


def _tidy(text: str) -> str:
    return " ".join(text.replace(" ,", ",").split())


def paraphrase(rng: np.random.Generator, label: str, noise: float = 0.3) -> str:
    """One training phrasing of ``label``; with probability ``noise``, one light perturbation."""
    lex = LEXICON[label]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    n = lex.nouns[int(rng.integers(len(lex.nouns)))]
    text = _tidy(
        shape.format(
            n=n,
            b=bare(n),
            a=lex.actions[int(rng.integers(len(lex.actions)))],
            s=lex.sounds[int(rng.integers(len(lex.sounds)))],
            j=lex.adjs[int(rng.integers(len(lex.adjs)))],
        )
    )
    if rng.uniform() < noise:
        text = _perturb(rng, text)
    return text


def _perturb(rng: np.random.Generator, text: str) -> str:
    words = text.split()
    kind = int(rng.integers(3))
    if kind == 0 and len(words) > 2:  # drop one word
        del words[int(rng.integers(len(words)))]
    elif kind == 1:  # a word the encoder has never seen: it should not change the class
        letters = "abcdefghijklmnopqrstuvwxyz"
        made_up = "".join(letters[int(i)] for i in rng.integers(0, 26, size=int(rng.integers(3, 9))))
        words.insert(int(rng.integers(len(words) + 1)), made_up)
    elif "," in text:  # swap the clauses around the comma
        head, tail = text.split(",", 1)
        return _tidy(f"{tail.strip()}, {head.strip()}")
    return " ".join(words)


@cache
def _patterns() -> list[re.Pattern[str]]:
    """One regular expression per (class, shape) matching every text that shape can make."""

    def alt(options: tuple[str, ...]) -> str:
        return "(?:" + "|".join(re.escape(o) for o in sorted(set(options), key=len, reverse=True)) + ")"

    pats = []
    for lex in LEXICON.values():
        slots = {
            "n": alt(lex.nouns),
            "b": alt(tuple(bare(n) for n in lex.nouns)),
            "a": alt(lex.actions),
            "s": alt(lex.sounds),
            "j": alt(lex.adjs),
        }
        for shape in SHAPES:
            body = re.escape(shape).replace(r"\{", "{").replace(r"\}", "}")
            pats.append(re.compile(body.format(**slots)))
    return pats


def producible(text: str) -> bool:
    """Whether any class's training shapes can make ``text`` exactly (before any noise)."""
    t = _tidy(text.lower())
    return any(p.fullmatch(t) for p in _patterns())
