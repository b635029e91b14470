"""统计报表: per-batch study progress, exam results, question difficulty and the roster,
with charts and Excel exports (written by the worker for long lists)."""
