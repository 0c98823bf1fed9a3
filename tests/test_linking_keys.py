"""The parts of linking that need no database: keyed ID deletion variants, name and address blocks, the
one-byte comparison form, deterministic groups, the refusing union-find, stable ids and pairwise scores."""
from __future__ import annotations

import hashlib
from dataclasses import fields
from typing import NamedTuple

import numpy as np
import pytest

from hub.keys import Keyring
from hub.linking.candidate_keys import VARIANT_BYTES, CandidateKeys
from hub.linking.clusters import DECIDED_DIFFERENT, DIFFERENT_IDS, Clusters
from hub.linking.deterministic import link_by_id, near_id_groups
from hub.linking.names import normal_form
from hub.linking.quality import pair_scores
from hub.linking.records import KeyRow, comparison_form
from hub.linking.stable_ids import assign_record_ids
from hub.thai.citizen_id import IdStatus, parse_citizen_id, with_check_digit

ID = with_check_digit("340110025876")
OTHER_ID = with_check_digit("150990031447")


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> CandidateKeys:
    return CandidateKeys(Keyring.create(tmp_path_factory.mktemp("keyring")))


def variants(keys: CandidateKeys, digits: str) -> set[bytes]:
    blob = keys.id_variants(digits)
    assert blob is not None and len(blob) % VARIANT_BYTES == 0
    return {blob[i:i + VARIANT_BYTES] for i in range(0, len(blob), VARIANT_BYTES)}


def substituted(digits: str, i: int, by: int = 3) -> str:
    return digits[:i] + str((int(digits[i]) + by) % 10) + digits[i + 1:]


def key_row(pk: int, digits: str | None, keys: CandidateKeys, *, sex: str | None = "M",
            birth_year: int | None = 1970) -> KeyRow:
    """A record's keys as linking loads them (the linkage key here a plain hash, for the test)."""
    values = {f.name: None for f in fields(KeyRow)}
    key = hashlib.sha256(digits.encode()).digest() if digits else None
    valid = digits is not None and (cid := parse_citizen_id(digits)) is not None and cid.status is IdStatus.VALID
    values.update(pk=pk, source="tpmap", record_id=f"TP66-3401-{pk:07d}", person_id=f"p{pk}", household_id=f"h{pk}",
                  any_key=key, valid_key=key if valid else None, variants=keys.id_variants(digits), sex=sex,
                  birth_year=birth_year, tambon_code="340101", created_run_id=1, run_id=1)
    return KeyRow(**values)


# ------------------------------------------------------------------------------------ citizen ID variants


@pytest.mark.parametrize("near", [
    pytest.param(substituted(ID, 0), id="first digit mistyped"),
    pytest.param(substituted(ID, 6), id="middle digit mistyped"),
    pytest.param(substituted(ID, 12), id="check digit mistyped"),
    pytest.param(ID[:4] + ID[5] + ID[4] + ID[6:], id="adjacent digits swapped"),
    pytest.param(ID[:11] + ID[12] + ID[11], id="last two digits swapped"),
    pytest.param(ID[:7] + ID[8:], id="one digit dropped (12 digits)"),
    pytest.param(ID[:7] + ID[7] + ID[7:], id="one digit doubled (14 digits)"),
    pytest.param(ID[:12] + "7" + ID[12:], id="one digit inserted (14 digits)"),
])
def test_an_id_one_edit_away_shares_a_variant_with_the_true_id(keys, near):
    assert near != ID
    assert variants(keys, ID) & variants(keys, near)


def test_unrelated_valid_ids_share_no_variant(keys):
    assert parse_citizen_id(OTHER_ID).status is IdStatus.VALID
    assert not variants(keys, ID) & variants(keys, OTHER_ID)


def test_ids_two_substitutions_apart_share_no_variant(keys):
    assert not variants(keys, ID) & variants(keys, substituted(substituted(ID, 3), 9))


def test_a_third_digit_typo_keeps_the_id_valid_but_is_only_near(keys):
    typo = substituted(ID, 2)  # the third digit's weight is 11: the check digit cannot see it
    assert parse_citizen_id(typo).status is IdStatus.VALID and typo != ID
    assert keys.id_variants(typo) != keys.id_variants(ID)
    assert variants(keys, ID) & variants(keys, typo)
    rows = [key_row(1, ID, keys), key_row(2, typo, keys), key_row(3, OTHER_ID, keys)]
    near = near_id_groups(rows)
    assert near[0] is not None and near[0] == near[1]
    assert near[2] is None
    assert link_by_id(rows).groups == []  # two valid IDs, however near, are not the same ID


