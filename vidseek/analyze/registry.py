"""Visual (image-text) models by short name, and how a name becomes an exported model folder.

`settings.visual_model` may be a registry name, a Hugging Face id, an exported folder (has
vidseek_model.json) or a transformers checkpoint folder. Exports made on the fly are cached in
`settings.model_dir/<safe name>` so the slow step happens once.

Usage:
    encoder = load_visual_model(settings)          # lazy: nothing is read yet
    vectors = encoder.encode_texts(["一只猫"])      # resolves, exports if needed, loads
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from vidseek.analyze.clip import CONFIG_FILE, ImageTextEncoder, ModelFiles
from vidseek.errors import ModelUnavailableError
from vidseek.settings import Settings


@dataclass(frozen=True)
class VisualModelSpec:
    """One registry entry: where the weights live and what the model is good at."""

    name: str
    hub_id: str
    family: str
    languages: tuple[str, ...]


# The default is SigLIP 2: its Gemma tokenizer and multilingual WebLI training understand Chinese
# and English queries in one model, and its sigmoid head gives scores that are already calibrated
# probabilities, so one relevance threshold works for every query. Chinese-CLIP is the choice for
# Chinese-only libraries; OpenAI CLIP is English only and kept as the well-known baseline.
VISUAL_MODELS: dict[str, VisualModelSpec] = {
    spec.name: spec
    for spec in (
        VisualModelSpec("siglip2-base", "google/siglip2-base-patch16-224", "siglip", ("multilingual",)),
        VisualModelSpec("chinese-clip-base", "OFA-Sys/chinese-clip-vit-base-patch16", "chinese_clip", ("zh", "en")),
        VisualModelSpec("clip-vit-b32", "openai/clip-vit-base-patch32", "clip", ("en",)),
    )
}
DEFAULT_VISUAL_MODEL = "siglip2-base"
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def _fix(source: str) -> str:
    return (
        f"run `vidseek models export {source} --output DIR` on a machine with the weights "
        "and set VIDSEEK_VISUAL_MODEL=DIR"
    )


def _unavailable(name: str, source: str, why: str, fix: str | None = None) -> ModelUnavailableError:
    label = name if name == source else f"{name} ({source})"
    return ModelUnavailableError(f"visual model {label} is unavailable: {why}. Fix: {fix or _fix(source)}")


_FOLDER_FIX = (
    "make the folder with `vidseek models export <hub-id-or-checkpoint> --output DIR` and set "
    "VIDSEEK_VISUAL_MODEL=DIR, or set it to a registry name ({names})"
)


def get_visual_spec(name: str) -> VisualModelSpec:
    """The registry entry for a short name; unknown names raise an error listing the valid ones.

    Usage: `get_visual_spec("clip-vit-b32").hub_id`
    """
    try:
        return VISUAL_MODELS[name]
    except KeyError:
        raise ModelUnavailableError(
            f"unknown visual model {name!r}; valid names are {', '.join(sorted(VISUAL_MODELS))}, "
            "or give a Hugging Face id (org/name) or a model folder in VIDSEEK_VISUAL_MODEL"
        ) from None


def safe_name(source: str) -> str:
    """A cache folder name for a registry name, hub id or local path. Usage: `safe_name("org/m")`"""
    if source in VISUAL_MODELS:
        return source
    if Path(source).is_dir():
        resolved = str(Path(source).resolve())
        digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
        return f"local--{Path(resolved).name}--{digest}"
    return re.sub(r"[^\w.-]+", "--", source)


def resolve_visual_model(name_or_path: str, settings: Settings) -> Path:
    """Find (or make) the exported folder for a registry name, hub id or folder.

    Order: an exported folder as given; a cached export in settings.model_dir; an on-the-fly export
    of a transformers checkpoint (needs torch + transformers, and the hub for hub ids).
    Usage: `folder = resolve_visual_model("siglip2-base", settings)`
    """
    name = str(name_or_path)
    path = Path(name).expanduser()
    if (path / CONFIG_FILE).is_file():
        return path
    source = _checkpoint_source(name, path)
    cached = settings.model_dir / safe_name(name)
    if (cached / CONFIG_FILE).is_file():
        return cached
    return _export_on_the_fly(name, source, cached)


def _checkpoint_source(name: str, path: Path) -> str:
    """The transformers checkpoint (folder or hub id) to export for `name`."""
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise _unavailable(name, name, f"folder {path} has neither {CONFIG_FILE} nor a transformers config.json")
        return str(path)
    if name in VISUAL_MODELS:
        return VISUAL_MODELS[name].hub_id
    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        fix = _FOLDER_FIX.format(names=", ".join(sorted(VISUAL_MODELS)))
        raise _unavailable(name, name, f"folder {path} does not exist", fix)
    if _HUB_ID.match(name):
        return name
    get_visual_spec(name)  # raises: an unknown short name, listing the valid ones
    return name


def _export_on_the_fly(name: str, source: str, target: Path) -> Path:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        why = f"no exported copy in {target}, and {' and '.join(missing)} not installed for export"
        raise _unavailable(name, source, why)
    from vidseek.analyze.export import export_to_cache

    if not Path(source).is_dir() and not os.environ.get("HF_HUB_OFFLINE") and not hub_reachable():
        # Without this, huggingface_hub retries for ~30 s on every run of an offline machine;
        # offline mode still finds a copy that is already in the local Hugging Face cache.
        os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        # int8: the default SigLIP-B/16 costs ~430 CPU-ms a frame in fp32 and ~120 in int8, and only
        # int8 keeps 2 cores well above 40x realtime. export_model keeps fp32 if int8 drifts.
        return export_to_cache(source, target, quantize=True, name=name if name in VISUAL_MODELS else None)
    except ModelUnavailableError as exc:
        raise _unavailable(name, source, str(exc)) from exc
    except Exception as exc:  # hub, transformers and torch errors have no common base class
        raise _unavailable(name, source, _describe(exc, source)) from exc


def hub_reachable(timeout: float = 3.0) -> bool:
    """True if a TCP connection to the Hugging Face endpoint (HF_ENDPOINT) opens within `timeout`."""
    url = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _describe(exc: Exception, source: str) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    local = Path(source).is_dir()
    offline_markers = ("offline", "connect", "resolve", "network", "LocalEntryNotFound", "couldn't find", "HTTP")
    if not local and any(marker.lower() in text.lower() for marker in offline_markers):
        return f"Hugging Face hub unreachable or {source} not in the local cache ({text})"
    return f"export of {source} failed ({text})"


def load_visual_model(settings: Settings) -> ImageTextEncoder:
    """The configured image-text encoder; nothing is resolved or loaded until first use.

    Usage: `encoder = load_visual_model(Settings()); encoder.load()`
    """
    name = settings.visual_model
    return ImageTextEncoder(name, settings, lambda: ModelFiles.from_export(resolve_visual_model(name, settings)))
