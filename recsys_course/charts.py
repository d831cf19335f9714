"""Interactive altair charts of how much, and how well, users and movies are rated.

>>> user_rating_charts(user_stats, users)     # filtered by occupation
>>> movie_rating_charts(movie_stats, movies)  # filtered by genre

Each chart shows a bar chart of the categories (occupations, genres) above
two histograms: ratings per user (or movie) and mean rating per user (or
movie). Click a bar, or pick a value in the dropdown under the chart, to
restrict the histograms to that category; shift-click adds categories,
double-click (or 'All') clears the filter.

The charts take *statistics tables*, one row per user or per movie, indexed
by ``user_id`` / ``movie_id`` (or with that column) and with the columns
``rating_count`` and ``rating_mean``: the aggregation happens in pandas, so
the chart spec embeds about a thousand rows, not the 100,000 ratings.
Written for altair 5 and later (``selection_point``, ``add_params``).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

STAT_COLUMNS = ("rating_count", "rating_mean")
NO_GENRE = "Other"


def _stats_with_id(stats: pd.DataFrame, id_field: str) -> pd.DataFrame:
    """Return ``stats`` with ``id_field`` as a column and the two statistic columns."""
    missing = [column for column in STAT_COLUMNS if column not in stats.columns]
    if missing:
        raise ValueError(f"the statistics table lacks the columns {missing}; "
                         f"it needs {list(STAT_COLUMNS)}, one row per {id_field}")
    if id_field not in stats.columns:
        if stats.index.name != id_field:
            raise ValueError(f"the statistics table needs a column or an index named {id_field!r}")
        stats = stats.reset_index()
    table = stats[[id_field, *STAT_COLUMNS]].copy()
    table["rating_count"] = table["rating_count"].astype("int64")
    table["rating_mean"] = table["rating_mean"].astype("float64")
    return table


def user_rating_table(user_stats: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """One row per user with ratings: ``user_id``, the statistics, ``occupation``, ``sex``, ``age``."""
    table = _stats_with_id(user_stats, "user_id")
    return table.merge(users[["user_id", "occupation", "sex", "age"]], on="user_id", how="inner")


def movie_genre_table(movie_stats: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """One row per (movie, genre) pair: ``movie_id``, ``title``, ``genre`` and the statistics.

    A movie appears once for each of its genres (the flag columns of
    ``movies``; 'Other' when it has none), so that filtering by a genre keeps
    every movie of that genre, not only those whose drawn ``genre`` it is.
    """
    from .movielens import MOVIE_GENRES

    genres = list(MOVIE_GENRES)
    flags = movies[genres].to_numpy().astype(bool)
    movie_rows, genre_columns = np.nonzero(flags)
    pairs = pd.DataFrame({"movie_id": movies["movie_id"].to_numpy()[movie_rows],
                          "genre": np.array(genres, dtype=object)[genre_columns]})
    no_genre = movies.loc[~flags.any(axis=1), ["movie_id"]].assign(genre=NO_GENRE)
    pairs = pd.concat([pairs, no_genre], ignore_index=True)
    table = _stats_with_id(movie_stats, "movie_id").merge(
        movies[["movie_id", "title"]], on="movie_id", how="inner")
    return table.merge(pairs, on="movie_id", how="inner").sort_values(
        ["movie_id", "genre"], ignore_index=True)


def filtered_rating_histograms(table: pd.DataFrame, *, id_field: str, category: str,
                               category_title: str, entity: str) -> alt.VConcatChart:
    """Bar chart of ``category`` above the two rating histograms, linked by a selection.

    Args:
        table: one row per entity (or per entity and category, see
            :func:`movie_genre_table`) with ``id_field``, ``category``,
            ``rating_count`` and ``rating_mean``.
        id_field: the entity's id column; the histograms count distinct ids.
        category: the column to filter by.
        category_title: how the category is named on the chart and dropdown.
        entity: what one row describes, singular ('user', 'movie').
    """
    # Only what the chart draws, means to 3 decimals: the spec embeds every row.
    table = table[[id_field, category, *STAT_COLUMNS]]
    table = table.assign(rating_mean=table["rating_mean"].round(3))
    categories = sorted(table[category].astype(str).unique())
    selection = alt.selection_point(
        name=f"select_{category}", fields=[category], on="click", clear="dblclick",
        bind=alt.binding_select(options=[None, *categories], labels=["All", *categories],
                                name=f"{category_title}: "),
    )
    entities = f"{entity.capitalize()}s"
    bars = alt.Chart(table).mark_bar().encode(
        x=alt.X("count():Q", title=entities),
        y=alt.Y(f"{category}:N", sort="-x", title=category_title),
        color=alt.when(selection).then(alt.value("steelblue")).otherwise(alt.value("lightgray")),
        tooltip=[alt.Tooltip(f"{category}:N", title=category_title),
                 alt.Tooltip("count():Q", title=entities)],
    ).add_params(selection).properties(
        width=560, title=f"{entities} per {category_title.lower()} (click a bar, double-click to reset)")

    # After the filter, one row per entity again: an entity listed under
    # several selected categories must be counted once.
    filtered = alt.Chart(table).transform_filter(selection).transform_aggregate(
        rating_count="max(rating_count)", rating_mean="max(rating_mean)", groupby=[id_field])
    counts = filtered.mark_bar().encode(
        x=alt.X("rating_count:Q", bin=alt.Bin(maxbins=40), title=f"Ratings per {entity}"),
        y=alt.Y("count():Q", title=entities),
        tooltip=[alt.Tooltip("count():Q", title=entities)],
    ).properties(width=260, height=200, title=f"Number of ratings per {entity}")
    means = filtered.mark_bar().encode(
        x=alt.X("rating_mean:Q", bin=alt.Bin(extent=[1, 5], step=0.25),
                scale=alt.Scale(domain=[1, 5]), title=f"Mean rating per {entity}"),
        y=alt.Y("count():Q", title=entities),
        tooltip=[alt.Tooltip("count():Q", title=entities)],
    ).properties(width=260, height=200, title=f"Mean rating per {entity}")
    return alt.vconcat(bars, alt.hconcat(counts, means))


def user_rating_charts(user_stats: pd.DataFrame, users: pd.DataFrame) -> alt.VConcatChart:
    """Histograms of ratings per user and mean rating per user, filtered by occupation.

    ``user_stats``: one row per user who rated something, indexed by
    ``user_id`` (or with that column), columns ``rating_count`` and ``rating_mean``.
    """
    return filtered_rating_histograms(user_rating_table(user_stats, users), id_field="user_id",
                                      category="occupation", category_title="Occupation",
                                      entity="user")


def movie_rating_charts(movie_stats: pd.DataFrame, movies: pd.DataFrame) -> alt.VConcatChart:
    """Histograms of ratings per movie and mean rating per movie, filtered by genre.

    ``movie_stats``: one row per rated movie, indexed by ``movie_id`` (or
    with that column), columns ``rating_count`` and ``rating_mean``. A movie
    counts in each of its genres.
    """
    return filtered_rating_histograms(movie_genre_table(movie_stats, movies), id_field="movie_id",
                                      category="genre", category_title="Genre", entity="movie")