def test_variants_differ_under_another_keyring(keys, tmp_path):
    other = CandidateKeys(Keyring.create(tmp_path / "other"))
    assert not variants(keys, ID) & variants(other, ID)


@pytest.mark.parametrize("digits", [ID, OTHER_ID, "1100100000001", "3401100258766"])
def test_the_variant_blob_holds_no_clear_id_and_no_deletion_of_it(keys, digits):
    blob = keys.id_variants(digits)
    deletions = {digits[:i] + digits[i + 1:] for i in range(len(digits))}
    assert digits.encode() not in blob
    assert not [d for d in deletions if d.encode() in blob]
    assert len(blob) == VARIANT_BYTES * len(deletions | {digits})  # one hash per distinct form


@pytest.mark.parametrize("written", [None, "", "34011002587", "340110025876612", "3-4011-00258-76-6", "34011OO258766"])
def test_only_12_to_14_plain_digits_get_variants(keys, written):
    assert keys.id_variants(written) is None


# ------------------------------------------------------------------------------------------ name blocks


@pytest.mark.parametrize(("written", "variant"), [
    ("ศิริพร", "สิริพร"),  # ศ/ส
    ("บุษบา", "บุศบา"),  # ษ/ศ
    ("อรุณี", "อรุนี"),  # ณ/น
    ("ธนพล", "ทนพล"),  # ธ/ท
    ("สุภาพร", "สุพาพร"),  # ภ/พ
    ("แก้วตา", "แกวตา"),  # mai tho dropped
    ("น้ำฝน", "นำฝน"),  # mai tho dropped
], ids=["so sala-so suea", "so ruesi-so sala", "no nen-no nu", "tho thong-tho thahan", "pho samphao-pho phan",
        "mai tho dropped", "mai tho dropped from nam"])
def test_name_blocks_agree_across_thai_spelling_variants(keys, written, variant):
    assert keys.name_blocks(written, "ศรีสุข", 1980, "F") == keys.name_blocks(variant, "สรีสุข", 1980, "F")
    assert None not in keys.name_blocks(written, "ศรีสุข", 1980, "F")


def test_name_blocks_agree_when_a_thanthakhat_is_dropped(keys):
    """BUG (hub/linking/candidate_keys.py, CandidateKeys.name_blocks): the blocks use the LK82 key alone,
    which changes when the thanthakhat (์) is dropped, a variant hub/linking/names.py says the phonetic keys
    absorb (the Prayut & Somchaip key does). Records meeting only through a name block never meet."""
    for written, variant in (("สมศักดิ์", "สมศักดิ"), ("จันทร์เพ็ญ", "จันทรเพ็ญ"), ("พิมพ์ใจ", "พิมพใจ")):
        assert keys.name_blocks(written, "ใจดี", 1980, "F") == keys.name_blocks(variant, "ใจดี", 1980, "F"), written


def test_name_blocks_tell_different_names_years_and_sexes_apart(keys):
    by_year, by_name = keys.name_blocks("สมพร", "ใจดี", 1967, "F")
    assert keys.name_blocks("สมใจ", "ใจดี", 1967, "F")[0] != by_year
    assert keys.name_blocks("สมพร", "ใจดี", 1968, "F") == (keys.name_blocks("สมพร", "ใจดี", 1968, "F")[0], by_name)
    assert keys.name_blocks("สมพร", "ใจดี", 1968, "F")[0] != by_year
    assert keys.name_blocks("สมพร", "ใจดี", 1967, "M")[0] != by_year
    assert keys.name_blocks("สมพร", "ทองคำ", 1967, "F") == (by_year, keys.name_blocks("สมพร", "ทองคำ", 1967, "F")[1])
    assert keys.name_blocks("สมพร", "ทองคำ", 1967, "F")[1] != by_name


@pytest.mark.parametrize(("first", "last", "year", "sex", "expected"), [
    (None, "ใจดี", 1967, "F", (False, False)),
    ("", "ใจดี", 1967, "F", (False, False)),
    ("สมพร", None, 1967, "F", (True, False)),
    ("สมพร", "ใจดี", None, "F", (False, True)),
    ("สมพร", "ใจดี", 1967, None, (False, True)),
    ("สมพร", "ใจดี", 1967, "F", (True, True)),
])
def test_name_blocks_are_none_where_a_part_is_missing(keys, first, last, year, sex, expected):
    blocks = keys.name_blocks(first, last, year, sex)
    assert tuple(b is not None for b in blocks) == expected


