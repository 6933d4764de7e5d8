"""tools/mutate.py's mutant generator (no simulator): every class on a small module, one
change per mutant, nothing in comments, strings, the header or declarations, a seeded
sample, and tools/mutate_equivalent.json still naming real mutants of rtl/."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("t2c_mutate", REPO / "tools" / "mutate.py")
mutate = importlib.util.module_from_spec(_spec)
sys.modules["t2c_mutate"] = mutate
_spec.loader.exec_module(mutate)

SAMPLE = """\
// a + b in a comment, x <= y, 1'b0
module sample #(
  parameter integer W = 8,            // header: never mutated
  parameter integer N = W + 1
) (
  input  wire         clk_i,
  input  wire         rst_ni,
  input  wire [W-1:0] a_i,
  input  wire [W-1:0] b_i,
  output wire [W-1:0] y_o
);
  localparam integer K = 3;
  reg [W-1:0] acc_q, sum;            /* a - b, acc_q <= 1 */
  reg         flag_q;
  always @(*) begin
    sum = (a_i[W-1] == b_i[0]) ? a_i + b_i : a_i & b_i;
    if (a_i < b_i) begin
      sum = {a_i[W-2:0], 1'b0} ^ (b_i >> 2);
    end
  end
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      acc_q  <= {W{1'b0}};
      flag_q <= 1'b1;
    end else begin
      acc_q  <= sum + K;
      flag_q <= (acc_q <= b_i);
    end
  end
  initial $display("a + b = %d", 8'd3);
  assign y_o = flag_q ? acc_q : {W{1'b0}};
endmodule
"""


def _mutants():
    return mutate.generate(SAMPLE, "sample")


def test_every_class_on_a_small_module():
    assert {m.cls for m in _mutants()} == set(mutate.CLASSES)


def test_each_mutant_is_one_change_and_all_differ():
    seen = set()
    for m in _mutants():
        text = m.apply(SAMPLE)
        assert text != SAMPLE and text not in seen, m
        seen.add(text)
        # the one change: the span [start, end) replaced, everything around it kept
        assert text[:m.start] == SAMPLE[:m.start] and text[m.start + len(m.replacement):] == SAMPLE[m.end:]
        assert SAMPLE[m.start:m.end] == m.original != m.replacement
        # and the token streams differ in one contiguous run only
        a = [t.text for t in mutate.tokenize(SAMPLE)]
        b = [t.text for t in mutate.tokenize(text)]
        head = next(i for i, (x, y) in enumerate(zip(a + [None], b + [None])) if x != y)
        tail = next(i for i, (x, y) in enumerate(zip(reversed(a), reversed(b))) if x != y)
        assert a[:head] == b[:head] and a[len(a) - tail:] == b[len(b) - tail:]
        assert SAMPLE.count("\n") == text.count("\n")
        assert m.line == SAMPLE.count("\n", 0, m.start) + 1
        assert m.line_text == " ".join(SAMPLE.splitlines()[m.line - 1].split()) or "\n" in m.original


def test_nothing_in_comments_strings_header_or_declarations():
    header_end = SAMPLE.index(");\n") + 2
    decls = [SAMPLE.index(s) for s in ("reg [W-1:0] acc_q", "reg         flag_q", "localparam integer K")]
    for m in _mutants():
        line = SAMPLE.splitlines()[m.line - 1]
        assert m.start > header_end, m
        assert "//" not in line[:line.find(m.original)] and "/*" not in line[:line.find(m.original)], m
        assert not any(d <= m.start < SAMPLE.index(";", d) and not SAMPLE[d:m.start].count("=")
                       for d in decls), m
        assert '"' not in SAMPLE[m.start:m.end] and not ('"' in line and line.index('"') < line.find(m.original)
                                                          < line.rindex('"')), m


def test_what_each_class_changes():
    got = {(m.cls, m.original, m.replacement) for m in _mutants()}
    for want in [("operator", "+", "-"), ("operator", "&", "|"), ("operator", "^", "|"), ("operator", ">>", "<<"),
                 ("comparison", "==", "!="), ("comparison", "<", "<="), ("comparison", "<=", "<"),
                 ("constant", "3", "4"), ("constant", "3", "2"), ("constant", "8'd3", "8'd4"),
                 ("constant", "1'b0", "1'b1"),
                 ("index", "W-1", "W"), ("index", "W-1", "W-2"), ("index", "0", "1"),
                 ("index", "W-2:0", "W-1:1"), ("index", "W-2:0", "W-3:-1"),
                 ("condition", "a_i < b_i", "!(a_i < b_i)"), ("condition", "flag_q", "!(flag_q)"),
                 ("condition", "(a_i[W-1] == b_i[0])", "!((a_i[W-1] == b_i[0]))"),
                 ("reset", "{W{1'b0}}", "{W{1'b1}}"), ("reset", "1'b1", "1'b0")]:
        assert want in got, want
    # non-blocking assignments are not comparisons, the reset condition is not negated,
    # replication counts and part-select bounds get no operator/constant changes
    assert sum(1 for m in _mutants() if m.cls == "comparison" and m.original == "<=") == 1
    assert not [m for m in _mutants() if m.cls == "condition" and "rst_ni" in m.original]
    bounds = SAMPLE.index("[W-2:0]")
    counts = [k for k in range(len(SAMPLE)) if SAMPLE.startswith("{W{", k)]
    assert not [m for m in _mutants() if m.cls in ("operator", "constant") and
                (bounds < m.start < bounds + 7 or any(k < m.start < k + 3 for k in counts))]


def test_the_sample_is_seeded_and_takes_every_class_in_turn():
    cands = mutate.candidates("requant")
    a = mutate.sample(cands, 12, 1, "requant")
    assert [m.id for m in a] == [m.id for m in mutate.sample(cands, 12, 1, "requant")]
    assert [m.id for m in a] != [m.id for m in mutate.sample(cands, 12, 2, "requant")]
    assert {m.cls for m in a} == set(mutate.CLASSES)
    assert {m.id for m in a} <= {m.id for m in mutate.sample(cands, 20, 1, "requant")}  # a prefix
    q = mutate.quotas({"big": 300, "small": 10, "tiny": 2}, 100, 6, None)
    assert q == {"big": 96, "small": 6, "tiny": 2}


def test_every_rtl_module_has_mutants_and_tests():
    for module in mutate.modules():
        assert mutate.candidates(module), module
        files, units = mutate.test_files(module)
        assert files or units, f"rtl/{module}.v: no tests mapped (TESTS in tools/mutate.py)"


@pytest.mark.parametrize("entry", mutate.load_equivalents(), ids=lambda e: f"{e['module']}:{e['mutated'][:40]}")
def test_equivalence_entries_name_real_mutants(entry):
    """A stale entry (its line changed or gone) fails here: every entry matches a mutant of
    the current rtl/<module>.v, has a reason and is explained in docs/mutation.md."""
    assert set(entry) - {"occurrence"} == {"module", "line", "mutated", "reason"} and entry["reason"].strip()
    matches = [m for m in mutate.candidates(entry["module"]) if mutate.equivalence(m, [entry])]
    assert len(matches) == 1, f"{entry}: matches {len(matches)} mutants of rtl/{entry['module']}.v"
    assert entry["mutated"] in (REPO / "docs" / "mutation.md").read_text(), "not explained in docs/mutation.md"


def test_results_block_is_the_printed_table(tmp_path):
    """`make mutate` writes what it printed into docs/mutation.md, between its markers only."""
    ms = mutate.candidates("requant")[:4]
    for m, status in zip(ms, ("killed", "timeout", "equivalent", "survived")):
        m.status = status
    doc = tmp_path / "mutation.md"
    doc.write_text(f"{mutate.EQUIV_BEGIN}\n{mutate.EQUIV_END}\nbefore\n{mutate.RESULTS_BEGIN}\nOLD-BLOCK\n"
                   f"{mutate.RESULTS_END}\nafter\n")
    args = type("A", (), {"seed": 1, "test_seed": "1", "jobs": 2})()
    mutate.write_docs(ms, "tools/mutate.py --write-docs", 600.0, args, doc)
    text = doc.read_text()
    assert f"before\n{mutate.RESULTS_BEGIN}\n`tools/mutate.py --write-docs` (seed 1" in text
    assert text.endswith(f"{mutate.RESULTS_END}\nafter\n") and "OLD-BLOCK" not in text
    assert mutate.table(ms) in text and "10.0 minutes wall" in text
    assert "**66.7% of the 3 non-equivalent mutants are killed** (1 by a failing" in text and "1 survived" in text
    assert mutate.RESULTS_BEGIN in (REPO / "docs" / "mutation.md").read_text()


def test_equivalents_list_in_the_docs_is_generated_from_the_json():
    text = (REPO / "docs" / "mutation.md").read_text()
    block = text[text.index(mutate.EQUIV_BEGIN) + len(mutate.EQUIV_BEGIN):text.index(mutate.EQUIV_END)]
    assert block.strip() == mutate.equivalents_markdown(mutate.load_equivalents()).strip()
