"""The mutation engine: one-token changes of a Verilog file that give another valid design.

Used by ``t2c mutate`` (any RTL against any golden set, docs/coverage.md) and by
tools/mutate.py (``make mutate``: t2c's own RTL against its test suite, docs/mutation.md).
Six classes:

  operator    + <-> -, & <-> |, && <-> ||, ^ -> |, << <-> >>, <<< -> >>>, >>> -> >>
  comparison  < <-> <=, > <-> >=, == <-> != (a non-blocking assignment is not a comparison)
  constant    n -> n+1, n -> n-1 (size and base kept), 1'b0 <-> 1'b1
  index       a bit-select [i] -> [i+1], [i-1]; a part-select [h:l] -> [h+1:l+1], [h-1:l-1]
              (same width), [b +: w] -> [b+1 +: w], [b-1 +: w]
  condition   if (c) -> if (!(c)), c ? a : b -> !(c) ? a : b
  reset       a register's reset value (in the ``if (!rst_ni)`` branch) inverted

Never mutated: comments, strings, the module header (parameter defaults and port widths),
declarations (types and widths, except the value of a localparam or an initialised wire),
replication counts, parameter overrides of instances, loop headers and event controls.
:func:`generate` lists every candidate of a file, :func:`sample` takes a seeded sample,
:func:`equivalence` matches a survivor against a list of known equivalent mutants, and
:func:`table` prints the verdicts per module.  Standard library only.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

CLASSES = ("operator", "comparison", "constant", "index", "condition", "reset")


# ====================================================================== tokens
TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<directive>`[^\n]*)
  | (?P<number>(?:\d[\d_]*)?'[sS]?[bBoOdDhH][0-9a-fA-F_xXzZ?]+|\d[\d_]*)
  | (?P<ident>[A-Za-z_$][\w$]*)
  | (?P<op>>>>|<<<|===|!==|==|!=|<=|>=|&&|\|\||<<|>>|\*\*|\+:|-:|~&|~\||~\^|\^~|[^\s])
""", re.S | re.X)
OPENERS = {"(": ")", "[": "]", "{": "}"}
KEYWORDS = {"module", "endmodule", "input", "output", "inout", "wire", "reg", "integer", "genvar",
            "parameter", "localparam", "signed", "assign", "always", "initial", "begin", "end",
            "if", "else", "case", "endcase", "default", "for", "generate", "endgenerate", "posedge",
            "negedge", "or", "function", "endfunction", "while"}
DECLARATIONS = {"input", "output", "inout", "wire", "reg", "integer", "genvar", "parameter", "localparam"}
RESETS = {("!", "rst_ni"), ("~", "rst_ni")}
OPERATOR_SWAPS = {"+": ["-"], "-": ["+"], "&": ["|"], "|": ["&"], "&&": ["||"], "||": ["&&"],
                  "^": ["|"], "<<": [">>"], ">>": ["<<"], "<<<": [">>>"], ">>>": [">>"]}
COMPARISON_SWAPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}


@dataclass
class Tok:
    kind: str
    text: str
    start: int
    end: int
    mutable: bool = False   # in an expression that may be mutated
    assign: bool = False    # an assignment operator (`=`, non-blocking `<=`)
    in_index: bool = False  # inside [...] of a select
    in_reset: bool = False  # the value of a reset assignment
    select: bool = False    # the `[` of a bit- or part-select
    in_range: bool = False  # a bound of [h:l] or the width of [b +: w]: no operator changes


def tokenize(text: str) -> list[Tok]:
    """Code tokens of Verilog source (whitespace, comments and directives dropped)."""
    toks = []
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind not in ("ws", "comment", "directive"):
            toks.append(Tok(kind, m.group(), m.start(), m.end()))
    return toks


def _matches(toks: list[Tok]) -> dict[int, int]:
    """Index of the closing bracket of every opening one (and of `end` for `begin`)."""
    out, stack = {}, []
    for i, t in enumerate(toks):
        if t.text in OPENERS or t.text == "begin":
            stack.append(i)
        elif t.text in (")", "]", "}", "end") and stack:
            out[stack.pop()] = i
    return out


