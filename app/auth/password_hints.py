"""zxcvbn's password feedback in the page's language.

zxcvbn writes its warnings and suggestions in English only (it marks them for gettext but ships
no catalogue). Its texts are a fixed set, marked below for extraction (zxcvbn 4.5.0's
`feedback.py`), so the catalogue translates them like every other text; a hint is looked up by
its English text, and one that zxcvbn adds later passes through unchanged.
"""
from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

MARKED = (
    _l('A word by itself is easy to guess.'),
    _l('Add another word or two. Uncommon words are better.'),
    _l('All-uppercase is almost as easy to guess as all-lowercase.'),
    _l('Avoid dates and years that are associated with you.'),
    _l('Avoid recent years.'),
    _l('Avoid repeated words and characters.'),
    _l('Avoid sequences.'),
    _l('Avoid years that are associated with you.'),
    _l("Capitalization doesn't help very much."),
    _l('Common names and surnames are easy to guess.'),
    _l('Dates are often easy to guess.'),
    _l('Names and surnames by themselves are easy to guess.'),
    _l('No need for symbols, digits, or uppercase letters.'),
    _l("Predictable substitutions like '@' instead of 'a' don't help very much."),
    _l('Recent years are easy to guess.'),
    _l('Repeats like "aaa" are easy to guess.'),
    _l('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    _l("Reversed words aren't much harder to guess."),
    _l('Sequences like "abc" or "6543" are easy to guess.'),
    _l('Short keyboard patterns are easy to guess.'),
    _l('Straight rows of keys are easy to guess.'),
    _l('This is a top-10 common password.'),
    _l('This is a top-100 common password.'),
    _l('This is a very common password.'),
    _l('This is similar to a commonly used password.'),
    _l('Use a few words, avoid common phrases.'),
    _l('Use a longer keyboard pattern with more turns.'),
)


def translated(hint: str) -> str:
    """Return zxcvbn's hint in the current language (an unknown hint unchanged)."""
    return gettext(hint) if hint else hint
