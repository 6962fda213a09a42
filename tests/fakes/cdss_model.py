"""A fake of the CDSS model service (seed 003: `POST https://ai.heartology.com/analyze`): it
answers after a delay, as a model would (seconds here, minutes in life), with findings,
confidence, severity and recommendations for the analysis type it was asked for, or fails as
told (`fail_with`: an HTTP status for every request). It keeps what it was sent (`received`),
so a test can check that nothing identifying left carebase.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ANSWERS = {
    "ecg_arrhythmia": (
        ["Atrial fibrillation with rapid ventricular response"],
        0.87,
        "high",
        ["Rate control", "Consider anticoagulation (CHA2DS2-VASc)"],
    ),
    "cad_detection": (["No significant coronary stenosis"], 0.91, "low", ["Routine follow-up"]),
    "risk_stratification": (
        ["Intermediate 10-year risk"],
        0.74,
        "moderate",
        ["Lifestyle advice", "Lipid profile"],
    ),
}


class FakeCdssModel:
    def __init__(self, delay: float = 0.2, api_key: str = "model-key") -> None:
        self.delay = delay
        self.api_key = api_key
        self.fail_with: int | None = None
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/analyze", self.analyze, methods=["POST"])])

    async def analyze(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "unauthorized"}, 401)
        inputs = await request.json()
        self.received.append(inputs)
        await asyncio.sleep(self.delay)
        if self.fail_with:
            return JSONResponse({"error": "model unavailable"}, self.fail_with)
        answer = ANSWERS.get(inputs.get("analysis_type"))
        if answer is None:
            return JSONResponse({"error": "unknown analysis type"}, 422)
        findings, confidence, severity, recommendations = answer
        return JSONResponse(
            {
                "model": f"fake-{inputs['analysis_type']}",
                "model_version": "2026.12",
                "findings": findings,
                "confidence_score": confidence * 100,
                "severity": severity.capitalize(),
                "recommendations": recommendations,
                "reviewStatus": "Pending",
            }
        )
