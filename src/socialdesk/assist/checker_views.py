"""/api/v1/assist: the reply checker, for the composer and for integrations."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from socialdesk.assist.checker import review_reply
from socialdesk.platforms.registry import PLATFORMS
from socialdesk.web.deps import CurrentPrincipal

router = APIRouter(prefix="/api/v1/assist", tags=["assist"])


class CheckIn(BaseModel):
    text: str = Field(max_length=100_000)
    platform: str = "x"
    is_public: bool = True
    customer_language: str | None = Field(default=None, max_length=16)
    customer_sentiment: str | None = Field(default=None, pattern="^(negative|neutral|positive)$")
    brand_formality: str = Field(default="neutral", pattern="^(formal|neutral|casual)$")
    customer_name: str | None = Field(default=None, max_length=200)


@router.post("/check")
def check(body: CheckIn, principal: CurrentPrincipal) -> dict:
    if body.platform not in PLATFORMS:
        from fastapi import HTTPException

        raise HTTPException(
            422, f"unknown platform {body.platform!r}; expected one of {', '.join(PLATFORMS)}"
        )
    return review_reply(**body.model_dump()).to_dict()
