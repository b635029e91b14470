"""Pure rules of a paper: the seeded draw, answer values and grading. No I/O here."""

from __future__ import annotations

import dataclasses
import functools
import json
import random
import string

from app.exams.models import TYPE_LABELS, TYPE_ORDER, TYPE_SHORT, QuestionType

LETTERS = string.ascii_uppercase
JUDGE_VALUES = ("T", "F")


@dataclasses.dataclass(frozen=True)
class Rules:
    """The policy as it was when an attempt started (stored with the attempt)."""

    counts: dict[str, int]
    points: dict[str, float]
    duration_minutes: int
    pass_mark: float
    max_attempts: int
    multiple_all_or_nothing: bool
    shuffle_options: bool
    disconnect_policy: str
    second_device: str
    # Leaving the page: warn at the Nth time, submit at the Mth (0 = never). Older
    # attempts' snapshots lack them: off.
    focus_warn_at: int = 0
    focus_submit_at: int = 0

    @classmethod
    def from_policy(cls, policy) -> Rules:
        return cls(
            counts={
                QuestionType.SINGLE: policy.single_count,
                QuestionType.MULTIPLE: policy.multiple_count,
                QuestionType.JUDGE: policy.judge_count,
            },
            points={
                QuestionType.SINGLE: policy.single_points,
                QuestionType.MULTIPLE: policy.multiple_points,
                QuestionType.JUDGE: policy.judge_points,
            },
            duration_minutes=policy.duration_minutes,
            pass_mark=policy.pass_mark,
            max_attempts=policy.max_attempts,
            multiple_all_or_nothing=policy.multiple_all_or_nothing,
            shuffle_options=policy.shuffle_options,
            disconnect_policy=policy.disconnect_policy,
            second_device=policy.second_device,
            focus_warn_at=policy.focus_warn_at or 0,
            focus_submit_at=policy.focus_submit_at or 0,
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Rules:
        return cls(**json.loads(raw))

    @property
    def total_questions(self) -> int:
        return sum(self.counts.values())

    @property
    def total_points(self) -> float:
        return round(sum(self.counts[t] * self.points[t] for t in TYPE_ORDER), 2)

    @property
    def focus_rule(self) -> str:
        """The focus-loss rule in the learner's words ("" when the batch has none)."""
        warn, submit = self.focus_warn_at, self.focus_submit_at
        if not warn and not submit:
            return ""
        parts = []
        if warn:
            parts.append(f"第 {warn} 次离开时系统将提醒您")
        if submit:
            parts.append(f"累计离开 {submit} 次系统将自动交卷")
        return (
            "离开考试页面（切换标签页、最小化或切换到其他窗口）会被记录，" + "，".join(parts) + "。"
        )

    def summary(self) -> str:
        """The seed's 试卷摘要 line."""
        parts = [
            f"{TYPE_SHORT[t]}{self.counts[t]}题（每题{fmt_points(self.points[t])}分）"
            for t in TYPE_ORDER
            if self.counts[t]
        ]
        return (
            f"考题一共有{self.total_questions}道，其中{'、'.join(parts)}。"
            f"总分{fmt_points(self.total_points)}分，大于等于{fmt_points(self.pass_mark)}分合格。"
        )


def fmt_points(value: float) -> str:
    """1.5 -> "1.5", 2.0 -> "2", 87.25 -> "87.25"."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclasses.dataclass(frozen=True)
class PoolQuestion:
    """What the draw needs to know about an active question."""

    id: int
    type: str
    option_count: int


@dataclasses.dataclass(frozen=True, slots=True)
class PaperItem:
    question_id: int
    type: str
    # Original option letters in display order ("CADB"): display A shows original C.
    order: str


def shortfalls(rules: Rules, available: dict[str, int]) -> list[str]:
    """Why a bank cannot fill the policy, in words an administrator can act on."""
    problems = []
    for qtype in TYPE_ORDER:
        need, have = rules.counts[qtype], available.get(qtype, 0)
        if need > have:
            problems.append(f"{TYPE_LABELS[qtype]}需要 {need} 道，题库中只有 {have} 道启用的试题")
    return problems


def draw(seed: int, rules: Rules, pool: list[PoolQuestion]) -> list[PaperItem]:
    """The paper for a seed: same seed, same pool and same rules give the same paper."""
    rng = random.Random(seed)
    items: list[PaperItem] = []
    for qtype in TYPE_ORDER:
        candidates = sorted((q for q in pool if q.type == qtype), key=lambda q: q.id)
        for q in rng.sample(candidates, rules.counts[qtype]):
            letters = LETTERS[: q.option_count] if qtype != QuestionType.JUDGE else ""
            if rules.shuffle_options and letters:
                letters = "".join(rng.sample(letters, len(letters)))
            items.append(PaperItem(question_id=q.id, type=qtype, order=letters))
    return items


def paper_to_json(items: list[PaperItem]) -> str:
    """Stored as {"question id": [type, order]} in paper order: grading looks up only the
    answered questions instead of walking the whole paper."""
    return json.dumps({str(i.question_id): [i.type, i.order] for i in items})


def paper_from_json(raw: str) -> list[PaperItem]:
    return [PaperItem(int(q), t, o) for q, (t, o) in json.loads(raw).items()]


# What every paper a server keeps shares: a bank's question ids, and the few (type, order)
# pairs there are (3 types, at most 5! orders). Without them each of 3,000 cached papers
# held 70 ids, tuples and strings of its own: 43 MB against 7.
_SHARED: dict = {}
_SHARED_LIMIT = 200_000


def paper_kinds(raw: str) -> dict[int, tuple[str, str]]:
    """A stored paper as {question id: (type, order)}, sharing its ids and pairs with
    every other paper read this way: what a server keeps of each paper in its hands."""
    if len(_SHARED) > _SHARED_LIMIT:  # a bound, never reached by real banks
        _SHARED.clear()
    shared = _SHARED.setdefault
    kinds = {}
    for q, (t, o) in json.loads(raw).items():
        question_id = int(q)
        kinds[shared(question_id, question_id)] = shared((t, o), (t, o))
    return kinds


@functools.lru_cache(maxsize=64)
def rules_from_json(raw: str) -> Rules:
    """Rules are shared by every attempt of a batch: parse each distinct text once."""
    return Rules.from_json(raw)


class BadValue(ValueError):
    """An answer value that does not fit its question."""


def normalise(value: object, item: PaperItem) -> str:
    """The canonical stored form of a learner's answer (its letters sorted), or BadValue.

    Only the display letters themselves are taken, as the page sends them: lower case,
    spaces or anything else is refused, not guessed at (docs/realtime.md)."""
    if not isinstance(value, str) or len(value) > len(LETTERS):
        raise BadValue("答案格式不正确")
    if value == "":
        return ""
    if item.type == QuestionType.JUDGE:
        if value not in JUDGE_VALUES:
            raise BadValue("判断题只能选择“对”或“错”")
        return value
    allowed = LETTERS[: len(item.order)]
    if any(ch not in allowed for ch in value) or len(set(value)) != len(value):
        raise BadValue("所选选项不在本题选项中")
    if item.type == QuestionType.SINGLE and len(value) != 1:
        raise BadValue("单选题只能选择一个选项")
    return "".join(sorted(value))


def to_original(value: str, item: PaperItem) -> str:
    """Display letters as the learner saw them -> the question's original letters."""
    if item.type == QuestionType.JUDGE:
        return value
    return "".join(sorted(item.order[LETTERS.index(ch)] for ch in value))


def to_display(original: str, item: PaperItem) -> str:
    """The question's original letters -> what the learner saw (for review pages)."""
    if item.type == QuestionType.JUDGE:
        return original
    return "".join(sorted(LETTERS[item.order.index(ch)] for ch in original))


def question_points(item: PaperItem, value: str, key: str, rules: Rules) -> float:
    """Points for one answer. Multiple choice is all-or-nothing unless the policy says not."""
    full = rules.points[item.type]
    if not value:
        return 0.0
    chosen = to_original(value, item)
    if chosen == key:
        return full
    partial = item.type == QuestionType.MULTIPLE and not rules.multiple_all_or_nothing
    if partial and set(chosen) <= set(key):
        # Partial credit: every chosen option right but some missing earns its share.
        return full * len(chosen) / len(key)
    return 0.0


def grade(
    rules: Rules, paper: list[PaperItem], answers: dict[int, str], keys: dict[int, str]
) -> float:
    """The score of a paper from its answers (display letters) and the answer keys."""
    items = {item.question_id: item for item in paper}
    total = sum(
        question_points(items[qid], value, keys[qid], rules)
        for qid, value in answers.items()
        if value and qid in items
    )
    return round(total, 2)
