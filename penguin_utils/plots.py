"""Pictures the chapters draw more than once."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from penguin_utils.evaluate import species_agreement

__all__ = ["SPECIES_PALETTE", "species_heatmap"]

#: One colour per species in every chapter (palmerpenguins' own: orange, purple, teal);
#: pass it as ``palette=`` wherever a plot colours by species.
SPECIES_PALETTE = {"Adelie": "#ff8c00", "Chinstrap": "#a034f0", "Gentoo": "#159090"}


def species_heatmap(
    clusters: pd.Series,
    species: pd.Series,
    *,
    mapping: dict | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Count the penguins of each species in each cluster, as an annotated heatmap.

    Parameters
    ----------
    clusters, species : pandas.Series, shape (n_penguins,)
        Cluster label and true species of the same penguins (same index).
    mapping : dict, optional
        ``{cluster: species}`` used to name the columns; by default
        :func:`~penguin_utils.evaluate.match_species` of these penguins.
    ax : matplotlib Axes, optional
        Where to draw; the current Axes by default.

    Returns
    -------
    matplotlib.axes.Axes
        Rows are species, columns are clusters labelled ``"<cluster> (<species>)"``; a cluster
        that is not matched to the species of its row shows its penguins off the diagonal.
    """
    mapping = species_agreement(clusters, species, mapping)["mapping"]  # also checks the inputs
    table = pd.crosstab(species.rename("species"), clusters.rename("cluster"))
    table.columns = [f"{k} ({mapping[k]})" for k in table.columns]
    ax = plt.gca() if ax is None else ax
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set(xlabel="cluster (matched species)", ylabel="species")
    return ax
