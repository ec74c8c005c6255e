"""A shop's order tools as an MCP server, written with the official Python
SDK (`mcp` on PyPI): what Spur's MCP client is tested against.

    python orders_server.py stdio
    python orders_server.py http PORT     # streamable HTTP at /mcp
"""

import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("orders")
CANCELLED: list[str] = []


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def lookup_order(order_number: str) -> dict[str, str]:
    """Where an order is: status and carrier."""
    if order_number != "1042":
        raise ToolError(f"no order {order_number}")
    return {"order": order_number, "status": "shipped", "carrier": "DHL"}


@server.tool()
def cancel_order(order_number: str) -> dict[str, object]:
    """Cancels an order that has not shipped."""
    CANCELLED.append(order_number)
    return {"order": order_number, "status": "cancelled", "cancelled_so_far": len(CANCELLED)}


@server.tool()
def environment() -> dict[str, object]:
    """Which environment variables this server was given, and its process id."""
    return {"names": sorted(os.environ), "pid": os.getpid()}


@server.tool()
def internal_report() -> str:
    """Not for customers: left out by the allowlist."""
    return "margins"


def return_order(order_number: str) -> dict[str, str]:
    """Starts a return for a delivered order."""
    return {"order": order_number, "return": "started"}


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def toggle_returns(ctx: Context) -> str:
    """Adds return_order when it is missing, removes it when it is there, and says the tool list changed."""
    if any(tool.name == "return_order" for tool in server._tool_manager.list_tools()):
        server.remove_tool("return_order")
        state = "removed"
    else:
        server.add_tool(return_order)
        state = "added"
    # A 2026-07-28 client hears it on its listen stream; an older one from the unscoped notification.
    await ctx.notify_tools_changed()
    await ctx.session.send_tool_list_changed()
    return state


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def quit_server() -> str:
    """Ends the server's process, as a crash would."""
    os._exit(3)


if __name__ == "__main__":
    if sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
