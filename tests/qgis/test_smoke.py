from s2cloudmask.inference import classes


def test_scl_mapping_covers_codes(qgis_app):
    assert set(classes.SCL_TO_MASK) == set(range(12))
