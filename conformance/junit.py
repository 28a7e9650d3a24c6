"""The results as JUnit XML, the report CI systems read: a test suite per group, a test case
per check (health checks included), the level, RFC section, rule and title as properties, a
failure with its reason and exchange, a skip with its reason."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from conformance.verdict import CheckResult, Verdict


def to_junit(target: str, results: Sequence[CheckResult]) -> bytes:
    """An XML document (UTF-8, with its declaration) for `results` graded against `target`."""
    root = ET.Element("testsuites", name=f"SMTP conformance of {target}")
    suites: dict[str, ET.Element] = {}
    for result in results:
        suite = suites.get(result.group)
        if suite is None:
            suite = suites[result.group] = ET.SubElement(root, "testsuite", name=result.group)
        case = ET.SubElement(
            suite, "testcase", classname=f"conformance.{result.group}", name=result.id
        )
        properties = ET.SubElement(case, "properties")
        for name, value in (
            ("level", result.level.value),
            ("rfc", result.rfc),
            ("rule", result.rule),
            ("title", result.title),
        ):
            ET.SubElement(properties, "property", name=name, value=value)
        if result.verdict is Verdict.FAIL:
            failure = ET.SubElement(
                case, "failure", message=result.reason, type=f"{result.level.value} nonconformance"
            )
            failure.text = "\n".join(result.transcript)
        elif result.verdict is Verdict.SKIP:
            ET.SubElement(case, "skipped", message=result.reason)
    for element in (root, *suites.values()):
        _count(element)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _count(element: ET.Element) -> None:
    """Set the tests, failures, errors and skipped totals CI systems show."""
    cases = list(element.iter("testcase"))
    element.set("tests", str(len(cases)))
    element.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    element.set("errors", "0")
    element.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
