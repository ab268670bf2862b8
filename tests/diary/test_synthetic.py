"""The synthetic patients behind the demo clinic and the benchmarks read like real records."""

import random

from diary import synthetic


def test_given_names_go_with_the_recorded_sex():
    profiles = [synthetic.patient_profile(random.Random(seed), seed) for seed in range(400)]

    for profile in profiles:
        assert profile.given_name in synthetic.GIVEN_NAMES[profile.sex], profile
    female, male = set(synthetic.GIVEN_NAMES["female"]), set(synthetic.GIVEN_NAMES["male"])
    assert not female & male
    # "other" and "unknown" take names used for anyone, never one read as the other sex.
    assert not (set(synthetic.GIVEN_NAMES["other"]) | set(synthetic.GIVEN_NAMES["unknown"])) & (female | male)
    assert {p.sex for p in profiles} == {"female", "male", "other", "unknown"}
