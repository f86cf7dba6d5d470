"""``lmux-plug stats``: show a running gateway's router stats as a table.

Stats live in the process that routes (``Router.stats()``); this command reads them from
a gateway started with ``lmux-plug serve --config ...`` over its ``/stats`` endpoint
(``lmux-plug serve``'s default address; a gateway with virtual keys needs one:
``--api-key`` or ``LMUX_PLUG_API_KEY``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

from lmux_plug._secrets import without_userinfo
from lmux_plug.router.stats import render_stats

__all__ = ["stats_main"]


def stats_main(argv: list[str]) -> int:
    """Fetch ``URL/stats`` and print it; 0 on success, 1 when the gateway cannot answer."""
    parser = argparse.ArgumentParser(
        prog="lmux-plug stats",
        description="Show the router statistics of a running gateway as a table.",
    )
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:4000",
        help="The gateway's base URL (default %(default)s).",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("LMUX_PLUG_API_KEY"),
        help="A virtual key of the gateway (default: $LMUX_PLUG_API_KEY).",
    )
    parser.add_argument(
        "--json", action="store_true", help="Print the raw JSON instead of a table."
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="Seconds to wait for the gateway (default 5)."
    )
    args = parser.parse_args(argv)
    url = args.url.rstrip("/").removesuffix("/v1") + "/stats"
    shown = without_userinfo(url)  # messages never show a password of the URL
    if not url.startswith(("http://", "https://")):
        sys.stderr.write(f"error: --url must be http(s), got {without_userinfo(args.url)!r}\n")
        return 2
    if not args.timeout > 0:  # urlopen's "Timeout value out of range" read as a network error
        sys.stderr.write(f"error: --timeout must be a number > 0, got {args.timeout:g}\n")
        return 2
    try:
        headers = {"authorization": f"Bearer {args.api_key}"} if args.api_key else {}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - checked above
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310 - checked above
            stats = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        sys.stderr.write(f"error: {shown} answered {exc.code}: {exc.read()[:200]!r}\n")
        return 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        sys.stderr.write(f"error: cannot read {shown}: {exc}\n")
        return 1
    sys.stdout.write(
        json.dumps(stats, indent=2) + "\n" if args.json else render_stats(stats) + "\n"
    )
    return 0
