"""Genesys Cloud regions: API base per region; the login host is the API host with `api.` -> `login.`
(as the vendor's SDKs do). Source: platform-client-sdk-python `purecloud_region_hosts.py`."""

from __future__ import annotations

import re

GENESYS_REGIONS = {
    "us_east_1": "https://api.mypurecloud.com",
    "eu_west_1": "https://api.mypurecloud.ie",
    "ap_southeast_2": "https://api.mypurecloud.com.au",
    "ap_northeast_1": "https://api.mypurecloud.jp",
    "eu_central_1": "https://api.mypurecloud.de",
    "us_west_2": "https://api.usw2.pure.cloud",
    "ca_central_1": "https://api.cac1.pure.cloud",
    "ap_northeast_2": "https://api.apne2.pure.cloud",
    "eu_west_2": "https://api.euw2.pure.cloud",
    "ap_south_1": "https://api.aps1.pure.cloud",
    "us_east_2": "https://api.use2.us-gov-pure.cloud",
    "sa_east_1": "https://api.sae1.pure.cloud",
    "me_central_1": "https://api.mec1.pure.cloud",
    "ap_northeast_3": "https://api.apne3.pure.cloud",
    "eu_central_2": "https://api.euc2.pure.cloud",
    "mx_central_1": "https://api.mxc1.pure.cloud",
    "ap_southeast_1": "https://api.apse1.pure.cloud",
    "eusc_de_east_1": "https://api.edee1.eusc-pure.cloud",  # the EU sovereign cloud
}


def genesys_login_url(api_base: str) -> str:
    """`https://api.mypurecloud.de` -> `https://login.mypurecloud.de/oauth/token`; other bases (an
    emulator on loopback) keep their host."""
    return re.sub(r"//api\.", "//login.", api_base.rstrip("/"), count=1) + "/oauth/token"
