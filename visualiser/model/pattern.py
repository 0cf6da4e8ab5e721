"""RabbitMQ policy patterns, matched in bounded time.

RabbitMQ picks a policy with ``re:run(Name, Pattern, [{capture, none}])``: PCRE, searching
(not anchored) the name's bytes, with OTP's Latin-1 character tables and PCRE's match limit
of 10,000,000 steps, past which PCRE gives up and the policy does not apply. Python's ``re``
is a backtracking matcher with no limit and no timeout, and it holds the GIL: ``^(a+)+$``
against ``"a" * 40 + "!"`` froze the whole service. So this module matches patterns itself,
in two passes that are both bounded:

1. **A lazily built DFA** (Thompson's construction; states made on demand, cached per
   pattern) decides the regular-expression question exactly, in time linear in the name
   whatever the pattern: no backtracking, nothing to blow up. "No match" is final, and it
   is the broker's answer too: PCRE cannot find a match that does not exist, and when it
   gives up it reports no match as well.
2. **When the DFA says "match"**, the broker applies the policy only if PCRE finds that
   match before its limit. A backtracking search in PCRE's order, capped at ``STEP_LIMIT``
   steps (a hundredth of PCRE's limit), settles it: found within the cap, PCRE finds it too
   (its optimisations only prune paths); not found, the outcome is ``UNDECIDED``, and the
   caller says so rather than guess.

Why not the alternatives. Evaluating with ``re`` in a subprocess with a deadline costs a
process per question and makes the answer depend on the machine's load (the same file
could give different graphs on two runs). A step-bounded backtracker alone would answer
"could not evaluate" for every hostile name that simply does not match, where the DFA gives
the exact answer. Steps, not seconds, bound everything here, so answers are deterministic.

Supported: the PCRE syntax that policy patterns use. Literals and escapes, ``.``, classes
with ranges, POSIX classes (not ``[:ascii:]``), ``\\d \\w \\s \\h \\v`` (and negations) with
OTP's Latin-1 tables, groups (capturing, named, non-capturing, comments), alternation,
greedy and lazy quantifiers, anchors ``^ $ \\A \\z \\Z \\b \\B``, and the ``i``, ``m`` and ``s``
options. Anything else (back-references, look-around, atomic groups, possessive
quantifiers, recursion, conditionals, Unicode properties, verbs) raises ``PatternError``,
which callers report as "could not evaluate": never a match and never a silent non-match.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

# PCRE's limit is 10,000,000; a match found in a hundredth of that is one PCRE finds too.
STEP_LIMIT = 100_000
MAX_PROGRAM = 5_000  # instructions; x{1000}{1000}-style patterns are refused, not expanded
MAX_DFA_STATES = 2_000  # per pattern; past it the cache starts again (each byte still costs one step)
PCRE_MAX_REPEAT = 65_535


class Outcome(Enum):
    MATCH = "match"
    NO_MATCH = "no match"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""  # why UNDECIDED, in words fit for the page
    steps: int = 0  # work done: DFA transitions plus backtracking steps
    backtracked: int = 0  # of which backtracking (the part that can grow with the pattern's ambiguity)


class PatternError(ValueError):
    """The pattern is outside the supported subset (or is not valid PCRE)."""


# ---- byte sets (an int with bit b set holds byte b), from OTP's Latin-1 PCRE tables --------------


def _bits(*spans: tuple[int, int] | int) -> int:
    mask = 0
    for span in spans:
        lo, hi = span if isinstance(span, tuple) else (span, span)
        mask |= ((1 << (hi - lo + 1)) - 1) << lo
    return mask


ALL = _bits((0, 255))
NEWLINE = 10
DIGIT = _bits((0x30, 0x39))
XDIGIT = DIGIT | _bits((0x41, 0x46), (0x61, 0x66))
UPPER = _bits((0x41, 0x5A), (0xC0, 0xD6), (0xD8, 0xDE))
LOWER = _bits((0x61, 0x7A), 0xB5, (0xDF, 0xF6), (0xF8, 0xFF))
WORD = DIGIT | UPPER | LOWER | _bits(0x5F, 0xAA, 0xBA)
SPACE = _bits((9, 13), 32)  # includes VT, as PCRE 8.34 and later do
HSPACE = _bits(9, 32, 0xA0)
VSPACE = _bits((10, 13), 0x85)
CNTRL = _bits((0, 31), (0x7F, 0x9F))
PRINT = _bits((0x20, 0x7E), (0xA0, 0xFF))
GRAPH = PRINT & ~_bits(0x20)
PUNCT = GRAPH & ~(WORD & ~_bits(0x5F))  # printable, not a letter or digit
POSIX = {
    b"alpha": WORD & ~DIGIT & ~_bits(0x5F), b"alnum": WORD & ~_bits(0x5F), b"digit": DIGIT,
    b"lower": LOWER, b"upper": UPPER, b"space": SPACE, b"blank": _bits(9, 32), b"xdigit": XDIGIT,
    b"word": WORD, b"punct": PUNCT, b"graph": GRAPH, b"print": PRINT, b"cntrl": CNTRL,
}  # fmt: skip
_TYPES = {"d": DIGIT, "w": WORD, "s": SPACE, "h": HSPACE, "v": VSPACE}
_CONTROL_ESCAPES = {"n": 10, "t": 9, "r": 13, "f": 12, "e": 27, "a": 7}


def _flip(byte: int) -> int:
    """The other case of a byte, by OTP's Latin-1 case-flipping table."""
    if 0x41 <= byte <= 0x5A or (0xC0 <= byte <= 0xDE and byte != 0xD7):
        return byte + 32
    if 0x61 <= byte <= 0x7A or (0xE0 <= byte <= 0xFE and byte != 0xF7):
        return byte - 32
    return byte


