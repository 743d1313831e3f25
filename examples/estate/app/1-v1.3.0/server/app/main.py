from fastapi import FastAPI

from .settings import get_settings

settings = get_settings()
app = FastAPI()


@app.get("/api/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
