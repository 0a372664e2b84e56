"""Numerals in English and Chinese, for reading filters ("last seven days", "超过五分钟") and comparing facts.

Usage: `zh_number("二十五")` -> 25.0, `en_number("five")` -> 5.0, `EN_NUMBERS["nine"]` -> 9.
"""

from __future__ import annotations

import re

EN_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
EN_NUMBERS.update({w: 20 + 10 * i for i, w in enumerate(_TENS)})
ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}


def zh_number(text: str) -> float | None:
    """A Chinese (or Arabic) numeral: `zh_number("二十五")` -> 25, `zh_number("半")` -> 0.5."""
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if text == "半":
        return 0.5
    total, current = 0, 0
    for ch in text:
        if ch in ZH_DIGITS:
            current = ZH_DIGITS[ch]
        elif ch in _ZH_UNITS:
            total += (current or 1) * _ZH_UNITS[ch]
            current = 0
        else:
            return None
    return float(total + current) if text else None


def en_number(text: str) -> float | None:
    """An English numeral: `en_number("five")` -> 5, `en_number("a")` -> 1, `en_number("half an")` -> 0.5."""
    text = text.lower().strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if text in ("a", "an"):
        return 1.0
    if text.startswith("half"):
        return 0.5
    return float(EN_NUMBERS[text]) if text in EN_NUMBERS else None
