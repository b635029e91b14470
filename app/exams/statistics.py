"""Question statistics from graded papers, after Moodle's quiz statistics: how often a
question was used, its facility index, its discrimination index and how often each option
was chosen. Voided papers are not counted (``statuses.counted``).

Facility index: the mean share of the question's marks that the papers earned (for a
question marked right or wrong, the share answered exactly right). Discrimination index:
the point-biserial (Pearson) correlation between the marks earned on the question and the
marks earned on the rest of the same paper; a question that strong candidates get wrong as
often as weak ones (below ``REVIEW_BELOW``) is flagged for review.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.exams import paper as papers
from app.exams import statuses
from app.exams.models import Attempt, Question, QuestionType

# Moodle marks a discrimination index under 0.2 (20%) as one to look at again.
REVIEW_BELOW = 0.2


@dataclasses.dataclass
class QuestionStat:
    """One question across the graded papers that held it."""

    used: int = 0  # graded papers that contained the question
    correct: int = 0  # of which answered exactly right
    unanswered: int = 0
    # Original option letters ("A".., or "T"/"F") -> papers that chose it.
    choices: Counter[str] = dataclasses.field(default_factory=Counter)
    # Sums for the facility and the correlation: x = share of the question's marks earned,
    # y = marks earned on the rest of the paper.
    sx: float = 0.0
    sy: float = 0.0
    sxx: float = 0.0
    syy: float = 0.0
    sxy: float = 0.0

    def add(self, earned_share: float, rest: float, chosen: str, *, exact: bool) -> None:
        self.used += 1
        self.correct += exact
        if not chosen:
            self.unanswered += 1
        for letter in chosen:
            self.choices[letter] += 1
        self.sx += earned_share
        self.sy += rest
        self.sxx += earned_share * earned_share
        self.syy += rest * rest
        self.sxy += earned_share * rest

    @property
    def share(self) -> float | None:
        """Share of papers that answered it exactly right."""
        return self.correct / self.used if self.used else None

    @property
    def facility(self) -> float | None:
        """Facility index, 0–1: the mean share of its marks earned."""
        return self.sx / self.used if self.used else None

    @property
    def discrimination(self) -> float | None:
        """Point-biserial correlation with the rest of the paper, -1–1; None when it cannot
        be told (fewer than two papers, or everyone scored the same on either side)."""
        n = self.used
        if n < 2:
            return None
        spread = (n * self.sxx - self.sx**2) * (n * self.syy - self.sy**2)
        if spread <= 1e-12:
            return None
        return (n * self.sxy - self.sx * self.sy) / math.sqrt(spread)

    @property
    def needs_review(self) -> bool:
        """Flagged when its discrimination index is known and below ``REVIEW_BELOW``."""
        value = self.discrimination
        return value is not None and value < REVIEW_BELOW


async def question_stats(
    *, session: AsyncSession, question_ids: set[int] | None = None, batch_id: int | None = None
) -> dict[int, QuestionStat]:
    """Per question: use, facility, discrimination and choices, from the graded papers
    that count (closed, not voided), of one batch or of every batch."""
    conditions = [statuses.counted(Attempt), Attempt.graded_answers.is_not(None)]
    if batch_id is not None:
        conditions.append(Attempt.batch_id == batch_id)
    # Every key at once (a few thousand short rows), so each paper is scored as it streams
    # past instead of thousands of papers being held in memory.
    keys: dict[int, str] = dict((await session.execute(select(Question.id, Question.answer))).all())
    rules_seen: dict[str, papers.Rules] = {}
    stats: dict[int, QuestionStat] = {}
    result = await session.stream(
        select(Attempt.rules, Attempt.paper, Attempt.graded_answers)
        .where(*conditions)
        .execution_options(yield_per=1000)
    )
    async for rules_json, paper_json, graded_json in result:
        rules = rules_seen.get(rules_json)
        if rules is None:
            rules = rules_seen[rules_json] = papers.rules_from_json(rules_json)
        answers = json.loads(graded_json)
        marked = []
        for qid_text, (qtype, order) in json.loads(paper_json).items():
            item = papers.PaperItem(int(qid_text), qtype, order)
            value = (answers.get(qid_text) or [""])[0]
            key = keys.get(item.question_id, "")
            points = papers.question_points(item, value, key, rules) if key else 0.0
            marked.append((item, value, key, points))
        total = sum(m[3] for m in marked)
        for item, value, key, points in marked:
            if question_ids is not None and item.question_id not in question_ids:
                continue
            chosen = papers.to_original(value, item) if value else ""
            full = rules.points[item.type] or 1.0
            stats.setdefault(item.question_id, QuestionStat()).add(
                points / full, total - points, chosen, exact=bool(chosen) and chosen == key
            )
    return stats


def option_letters(qtype: str, option_count: int) -> list[str]:
    """The options a question offers, as its choices are counted."""
    if qtype == QuestionType.JUDGE:
        return ["T", "F"]
    return list(papers.LETTERS[:option_count])


def option_label(qtype: str, letter: str) -> str:
    """An option as the report names it (true/false questions say 对/错)."""
    if qtype == QuestionType.JUDGE:
        return "对" if letter == "T" else "错"
    return letter
