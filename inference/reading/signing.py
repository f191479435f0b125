"""Tokens for catalogues whose assets are not public as they stand: Planetary Computer's SAS tokens.

Microsoft Planetary Computer serves Sentinel-2 from Azure Blob Storage, where each
request needs a shared-access-signature (SAS) token appended to the URL. The
token is never part of the plugin: a user gives either

- a token (the query string "st=...&se=...&sig=..." a token service handed out), or
- a signing endpoint: a URL that hands out tokens, "{collection}" replaced by the
  item's collection (Planetary Computer's is
  https://planetarycomputer.microsoft.com/api/sas/v1/token/{collection}); the
  token it returns is kept in memory until shortly before it expires
  (remote.endpoint_token asks it).

Both come from the environment (S2CLOUDMASK_STAC_TOKEN, S2CLOUDMASK_STAC_SIGNING_URL),
which the QGIS side fills from the plugin's settings and the batch command line from
its options; the batch's worker processes inherit it. A token never appears in a
message, a record or an output's metadata (see remote.display_url).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

TOKEN_VARIABLE = "S2CLOUDMASK_STAC_TOKEN"
SIGNING_URL_VARIABLE = "S2CLOUDMASK_STAC_SIGNING_URL"


@dataclass(frozen=True)
class Signing:
    """A light object (no GDAL, no rasterio): the QGIS side sets it while the engine's packages may be missing."""

    token: str = ""  # a SAS token, the query string without its "?"
    endpoint: str = ""  # a URL handing out tokens; "{collection}" is replaced by the item's collection

    @classmethod
    def from_environment(cls) -> "Signing":
        return cls(os.environ.get(TOKEN_VARIABLE, "").strip().lstrip("?"),
                   os.environ.get(SIGNING_URL_VARIABLE, "").strip())

    def export(self) -> None:
        """Into this process's environment, where the engine and every worker process started later read it."""
        for variable, value in ((TOKEN_VARIABLE, self.token), (SIGNING_URL_VARIABLE, self.endpoint)):
            if value:
                os.environ[variable] = value
            else:
                os.environ.pop(variable, None)


def signed(href: str, token: str) -> str:
    """href with the token appended to its query; an href that already carries a signature stays as it is."""
    if not token or urlparse(href).scheme.lower() not in ("http", "https") or "sig=" in urlparse(href).query:
        return href
    return href + ("&" if "?" in href else "?") + token.lstrip("?")
