#!/usr/bin/env bash
# The Python the Rust tests run real servers with: the official MCP SDK
# (`mcp` on PyPI) for the MCP client's tests (spur-core/tests/integration/mcp.rs)
# and aiosmtpd, a real SMTP server, for email (spur-server/tests/api/email.rs):
# target/mcp-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/mcp-venv
[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import mcp, aiosmtpd" 2>/dev/null && exit 0
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "mcp>=2.3,<3" "aiosmtpd>=1.4,<2"