def _fold(mask: int) -> int:
    folded = mask
    for byte in range(256):
        if mask >> byte & 1:
            folded |= 1 << _flip(byte)
    return folded


# ---- parsing: pattern bytes to a small tree -------------------------------------------------------
# ("set", mask) one byte; ("cat", [..]); ("alt", [..]); ("rep", node, lo, hi|None, greedy);
# ("assert", kind) with kind one of bos, mbol, eos, eosnl, meol, wordb, nwordb.

_QUANTIFIER = re.compile(rb"\{(\d+)(,(\d*))?\}")
_OCTAL = re.compile(rb"[0-7]{0,2}")
_HEX = re.compile(rb"\{([0-9A-Fa-f]+)\}|[0-9A-Fa-f]{0,2}")

Node = tuple[Any, ...]  # see above
Instruction = tuple[Any, ...]  # (opcode, operands…), see the compiler


def _always(found: re.Match[bytes] | None) -> re.Match[bytes]:
    """A match of a pattern that matches the empty string, so always matches."""
    if found is None:
        raise PatternError("an escape this matcher cannot read")
    return found


class _Parser:
    def __init__(self, pattern: bytes):
        self.p, self.i = pattern, 0
        self.caseless = self.multiline = self.dotall = False

    def parse(self) -> Node:
        tree = self._alternation()
        if self.i < len(self.p):
            raise PatternError("an unmatched ')'")
        return tree

    def _peek(self, offset: int = 0) -> int | None:
        at = self.i + offset
        return self.p[at] if at < len(self.p) else None

    def _alternation(self) -> Node:
        branches = [self._sequence()]
        while self._peek() == ord("|"):
            self.i += 1
            branches.append(self._sequence())
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def _sequence(self) -> Node:
        items: list[Node] = []
        while self._peek() is not None and self._peek() not in (ord("|"), ord(")")):
            atom = self._atom()
            if atom is not None:
                items.append(self._quantified(atom))
        return ("cat", items)

    def _atom(self) -> Node | None:
        c = self.p[self.i]
        self.i += 1
        if c == ord("("):
            return self._group()
        if c == ord("["):
            return ("set", self._class())
        if c == ord("."):
            return ("set", ALL if self.dotall else ALL & ~(1 << NEWLINE))
        if c == ord("^"):
            return ("assert", "mbol" if self.multiline else "bos")
        if c == ord("$"):
            return ("assert", "meol" if self.multiline else "eosnl")
        if c == ord("\\"):
            return self._escape()
        if c in b"*+?" or (c == ord("{") and _QUANTIFIER.match(self.p, self.i - 1)):
            raise PatternError("a quantifier with nothing to repeat")
        return self._literal(c)

    def _literal(self, byte: int) -> Node:
        mask = 1 << byte
        return ("set", _fold(mask) if self.caseless else mask)

    def _quantifier(self) -> tuple[int, int | None] | None:
        c = self._peek()
        simple = {ord("*"): (0, None), ord("+"): (1, None), ord("?"): (0, 1)}
        if c in simple:
            self.i += 1
            return simple[c]
        if c != ord("{"):
            return None
        if self.p.startswith(b"{,", self.i):
            raise PatternError("'{,n}' (a literal in PCRE, a quantifier in newer PCRE2)")
        found = _QUANTIFIER.match(self.p, self.i)
        if not found:
            return None  # a literal '{'
        self.i = found.end()
        lo = int(found.group(1))
        hi = lo if found.group(2) is None else (int(found.group(3)) if found.group(3) else None)
        if lo > PCRE_MAX_REPEAT or (hi is not None and hi > PCRE_MAX_REPEAT):
            raise PatternError("a repeat count above 65535")
        if hi is not None and hi < lo:
            raise PatternError("a repeat range out of order")
        return lo, hi

    def _quantified(self, atom: Node) -> Node:
        bounds = self._quantifier()
        if bounds is None:
            return atom
        if atom[0] == "assert":
            raise PatternError("a quantified assertion")
        greedy = True
        if self._peek() == ord("?"):
            greedy, self.i = False, self.i + 1
        elif self._peek() == ord("+"):
            raise PatternError("a possessive quantifier")
        if self._peek() in (ord("*"), ord("+"), ord("?")) or (
            self._peek() == ord("{") and _QUANTIFIER.match(self.p, self.i)
        ):
            raise PatternError("a quantifier with nothing to repeat")
        return ("rep", atom, bounds[0], bounds[1], greedy)

    # -- groups --

    def _group(self) -> Node | None:
        if self._peek() == ord("*"):
            raise PatternError("a (*VERB)")
        if self._peek() != ord("?"):
            return self._group_body()
        self.i += 1
        c = self._peek()
        if c == ord(":"):
            self.i += 1
            return self._group_body()
        if c == ord("#"):
            end = self.p.find(b")", self.i)
            if end < 0:
                raise PatternError("an unterminated comment")
            self.i = end + 1
            return None
        if c == ord("P") and self._peek(1) == ord("<") or c == ord("<") and self._peek(1) not in (ord("="), ord("!")):
            return self._named_group(b">")
        if c == ord("'"):
            return self._named_group(b"'")
        return self._options()

    def _named_group(self, close: bytes) -> Node:
        self.i = self.p.index(b"<" if close == b">" else b"'", self.i) + 1
        found = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*" + re.escape(close)).match(self.p, self.i)
        if not found:
            raise PatternError("a malformed group name")
        self.i = found.end()
        return self._group_body()

    def _options(self) -> Node | None:
        found = re.compile(rb"([A-Za-z]*)(?:-([A-Za-z]*))?([:)])").match(self.p, self.i)
        if not found:
            raise PatternError("look-around, atomic groups, recursion or conditionals")
        on, off, end = found.group(1), found.group(2) or b"", found.group(3)
        unknown = set((on + off).decode()) - set("ims")
        if unknown:
            raise PatternError(f"the option(s) {''.join(sorted(unknown))}")
        self.i = found.end()
        saved = (self.caseless, self.multiline, self.dotall)
        for letters, value in ((on, True), (off, False)):
            for letter in letters.decode():
                self._set_option(letter, value)
        if end == b")":
            return None  # applies to the rest of the enclosing group
        body = self._group_body(keep_options=True)
        self.caseless, self.multiline, self.dotall = saved
        return body

    def _set_option(self, letter: str, value: bool) -> None:
        if letter == "i":
            self.caseless = value
        elif letter == "m":
            self.multiline = value
        else:
            self.dotall = value

    def _group_body(self, keep_options: bool = False) -> Node:
        saved = (self.caseless, self.multiline, self.dotall)
        body = self._alternation()
        if self._peek() != ord(")"):
            raise PatternError("a missing ')'")
        self.i += 1
        if not keep_options:
            self.caseless, self.multiline, self.dotall = saved  # (?i) inside ends with the group
        return body

    # -- escapes and classes --

    def _escape(self) -> Node | None:
        if self._peek() is None:
            raise PatternError("'\\' at the end of the pattern")
        c = chr(self.p[self.i])
        self.i += 1
        if c.lower() in _TYPES:
            mask = _TYPES[c.lower()]
            return ("set", ALL & ~mask if c.isupper() else mask)
        asserts = {"b": "wordb", "B": "nwordb", "A": "bos", "z": "eos", "Z": "eosnl"}
        if c in asserts:
            return ("assert", asserts[c])
        if c == "N" and self._peek() != ord("{"):
            return ("set", ALL & ~(1 << NEWLINE))
        if c == "C":
            return ("set", ALL)
        if c == "Q":
            end = self.p.find(b"\\E", self.i)
            end = len(self.p) if end < 0 else end
            quoted = [self._literal(b) for b in self.p[self.i : end]]
            self.i = min(len(self.p), end + 2)
            return ("cat", quoted)
        if c == "E":
            return None
        byte = self._byte_escape(c)
        if byte is not None:
            return self._literal(byte)
        if c.isalnum():
            raise PatternError(f"the escape \\{c} (back-references, properties and the like)")
        return self._literal(ord(c))

    def _byte_escape(self, c: str) -> int | None:
        """The byte of \\n, \\x41, \\x{41}, \\012, \\cA and the like; None for other escapes."""
        if c in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[c]
        if c == "0":
            digits = _always(_OCTAL.match(self.p, self.i))
            self.i = digits.end()
            return int(digits.group() or b"0", 8)
        if c == "x":
            digits = _always(_HEX.match(self.p, self.i))
            self.i = digits.end()
            value = int(digits.group(1) or digits.group() or b"0", 16)
            if value > 255:
                raise PatternError("a character above \\xff in a byte pattern")
            return value
        if c == "c":
            following = self._peek()
            if following is None or not 32 <= following < 127:
                raise PatternError("a malformed \\c escape")
            self.i += 1
            return ord(chr(following).upper()) ^ 0x40
        return None

    def _class(self) -> int:
        negate = self._peek() == ord("^")
        self.i += negate
        mask, first = 0, True
        while True:
            c = self._peek()
            if c is None:
                raise PatternError("a missing ']'")
            if c == ord("]") and not first:
                self.i += 1
                break
            first = False
            low = self._class_atom()
            if isinstance(low, int) and self._peek() == ord("-") and self._peek(1) not in (None, ord("]")):
                self.i += 1
                high = self._class_atom()
                if not isinstance(high, int):
                    raise PatternError("a range that ends in a class")
                if high < low:
                    raise PatternError("a range out of order")
                mask |= _bits((low, high))
            else:
                mask |= (1 << low) if isinstance(low, int) else low[0]
        if self.caseless:
            mask = _fold(mask)
        return ALL & ~mask if negate else mask

    def _class_atom(self) -> int | tuple[int]:
        """A byte (int), or a set of bytes as a 1-tuple (\\d, [:alpha:])."""
        c = self.p[self.i]
        self.i += 1
        if c == ord("[") and self._peek() in (ord(":"), ord("."), ord("=")):
            found = re.compile(rb":(\^?)([a-z]+):\]").match(self.p, self.i)
            if not found or found.group(2) not in POSIX:
                raise PatternError("a POSIX class other than the supported ones (not [:ascii:], [.x.] or [=x=])")
            self.i = found.end()
            mask = POSIX[found.group(2)]
            return (ALL & ~mask if found.group(1) else mask,)
        if c != ord("\\"):
            return c
        if self._peek() is None:
            raise PatternError("'\\' at the end of the pattern")
        e = chr(self.p[self.i])
        self.i += 1
        if e.lower() in _TYPES:
            mask = _TYPES[e.lower()]
            return (ALL & ~mask if e.isupper() else mask,)
        if e == "b":
            return 8  # backspace, inside a class
        byte = self._byte_escape(e)
        if byte is not None:
            return byte
        if e.isalnum():
            raise PatternError(f"the escape \\{e} inside a class")
        return ord(e)


