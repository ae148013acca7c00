"""Component binary codec: model (`model`), decoder (`parse`), encoder (`encode`)."""

from pymeld.codec.component.model import *  # noqa: F403
