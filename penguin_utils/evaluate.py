"""Compare cluster labels with the known species.

Cluster labels are arbitrary, so each cluster is first matched to one species by
solving the assignment problem on the contingency table (the matching that agrees
with the most penguins); a penguin is misassigned when its cluster's species is not its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from penguin_utils._validation import check_positive_int
from penguin_utils.data import FEATURES

__all__ = ["least_certain", "match_species", "species_agreement"]


def _check_pair(clusters: pd.Series, species: pd.Series) -> None:
    if not isinstance(clusters, pd.Series) or not isinstance(species, pd.Series):
        raise TypeError("clusters and species must be pandas Series indexed by penguin.")
    if not clusters.index.equals(species.index):
        raise ValueError(
            "clusters and species are indexed by different penguins; select the same rows "
            "(e.g. species.loc[clusters.index])."
        )
    if clusters.isna().any() or species.isna().any():
        raise ValueError("clusters and species must not hold missing values.")


def match_species(clusters: pd.Series, species: pd.Series) -> dict:
    """The species each cluster stands for, chosen to agree with the most penguins.

    Parameters
    ----------
    clusters, species : pandas.Series, shape (n_penguins,)
        Cluster label and true species of the same penguins (same index).

    Returns
    -------
    dict
        ``{cluster: species}``; with more clusters than species, the extra clusters map
        to the species most of their penguins belong to.
    """
    _check_pair(clusters, species)
    table = pd.crosstab(clusters, species)
    rows, cols = linear_sum_assignment(-table.to_numpy())
    mapping = {table.index[r]: table.columns[c] for r, c in zip(rows, cols, strict=True)}
    for cluster in table.index.difference(list(mapping)):
        mapping[cluster] = table.loc[cluster].idxmax()
    return mapping


def species_agreement(clusters: pd.Series, species: pd.Series, mapping: dict | None = None) -> dict:
    """How well clusters recover species.

    Parameters
    ----------
    clusters, species : pandas.Series
        As in :func:`match_species`.
    mapping : dict, optional
        Cluster-to-species map; by default :func:`match_species` of these penguins.
        Pass the map learned on training penguins to score held-out ones honestly.

    Returns
    -------
    dict
        ``misassigned`` (int), ``accuracy`` (fraction), ``ari`` (adjusted Rand index,
        label-free), ``mapping`` and ``misassigned_index`` (the penguins concerned).
    """
    _check_pair(clusters, species)
    mapping = match_species(clusters, species) if mapping is None else mapping
    unknown = set(clusters.unique()) - set(mapping)
    if unknown:
        raise ValueError(f"mapping has no species for cluster(s) {sorted(map(str, unknown))}.")
    predicted = clusters.map(mapping)
    wrong = predicted.astype(str) != species.astype(str)
    return {
        "misassigned": int(wrong.sum()),
        "accuracy": float(1 - wrong.mean()),
        "ari": float(adjusted_rand_score(species.astype(str), clusters)),
        "mapping": mapping,
        "misassigned_index": list(clusters.index[wrong]),
    }


def least_certain(
    assignment: pd.DataFrame,
    penguins: pd.DataFrame,
    n: int = 8,
    *,
    mapping: dict | None = None,
    columns: Sequence[str] = ("species", *FEATURES[:2]),
) -> pd.DataFrame:
    """The ``n`` penguins whose most probable cluster is least probable: a list to double-check.

    Parameters
    ----------
    assignment : pandas.DataFrame
        From :func:`~penguin_utils.assign.assign_clusters`: one row per penguin with the
        cluster probabilities, ``cluster``, ``probability`` and ``entropy``.
    penguins : pandas.DataFrame
        The penguins' own data, indexed like ``assignment`` (it may hold more penguins).
    n : int, default 8
    mapping : dict, optional
        ``{cluster: species}``; when given, ``cluster`` shows the matched species' name.
    columns : sequence of str
        Columns of ``penguins`` to show beside the probabilities; by default the species
        and the two bill measurements.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows (fewer if there are fewer penguins), sorted by increasing ``probability``.
    """
    needed = ["cluster", "probability", "entropy"]
    missing = [c for c in needed if c not in assignment.columns]
    if missing:
        raise ValueError(f"assignment lacks the column(s) {missing}; pass the result of assign_clusters().")
    unknown = assignment.index.difference(penguins.index)
    if len(unknown):
        raise ValueError(f"assignment has penguins that penguins does not: {list(unknown[:5])}.")
    absent = [c for c in columns if c not in penguins.columns]
    if absent:
        raise ValueError(f"penguins lacks the column(s) {absent} asked for in columns.")
    n = check_positive_int(n, "n")
    table = assignment.join(penguins[list(columns)])
    if mapping is not None:
        table["cluster"] = table["cluster"].map(mapping)
    return table.sort_values("probability", kind="stable").head(n)
