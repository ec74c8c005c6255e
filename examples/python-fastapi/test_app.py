"""The FastAPI example through its own test client."""

from fastapi.testclient import TestClient

from app import app


def test_the_seed_routes() -> None:
    with TestClient(app) as client:
        r = client.post("/chat/message", json={"message": "Do you ship to India?"})
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"reply", "sessionId"}
        assert "India" in body["reply"]
        r = client.post("/chat/message", json={"message": "What is your return policy?", "sessionId": body["sessionId"]})
        assert "14 days" in r.json()["reply"]
        h = client.get(f"/chat/history/{body['sessionId']}").json()
        assert [m["sender"] for m in h["messages"]] == ["user", "ai", "user", "ai"]


def test_errors_have_the_json_shape() -> None:
    with TestClient(app) as client:
        r = client.post("/chat/message", json={"message": "  "})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
        r = client.get("/chat/history/6f1d5a52-3a5c-4a8e-9a53-6c9b8f0d1e2f")
        assert r.status_code == 404
