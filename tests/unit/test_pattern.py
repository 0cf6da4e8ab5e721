"""The bounded policy-pattern matcher: the same answers as a regular-expression engine, in
steps that do not grow with the pattern's ambiguity, and "undecided" where it cannot tell.

Python's ``re`` is the oracle for the syntax it shares with PCRE, on ASCII subjects short
enough that its backtracking cannot run away. Where PCRE differs from Python (Latin-1 word
characters, ``^`` after a final newline, ``\\B`` on an empty name) the expected answers are
PCRE's, and tests/integration/test_policy_patterns.py checks those against the real broker.
"""

from __future__ import annotations

import random
import re

import pytest

from visualiser.model.pattern import MAX_PROGRAM, STEP_LIMIT, Outcome, search

SEED = 20261201
ATOMS = ("a", "b", ".", "[ab]", "[^a]", r"\.", r"\d", r"\w", r"\s", "x", r"\n", "[a-c]", r"\W", "[[:digit:]_]")
ASSERTIONS = ("^", "$", r"\b", r"\A", r"\z")
QUANTIFIERS = ("*", "+", "?", "{2}", "{1,2}", "{0,}", "*?", "+?", "??", "{2,}", "{0,3}?")


def generated(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice(ATOMS)
    if roll < 0.55:
        return "".join(generated(rng, depth + 1) for _ in range(rng.randint(1, 3)))
    if roll < 0.7:
        return "(" + "|".join(generated(rng, depth + 1) for _ in range(rng.randint(2, 3))) + ")"
    if roll < 0.78:
        return rng.choice(ASSERTIONS) + generated(rng, depth + 1)
    return "(?:" + generated(rng, depth + 1) + ")" + rng.choice(QUANTIFIERS)


def python_pattern(pattern: str) -> str:
    return pattern.replace(r"\z", r"\Z").replace("[[:digit:]_]", r"[\d_]")  # Python spells these differently


def test_agrees_with_a_regular_expression_engine_on_generated_patterns() -> None:
    rng = random.Random(SEED)
    compared = 0
    for _ in range(1500):
        pattern = generated(rng)
        oracle = re.compile(python_pattern(pattern).encode())
        for _ in range(4):
            subject = "".join(rng.choice("ab.x \n1_") for _ in range(rng.randint(1, 7)))
            verdict = search(pattern, subject)
            if verdict.outcome is Outcome.UNDECIDED:
                assert "backtracking steps" in verdict.reason, (pattern, subject, verdict)
                continue
            expected = oracle.search(subject.encode()) is not None
            assert (verdict.outcome is Outcome.MATCH) is expected, (pattern, subject, verdict)
            compared += 1
    assert compared > 5000


# (pattern, name, matches?) where PCRE, as RabbitMQ runs it, is the reference.
PCRE_SEMANTICS = [
    ("a$", "a\n", True),  # $ also matches before a final newline
    ("a$", "a\n\n", False),
    (r"a\Z", "a\n", True),
    (r"a\z", "a\n", False),
    ("(?m)^b", "a\nb", True),
    ("(?m)\n^", "a\n", False),  # multiline ^ does not match after a newline that ends the name
    (r"^\B$", "", True),  # no word boundary in an empty name
    (r"^\w", "é", True),  # 0xC3 is a Latin-1 letter in OTP's tables
    (r"^\w\w$", "é", False),  # 0xA9 (©) is not
    ("^é$", "é", True),  # multi-byte literals are byte sequences
    ("(?i)^ORDERS$", "orders", True),
    ("(?i)^É$", "é", False),  # bytes C3 89 against C3 A9: 0x89 and 0xA9 are not letters, no case folding
    ("(?i:a)B", "Ab", False),  # the option ends with its group
    ("(a(?i)b)c", "aBc", True),
    (r"[\d-z]", "-", True),  # '-' next to a class is literal
    (r"x\Q.*\E", "x.*", True),
    (r"\x41\x{41}\cA\0101", "AA\x01\x081", True),
    ("[]a]", "]", True),
    ("a{2}{", "aa{", True),  # '{' that is no quantifier is a literal
    ("(?#comment)a", "a", True),
    ("(?<name>a)|(?P<other>b)", "b", True),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), PCRE_SEMANTICS)
def test_pcre_semantics(pattern: str, name: str, expected: bool) -> None:
    assert search(pattern, name).outcome is (Outcome.MATCH if expected else Outcome.NO_MATCH)


@pytest.mark.parametrize("pattern", [
    r"(a)\1", "(?=a)", "(?!a)", "(?<=a)b", "(?>a)", "a++", r"\p{L}", "(?x) a", "(?(1)a|b)", "(?R)", "(*UTF8)a",
    "a{,3}", "[[:ascii:]]", "(", "a)", "[a", "*a", "a{3,2}", "a{70000}", "(?:a{100}){100}", r"\g1", "\\",
])  # fmt: skip
def test_what_it_cannot_evaluate_is_undecided_with_a_reason(pattern: str) -> None:
    verdict = search(pattern, "aaa")
    assert verdict.outcome is Outcome.UNDECIDED
    assert "does not evaluate" in verdict.reason


@pytest.mark.parametrize("pattern", ["^(a+)+$", "^(a|a)*$", "^(a|aa)*$", r"^(\w+\s?)*$", "^(.*a){12}$"])
def test_catastrophic_patterns_cost_one_step_per_byte_when_nothing_matches(pattern: str) -> None:
    name = "a" * 250 + "!"
    verdict = search(pattern, name)
    assert verdict.outcome is Outcome.NO_MATCH
    assert verdict.steps == len(name.encode()) + 1  # one DFA transition per byte, plus the end


@pytest.mark.parametrize("pattern", ["(a+)+$|!", "^(a|a)*b|c", "(a|aa)*$|!"])
def test_a_match_reached_only_through_exponential_backtracking_is_undecided(pattern: str) -> None:
    name = "a" * 60 + ("c" if "c" in pattern else "!")
    verdict = search(pattern, name)
    assert verdict.outcome is Outcome.UNDECIDED
    assert verdict.backtracked == STEP_LIMIT + 1
    assert "may give up" in verdict.reason


def test_repeats_are_expanded_within_a_bound() -> None:
    assert search("^a{4000}$", "a" * 4000).outcome is Outcome.MATCH
    too_large = search(f"^a{{{MAX_PROGRAM + 1}}}$", "a")
    assert too_large.outcome is Outcome.UNDECIDED and "instructions" in too_large.reason


def test_many_distinct_names_keep_memory_bounded() -> None:
    """The DFA's state cache starts again past its cap; answers stay exact."""
    rng = random.Random(SEED)
    pattern = r"^(x|y|z)*(xy|yz)+[xyz]{3}$"
    oracle = re.compile(pattern.encode())
    for _ in range(300):
        name = "".join(rng.choice("xyz") for _ in range(rng.randint(5, 60)))
        expected = oracle.search(name.encode()) is not None
        assert (search(pattern, name).outcome is Outcome.MATCH) is expected, name
