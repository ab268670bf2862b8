"""Vocabularies: closed lists with the codes the clinical reference verifies, served to apps."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from clinic.vocabulary import LATERALITY, ORAL_DRUGS, RXNORM, SNOMED, local_system
from diary.api.serializers import DiaryEntryInput
from diary.vocabulary import BODY_REGIONS, RED_FLAGS, TRIGGERS, VOCABULARIES


def test_vocabularies_endpoint_lists_every_vocabulary_with_codes(patient_api):
    body = patient_api.get("/api/v1/vocabularies").json()

    names = {v["name"] for v in body["vocabularies"]}
    assert {"body-region", "spasm-trigger", "relief-measure", "side-effect", "red-flag", "impact-domain"} <= names
    assert {"antispasticity-drug", "therapy-activity", "orthotic-device", "laterality"} <= names
    triggers = next(v for v in body["vocabularies"] if v["name"] == "spasm-trigger")
    cold = next(w for w in triggers["words"] if w["name"] == "cold")
    assert cold["label"] == "Cold weather"
    assert cold["codes"] == [{"system": local_system("spasm-trigger"), "code": "cold", "display": "Cold weather"}]
    assert body["scales"]["relief_helped"]["3"] == "Stopped it"


def test_vocabularies_need_a_token(db, client):
    assert client.get("/api/v1/vocabularies").status_code == 401


@pytest.mark.parametrize(
    ("vocabulary", "word", "system", "code"),
    [
        (BODY_REGIONS, "left_calf", SNOMED, "30021000"),
        (BODY_REGIONS, "right_wrist", SNOMED, "74670003"),
        (BODY_REGIONS, "trunk", SNOMED, "22943007"),
        (LATERALITY, "left", SNOMED, "7771000"),
        (LATERALITY, "right", SNOMED, "24028007"),
        (ORAL_DRUGS, "baclofen", RXNORM, "1292"),
        (ORAL_DRUGS, "dantrolene", RXNORM, "3105"),
        (ORAL_DRUGS, "gabapentin", RXNORM, "25480"),
        (ORAL_DRUGS, "diazepam", RXNORM, "3322"),
    ],
)
def test_standard_codes_are_those_the_reference_verifies(vocabulary, word, system, code):
    assert vocabulary.coding(word, system).code == code


@pytest.mark.parametrize("word", ["tizanidine", "clonazepam"])
def test_unverified_drugs_carry_no_rxnorm_code(word):
    assert ORAL_DRUGS.coding(word, RXNORM) is None
    assert ORAL_DRUGS.coding(word, "antispasticity-drug").code == word


def test_every_word_has_a_code_in_our_own_system_and_a_label():
    for vocabulary in VOCABULARIES:
        for word in vocabulary:
            assert word.name == word.name.lower().replace(" ", "_")
            assert word.label
            assert vocabulary.coding(word.name, vocabulary.name).code == word.name


def test_every_red_flag_says_whom_it_concerns():
    assert {w.attrs["context"] for w in RED_FLAGS} == {"any", "itb_pump", "botulinum_toxin"}
    assert {"sudden_tone_change", "fever", "severe_pain", "new_weakness"} <= {
        w.name for w in RED_FLAGS if w.attrs["context"] == "any"
    }


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_any_word_outside_the_trigger_list_is_rejected(word):
    serializer = DiaryEntryInput()
    field = serializer.fields["triggers"]
    if word in TRIGGERS:
        assert field.run_validation([word]) == [word]
    else:
        with pytest.raises(ValidationError, match="vocabulary"):
            field.run_validation([word])