# ====================================================================== mutants
@dataclass
class Mutant:
    module: str
    cls: str
    start: int          # the replaced span of the file text
    end: int
    original: str
    replacement: str
    line: int           # 1-based line of the span's start
    line_text: str      # the span's lines, without comments, whitespace collapsed
    mutated_line: str   # the same lines after the change
    occurrence: int = 1  # among the module's mutants with this line_text and mutated_line
    id: str = ""
    status: str = ""    # not_compiling | killed | survived | timeout | equivalent | error
    detail: str = ""    # the failing test, the compiler's message, or the equivalence reason
    seconds: float = 0.0
    path: str = ""      # the mutated file as the user named it (default rtl/<module>.v)

    def apply(self, text: str) -> str:
        return text[:self.start] + self.replacement + text[self.end:]

    def where(self) -> str:
        return f"{self.path or f'rtl/{self.module}.v'}:{self.line}"


def _squash(s: str) -> str:
    """Source text without comments, whitespace collapsed (how lines are matched)."""
    return " ".join("".join(m.group() for m in TOKEN.finditer(s) if m.lastgroup != "comment").split())


def _mutant(module: str, text: str, cls: str, start: int, end: int, replacement: str) -> Mutant:
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    hi = len(text) if hi < 0 else hi
    line_text = _squash(text[lo:hi])
    mutated_line = _squash(text[lo:start] + replacement + text[end:hi])
    digest = hashlib.sha1(f"{line_text}\0{mutated_line}".encode()).hexdigest()[:8]
    return Mutant(module, cls, start, end, text[start:end], replacement, text.count("\n", 0, start) + 1,
                  line_text, mutated_line, id=f"{module}-{digest}")