# ---- compiling the tree to a program ------------------------------------------------------------

BYTE, SPLIT, JMP, ASSERT, MATCH, ENTER, CHECK = range(7)


class _Compiler:
    def __init__(self) -> None:
        self.program: list[list[Any]] = []
        self.loops = 0

    def emit(self, *instruction: object) -> int:
        if len(self.program) >= MAX_PROGRAM:
            raise PatternError(f"more than {MAX_PROGRAM:,} instructions once its repeats are expanded")
        self.program.append(list(instruction))
        return len(self.program) - 1

    def compile(self, node: Node) -> None:
        kind = node[0]
        if kind == "set":
            self.emit(BYTE, node[1])
        elif kind == "assert":
            self.emit(ASSERT, node[1])
        elif kind == "cat":
            for item in node[1]:
                self.compile(item)
        elif kind == "alt":
            self._alternation(node[1])
        else:
            self._repeat(node[1], node[2], node[3], node[4])

    def _alternation(self, branches: list[Node]) -> None:
        jumps = []
        for branch in branches[:-1]:
            split = self.emit(SPLIT, 0, 0)
            self.compile(branch)
            jumps.append(self.emit(JMP, 0))
            self.program[split][1:] = [split + 1, len(self.program)]
        self.compile(branches[-1])
        for jump in jumps:
            self.program[jump][1] = len(self.program)

    def _repeat(self, node: Node, lo: int, hi: int | None, greedy: bool) -> None:
        for _ in range(lo):
            self.compile(node)
        if hi is None:
            loop, register = self.emit(SPLIT, 0, 0), self.loops
            self.loops += 1
            self.emit(ENTER, register)  # an iteration that matches nothing ends the loop, as in PCRE
            self.compile(node)
            self.emit(CHECK, register)
            self.emit(JMP, loop)
            self._order(loop, loop + 1, len(self.program), greedy)
            return
        splits = []
        for _ in range(hi - lo):
            splits.append(self.emit(SPLIT, 0, 0))
            self.compile(node)
        for split in splits:
            self._order(split, split + 1, len(self.program), greedy)

    def _order(self, split: int, body: int, after: int, greedy: bool) -> None:
        self.program[split][1:] = [body, after] if greedy else [after, body]


