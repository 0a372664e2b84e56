"""Embed the text rows a video already has in the store: no decoding, speech or OCR runs again.

Used when semantic search is added to an existing library, when the text model changes, and to
finish the job after a crash. Crash-safe by construction: new rows (with vectors) are written and
made searchable before the old ones are deleted, and a re-run first removes duplicates left by a
run that died between the two steps.

Usage: `added = embed_stored(store, embedder, video_id)`
"""

from __future__ import annotations

from typing import Any

from vidseek.store.milvus import MilvusStore


def _key(row: dict) -> tuple:
    return row["route"], round(float(row["start"]), 3), round(float(row["end"]), 3), row["text"]


def embed_stored(store: MilvusStore, embedder: Any, video_id: int) -> int:
    """Give every text row of one video a vector from `embedder`; returns how many rows were embedded."""
    tag = embedder.tag
    groups: dict[tuple, list[dict]] = {}
    for row in store.text_rows(video_id):
        groups.setdefault(_key(row), []).append(row)
    todo, drop = [], []
    for rows in groups.values():
        current = [r for r in rows if r["ev"] == tag]
        if current:  # already embedded (perhaps twice, after a crash): keep one
            drop += [r["id"] for r in rows if r is not current[0]]
        else:
            todo.append(rows[0])
            drop += [r["id"] for r in rows]
    if todo:
        vectors = embedder.encode_passages([r["text"] for r in todo])
        store.insert_text([{**{k: v for k, v in r.items() if k not in ("id", "ev")}, "dense": vec, "ev": tag}
                           for r, vec in zip(todo, vectors)])
        store.wait_indexed()  # the new rows are searchable before the old ones go
    if drop:
        store.delete_text_ids(drop)
        store.wait_indexed()
    return len(todo)