def test_name_blocks_are_keyed_signed_64_bit_integers(keys, tmp_path):
    other = CandidateKeys(Keyring.create(tmp_path / "other"))
    ours = keys.name_blocks("สมพร", "ใจดี", 1967, "F")
    assert all(isinstance(b, int) and -2**63 <= b < 2**63 for b in ours)
    assert not set(ours) & set(other.name_blocks("สมพร", "ใจดี", 1967, "F"))


def test_address_blocks_need_a_house_number_and_ignore_its_spaces(keys):
    assert keys.address_block("340101", 4, None) is None
    assert keys.address_block("340101", 4, " ") is None
    assert keys.address_block("340101", 4, "12 / 3") == keys.address_block("340101", 4, "12/3")
    assert keys.address_block("340101", 5, "12/3") != keys.address_block("340101", 4, "12/3")
    assert keys.address_block("340102", 4, "12/3") != keys.address_block("340101", 4, "12/3")


# -------------------------------------------------------------------------------------- comparison form


def test_comparison_form_writes_each_thai_letter_as_one_ascii_byte():
    assert comparison_form("กข") == '!"'  # U+0E01, U+0E02 -> 0x21, 0x22
    for name in ("สมพร", "จันทร์เพ็ญ", "ณ อุบล", "บุญเรือน"):
        form = comparison_form(name)
        assert form.isascii()
        assert len(form.encode()) == len(normal_form(name)) == len(name.replace(" ", ""))
    assert comparison_form("ศักดิ์") != comparison_form("สักดิ์")
    assert comparison_form("ณ อุบล") == comparison_form("ณอุบล")


@pytest.mark.parametrize("blank", [None, "", " ", "   "])
def test_comparison_form_of_a_blank_name_is_none(blank):
    assert comparison_form(blank) is None


# --------------------------------------------------------------------------------- deterministic stage


def test_one_valid_id_is_one_person_unless_sex_and_birth_year_both_differ(keys):
    rows = [
        key_row(1, ID, keys, sex="M", birth_year=1970),
        key_row(2, ID, keys, sex="M", birth_year=1971),  # a year off: still the ID's person
        key_row(3, ID, keys, sex="F", birth_year=1970),  # another sex: still the ID's person
        key_row(4, ID, keys, sex="F", birth_year=1995),  # both differ: a conflict for review
        key_row(5, OTHER_ID, keys),
        key_row(6, substituted(ID, 5), keys),  # the check fails: not a valid ID, no group
    ]
    links = link_by_id(rows)
    assert links.groups == [[0, 1, 2]]
    assert links.conflicts == [(0, 3)]


# ------------------------------------------------------------------------------------ refusing clusters


def test_clusters_refuse_to_join_two_different_valid_ids():
    a, b = b"A" * 32, b"B" * 32
    clusters = Clusters(4, [a, b, None, a])
    assert clusters.refusal(0, 1) == DIFFERENT_IDS
    assert clusters.refusal(0, 3) is None  # the same ID
    assert clusters.refusal(0, 2) is None  # no ID
    clusters.union(1, 2)
    assert clusters.refusal(0, 2) == DIFFERENT_IDS  # 2 now belongs to b's cluster
    assert clusters.refusal(1, 2) is None  # already one cluster


def test_clusters_let_ids_one_edit_apart_join_only_one_to_one():
    a, b, c = b"A" * 32, b"B" * 32, b"C" * 32
    clusters = Clusters(3, [a, b, c])
    assert clusters.refusal(0, 1, one_edit_ids=True) is None
    clusters.union(0, 1)
    assert clusters.refusal(0, 2, one_edit_ids=True) == DIFFERENT_IDS  # a cluster holding two IDs already


def test_clusters_keep_apart_what_people_decided_is_two_persons():
    clusters = Clusters(4, [None, None, None, None])
    clusters.keep_apart(0, 1)
    assert clusters.refusal(0, 1) == DECIDED_DIFFERENT
    assert clusters.refusal(0, 2) is None
    clusters.union(1, 2)
    clusters.union(0, 3)
    assert clusters.refusal(3, 2) == DECIDED_DIFFERENT  # through the members the clusters gained
    assert clusters.refusal(2, 3, check_ids=False) == DECIDED_DIFFERENT


def test_restoring_earlier_joins_skips_the_id_check_but_not_decisions():
    a, b = b"A" * 32, b"B" * 32
    clusters = Clusters(3, [a, b, None])
    assert clusters.refusal(0, 1, check_ids=False) is None
    clusters.keep_apart(1, 2)
    assert clusters.refusal(1, 2, check_ids=False) == DECIDED_DIFFERENT