# ---- context of a position: what assertions look at -----------------------------------------------

START, AFTER_NEWLINE, AFTER_WORD, AFTER_OTHER = range(4)  # what precedes the position
END, LAST_NEWLINE, NEXT_NEWLINE, NEXT_WORD, NEXT_OTHER = range(5)  # what follows it
END_KEY, LAST_NEWLINE_KEY = 512, 256 + NEWLINE  # DFA inputs besides plain bytes


def _before(byte: int | None) -> int:
    if byte is None:
        return START
    return AFTER_NEWLINE if byte == NEWLINE else AFTER_WORD if WORD >> byte & 1 else AFTER_OTHER


def _after(key: int) -> int:
    if key == END_KEY:
        return END
    if key == LAST_NEWLINE_KEY:
        return LAST_NEWLINE
    return NEXT_NEWLINE if key == NEWLINE else NEXT_WORD if WORD >> key & 1 else NEXT_OTHER


def _holds(kind: str, before: int, after: int) -> bool:
    if kind == "bos":
        return before == START
    if kind == "mbol":  # multiline ^: not after a newline that ends the subject
        return before == START or (before == AFTER_NEWLINE and after != END)
    if kind == "eos":
        return after == END
    if kind == "eosnl":  # $ and \Z: the end, or before a newline that ends the subject
        return after in (END, LAST_NEWLINE)
    if kind == "meol":
        return after in (END, LAST_NEWLINE, NEXT_NEWLINE)
    boundary = (before == AFTER_WORD) != (after == NEXT_WORD)
    return boundary if kind == "wordb" else not boundary


