import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from penguin_utils.plots import species_heatmap


def test_heatmap_counts_every_penguin_in_its_species_and_cluster():
    species = pd.Series(["A"] * 5 + ["B"] * 4 + ["C"] * 3)
    clusters = pd.Series([2, 2, 2, 2, 0] + [0, 0, 0, 2] + [1, 1, 1])
    fig, ax = plt.subplots()
    species_heatmap(clusters, species, ax=ax)
    columns = [t.get_text() for t in ax.get_xticklabels()]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert columns == ["0 (B)", "1 (C)", "2 (A)"]
    assert rows == ["A", "B", "C"]
    shown = np.array([int(t.get_text()) for t in ax.texts]).reshape(len(rows), len(columns))
    expected = np.array([[sum((species == s) & (clusters == k)) for k in (0, 1, 2)] for s in "ABC"])
    np.testing.assert_array_equal(shown, expected)
    plt.close(fig)


def test_heatmap_refuses_a_mapping_that_misses_a_cluster():
    species = pd.Series(["A", "B", "B"])
    clusters = pd.Series([0, 1, 1])
    with pytest.raises(ValueError, match="no species for cluster"):
        species_heatmap(clusters, species, mapping={0: "A"})
    plt.close("all")