# ----------------------------------------------------------------------------------------- stable ids


OLD, NEWER, NEWEST = (1, 10), (2, 20), (3, 30)  # (created run, row id): smaller is older


class Assigned(NamedTuple):
    ids: list[str]  # each cluster's id, in the order given
    retired: dict[str, str]


def assign_ids(clusters: list[list[int]], held: list[str], age: list[tuple[int, int]]) -> Assigned:
    """:func:`assign_record_ids` for ``clusters`` given as lists of record indexes."""
    group_of = np.empty(len(held), dtype=np.int64)
    for group, members in enumerate(clusters):
        group_of[members] = group
    ids, retired = assign_record_ids(group_of, held, np.array([a[0] for a in age]), np.array([a[1] for a in age]))
    return Assigned([ids[members[0]] for members in clusters], retired)


def test_a_merge_keeps_the_oldest_id_and_retires_the_others():
    result = assign_ids([[0, 1, 2]], ["B", "A", "C"], [NEWER, OLD, NEWEST])
    assert result.ids == ["A"]
    assert result.retired == {"B": "A", "C": "A"}


def test_clusters_that_do_not_change_keep_their_ids_and_retire_nothing():
    result = assign_ids([[0, 1], [2]], ["A", "A", "B"], [OLD, NEWER, NEWEST])
    assert result.ids == ["A", "B"]
    assert result.retired == {}


def test_a_split_leaves_the_id_with_its_oldest_holder():
    result = assign_ids([[0], [1, 2]], ["A", "A", "A"], [NEWER, OLD, NEWEST])
    assert result.ids[1] == "A"
    assert result.ids[0] not in ("A", "")
    assert result.retired == {}


def test_a_cluster_with_no_id_of_its_own_gets_a_fresh_one():
    result = assign_ids([[0], [1]], ["A", "A"], [OLD, NEWER])
    fresh = result.ids[1]
    assert result.ids[0] == "A"
    assert len(fresh) == 32 and int(fresh, 16) >= 0
    assert assign_ids([[0], [1]], ["A", "A"], [OLD, NEWER]).ids[1] != fresh  # random, never reused


def test_a_retired_id_redirects_to_the_cluster_that_took_its_oldest_holder():
    # B's two records join two older persons, A and C: B is retired towards C, which took B's oldest record
    result = assign_ids([[0, 1], [2, 3]], ["A", "B", "C", "B"], [(1, 1), (1, 5), (1, 2), (1, 3)])
    assert result.ids == ["A", "C"]
    assert result.retired == {"B": "C"}


def test_the_part_of_a_split_that_loses_its_oldest_id_keeps_its_next_oldest():
    """BUG (hub/linking/stable_ids.py, assign_record_ids): the cluster holding ids A (contested, lost to the
    cluster with A's oldest holder) and B (held by nobody else) must keep B, its next-oldest id, as the
    module says; it gets a fresh id instead and B is retired, renumbering B's person for nothing."""
    result = assign_ids([[0, 1], [2]], ["A", "B", "A"], [NEWER, NEWEST, OLD])
    assert result.ids == ["B", "A"]
    assert result.retired == {}


# ----------------------------------------------------------------------------------------- pair scores


def test_pair_scores_count_pairs_of_records():
    predicted = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 3}
    truth = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Z"}
    scores = pair_scores(predicted, truth)
    # linked: ab ac bc; truly one: ab cd -> ab right, ac bc false, cd missed
    assert (scores.true_positive, scores.false_positive, scores.false_negative) == (1, 2, 1)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 2)
    assert scores.f1 == pytest.approx(0.4)


def test_pair_scores_only_count_records_both_sides_know():
    scores = pair_scores({"a": 1, "b": 1, "c": 1}, {"a": "X", "b": "X", "z": "X"})
    assert (scores.true_positive, scores.false_positive, scores.false_negative) == (1, 0, 0)


def test_pair_scores_of_perfect_and_of_no_links():
    truth = {"a": "X", "b": "X", "c": "Y"}
    perfect = pair_scores({"a": 7, "b": 7, "c": 8}, truth)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    apart = pair_scores({"a": 1, "b": 2, "c": 3}, truth)
    assert (apart.true_positive, apart.false_positive, apart.false_negative) == (0, 0, 1)
    assert (apart.precision, apart.recall, apart.f1) == (1.0, 0.0, 0.0)
    nothing = pair_scores({}, {})
    assert (nothing.precision, nothing.recall) == (1.0, 1.0)