def _key(subject: bytes, at: int) -> int:
    byte = subject[at]
    return LAST_NEWLINE_KEY if byte == NEWLINE and at == len(subject) - 1 else byte


# ---- pass 1: the lazy DFA ------------------------------------------------------------------------

_MATCHED, _NOT_MATCHED = -1, -2


class _Dfa:
    """Search (unanchored) by subset construction on demand: one cached transition per byte."""

    def __init__(self, program: list[Instruction]):
        self.program = program
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.ids: dict[tuple[frozenset[int], int], int] = {}
        self.keys: list[tuple[frozenset[int], int]] = []
        self.moves: list[dict[int, int]] = []
        self.start = self._state(frozenset(), START)

    def _state(self, pending: frozenset[int], before: int) -> int:
        key = (pending, before)
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.keys)
            self.keys.append(key)
            self.moves.append({})
        return found

    def search(self, subject: bytes) -> tuple[bool, int]:
        with self.lock:
            state, steps = self.start, 0
            for at in range(len(subject) + 1):
                key = _key(subject, at) if at < len(subject) else END_KEY
                steps += 1
                following = self.moves[state].get(key)
                if following is None:
                    following = self._move(state, key)
                if following == _MATCHED:
                    return True, steps
                state = following
            return False, steps

    def _move(self, state: int, key: int) -> int:
        pending, before = self.keys[state]
        matched, consuming = self._closure(pending | {0}, before, _after(key))  # 0: a match may start here
        if matched:
            result = _MATCHED
        elif key == END_KEY:
            result = _NOT_MATCHED
        else:
            byte = key & 0xFF
            following = frozenset(pc + 1 for pc in consuming if self.program[pc][1] >> byte & 1)
            if len(self.keys) >= MAX_DFA_STATES:
                self._reset()  # bounded memory; the search goes on from an equivalent fresh state
                return self._state(following, _before(byte))
            result = self._state(following, _before(byte))
        self.moves[state][key] = result
        return result

    def _closure(self, pcs: frozenset[int], before: int, after: int) -> tuple[bool, list[int]]:
        program, seen, consuming = self.program, set(), []
        stack = list(pcs)
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            op = program[pc]
            code = op[0]
            if code == BYTE:
                consuming.append(pc)
            elif code == MATCH:
                return True, consuming
            elif code == SPLIT:
                stack.extend((op[1], op[2]))
            elif code == JMP:
                stack.append(op[1])
            elif code == ASSERT:
                if _holds(op[1], before, after):
                    stack.append(pc + 1)
            else:  # ENTER, CHECK: bookkeeping for the backtracker only
                stack.append(pc + 1)
        return False, consuming


