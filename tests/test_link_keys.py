"""The pieces of linking that need no database: keyed ID deletion variants, name forms, stable ids,
refused merges, pairwise scores."""
from __future__ import annotations

import pytest

from hub.keys import Keyring
from hub.linking.candidate_keys import VARIANT_BYTES, CandidateKeys
from hub.linking.clusters import DECIDED_DIFFERENT, DIFFERENT_IDS, Clusters
from hub.linking.deterministic import near_id_groups
from hub.linking.quality import pair_scores
from hub.linking.records import KeyRow, comparison_form
from hub.linking.stable_ids import assign_ids
from hub.thai.citizen_id import check_digit, with_check_digit

ID = with_check_digit("340110012345")


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> CandidateKeys:
    return CandidateKeys(Keyring.create(tmp_path_factory.mktemp("keys")))


def variants(keys: CandidateKeys, digits: str) -> set[bytes]:
    blob = keys.id_variants(digits)
    return {blob[i:i + VARIANT_BYTES] for i in range(0, len(blob), VARIANT_BYTES)}


def substituted(digits: str, i: int) -> str:
    return digits[:i] + str((int(digits[i]) + 1) % 10) + digits[i + 1:]


@pytest.mark.parametrize("near", [
    substituted(ID, 0), substituted(ID, 6), substituted(ID, 12),  # one digit mistyped
    ID[:4] + ID[5] + ID[4] + ID[6:],  # two adjacent digits swapped
    ID[:7] + ID[8:],  # one digit dropped (12 digits)
    ID[:7] + ID[7] + ID[7:],  # one digit doubled (14 digits)
])
def test_ids_one_edit_apart_share_a_variant(keys, near):
    assert near != ID and variants(keys, ID) & variants(keys, near)


def test_ids_two_edits_apart_or_unrelated_share_none(keys):
    assert not variants(keys, ID) & variants(keys, substituted(substituted(ID, 2), 9))
    assert not variants(keys, ID) & variants(keys, with_check_digit("110020098765"))


def test_a_typo_in_the_third_digit_keeps_the_check_digit_valid_but_is_only_near(keys):
    typo = substituted(ID, 2)
    assert check_digit(typo[:12]) == int(typo[12])  # the weight of the third digit is 11: the check misses it
    rows = [_row(keys, 1, ID), _row(keys, 2, typo), _row(keys, 3, with_check_digit("550219900014"))]
    near = near_id_groups(rows)
    assert near[0] is not None and near[0] == near[1] and near[2] is None


def test_variants_are_keyed_and_hold_no_clear_digits(keys, tmp_path):
    other = CandidateKeys(Keyring.create(tmp_path / "other"))
    assert not variants(keys, ID) & variants(other, ID)
    blob = keys.id_variants(ID)
    assert ID.encode() not in blob and ID[:12].encode() not in blob and ID[1:].encode() not in blob
    assert keys.id_variants("12345") is None and keys.id_variants("34011ABC12345") is None


def test_name_blocks_agree_across_thai_spelling_variants(keys):
    assert keys.name_blocks("ศรีสุข", "ใจดี", 1980, "F") == keys.name_blocks("สรีสุข", "ใจดี", 1980, "F")
    assert keys.name_blocks("สมศักดิ์", "บุญมา", 1980, "M")[1] == keys.name_blocks("สมสักดิ์", "บุญมา", 1990, "M")[1]
    assert keys.name_blocks(None, "ใจดี", 1980, "M") == (None, None)
    assert keys.name_blocks("สมชาย", None, None, "M") == (None, None)


def test_thai_letters_are_compared_one_byte_each():
    form = comparison_form("สม ชาย")
    assert len(form) == len("สมชาย") and form.isascii()
    assert comparison_form("สมชาย") != comparison_form("สมชัย") and comparison_form(None) is None


def test_a_merge_keeps_the_oldest_id_and_retires_the_other():
    assignment = assign_ids([[0, 1]], ["a", "b"], [(1, 1), (2, 2)])
    assert assignment.ids == ["a"] and assignment.retired == {"b": "a"}


def test_a_split_leaves_the_id_with_its_oldest_holder_and_gives_the_rest_another():
    assignment = assign_ids([[0, 2], [1]], ["a", "a", "c"], [(1, 1), (1, 2), (3, 3)])
    assert assignment.ids[0] == "a" and assignment.ids[1] not in ("a", "c")
    assert assignment.retired == {"c": "a"}


def test_clusters_refuse_two_different_ids_and_a_decided_pair():
    clusters = Clusters(4, [b"A", b"B", None, None])
    assert clusters.refusal(0, 1) == DIFFERENT_IDS
    assert clusters.refusal(0, 1, one_edit_ids=True) is None
    clusters.keep_apart(2, 3)
    clusters.union(0, 2)
    assert clusters.refusal(0, 3) == DECIDED_DIFFERENT and clusters.refusal(1, 3) is None


def test_pairwise_scores_count_pairs():
    truth = {1: "x", 2: "x", 3: "x", 4: "y"}
    scores = pair_scores({1: "p", 2: "p", 3: "q", 4: "q"}, truth)
    assert (scores.true_positive, scores.false_positive, scores.false_negative) == (1, 1, 2)
    assert scores.precision == 0.5 and scores.recall == pytest.approx(1 / 3)


def _row(keys: CandidateKeys, pk: int, digits: str) -> KeyRow:
    """A stored record holding only an ID (as its linkage key stands the digits: any distinct bytes do)."""
    return KeyRow(pk, "tpmap", str(pk), None, f"p{pk}", f"h{pk}", digits.encode(), None, keys.id_variants(digits),
                  None, None, None, "340101", None, None, None, None, 1, 1)
