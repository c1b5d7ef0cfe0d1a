"""O1-O4 (and O4 after AdaBN): the paper's four observations, per architecture x task x donor.

Each test replaces, in every seed's target, the groups the observation is about with the
donor's tensors and judges the mean over seeds by its interval over seeds and test images. Thresholds and the configurations
where an observation is known not to reproduce (strict xfail) live in ``observations.toml``.
"""

import pytest

from reusebench.lab import Case, EmptyGroupError


@pytest.mark.claims()  # every claim defined by group damages (O1-O4, O4r)
def test_observation(claim_case, lab, judge):
    c, claim = claim_case, claim_case.observation
    per_seed, parts = {}, []
    try:
        for seed in lab.seeds:
            damages, images = {}, {}
            for term in claim.terms:  # "group" or "group@recalibration"
                group, _, recalibration = term.partition("@")
                case = Case(c.arch, c.task, group, c.case, lab.dataset, recalibration=recalibration or "none", seed=seed)
                damages[term] = lab.measure(case)["damage"]
                images[term] = lab.image_parts(case)
            per_seed[seed] = (claim.value_of(damages), ", ".join(f"damage({t})={d:.3f}" for t, d in damages.items()))
            parts.append(images)
    except EmptyGroupError as exc:
        pytest.skip(str(exc))
    judge(c, per_seed, claim.image_values(parts), n_images=len(next(iter(parts[0].values()))[0]))