# ---- pass 2: PCRE's backtracking order, bounded ---------------------------------------------------


def _backtrack(program: list[Instruction], loops: int, subject: bytes, limit: int) -> tuple[bool | None, int]:
    """(found, steps) searching as PCRE does; found is None when the limit ran out first."""
    end, steps = len(subject), 0
    for start in range(end + 1):
        stack: list[tuple[int, int, tuple[int, ...]]] = [(0, start, (-1,) * loops)]
        while stack:
            pc, at, marks = stack.pop()
            while True:
                steps += 1
                if steps > limit:
                    return None, steps
                op = program[pc]
                code = op[0]
                if code == BYTE:
                    if at < end and op[1] >> subject[at] & 1:
                        pc, at = pc + 1, at + 1
                        continue
                    break
                if code == SPLIT:
                    stack.append((op[2], at, marks))
                    pc = op[1]
                elif code == JMP:
                    pc = op[1]
                elif code == ASSERT:
                    before = _before(subject[at - 1] if at else None)
                    after = _after(_key(subject, at) if at < end else END_KEY)
                    if not _holds(op[1], before, after):
                        break
                    pc += 1
                elif code == ENTER:
                    marks = marks[: op[1]] + (at,) + marks[op[1] + 1 :]
                    pc += 1
                elif code == CHECK:
                    if marks[op[1]] == at:
                        break  # an empty iteration: PCRE stops repeating here
                    pc += 1
                else:
                    return True, steps
    return False, steps


# ---- the entry point -----------------------------------------------------------------------------


@dataclass
class _Compiled:
    program: list[Instruction]
    loops: int
    dfa: _Dfa


@lru_cache(maxsize=256)
def _compile(pattern: str) -> _Compiled | PatternError:
    try:
        tree = _Parser(pattern.encode("utf-8", "surrogatepass")).parse()
        compiler = _Compiler()
        compiler.compile(tree)
        compiler.emit(MATCH)
    except PatternError as exc:
        return exc
    program = [tuple(op) for op in compiler.program]
    return _Compiled(program, compiler.loops, _Dfa(program))


def search(pattern: str, name: str, step_limit: int = STEP_LIMIT) -> Verdict:
    """Does RabbitMQ's ``re:run(Name, Pattern)`` match? MATCH, NO_MATCH or UNDECIDED, in bounded steps."""
    compiled = _compile(pattern)
    if isinstance(compiled, PatternError):
        return Verdict(Outcome.UNDECIDED, f"the pattern has {compiled}, which this service does not evaluate")
    subject = name.encode("utf-8", "surrogatepass")
    matched, steps = compiled.dfa.search(subject)
    if not matched:
        return Verdict(Outcome.NO_MATCH, steps=steps)
    found, tried = _backtrack(compiled.program, compiled.loops, subject, step_limit) if step_limit > 0 else (None, 0)
    if found:
        return Verdict(Outcome.MATCH, steps=steps + tried, backtracked=tried)
    if found is False:  # the two passes disagree: a defect here, reported rather than guessed
        return Verdict(Outcome.UNDECIDED, "this service's two matchers disagree about this name", steps + tried, tried)
    return Verdict(
        Outcome.UNDECIDED,
        f"the pattern matches, but only after more than {step_limit:,} backtracking "
        "steps: RabbitMQ's matcher may give up on it and apply no policy",
        steps + tried,
        tried,
    )
