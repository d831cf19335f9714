"""Instructor tooling: generate the student notebooks and grade a class with nbgrader.

Release: ``grader/nbgrader_config.py`` (the course's nbgrader configuration),
``python -m grader.release [--check]`` (``solutions/`` -> ``notebooks/``),
:mod:`grader.nbgrader_helpers` (nbgrader on the course or a throwaway copy).

Grading (``grade``, one module per idea, in the order a submission meets them):

- :mod:`grader.grade`: the command and :func:`grader.grade.grade_class`;
  :mod:`grader.settings`: its settings (timeouts, memory, jobs, data);
- intake: :mod:`grader.submissions` (whose file, which assignment), with
  :mod:`grader.lms_names` (Canvas, Moodle, Blackboard and copy-mark names)
  and :mod:`grader.safe_zip` (zip slip, zip bombs, debris);
- repair: :mod:`grader.repair` (a gradable transplant of each submission),
  with :mod:`grader.matching` (release cells found among the student's) and
  :mod:`grader.cell_code` (what a cell's code defines);
- one notebook: :mod:`grader.grade_one` (a worker process per notebook),
  :mod:`grader.sandbox_kernel` (the kernel's allow-list sandbox and memory
  cap), :mod:`grader.execution` (nbgrader's Execute, hardened),
  :mod:`grader.feedback` (hidden tests shown as verdicts),
  :mod:`grader.feedback_exporter` (the feedback page: a summary naming each
  test, MathJax inside, from :mod:`grader.mathjax_offline`);
- elsewhere: :mod:`grader.distributed` (``grade --scheduler``: Dask workers),
  :mod:`grader.hub` (nbgrader's own commands on a JupyterHub, with the
  course's repair and sandbox), :mod:`grader.lms_export` (grades in Canvas's
  and Moodle's import formats);
- the results: :mod:`grader.sheet` (grades.csv, problems.csv),
  :mod:`grader.library_versions` (answers copied from the library, for review);
- shared words: :mod:`grader.statuses` (every status), :mod:`grader.cells`
  (cell roles, grade_ids, hidden-test markers).
"""
