"""The line scanner and inline helpers the parser is built on."""

from __future__ import annotations

from cc_planfile.headings import (
    BatchHeading,
    MalformedHeading,
    PhaseHeading,
    TaskHeading,
    classify_heading,
    is_task_list_section,
)
from cc_planfile.inline import find_code_spans, find_task_ids, leading_code_spans
from cc_planfile.markdown_blocks import (
    LineKind,
    list_item_text,
    parse_heading,
    scan,
    split_lines,
    split_table_row,
)


def test_split_lines_handles_crlf_cr_and_keeps_form_feeds() -> None:
    assert split_lines("a\r\nb\rc\n") == ["a", "b", "c"]
    assert split_lines("a\x0cb\n") == ["a\x0cb"]


def test_fences_of_any_length_and_kind() -> None:
    document = scan("````md\n```\n# x\n```\n````\n~~~~\n## y\n~~~~\n# real\n")
    kinds = [line.kind for line in document.lines]
    assert kinds == [
        LineKind.FENCE_OPEN,
        LineKind.FENCE_BODY,
        LineKind.FENCE_BODY,
        LineKind.FENCE_BODY,
        LineKind.FENCE_CLOSE,
        LineKind.FENCE_OPEN,
        LineKind.FENCE_BODY,
        LineKind.FENCE_CLOSE,
        LineKind.TEXT,
    ]
    assert [line.heading for line in document.lines if line.heading] == [parse_heading("# real")]
    assert document.lines[0].fence_info == "md"
    assert document.unclosed_fence_line is None


def test_tilde_fence_is_not_closed_by_backticks() -> None:
    document = scan("~~~\n```\n# still code\n~~~\n")
    assert all(line.heading is None for line in document.lines)


def test_inline_triple_backticks_do_not_open_a_fence() -> None:
    document = scan("```a``` text\n# heading\n")
    assert document.lines[1].heading is not None


def test_parse_heading() -> None:
    heading = parse_heading("### Task 1.1: x ###")
    assert heading is not None and (heading.level, heading.text) == (3, "Task 1.1: x")
    assert parse_heading("#hashtag") is None
    assert parse_heading("    # indented code") is None
    assert parse_heading("####### seven") is None


def test_classify_heading() -> None:
    assert classify_heading("Phase 3: Build ✅") == PhaseHeading("3", "Build ✅")
    assert classify_heading("Phase 2 Validation Summary") is None
    assert classify_heading("Batch 2: Agents (3 tasks)") == BatchHeading("2", "Agents (3 tasks)")
    assert classify_heading("Batch 4 (2 tasks)") == BatchHeading("4", "(2 tasks)")
    assert classify_heading("Task 2.1: Fix ✅") == TaskHeading("2.1", "Fix")
    assert classify_heading("Task 1.1:Glued") == TaskHeading("1.1", "Glued")
    assert classify_heading("Tasks") is None
    assert isinstance(classify_heading("Batch"), MalformedHeading)
    assert isinstance(classify_heading("Phase x1: y"), MalformedHeading)
    assert is_task_list_section("Tasks")
    assert is_task_list_section("**Tasks (4):**")
    assert not is_task_list_section("Task Overview")


def test_code_spans() -> None:
    spans = find_code_spans("run ``a ` b`` then `c` and ` unclosed")
    assert [span.content for span in spans] == ["a ` b", "c"]
    assert find_code_spans("\\`not code`") == []
    assert leading_code_spans("`a.py`, `b.py` and `c.py` - why `d.py`") == (
        ["a.py", "b.py", "c.py"],
        "- why `d.py`",
    )
    assert leading_code_spans("see `a.py`") == ([], "see `a.py`")


def test_many_backticks_stay_fast() -> None:
    text = "".join("`" * n + "x" for n in range(1, 400))
    assert find_code_spans(text) == []


def test_find_task_ids() -> None:
    assert find_task_ids("Task 1.1, 1.2 and Task 3; Batch 4 complete") == ["1.1", "1.2", "3"]


def test_table_row_and_list_items() -> None:
    assert split_table_row("| a | `b` | c \\| d |") == ["a", "`b`", "c | d"]
    assert list_item_text("- [x] done") == "done"
    assert list_item_text("12) twelve") == "twelve"
    assert list_item_text("- - -") is None
    assert list_item_text("-not a list") is None
