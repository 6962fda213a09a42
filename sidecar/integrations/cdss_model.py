"""The CDSS model service (seed 003: "a separate microservice", `POST /analyze`), one client.

Request: `POST {base}/analyze` with `Authorization: Bearer <key>` (when one is set) and the
de-identified inputs as JSON: `{analysis_type, modality, study_type, age_years, sex, images:
[{modality, body_part, sop_class_uid, rows, columns, frames}]}`. Answer 200:
`{model, model_version, findings: [text], confidence_score (0..1 or a percentage), severity
(low, moderate, high, critical), recommendations: [text]}`. A 5xx, 408, 429 or a lost
connection is transient (tried again later); any other refusal, or an answer without findings
and severity, is permanent. The base URL comes from settings, so the tests point it at the
local fake (tests/fakes/cdss_model.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from sidecar.integrations.outcomes import permanent, transient

SEVERITIES = ("low", "moderate", "high", "critical")


@dataclass(frozen=True)
class ModelAnswer:
    model_name: str
    model_version: str | None
    findings: list[str]
    confidence: float
    severity: str
    recommendations: list[str]


class CdssModelClient:
    def __init__(
        self, base_url: str, api_key: str, http: httpx.AsyncClient, timeout: float
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.http = http
        self.timeout = timeout

    async def analyze(self, inputs: dict[str, Any]) -> ModelAnswer:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = await self.http.post(
                f"{self.base_url}/analyze", json=inputs, headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as error:
            raise transient(f"the model service did not answer: {error}") from error
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise transient(f"the model service answered {response.status_code}")
        if response.status_code >= 400:
            raise permanent(
                f"the model service refused the inputs ({response.status_code}):"
                f" {response.text[:200]}"
            )
        try:
            body = response.json()
            findings = [str(f) for f in body["findings"]]
            severity = str(body["severity"]).lower()
            confidence = float(body["confidence_score"])
        except (ValueError, KeyError, TypeError) as error:
            raise permanent(f"the model service's answer is not readable: {error}") from error
        if severity not in SEVERITIES or not 0 <= confidence <= 100:
            raise permanent(f"the model service's answer is out of range: {severity}, {confidence}")
        return ModelAnswer(
            model_name=str(body.get("model") or "unknown"),
            model_version=str(body["model_version"]) if body.get("model_version") else None,
            findings=findings,
            confidence=confidence,
            severity=severity,
            recommendations=[str(r) for r in body.get("recommendations") or []],
        )