def _classify(toks: list[Tok], match: dict[int, int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Mark the tokens of the module body that may be mutated (Tok.mutable, .assign,
    .in_index, .in_reset); return the (open, close) token indices of the if conditions
    and of the reset branches."""
    body = next(i for i, t in enumerate(toks) if t.text == "module")
    depth = 0
    while not (toks[body].text == ";" and depth == 0):  # the header: name, #(...), (ports)
        depth += toks[body].text in OPENERS
        depth -= toks[body].text in (")", "]", "}")
        body += 1
    ifs, resets = [], []
    skip = set()  # token indices never mutated
    for i, t in enumerate(toks):
        if t.text == "{" and i + 1 < len(toks):  # {N{...}}: N is a width
            j, d = i + 1, 0
            while j < len(toks) and not (d == 0 and toks[j].text in (",", "}", "{")):
                d += toks[j].text in OPENERS
                d -= toks[j].text in (")", "]", "}")
                j += 1
            if j < len(toks) and toks[j].text == "{":
                skip.update(range(i + 1, j))
    i, new_stmt, kind, assigned, init, depth = body + 1, True, "", False, False, 0
    while i < len(toks):
        t = toks[i]
        if t.text == "endmodule":
            break
        if new_stmt:
            nxt = toks[i + 1].text if i + 1 < len(toks) else ""
            kind = ("decl" if t.text in DECLARATIONS else
                    "inst" if t.kind == "ident" and t.text not in KEYWORDS and not t.text.startswith("$")
                    and (nxt == "#" or (toks[i + 1].kind == "ident" and nxt not in KEYWORDS)) else "stmt")
            assigned = init = False
            new_stmt = False
        if t.text in ("begin", "end", "else", "endcase", "generate", "endgenerate", "always", "initial",
                      "default") and t.kind == "ident":
            if t.text == "begin" and i + 2 < len(toks) and toks[i + 1].text == ":":
                i += 2  # a block label
            new_stmt = t.text != "default"
            i += 1
            continue
        if t.text in ("if", "case", "for", "@") or (t.text == "#" and kind == "inst"):
            j = i + 1
            if j < len(toks) and toks[j].text == "(":
                close = match[j]
                if t.text in ("for", "@", "#"):
                    skip.update(range(j, close + 1))
                else:
                    for k in range(j + 1, close):  # a condition: every `<=` compares
                        toks[k].mutable = k not in skip
                    if t.text == "if":
                        cond = tuple(x.text for x in toks[j + 1:close])
                        if cond in RESETS:
                            resets.append(_branch(toks, match, close + 1))
                        else:
                            ifs.append((j, close))
                if t.text == "#":
                    i = close + 1
                    continue
                i, new_stmt = close + 1, t.text != "#"
                continue
            i += 1  # @* or # without a group
            continue
        if t.text in OPENERS:
            depth += 1
        elif t.text in (")", "]", "}"):
            depth -= 1
        if depth == 0 and t.text == ";":
            new_stmt = True
            i += 1
            continue
        if depth == 0 and t.text == ":" and not assigned and kind == "stmt":
            new_stmt = True  # a case label
            i += 1
            continue
        if depth == 0 and kind == "decl" and t.text == ",":
            init = False
        if depth == 0 and (t.text == "=" or (t.text == "<=" and not assigned)):
            t.assign, assigned = True, True
            init = init or kind == "decl"
        elif kind != "decl" or init:
            t.mutable = i not in skip and t.text not in KEYWORDS
        i += 1
    # selects: tokens between [ and ] after a signal name
    for i, t in enumerate(toks):
        if t.text == "[" and t.mutable and i > 0 and (toks[i - 1].kind == "ident" and
                                                       toks[i - 1].text not in KEYWORDS
                                                       or toks[i - 1].text == "]"):
            t.select = True
            for k in range(i + 1, match[i]):
                toks[k].in_index = True
            split = _split(toks, i + 1, match[i])
            if split is not None:
                lo = i + 1 if toks[split].text == ":" else split + 1
                for k in range(lo, match[i]):
                    toks[k].in_range = True
    for lo, hi in resets:  # `lhs <= value;` in the reset branch: the values
        k = lo
        while k < hi:
            if toks[k].assign:
                end = next(e for e in range(k, hi + 1) if toks[e].text == ";")
                for e in range(k + 1, end):
                    toks[e].in_reset = True
                k = end
            k += 1
    return ifs, resets


def _branch(toks: list[Tok], match: dict[int, int], i: int) -> tuple[int, int]:
    """Token range of the statement starting at i (a begin ... end block or up to `;`)."""
    if toks[i].text == "begin":
        return i, match[i]
    j = i
    while toks[j].text != ";":
        j += 1
    return i, j


def _split(toks: list[Tok], lo: int, hi: int) -> int | None:
    """Index of the top-level `:`, `+:` or `-:` of a select's tokens lo..hi-1 (None: a bit-select)."""
    depth, split = 0, None
    for k in range(lo, hi):
        x = toks[k].text
        if x in OPENERS:
            depth += 1
        elif x in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and x == "?":
            return None
        elif depth == 0 and x in (":", "+:", "-:"):
            split = k
    return split


def _number(text: str, delta: int) -> str | None:
    """``text`` (a Verilog number) plus ``delta``, size and base kept; None if impossible."""
    m = re.fullmatch(r"(\d*)'([sS]?)([bBoOdDhH])([0-9a-fA-F_]+)", text)
    if m is None:
        if not re.fullmatch(r"\d[\d_]*", text):
            return None
        value = int(text.replace("_", "")) + delta
        return str(value) if value >= 0 else None
    size, sign, base, digits = m.groups()
    radix = {"b": 2, "o": 8, "d": 10, "h": 16}[base.lower()]
    value = int(digits.replace("_", ""), radix) + delta
    if value < 0 or (size and value >= 1 << int(size)):
        return None
    body = {2: f"{value:b}", 8: f"{value:o}", 10: f"{value}", 16: f"{value:x}"}[radix]
    if base.isupper():
        body = body.upper()
    return f"{size}'{sign}{base}{body}"


def _bound(toks: list[Tok], text: str, delta: int) -> str:
    """An index expression plus ``delta``, folded when it ends in +/- a literal."""
    sign = "+" if delta > 0 else "-"
    if len(toks) == 1 and re.fullmatch(r"\d+", text):
        return str(int(text) + delta)
    if len(toks) == 1 and toks[0].kind == "number" and _number(toks[0].text, delta) is not None:
        return _number(toks[0].text, delta)
    simple = all(t.kind in ("ident", "number") or t.text in ("+", "-", "*", "(", ")", ",") for t in toks)
    if simple and len(toks) >= 3 and toks[-2].text in "+-" and re.fullmatch(r"\d+", toks[-1].text):
        n = int(toks[-1].text) * (1 if toks[-2].text == "+" else -1) + delta
        head = text[:toks[-2].start - toks[0].start].rstrip()
        return head if n == 0 else f"{head}{'+' if n > 0 else '-'}{abs(n)}"
    return f"{text}{sign}1" if simple else f"({text}){sign}1"


def _condition_start(toks: list[Tok], q: int) -> int:
    """First token of the condition of the `?` at index q."""
    depth, k = 0, q - 1
    while k >= 0:
        x = toks[k].text
        if x in (")", "]", "}"):
            depth += 1
        elif x in OPENERS:
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (toks[k].assign or x in (",", "?", ":", ";", "=") or
                             (toks[k].kind == "ident" and x in KEYWORDS)):
            break
        k -= 1
    return k + 1


def generate(text: str, module: str) -> list[Mutant]:
    """Every candidate mutant of one module's source, in file order (duplicates removed)."""
    toks = tokenize(text)
    match = _matches(toks)
    ifs, _ = _classify(toks, match)
    out: list[Mutant] = []

    def add(cls, start, end, replacement):
        out.append(_mutant(module, text, cls, start, end, replacement))

    for i, t in enumerate(toks):
        if not t.mutable:
            continue
        if t.in_reset:
            continue
        if t.kind == "op" and t.text in OPERATOR_SWAPS and not t.in_range:
            for r in OPERATOR_SWAPS[t.text]:
                add("operator", t.start, t.end, r)
        elif t.kind == "op" and t.text in COMPARISON_SWAPS and not t.assign and not t.in_range:
            add("comparison", t.start, t.end, COMPARISON_SWAPS[t.text])
        elif t.kind == "number" and not t.in_index:
            if re.fullmatch(r"1'[bB][01]", t.text):
                add("constant", t.start, t.end, "1'b" + ("0" if t.text[-1] == "1" else "1"))
            else:
                for delta in (1, -1):
                    new = _number(t.text, delta)
                    if new is not None:
                        add("constant", t.start, t.end, new)
        elif t.select:
            _index_mutants(toks, match, i, text, add)
        elif t.text == "?":
            k = _condition_start(toks, i)
            if k < i:
                lo, hi = toks[k].start, toks[i - 1].end
                add("condition", lo, hi, f"!({text[lo:hi]})")
    for j, close in ifs:
        lo, hi = toks[j + 1].start, toks[close - 1].end
        add("condition", lo, hi, f"!({text[lo:hi]})")
    for i, t in enumerate(toks):  # reset values: the first token of each value
        if t.in_reset and not toks[i - 1].in_reset:
            end = i
            while toks[end + 1].in_reset:
                end += 1
            lo, hi = t.start, toks[end].end
            value = text[lo:hi]
            flipped = re.sub(r"1'b([01])", lambda m: "1'b" + "10"[int(m.group(1))], value)
            if not re.fullmatch(r"(\{[^{}]*\{)?1'b[01](\}\})?", value):
                flipped = f"~{value}" if i == end else f"~({value})"
            add("reset", lo, hi, flipped)
    seen, unique, count = set(), [], {}
    for m in sorted(out, key=lambda m: (m.start, m.end, m.replacement)):
        key = m.apply(text)
        if key != text and key not in seen:
            seen.add(key)
            m.occurrence = count[(m.line_text, m.mutated_line)] = count.get((m.line_text, m.mutated_line), 0) + 1
            if m.occurrence > 1:  # the same line twice in the module
                m.id += f"-{m.occurrence}"
            unique.append(m)
    return unique


def _index_mutants(toks, match, i, text, add) -> None:
    """[e] -> [e+1], [e-1]; [h:l] -> both +1 or both -1; [b +: w] -> b+1, b-1."""
    close = match[i]
    inner = toks[i + 1:close]
    if not inner:
        return
    split = _split(toks, i + 1, close)
    split = None if split is None else split - i - 1
    parts = [inner] if split is None else [inner[:split], inner[split + 1:]]
    bounds = parts if split is None or inner[split].text == ":" else parts[:1]
    for delta in (1, -1):
        pieces, pos = [], toks[i + 1].start
        for part in bounds:
            lo, hi = part[0].start, part[-1].end
            pieces.append(text[pos:lo] + _bound(part, text[lo:hi], delta))
            pos = hi
        pieces.append(text[pos:toks[close - 1].end])
        add("index", toks[i + 1].start, toks[close - 1].end, "".join(pieces))


def sample(cands: list[Mutant], n: int, seed: int, module: str) -> list[Mutant]:
    """``n`` of ``cands``: the classes in turn, each class in a seeded order (a module's
    sample depends on the seed and its own source only)."""
    rng = random.Random(f"{seed}:{module}")
    pools = {c: [m for m in cands if m.cls == c] for c in CLASSES}
    for pool in pools.values():
        rng.shuffle(pool)
    picked = []
    while len(picked) < n and any(pools.values()):
        for c in CLASSES:
            if pools[c] and len(picked) < n:
                picked.append(pools[c].pop())
    return sorted(picked, key=lambda m: m.start)


def quotas(counts: dict[str, int], total: int, minimum: int, maximum: int | None) -> dict[str, int]:
    """Mutants per module: proportional to its candidates, at least ``minimum``."""
    allc = sum(counts.values()) or 1
    out = {}
    for m, c in counts.items():
        q = max(minimum, round(total * c / allc))
        if maximum is not None:
            q = min(q, maximum)
        out[m] = min(q, c)
    return out




def equivalence(m: Mutant, entries: list[dict]) -> dict | None:
    """The entry naming ``m``: module, line text and mutated line text (and, for a line that
    occurs more than once in the module, ``occurrence``: the n-th such mutant in the file)."""
    return next((e for e in entries if e["module"] == m.module and _squash(e["line"]) == m.line_text
                 and _squash(e["mutated"]) == m.mutated_line
                 and e.get("occurrence", m.occurrence) == m.occurrence), None)


@dataclass
class Row:
    module: str
    generated: int = 0
    not_compiling: int = 0
    killed: int = 0
    survived: int = 0
    timeout: int = 0
    equivalent: int = 0
    errors: int = 0

    @property
    def score(self) -> float | None:
        n = self.generated - self.not_compiling - self.equivalent - self.errors
        return (self.killed + self.timeout) / n if n > 0 else None


def rows(mutants: list[Mutant]) -> list[Row]:
    out = {}
    for m in mutants:
        r = out.setdefault(m.module, Row(m.module))
        r.generated += 1
        attr = {"not_compiling": "not_compiling", "killed": "killed", "survived": "survived",
                "timeout": "timeout", "equivalent": "equivalent", "error": "errors"}[m.status]
        setattr(r, attr, getattr(r, attr) + 1)
    total = Row("total")
    for r in out.values():
        for k in ("generated", "not_compiling", "killed", "survived", "timeout", "equivalent", "errors"):
            setattr(total, k, getattr(total, k) + getattr(r, k))
    return [out[k] for k in sorted(out)] + [total]


def table(mutants: list[Mutant]) -> str:
    head = f"{'module':<15}{'generated':>10}{'not comp.':>10}{'killed':>8}{'survived':>9}{'timeout':>8}" \
           f"{'equiv.':>7}{'score':>8}"
    lines = [head, "-" * len(head)]
    for r in rows(mutants):
        score = "-" if r.score is None else f"{100 * r.score:.1f}%"
        if r.module == "total":
            lines.append("-" * len(head))
        lines.append(f"{r.module:<15}{r.generated:>10}{r.not_compiling:>10}{r.killed:>8}{r.survived:>9}"
                     f"{r.timeout:>8}{r.equivalent:>7}{score:>8}")
    return "\n".join(lines)


def describe(m: Mutant) -> str:
    return f"{m.where()} [{m.cls}] {m.original!r} -> {m.replacement!r}\n      {m.line_text}\n   -> {m.mutated_line}"


