"""我的考试: question banks, exam policies, random papers, timed attempts and grading."""
