import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from penguin_utils.evaluate import least_certain, match_species, species_agreement


def _series(values, index=None):
    return pd.Series(values, index=index if index is not None else range(len(values)))


def test_clusters_are_matched_to_the_species_they_share_most_penguins_with():
    species = _series(["A"] * 5 + ["B"] * 4 + ["C"] * 3)
    clusters = _series([2, 2, 2, 2, 0] + [0, 0, 0, 2] + [1, 1, 1])
    assert match_species(clusters, species) == {2: "A", 0: "B", 1: "C"}
    result = species_agreement(clusters, species)
    assert result["misassigned"] == 2
    assert result["misassigned_index"] == [4, 8]
    assert result["accuracy"] == pytest.approx(10 / 12)
    assert result["ari"] == pytest.approx(adjusted_rand_score(species, clusters))


def test_matching_maximises_agreement_not_per_cluster_majority():
    # Cluster 0 is mostly A, but giving A to cluster 1 and B to cluster 0 agrees with more penguins.
    species = _series(["A"] * 6 + ["B"] * 4)
    clusters = _series([0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    assert match_species(clusters, species) == {0: "B", 1: "A"}
    assert species_agreement(clusters, species)["misassigned"] == 3


def test_extra_clusters_take_their_majority_species():
    species = _series(["A", "A", "B", "B", "B"])
    clusters = _series([0, 0, 1, 1, 2])
    assert match_species(clusters, species) == {0: "A", 1: "B", 2: "B"}
    assert species_agreement(clusters, species)["misassigned"] == 0


def test_a_given_mapping_is_used_as_is():
    species = _series(["A", "A", "B"])
    clusters = _series([0, 1, 1])
    result = species_agreement(clusters, species, mapping={0: "B", 1: "A"})
    assert result["misassigned"] == 2
    with pytest.raises(ValueError, match=r"no species for cluster\(s\) \['1'\]"):
        species_agreement(clusters, species, mapping={0: "A"})


def test_inputs_must_describe_the_same_penguins():
    with pytest.raises(ValueError, match="different penguins"):
        species_agreement(_series([0, 1]), _series(["A", "B"], index=[5, 6]))
    with pytest.raises(TypeError, match="pandas Series"):
        species_agreement(np.array([0, 1]), _series(["A", "B"]))
    with pytest.raises(ValueError, match="missing values"):
        species_agreement(_series([0, None]), _series(["A", "B"]))


def test_categorical_species_work(penguins):
    codes = penguins["species"].cat.codes
    result = species_agreement(codes, penguins["species"])
    assert result["misassigned"] == 0 and result["ari"] == pytest.approx(1.0)


def _assignment(probabilities, index):
    probs = pd.DataFrame(probabilities, index=index)
    p = probs.to_numpy()
    return probs.assign(cluster=p.argmax(axis=1), probability=p.max(axis=1), entropy=-(p * np.log(p)).sum(axis=1))


def test_least_certain_lists_the_lowest_probabilities_first():
    index = pd.Index([10, 11, 12, 13], name="penguin")
    assignment = _assignment([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7], [0.99, 0.01]], index)
    penguins = pd.DataFrame({"species": ["A", "B", "B", "A"], "bill_length_mm": [1.0, 2.0, 3.0, 4.0]}, index=index)
    table = least_certain(assignment, penguins, 2, mapping={0: "A", 1: "B"}, columns=["species"])
    assert list(table.index) == [11, 12]
    assert list(table["cluster"]) == ["A", "B"]
    assert list(table["species"]) == ["B", "B"]
    assert len(least_certain(assignment, penguins, 10, columns=["species"])) == 4


def test_least_certain_refuses_mismatched_inputs():
    index = pd.Index([0, 1])
    assignment = _assignment([[0.6, 0.4], [0.2, 0.8]], index)
    penguins = pd.DataFrame({"species": ["A", "B"]}, index=index)
    with pytest.raises(ValueError, match="assign_clusters"):
        least_certain(assignment.drop(columns="probability"), penguins, columns=["species"])
    with pytest.raises(ValueError, match="does not"):
        least_certain(assignment, penguins.iloc[:1], columns=["species"])
    with pytest.raises(ValueError, match="bill_length_mm"):
        least_certain(assignment, penguins)
    with pytest.raises(ValueError, match="positive integer"):
        least_certain(assignment, penguins, 0, columns=["species"])
