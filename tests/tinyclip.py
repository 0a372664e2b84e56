"""A tiny CLIP trained in seconds on synthetic colour-shape pictures, for tests.

It is a real transformers `CLIPModel` checkpoint (weights, fast tokenizer, image processor config),
so tests go through the same export and ONNX load path as a downloaded model.

Usage: `checkpoint = build_tiny_clip(tmp_path / "tiny-clip")` then `export_model(checkpoint, out)`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (235, 215, 30),
}
SHAPES = ("circle", "square", "triangle")
CLASSES: list[tuple[str, str]] = [(colour, shape) for colour in COLOURS for shape in SHAPES]
CAPTIONS: list[str] = [f"a {colour} {shape}" for colour, shape in CLASSES]
IMAGE_SIZE = 64
PATCH_SIZE = 16
SIZE_RANGE = (26, 48)
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")  # ids 0..3, eos is not 2 (CLIP's legacy id)
MAX_TEXT_LENGTH = 16
# Text made of words outside the vocabulary (any Chinese query, most English sentences) reads as
# <unk> tokens. Training shows them as captions no picture matches, as a real CLIP's text tower has
# learnt of unrelated text, so they score like a wrong caption instead of wherever the untrained
# <unk> embedding happens to land (seen once on CI: 0.83 on one shot for every Chinese query).
NULL_CAPTIONS: list[str] = ["zebra", "晚上好", "a picture of nothing", "an old man walks to the station",
                             "一位老人走向车站 你好"]


def draw_shape(colour: str, shape: str, rng: np.random.Generator) -> np.ndarray:
    """One 64x64 RGB uint8 picture: a jittered `colour` `shape` at a random place on a grey field.

    Usage: `draw_shape("red", "circle", np.random.default_rng(0))`
    """
    grey = int(rng.integers(40, 216))
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (grey, grey, grey))
    fill = tuple(min(255, max(0, c + int(j))) for c, j in zip(COLOURS[colour], rng.integers(-25, 26, size=3)))
    size = int(rng.integers(SIZE_RANGE[0], SIZE_RANGE[1]))
    x0, y0 = (int(v) for v in rng.integers(0, IMAGE_SIZE - size + 1, size=2))
    x1, y1 = x0 + size - 1, y0 + size - 1
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x0, y1), (x1, y1)], fill=fill)
    return np.asarray(image)


def sample_images(per_class: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """`per_class` fresh pictures of each of the 12 classes and their class indices (into CAPTIONS).

    Usage: `images, labels = sample_images(2, seed=123)`
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(per_class):
        for index, (colour, shape) in enumerate(CLASSES):
            images.append(draw_shape(colour, shape, rng))
            labels.append(index)
    return images, np.asarray(labels)


def calibration_pairs(per_class: int = 8, seed: int = 7) -> tuple[list[np.ndarray], list[str]]:
    """(images, captions) from the training distribution, for `export_model(calibration_pairs=...)`.

    Usage: `export_model(checkpoint, out, calibration_pairs=calibration_pairs())`
    """
    images, labels = sample_images(per_class, seed)
    return images, [CAPTIONS[i] for i in labels]


def _build_tokenizer():
    return word_tokenizer(sorted({word for caption in CAPTIONS for word in caption.split()}), MAX_TEXT_LENGTH)


def word_tokenizer(words: list[str], max_length: int):
    """A lower-casing whole-word tokenizer over `words`, with <pad> <unk> <bos> <eos> as ids 0..3.

    Usage: `word_tokenizer(["a", "red", "circle"], 16).save_pretrained(folder)`
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", vocab["<bos>"]), ("<eos>", vocab["<eos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        model_max_length=max_length,
    )


def _build_model(vocab_size: int):
    from transformers import CLIPConfig, CLIPModel

    layers = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config={
            **layers,
            "vocab_size": vocab_size,
            "max_position_embeddings": MAX_TEXT_LENGTH,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
        },
        vision_config={**layers, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE},
        projection_dim=64,
        logit_scale_init_value=3.4,  # temperature 1/30: separates the 12 classes in fewer steps
    )
    return CLIPModel(config)


def _pixels(images: list[np.ndarray]):
    import torch

    array = np.stack(images).astype(np.float32) / 255.0
    array = (array - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return torch.from_numpy(array.transpose(0, 3, 1, 2).copy())


def _contrastive_loss(model, text: dict, images: list[np.ndarray], labels: np.ndarray):
    """CLIP loss with several pictures per caption: image->caption and caption->its pictures.

    `text` holds CAPTIONS then NULL_CAPTIONS; the null ones are columns no picture belongs to.
    """
    import torch
    import torch.nn.functional as F

    target = torch.from_numpy(labels)
    image_emb = F.normalize(_features(model.get_image_features(pixel_values=_pixels(images))))
    text_emb = F.normalize(_features(model.get_text_features(**text)))
    logits = model.logit_scale.exp() * image_emb @ text_emb.T
    positives = F.one_hot(target, len(CAPTIONS)).float().T
    captions = logits[:, : len(CAPTIONS)].T
    return F.cross_entropy(logits, target) + F.cross_entropy(captions, positives / positives.sum(1, keepdim=True))


def _train(model, tokenizer, seconds: float, max_steps: int = 900, lr: float = 3e-3, per: int = 4) -> int:
    """AdamW with warm-up and cosine decay over `max_steps` batches of `per` pictures per caption.

    The step count makes the result deterministic. If `seconds` runs out first (a very busy
    machine) the schedule is compressed into the time left, so the model still ends annealed.
    """
    import torch

    text = tokenizer([*CAPTIONS, *NULL_CAPTIONS], padding=True, return_tensors="pt")
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    start, step, progress = time.monotonic(), 0, 0.0
    while progress < 1.0:
        for group in optimiser.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / (max_steps / 10)) * 0.5 * (1 + np.cos(np.pi * progress))
        # fresh pictures every step, `per` of every class, so each caption has positives in the batch
        images, labels = sample_images(per, seed=1000 + step)
        loss = _contrastive_loss(model, text, images, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        progress = max(step / max_steps, (time.monotonic() - start) / seconds)
    model.eval()
    return step


def _features(output):
    """transformers 5 returns a model output whose pooler_output is the projection; 4.x a tensor."""
    return output if hasattr(output, "shape") else output.pooler_output


def build_tiny_clip(out_dir: Path, seconds: float = 60) -> Path:
    """Train the tiny CLIP and save it as a transformers checkpoint (model, tokenizer, processor).

    900 steps take ~15 s on 2 idle cores (~45 s when the cores are shared); `seconds` caps it.
    Usage: `checkpoint = build_tiny_clip(tmp_path / "tiny-clip")`
    """
    import torch
    from transformers import CLIPImageProcessor

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    # One thread: ops on these tiny tensors are overhead-bound, and two threads on a busy 2-core
    # machine spin against each other (measured 10x slower under load).
    torch.set_num_threads(1)
    try:
        tokenizer = _build_tokenizer()
        model = _build_model(len(tokenizer))
        _train(model, tokenizer, seconds)
    finally:
        torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_mean=list(MEAN),
        image_std=list(STD),
    )
    processor.save_pretrained(out_dir)
    return out_dir
