"""Configuration, read once at the edge and passed down.

Precedence, lowest first: defaults, ``MLOOP_*`` environment variables, ``mloop.toml`` in the
working folder, then keyword arguments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Where mloop keeps its data and how it behaves.

    Attributes:
        home: the folder of the embedded default (``MLOOP_HOME``, default ``./.mloop``).
        tracking_uri: ``sqlite:///...``, ``postgresql://...`` or ``http(s)://host:port``
            (``MLOOP_TRACKING_URI``); defaults to ``sqlite:///<home>/mloop.db``.
        artifacts: a folder or an fsspec URL for artifacts (``MLOOP_ARTIFACTS``); defaults to
            ``<home>/artifacts``.
        token: the API token sent to a shared server (``MLOOP_TOKEN``); never logged.
        ray_address: the Ray cluster pipelines and tuning run on with the Ray engine
            (``MLOOP_RAY_ADDRESS``, such as ``ray://head:10001`` or ``auto``); empty starts a
            local Ray when one is needed.
        reproduce_of: the run this process re-runs (``MLOOP_REPRODUCE_OF``, set by ``mloop
            reproduce`` for the script it starts); recorded as the ``mloop.reproduces`` tag.
        s3_endpoint_url: an S3-compatible endpoint such as MinIO's (``MLOOP_S3_ENDPOINT_URL``,
            else AWS's ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``); empty: AWS itself.
        aws_access_key_id, aws_secret_access_key, aws_session_token: S3 credentials
            (``MLOOP_AWS_*``, else the usual ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
            ``AWS_SESSION_TOKEN``); empty: botocore's own chain (``~/.aws``, instance roles).
            The secrets are never logged.
        aws_region: the S3 region (``MLOOP_AWS_REGION``, else ``AWS_REGION`` or
            ``AWS_DEFAULT_REGION``).
        upload_part_size: bytes; a file larger than this goes to an object store as a
            multipart upload in parts of this size (``MLOOP_UPLOAD_PART_SIZE``, at least 5 MiB,
            S3's smallest part).
        storage_options: fsspec options per protocol, for any object store
            (``MLOOP_STORAGE_OPTIONS``, JSON such as ``{"gs": {"project": "p"}, "az":
            {"account_name": "a"}}``); for ``s3`` they override the fields above. Never logged.
    """

    model_config = SettingsConfigDict(
        env_prefix="MLOOP_",
        toml_file="mloop.toml",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    home: Path = Path(".mloop")
    tracking_uri: str = ""
    artifacts: str = ""
    token: SecretStr | None = None
    ray_address: str = ""
    reproduce_of: str = ""
    # Asynchronous logging: a batch is written when it holds this many points or is this old.
    log_batch_size: int = Field(default=20_000, ge=1, le=1_000_000)
    log_batch_wait_ms: int = Field(default=200, ge=0, le=60_000)
    # Back-pressure: a log call blocks while this many operations wait to be written.
    log_queue_size: int = Field(default=500_000, ge=1_000)
    # With an HTTP store, how often the spool of unsent batches is retried.
    spool_retry_s: float = Field(default=2.0, gt=0)
    http_timeout_s: float = Field(default=30.0, gt=0)
    # Object storage. The AWS variables are read here, once, with everything else: the stores
    # get them as arguments, so botocore's own reading of the environment never decides.
    s3_endpoint_url: str = Field(
        default="",
        validation_alias=AliasChoices(
            "MLOOP_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"
        ),
    )
    aws_access_key_id: str = Field(
        default="", validation_alias=AliasChoices("MLOOP_AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MLOOP_AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
    )
    aws_session_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MLOOP_AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN"),
    )
    aws_region: str = Field(
        default="",
        validation_alias=AliasChoices("MLOOP_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    upload_part_size: int = Field(default=50 * 1024 * 1024, ge=5 * 1024 * 1024)
    storage_options: dict[str, dict[str, Any]] = Field(default_factory=dict, repr=False)

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        home = self.home.expanduser()
        object.__setattr__(self, "home", home)
        if not self.tracking_uri:
            object.__setattr__(self, "tracking_uri", f"sqlite:///{home.resolve() / 'mloop.db'}")
        if not self.artifacts:
            object.__setattr__(self, "artifacts", str((home / "artifacts").resolve()))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, TomlConfigSettingsSource(settings_cls), env_settings)

    def __hash__(self) -> int:
        # frozen settings stay hashable although storage_options is a dict
        return hash(self.model_dump_json())

    @property
    def is_http(self) -> bool:
        """True when the tracking URI names a shared server."""
        return self.tracking_uri.startswith(("http://", "https://"))


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment and ``mloop.toml``; ``None`` overrides are ignored.

    Only :func:`mloop.store._context.load_default_settings` calls this: domain code asks the
    current store context for its settings.
    """
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


_SECRETS = ("token", "aws_secret_access_key", "aws_session_token")


def settings_to_json(settings: Settings) -> str:
    """``settings`` as JSON, the secrets included, for a worker process (never for a log)."""
    data = settings.model_dump(mode="json", exclude=set(_SECRETS))
    for name in _SECRETS:
        secret: SecretStr | None = getattr(settings, name)
        data[name] = secret.get_secret_value() if secret is not None else None
    return json.dumps(data)


def settings_from_json(text: str) -> Settings:
    """The inverse of :func:`settings_to_json`. The environment and ``mloop.toml`` of the
    process reading it are not consulted: a worker uses exactly what its parent was given."""
    return Settings.model_validate(json.loads(text))
