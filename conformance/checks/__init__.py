"""Every check group, in report order; importing a module registers its checks."""

from __future__ import annotations

from conformance.checks import (
    proxy,
    rfc1870,
    rfc2034,
    rfc2034_classes,
    rfc2920,
    rfc3030,
    rfc3207,
    rfc3461,
    rfc4954,
    rfc5321_data,
    rfc5321_mail,
    rfc5321_session,
    rfc6152,
    rfc6531,
    robustness,
    slow,
    smuggling,
    xclient,
)
from conformance.registry import Group

# rfc5321_mail and rfc5321_data add their checks to the rfc5321 group when imported.
_RFC5321_PARTS = (rfc5321_mail, rfc5321_data)
_RFC2034_PARTS = (rfc2034_classes,)

GROUPS: tuple[Group, ...] = (
    rfc5321_session.GROUP,
    rfc1870.GROUP,
    rfc2034.GROUP,
    rfc2920.GROUP,
    rfc3030.GROUP,
    rfc3207.GROUP,
    rfc4954.GROUP,
    rfc6152.GROUP,
    rfc6531.GROUP,
    rfc3461.GROUP,
    smuggling.GROUP,
    robustness.GROUP,
    proxy.GROUP,
    xclient.GROUP,
    slow.GROUP,
)
