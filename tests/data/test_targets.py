"""How targets are labelled."""

from atmoscope.data.targets import target_label, target_labels


def test_target_labels_name_known_targets_and_pass_others_through():
    assert target_label("temperature") == ("Teff", "K")
    assert target_label("radius") == ("radius", "")
    assert target_labels(["gravity", "c_o_ratio", "radius"]) == (
        ["log g", "C/O", "radius"], ["dex", "", ""])
