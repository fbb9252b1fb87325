"""Which of a study's runs a process trains, and in which order: stage by stage, seed
by seed, a part of them (``--part I/N``) for several processes or machines, some seeds
or objectives only.  Pure functions of the study and its runs' states."""

from ..runs.config import RunError


def parse_part(text):
    """``"2/3"`` as (2, 3); RunError unless 1 <= i <= n."""
    i, sep, n = str(text).partition("/")
    try:
        i, n = int(i), int(n)
    except ValueError:
        i = n = 0
    if not sep or not 1 <= i <= n:
        raise RunError(f"--part takes I/N with 1 <= I <= N (e.g. 1/2 and 2/2 for two "
                       f"processes), got {text!r}")
    return i, n


def select_runs(study, states, part=None, seeds=None, objectives=None):
    """The runs a part, seeds and objectives select, in training order.

    Stage by stage (the blocks' ``stage``, 1 first), and within a stage seed by seed
    (every setting at the first seed, then at the second ...), so a study run in parts
    has every setting at a few seeds, not some settings at all seeds and others at
    none.  ``part=(i, n)`` keeps positions i, i + n ... (from 1) of that order, which
    does not depend on the records that exist; ``seeds`` and ``objectives`` then keep
    the runs of those seeds and objectives.  ``states``: :func:`~.record.status`'s list.

    Returns
    -------
    list of (str, TrainConfig, str), a sublist of ``states``
    """
    order = sorted(states, key=lambda st: (study.stages.get(st[0], 1),
                                           study.seeds.index(st[1].seed)))  # stable
    if part is not None:
        order = order[part[0] - 1::part[1]]
    if seeds is not None:
        unknown = sorted(set(seeds) - set(study.seeds))
        if unknown:
            raise RunError(f"seed {unknown[0]} is not one of the study's seeds "
                           f"{study.seeds}: add it to the file's 'seeds'")
        order = [st for st in order if st[1].seed in seeds]
    if objectives is not None:
        known = sorted({c.objective for _, c in study.runs})
        unknown = sorted(set(objectives) - set(known))
        if unknown:
            raise RunError(f"objective {unknown[0]} has no runs in the study (its objectives: "
                           f"{', '.join(known)})")
        order = [st for st in order if st[1].objective in objectives]
    return order


def runs_to_do(study, states, replace=False, part=None, seeds=None, objectives=None):
    """The runs to train, in order, and how many runs the part holds
    (:func:`select_runs`' selection, less the runs with a record; ``replace``: the runs
    whose record another configuration made are trained again).

    Returns
    -------
    (int, list of (str, TrainConfig))
    """
    order = select_runs(study, states, part, seeds, objectives)
    todo = [(n, c) for n, c, s in order
            if s in ("missing", "damaged") or (s == "mismatch" and replace)]
    return len(order), todo
