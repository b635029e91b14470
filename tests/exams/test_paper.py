import pytest

from app.exams import paper as papers
from app.exams.paper import BadValue, PaperItem, PoolQuestion, Rules


def _rules(**overrides) -> Rules:
    fields = dict(
        counts={"single": 3, "multiple": 2, "judge": 2},
        points={"single": 1.5, "multiple": 2.0, "judge": 1.0},
        duration_minutes=120,
        pass_mark=6.0,
        max_attempts=3,
        multiple_all_or_nothing=True,
        shuffle_options=True,
        disconnect_policy="resume",
        second_device="takeover",
    )
    fields.update(overrides)
    return Rules(**fields)


POOL = (
    [PoolQuestion(i, "single", 4) for i in range(1, 21)]
    + [PoolQuestion(i, "multiple", 5) for i in range(21, 31)]
    + [PoolQuestion(i, "judge", 0) for i in range(31, 41)]
)


def test_draw__same_seed_same_paper_whatever_the_pool_order():
    first = papers.draw(1234, _rules(), POOL)
    again = papers.draw(1234, _rules(), list(reversed(POOL)))
    assert first == again


def test_draw__different_seeds_give_different_papers():
    assert papers.draw(1, _rules(), POOL) != papers.draw(2, _rules(), POOL)


def test_draw__follows_the_policy_counts_without_repeats():
    items = papers.draw(99, _rules(), POOL)
    assert [i.type for i in items] == ["single"] * 3 + ["multiple"] * 2 + ["judge"] * 2
    assert len({i.question_id for i in items}) == 7
    assert all(sorted(i.order) == list("ABCD") for i in items if i.type == "single")
    assert all(i.order == "" for i in items if i.type == "judge")


def test_draw__without_shuffling_options_keep_their_order():
    items = papers.draw(5, _rules(shuffle_options=False), POOL)
    assert {i.order for i in items if i.type == "single"} == {"ABCD"}


def test_shortfalls__names_each_type_that_cannot_be_filled():
    assert papers.shortfalls(_rules(), {"single": 3, "multiple": 1}) == [
        "多选题需要 2 道，题库中只有 1 道启用的试题",
        "判断题需要 2 道，题库中只有 0 道启用的试题",
    ]


def test_summary__matches_the_seed_wording():
    rules = _rules(counts={"single": 40, "multiple": 10, "judge": 20}, pass_mark=60.0)
    assert rules.summary() == (
        "考题一共有70道，其中单选40题（每题1.5分）、多选10题（每题2分）、判断20题（每题1分）。"
        "总分100分，大于等于60分合格。"
    )


@pytest.mark.parametrize(
    ("qtype", "order", "given", "stored"),
    [
        ("single", "ABCD", "B", "B"),
        ("multiple", "ABCDE", "DBA", "ABD"),
        ("judge", "", "T", "T"),
        ("multiple", "ABCD", "", ""),
    ],
)
def test_normalise__accepts_valid_values(qtype, order, given, stored):
    assert papers.normalise(given, PaperItem(1, qtype, order)) == stored


@pytest.mark.parametrize(
    ("qtype", "order", "given", "message"),
    [
        ("single", "ABCD", 1, "答案格式不正确"),
        ("single", "ABCD", ["A"], "答案格式不正确"),
        ("single", "ABCD", None, "答案格式不正确"),
        ("single", "ABCD", "AB", "单选题只能选择一个选项"),
        ("single", "ABCD", "E", "所选选项不在本题选项中"),
        ("multiple", "ABCDE", "AAB", "所选选项不在本题选项中"),
        ("judge", "", "A", "判断题只能选择“对”或“错”"),
        ("judge", "", "t", "判断题只能选择“对”或“错”"),
        # Only the letters as the page sends them: no case folding, no trimming.
        ("single", "ABCD", "b", "所选选项不在本题选项中"),
        ("single", "ABCD", " A ", "所选选项不在本题选项中"),
        ("multiple", "ABCD", "A,B", "所选选项不在本题选项中"),
        ("single", "ABCD", "A" * 10_000, "答案格式不正确"),
    ],
)
def test_normalise__refuses_values_that_do_not_fit(qtype, order, given, message):
    with pytest.raises(BadValue, match=message):
        papers.normalise(given, PaperItem(1, qtype, order))


def test_grade__maps_shuffled_options_back_to_the_key():
    item = PaperItem(7, "single", "CADB")  # display A shows original C
    assert papers.grade(_rules(), [item], {7: "A"}, {7: "C"}) == 1.5
    assert papers.grade(_rules(), [item], {7: "C"}, {7: "C"}) == 0


def test_grade__multiple_choice_is_all_or_nothing():
    item = PaperItem(8, "multiple", "ABCDE")
    rules = _rules()
    assert papers.grade(rules, [item], {8: "ABD"}, {8: "ABD"}) == 2
    assert papers.grade(rules, [item], {8: "AB"}, {8: "ABD"}) == 0
    assert papers.grade(rules, [item], {8: "ABDE"}, {8: "ABD"}) == 0


def test_grade__partial_credit_when_the_policy_allows_it():
    item = PaperItem(8, "multiple", "ABCDE")
    rules = _rules(multiple_all_or_nothing=False)
    assert papers.grade(rules, [item], {8: "AB"}, {8: "ABDE"}) == 1
    assert papers.grade(rules, [item], {8: "AC"}, {8: "ABDE"}) == 0


def test_fmt_points__drops_useless_decimals():
    assert [papers.fmt_points(v) for v in (0, 1.5, 2.0, 87.25, 59.999999)] == [
        "0",
        "1.5",
        "2",
        "87.25",
        "60",
    ]


def test_paper_kinds__every_question_of_the_stored_paper_shared_between_papers():
    # Ids beyond the small ints Python always shares.
    pool = [PoolQuestion(q.id + 100_000, q.type, q.option_count) for q in POOL]
    first, second = (papers.draw(seed, _rules(), pool) for seed in (1, 2))
    kinds = [papers.paper_kinds(papers.paper_to_json(p)) for p in (first, second)]
    for paper, got in zip((first, second), kinds, strict=True):
        assert got == {i.question_id: (i.type, i.order) for i in paper}
        assert list(got) == [i.question_id for i in paper]  # paper order kept
    # What two papers have in common is held once: the ids, and equal (type, order) pairs.
    both = set(kinds[0]) & set(kinds[1])
    assert both
    for qid in both:
        a = next(k for k in kinds[0] if k == qid)
        b = next(k for k in kinds[1] if k == qid)
        assert a is b
    judge = [v for k in kinds for v in k.values() if v[0] == "judge"]
    assert len({id(v) for v in judge}) == 1
