"""grader.nbgrader_helpers.check_cell_metadata_cheaply: nbgrader's cell-metadata check, same verdicts, one validator."""

from __future__ import annotations

import jsonschema
import pytest
from nbgrader.nbgraderformat import common
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

from grader.nbgrader_helpers import check_cell_metadata_cheaply

GOOD = {"grade": False, "grade_id": "x", "solution": True, "locked": False, "schema_version": 3}
BAD = [{**GOOD, "grade": "yes"}, {**GOOD, "points": "two"}, {**GOOD, "surprise": 1}, {"grade_id": "x"}]


def verdicts(schema) -> list[str | None]:
    found = []
    for metadata in [GOOD, *BAD]:
        try:
            common.jsonschema.validate(metadata, schema)
            found.append(None)
        except jsonschema.ValidationError as error:
            found.append(error.message)
    return found


def test_the_checks_and_their_messages_do_not_change(monkeypatch):
    monkeypatch.setattr(common, "jsonschema", jsonschema)  # nbgrader's own first, whatever ran before
    schema = MetadataValidatorV3().schema
    before = verdicts(schema)
    assert before[0] is None and all(before[1:])
    check_cell_metadata_cheaply()
    check_cell_metadata_cheaply()  # idempotent
    assert common.jsonschema.reuses_validators
    assert verdicts(schema) == before
    with pytest.raises(jsonschema.ValidationError):
        MetadataValidatorV3().validate_cell(type("Cell", (), {"metadata": {"nbgrader": BAD[0]}})())
