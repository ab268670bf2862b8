"""The synthetic patients behind the demo clinic and the benchmarks read like real records."""

import random
from datetime import date, timedelta

from clinic import clinical_rules
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


def test_every_synthetic_injection_session_is_within_the_label_limits():
    # seed_demo records these sessions through the clinical rules without an override reason:
    # a session the rules refuse would stop the demo from loading.
    start = date(2026, 1, 31)  # month ends make the 3-month window longest
    checked = 0
    for seed in range(300):
        rng = random.Random(seed)
        profile = synthetic.patient_profile(rng, seed)
        recorded: list[clinical_rules.PastSession] = []
        for session in synthetic.care_plan(rng, profile, 730).injections:
            injected_on = start + timedelta(days=session.day)
            injections = [clinical_rules.Injection(*site) for site in session.sites]
            breaches = clinical_rules.toxin_session_breaches(
                product=session.product,
                injected_on=injected_on,
                injections=injections,
                units_per_ml=None,
                other_sessions=recorded,
            )
            assert not breaches, (seed, injected_on, breaches)
            recorded.append(clinical_rules.PastSession(injected_on, session.product, sum(i.units for i in injections)))
            checked += 1

    assert checked > 200
