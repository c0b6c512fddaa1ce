"""Stable pseudonyms for people's names in exports (`export --anonymize`).

A person's pseudonym is `rater-` and 10 hex digits of HMAC-SHA256 keyed with the
workspace's random id: the same person gets the same pseudonym in every export of one
workspace (so rows can still be grouped by rater), other workspaces give other ones, and
the file alone does not give the name back (guessing a name needs the workspace's id,
which no data export writes). AI raters (`ai:<judge>`) are models, not people: kept.
"""

from __future__ import annotations

import hashlib
import hmac

from core.store.rows import is_ai_rater

_DOMAIN = b"rlhf-studio rater pseudonym\x00"
"""Keeps these digests apart from any other use of the workspace id."""


def pseudonym(workspace_id: str, rater: str) -> str:
    """`rater-<10 hex>` for a person; an AI rater's name unchanged."""
    if is_ai_rater(rater):
        return rater
    digest = hmac.new(workspace_id.encode(), _DOMAIN + rater.encode(), hashlib.sha256)
    return "rater-" + digest.hexdigest()[:10]
