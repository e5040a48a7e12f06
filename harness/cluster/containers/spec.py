"""The docker backend's own settings in a cluster spec (`cluster.docker` in experiment files)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# A compose project name (lowercase letters, digits, dashes, underscores), or a container label
# as key=value: both reach the Docker API as filters, never a shell.
ATTACH = r"^([a-z0-9][a-z0-9_-]{0,62}|[A-Za-z0-9][A-Za-z0-9._/-]{0,127}=[A-Za-z0-9._/:-]{0,127})$"
IMAGE = r"^[a-z0-9][a-z0-9._/:@-]{0,254}$"


class DockerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str | None = Field(None, pattern=IMAGE, description=(
        "the image nodes run (Kafka's jars in /opt/kafka/libs, java on PATH); default apache/kafka:<version> "
        "when the engine has it, else kafka-chaos/kafka:<version>, built here"))
    pull: bool = Field(False, description=(
        "pull the image from its registry when the engine does not have it; off by default, so a run "
        "reaches no registry unless asked to"))
    attach: str | None = Field(None, pattern=ATTACH, description=(
        "take over a running cluster instead of creating one: a compose project's name, or a container "
        "label key=value; it is acted on and left as found, never removed"))

    @property
    def attach_filter(self) -> dict[str, str] | None:
        """The Docker API's container filter that finds the attached cluster."""
        if self.attach is None:
            return None
        label = self.attach if "=" in self.attach else f"com.docker.compose.project={self.attach}"
        return {"label": label}
