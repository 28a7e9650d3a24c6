"""Every check group, in report order; importing a module registers its checks."""

from __future__ import annotations

from conformance.checks import (
    proxy,
    rfc1870,
    rfc2033,
    rfc2033_data,
    rfc2034,
    rfc2034_classes,
    rfc2920,
    rfc3030,
    rfc3030_binarymime,
    rfc3207,
    rfc3461,
    rfc4954,
    rfc4954_edges,
    rfc4954_mail,
    rfc5321_data,
    rfc5321_mail,
    rfc5321_session,
    rfc6152,
    rfc6531,
    robustness,
    slow,
    smuggling,
    tls,
    tls_certificate,
    tls_ciphers,
    tls_handshake,
    xclient,
)
from conformance.registry import Group

# rfc5321_mail and rfc5321_data add their checks to the rfc5321 group when imported.
_RFC5321_PARTS = (rfc5321_mail, rfc5321_data)
_RFC2033_PARTS = (rfc2033_data,)  # adds its checks to the rfc2033 group
_RFC2034_PARTS = (rfc2034_classes,)
_RFC3030_PARTS = (rfc3030_binarymime,)
_RFC4954_PARTS = (rfc4954_edges, rfc4954_mail)
_TLS_PARTS = (tls_ciphers, tls_certificate, tls_handshake)  # add to the tls group

GROUPS: tuple[Group, ...] = (
    rfc5321_session.GROUP,
    rfc1870.GROUP,
    rfc2034.GROUP,
    rfc2920.GROUP,
    rfc3030.GROUP,
    rfc3207.GROUP,
    tls.GROUP,
    rfc4954.GROUP,
    rfc6152.GROUP,
    rfc6531.GROUP,
    rfc3461.GROUP,
    rfc2033.GROUP,
    smuggling.GROUP,
    robustness.GROUP,
    proxy.GROUP,
    xclient.GROUP,
    slow.GROUP,
)
