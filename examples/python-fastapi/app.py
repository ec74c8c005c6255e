"""The seed apps' chat API on FastAPI, backed by spur.AsyncEngine.

    pip install fastapi uvicorn spur-*.whl
    uvicorn app:app --port 3001

`POST /chat/message` {"message", "sessionId"?} -> {"reply", "sessionId"}
`GET /chat/history/{sessionId}` -> {"sessionId", "messages": [{"sender": "user"|"ai", "text", "createdAt"}]}
"""

import os
from typing import Dict, List, Optional

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import spur

engine = spur.AsyncEngine(database_url=os.environ.get("DATABASE_URL"))
app = FastAPI(title="Spur on FastAPI")


class SendBody(BaseModel):
    message: str
    sessionId: Optional[str] = None


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


@app.exception_handler(spur.ValidationError)
async def invalid(_request: object, exc: spur.ValidationError) -> JSONResponse:
    return error(400, "invalid_input", str(exc))


@app.exception_handler(spur.NotFoundError)
async def not_found(_request: object, exc: spur.NotFoundError) -> JSONResponse:
    return error(404, "session_not_found", str(exc))


@app.exception_handler(spur.StoreError)
async def unavailable(_request: object, _exc: spur.StoreError) -> JSONResponse:
    return error(503, "storage_unavailable", "storage is unavailable, try again")


@app.post("/chat/message")
async def send(body: SendBody) -> Dict[str, str]:
    reply = await engine.send_message(body.message, session_id=body.sessionId)
    return {"reply": reply.reply or "", "sessionId": reply.session_id}


@app.get("/chat/history/{session_id}")
async def history(session_id: str) -> Dict[str, object]:
    messages = await engine.history(session_id, limit=200)
    out: List[Dict[str, str]] = [
        {
            "sender": "user" if m.sender == "customer" else "ai",
            "text": m.text,
            "createdAt": m.created_at.isoformat(),
        }
        for m in messages
    ]
    return {"sessionId": session_id, "messages": out}
